#!/usr/bin/env bash
# Installs what the end-to-end suite and `make demo` need beyond Go, and checks the rest.
# Idempotent: it installs only what is missing, so `make test` can call it every time.
#   - Debian's chromium (the browser test), with apt-get, when /usr/bin/chromium is missing;
#   - fonts-noto-cjk with it, when missing: without a CJK font the page's Japanese text (the prompt
#     prefix) renders as boxes in the browser test's screenshot;
#   - util-linux's unshare (the emulator's private /opt), when missing;
#   - zopfli, when missing: `make layer` compresses the shipped zips with it (layer/mkzip -zopfli);
#   - systemd's systemd-analyze (deploy/'s test verifies the systemd unit with it), when missing;
#   - cfn-lint from pip when missing (the layer tests lint the templates);
#   - the AWS CLI (v1, botocore) from pip when missing: TestAWSCLIReadsThroughKinko reads through
#     kinko with it, and skips without it (said here, not a failure: no test of kinko's own needs it);
#   - moto's server (Secrets Manager) comes from pip, not apt: when missing it is installed with
#     pip; if that fails this says how to install it and fails, since every AWS test needs it.
# The pip installs ask for exact versions (below), the ones the tests were written against; a copy
# already installed is kept whatever its version (it is named, and a different one is flagged), so
# a machine with no route to PyPI still runs. pip checks no hashes here: a hash-checked install
# (--require-hashes) needs every transitive dependency pinned, a lock file of moto[server]'s whole
# tree. The apt packages are not pinned by version: Debian's archive serves only the current one
# of a release, and apt checks each package against the archive's signed index. zopfli's version
# is recorded below all the same (ZOPFLI_VERSION) and a different one is flagged: its output is
# the release's bytes, which `make release` records with the version that made them.
set -euo pipefail

MOTO_VERSION=5.2.1
CFN_LINT_VERSION=1.51.0
AWSCLI_VERSION=1.45.11
# Debian's zopfli (bookworm and trixie: 1.0.3-1). The upstream version is compared.
ZOPFLI_VERSION=1.0.3

have_chromium() { [[ -x /usr/bin/chromium ]]; }
# The file the package installs: a path check, like chromium's, costs no dpkg call.
have_cjk_font() { [[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]]; }
have_unshare() { command -v unshare >/dev/null; }
have_zopfli() { command -v zopfli >/dev/null; }
have_systemd_analyze() { command -v systemd-analyze >/dev/null; }
have_moto() { command -v moto_server >/dev/null || python3 -c 'import moto.server' 2>/dev/null; }

missing=()
have_chromium || missing+=(chromium)
have_cjk_font || missing+=(fonts-noto-cjk)
have_unshare || missing+=(util-linux)
have_zopfli || missing+=(zopfli)
have_systemd_analyze || missing+=(systemd)

if ((${#missing[@]})); then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		echo "install-deps: installing ${missing[*]} with apt-get"
		# A fresh machine's package lists are empty or old: update once before installing.
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	else
		echo "install-deps: ${missing[*]} missing; install with:" >&2
		echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
		echo "  (until then the browser test skips without chromium, its screenshot shows Japanese as boxes" >&2
		echo "   without fonts-noto-cjk, the emulator tests skip without unshare, make layer fails without zopfli," >&2
		echo "   and the systemd unit's check skips without systemd-analyze)" >&2
	fi
fi

# pip_ensure HAVE WHAT SPEC installs SPEC with pip when the check HAVE fails, then runs HAVE again:
# its status is whether WHAT is there now. A failed pip (no route to PyPI) is not an error here.
pip_ensure() {
	local have=$1 what=$2 spec=$3
	if ! "$have" && command -v python3 >/dev/null; then
		echo "install-deps: installing $what with pip"
		python3 -m pip install --quiet --no-input "$spec" || true
	fi
	"$have"
}
# cfn-lint checks the packaged templates (layer tests); moto's server usually brings it along.
have_cfnlint() { command -v cfn-lint >/dev/null; }
have_awscli() { command -v aws >/dev/null; }
if ! pip_ensure have_moto "moto's server" "moto[server]==$MOTO_VERSION"; then
	echo "install-deps: moto's server (the local Secrets Manager) is missing and pip could not install it; install it with:" >&2
	echo "  pip install 'moto[server]==$MOTO_VERSION'" >&2
	exit 1
fi
if ! pip_ensure have_cfnlint cfn-lint "cfn-lint==$CFN_LINT_VERSION"; then
	echo "install-deps: cfn-lint (checks the CloudFormation templates) is missing and pip could not install it; install it with:" >&2
	echo "  pip install 'cfn-lint==$CFN_LINT_VERSION'" >&2
	exit 1
fi
if ! pip_ensure have_awscli "the AWS CLI" "awscli==$AWSCLI_VERSION"; then
	echo "install-deps: the AWS CLI is missing and pip could not install it; TestAWSCLIReadsThroughKinko will skip. Install it with:" >&2
	echo "  pip install 'awscli==$AWSCLI_VERSION'" >&2
fi
# The versions found, against the pins: a different one is used, but said.
moto_version() { python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo unknown; }
cfnlint_version() { cfn-lint --version 2>/dev/null | awk '{print $NF}' || echo unknown; }
# "aws-cli/1.45.11 Python/3.11.7 ...": the first word's version.
awscli_version() { aws --version 2>&1 | awk -F'[/ ]' 'NR == 1 {print $2}' || echo unknown; }
# zopfli prints no version: the package's, without Debian's epoch and revision (1.0.3-1 is 1.0.3).
zopfli_version() {
	local v
	v=$(dpkg-query -W -f='${Version}' zopfli 2>/dev/null) || v=""
	v=${v#*:}
	echo "${v%-*}" | awk '{print ($0 == "" ? "unknown" : $0)}'
}
pairs=("moto $(moto_version) $MOTO_VERSION" "cfn-lint $(cfnlint_version) $CFN_LINT_VERSION")
versions=""
if have_awscli; then pairs+=("aws-cli $(awscli_version) $AWSCLI_VERSION"); else versions+=", aws-cli no (its test skips)"; fi
if have_zopfli; then pairs+=("zopfli $(zopfli_version) $ZOPFLI_VERSION"); else versions+=", zopfli no (make layer needs it)"; fi
for pair in "${pairs[@]}"; do
	read -r name have want <<<"$pair"
	if [[ $have == "$want" ]]; then
		versions+=", $name $have"
	else
		versions+=", $name $have (pinned $want)"
		if [[ $name == zopfli ]]; then
			echo "install-deps: zopfli $have is installed, the pin is $want; the release's zips are made with $want, another version may write other bytes" >&2
		else
			echo "install-deps: $name $have is installed, the pin is $want; the tests were written against $want" >&2
		fi
	fi
done
yn() { if "$@"; then echo yes; else echo no; fi; }
echo "install-deps: chromium $(yn have_chromium), CJK font $(yn have_cjk_font), unshare $(yn have_unshare), systemd-analyze $(yn have_systemd_analyze)$versions"
