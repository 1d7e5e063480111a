#!/usr/bin/env bash
# Installs what the end-to-end suite and `make demo` need beyond Go, and checks the rest.
# Idempotent: it installs only what is missing, so `make test` can call it every time.
#   - Debian's chromium (the browser test), with apt-get, when /usr/bin/chromium is missing;
#   - fonts-noto-cjk with it, when missing: without a CJK font the page's Japanese text (the prompt
#     prefix) renders as boxes in the browser test's screenshot;
#   - util-linux's unshare (the emulator's private /opt), when missing;
#   - cfn-lint from pip when missing (the layer tests lint the templates);
#   - moto's server (Secrets Manager) comes from pip, not apt: when missing it is installed with
#     pip; if that fails this says how to install it and fails, since every AWS test needs it.
set -euo pipefail

have_chromium() { [[ -x /usr/bin/chromium ]]; }
# The file the package installs: a path check, like chromium's, costs no dpkg call.
have_cjk_font() { [[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]]; }
have_unshare() { command -v unshare >/dev/null; }
have_moto() { command -v moto_server >/dev/null || python3 -c 'import moto.server' 2>/dev/null; }

missing=()
have_chromium || missing+=(chromium)
have_cjk_font || missing+=(fonts-noto-cjk)
have_unshare || missing+=(util-linux)

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
		echo "   without fonts-noto-cjk, and the emulator tests skip without unshare)" >&2
	fi
fi

if ! have_moto && command -v python3 >/dev/null; then
	echo "install-deps: installing moto's server with pip"
	python3 -m pip install --quiet 'moto[server]' || true
fi
if ! have_moto; then
	echo "install-deps: moto's server (the local Secrets Manager) is missing and pip could not install it; install it with:" >&2
	echo "  pip install 'moto[server]'" >&2
	exit 1
fi
# cfn-lint checks the packaged templates (layer tests); moto's server usually brings it along.
have_cfnlint() { command -v cfn-lint >/dev/null; }
if ! have_cfnlint && command -v python3 >/dev/null; then
	echo "install-deps: installing cfn-lint with pip"
	python3 -m pip install --quiet cfn-lint || true
fi
if ! have_cfnlint; then
	echo "install-deps: cfn-lint (checks the CloudFormation templates) is missing and pip could not install it; install it with:" >&2
	echo "  pip install cfn-lint   (or: pipx install --include-deps 'moto[server]')" >&2
	exit 1
fi
yn() { if "$@"; then echo yes; else echo no; fi; }
echo "install-deps: chromium $(yn have_chromium), CJK font $(yn have_cjk_font), unshare $(yn have_unshare), moto yes, cfn-lint yes"
