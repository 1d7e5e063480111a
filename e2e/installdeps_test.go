package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stubPython writes a python3 that plays pip: `-m pip install ...` is logged and "installs" a
// moto_server or cfn-lint stub that reports the given versions, or an aws stub at the pin's (none
// when the file no-awscli exists: pip fails); `import moto.server` succeeds once moto is
// "installed". apt-get is stubbed too, so nothing on the machine changes.
func stubPython(t *testing.T, dir, motoVersion, cfnVersion string) {
	t.Helper()
	script := `#!/bin/sh
d=` + dir + `
case "$*" in
"-m pip install"*)
	echo "$*" >> "$d/pip.log"
	case "$*" in *moto*) : > "$d/moto-installed"; printf '#!/bin/sh\n' > "$d/moto_server"; chmod +x "$d/moto_server";; esac
	case "$*" in *cfn-lint*) printf '#!/bin/sh\necho cfn-lint ` + cfnVersion + `\n' > "$d/cfn-lint"; chmod +x "$d/cfn-lint";; esac
	case "$*" in *awscli==*) test -e "$d/no-awscli" && exit 1;; esac
	case "$*" in *awscli==*) printf '#!/bin/sh\necho aws-cli/1.45.11 Python/3.11.7\n' > "$d/aws"; chmod +x "$d/aws";; esac
	exit 0;;
"-c import moto.server") test -e "$d/moto-installed";;
"-c import moto; print(moto.__version__)") test -e "$d/moto-installed" && echo ` + motoVersion + `;;
*) exit 1;;
esac
`
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("python3", script)
	write("apt-get", "#!/bin/sh\necho \"apt-get $*\" >> "+dir+"/apt.log\n")
}

// toolsDir links the few programs install-deps.sh needs besides python3 and apt-get, so PATH
// holds no real moto, cfn-lint or pip.
func toolsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"sh", "bash", "id", "awk", "chmod", "cat", "unshare", "env"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue // unshare may be missing: the script then asks the apt-get stub for it
		}
		if err := os.Symlink(p, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runInstallDeps(t *testing.T, stub string) string {
	t.Helper()
	cmd := exec.Command("bash", "install-deps.sh")
	cmd.Env = []string{"PATH=" + stub + ":" + toolsDir(t), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("install-deps.sh: %v\n%s", err, out)
	}
	return string(out)
}

// make test installs moto, cfn-lint and the AWS CLI with pip only when missing, and then asks for
// the pinned versions, not whatever is newest.
func TestInstallDepsPinsPipInstalls(t *testing.T) {
	stub := t.TempDir()
	stubPython(t, stub, "5.2.1", "1.51.0")
	out := runInstallDeps(t, stub)
	log, _ := os.ReadFile(filepath.Join(stub, "pip.log"))
	if !strings.Contains(string(log), "moto[server]==5.2.1") || !strings.Contains(string(log), "cfn-lint==1.51.0") ||
		!strings.Contains(string(log), "awscli==1.45.11") {
		t.Fatalf("pip was asked for:\n%s\nwant moto[server]==5.2.1, cfn-lint==1.51.0 and awscli==1.45.11 (output:\n%s)", log, out)
	}
	if !strings.Contains(out, "moto 5.2.1, cfn-lint 1.51.0, aws-cli 1.45.11") {
		t.Errorf("the summary does not name the versions:\n%s", out)
	}
}

// A copy already installed is kept whatever its version (a machine without PyPI still runs the
// tests), and a version other than the pin is said.
func TestInstallDepsKeepsWhatIsInstalledAndSaysSo(t *testing.T) {
	stub := t.TempDir()
	stubPython(t, stub, "5.0.0", "1.40.0")
	if err := os.WriteFile(filepath.Join(stub, "moto-installed"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stub, "cfn-lint"), []byte("#!/bin/sh\necho cfn-lint 1.40.0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stub, "aws"), []byte("#!/bin/sh\necho aws-cli/1.44.0 Python/3.11.7\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := runInstallDeps(t, stub)
	if _, err := os.Stat(filepath.Join(stub, "pip.log")); err == nil {
		log, _ := os.ReadFile(filepath.Join(stub, "pip.log"))
		t.Fatalf("pip ran although all three were installed:\n%s", log)
	}
	for _, want := range []string{"moto 5.0.0 is installed, the pin is 5.2.1", "cfn-lint 1.40.0 is installed, the pin is 1.51.0", "cfn-lint 1.40.0 (pinned 1.51.0)",
		"aws-cli 1.44.0 (pinned 1.45.11)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// The AWS CLI is for one test only: when pip cannot install it, make deps goes on, says that
// test will skip and how to install it.
func TestInstallDepsGoesOnWithoutTheAWSCLI(t *testing.T) {
	stub := t.TempDir()
	stubPython(t, stub, "5.2.1", "1.51.0")
	if err := os.WriteFile(filepath.Join(stub, "no-awscli"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := runInstallDeps(t, stub) // fails the test if the script fails
	for _, want := range []string{"TestAWSCLIReadsThroughKinko will skip", "pip install 'awscli==1.45.11'", "aws-cli no (its test skips)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// make layer compresses with zopfli: make deps asks apt for it when it is missing (or, without
// root, says how to install it), and the summary says it is still missing.
func TestInstallDepsAsksAptForZopfli(t *testing.T) {
	stub := t.TempDir()
	stubPython(t, stub, "5.2.1", "1.51.0")
	out := runInstallDeps(t, stub)
	if os.Getuid() == 0 {
		log, _ := os.ReadFile(filepath.Join(stub, "apt.log"))
		if !strings.Contains(string(log), "install") || !strings.Contains(string(log), "zopfli") {
			t.Errorf("apt-get was not asked for zopfli; apt.log:\n%s\noutput:\n%s", log, out)
		}
	} else if !strings.Contains(out, "apt-get install -y") || !strings.Contains(out, "zopfli") {
		t.Errorf("without root, the output does not say how to install zopfli:\n%s", out)
	}
	if !strings.Contains(out, "zopfli no (make layer needs it)") { // the apt-get stub installs nothing
		t.Errorf("the summary does not say zopfli is missing:\n%s", out)
	}
}

// zopfli's version is the release's bytes: the one installed is named, and one other than the pin
// is flagged.
func TestInstallDepsNamesZopflisVersion(t *testing.T) {
	for _, c := range []struct{ dpkg, want string }{
		{"1.0.3-1", "zopfli 1.0.3"},
		{"1:1.0.2-3+b1", "zopfli 1.0.2 is installed, the pin is 1.0.3"},
	} {
		stub := t.TempDir()
		stubPython(t, stub, "5.2.1", "1.51.0")
		for name, body := range map[string]string{
			"zopfli":         "#!/bin/sh\nexit 0\n",
			"dpkg-query":     "#!/bin/sh\n[ \"$1 $3\" = '-W zopfli' ] && printf '%s' '" + c.dpkg + "'\n",
			"moto-installed": "",
		} {
			if err := os.WriteFile(filepath.Join(stub, name), []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		out := runInstallDeps(t, stub)
		if !strings.Contains(out, c.want) || strings.Contains(out, "zopfli no") {
			t.Errorf("dpkg says zopfli %s: output lacks %q:\n%s", c.dpkg, c.want, out)
		}
		if log, _ := os.ReadFile(filepath.Join(stub, "apt.log")); strings.Contains(string(log), "zopfli") {
			t.Errorf("apt-get asked for zopfli although it is installed:\n%s", log)
		}
	}
}
