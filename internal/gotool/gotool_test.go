package gotool

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const hello = "example.com/hello"

// proxy writes a file-based module proxy (GOPROXY=file://...) holding example.com/hello at
// each version given, whose program prints its version.
func proxy(t *testing.T, versions ...string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, hello, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gomod := "module " + hello + "\n\ngo 1.22\n"
	for _, v := range versions {
		write(t, filepath.Join(dir, v+".info"), `{"Version":"`+v+`","Time":"2026-01-02T03:04:05Z"}`)
		write(t, filepath.Join(dir, v+".mod"), gomod)
		f, err := os.Create(filepath.Join(dir, v+".zip"))
		if err != nil {
			t.Fatal(err)
		}
		zw := zip.NewWriter(f)
		for name, body := range map[string]string{
			"go.mod":  gomod,
			"main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello " + v + "\") }\n",
		} {
			w, err := zw.Create(hello + "@" + v + "/" + name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	write(t, filepath.Join(dir, "list"), strings.Join(versions, "\n")+"\n")
	return root
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// env is an environment whose module proxy is goproxy and whose module cache is new, so
// nothing the machine has cached or can download takes part.
func env(t *testing.T, goproxy string) []string {
	t.Helper()
	var out []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k == "GOPROXY" || k == "GOFLAGS" || k == "GOMODCACHE" || k == "GOSUMDB" || k == "GOTOOLCHAIN" {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "GOPROXY="+goproxy, "GOSUMDB=off", "GOFLAGS=-modcacherw", "GOTOOLCHAIN=local",
		"GOMODCACHE="+filepath.Join(t.TempDir(), "modcache"))
}

// sumOf asks the go command what example.com/hello@v hashes to.
func sumOf(t *testing.T, environ []string, v string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", hello+"@"+v)
	cmd.Env, cmd.Dir = environ, t.TempDir()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download: %v %s", err, out)
	}
	var info struct{ Sum string }
	if err := json.Unmarshal(out, &info); err != nil || !strings.HasPrefix(info.Sum, "h1:") {
		t.Fatalf("go mod download: %v %s", err, out)
	}
	return info.Sum
}

func runs(t *testing.T, bin, want string) {
	t.Helper()
	out, err := exec.Command(bin).Output()
	if err != nil || strings.TrimSpace(string(out)) != want {
		t.Fatalf("%s printed %q (%v), want %q", bin, out, err, want)
	}
}

func TestInstallChecksThePinnedHashAndReusesOnlyTheSameBuild(t *testing.T) {
	goproxy := "file://" + proxy(t, "v1.0.0", "v1.1.0")
	environ := env(t, goproxy)
	sum1, sum2 := sumOf(t, environ, "v1.0.0"), sumOf(t, environ, "v1.1.0")
	dir := t.TempDir()
	in := Installer{Env: environ, Dir: dir}

	// A wrong pin: refused before anything is installed, naming both hashes.
	bad := Tool{Package: hello, Module: hello, Version: "v1.0.0", Sum: sum2}
	if _, err := in.Install(t.Context(), bad); err == nil || !strings.Contains(err.Error(), sum1) ||
		!strings.Contains(err.Error(), sum2) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("wrong pin: %v; want a refusal naming %s and %s", err, sum1, sum2)
	}
	if _, err := os.Stat(in.Path(bad)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused tool was installed: %v", err)
	}

	good := Tool{Package: hello, Module: hello, Version: "v1.0.0", Sum: sum1}
	bin, err := in.Install(t.Context(), good)
	if err != nil {
		t.Fatal(err)
	}
	runs(t, bin, "hello v1.0.0")

	// Installed already: reused with no go command at all (a proxy that is off and a module
	// cache that is empty would make any download fail).
	offline := Installer{Env: env(t, "off"), Dir: dir}
	if again, err := offline.Install(t.Context(), good); err != nil || again != bin {
		t.Fatalf("second install: %s %v, want %s reused", again, err, bin)
	}

	// Another binary at that path (another version's build copied there) is not taken for it.
	other, err := in.Install(t.Context(), Tool{Package: hello, Module: hello, Version: "v1.1.0", Sum: sum2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := offline.Install(t.Context(), good); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("offline with a wrong binary in place: %v, want ErrUnavailable (it must not be reused)", err)
	}
	if again, err := in.Install(t.Context(), good); err != nil || again != bin {
		t.Fatal(err)
	}
	runs(t, bin, "hello v1.0.0")
}

func TestInstallWithoutAProxyIsUnavailable(t *testing.T) {
	in := Installer{Env: env(t, "off"), Dir: t.TempDir()}
	_, err := in.Install(t.Context(), Tool{Package: hello, Module: hello, Version: "v1.0.0", Sum: "h1:AAAA"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

func TestParse(t *testing.T) {
	if tl, err := Parse("golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da", "golang.org/x/perf", "h1:x="); err != nil ||
		tl.Package != "golang.org/x/perf/cmd/benchstat" || tl.Version != "v0.0.0-20260908200009-22c9c6c9d4da" {
		t.Fatalf("%+v %v", tl, err)
	}
	for spec, want := range map[string]string{
		"golang.org/x/perf/cmd/benchstat@latest": "exact",
		"golang.org/x/perf/cmd/benchstat":        "PACKAGE@VERSION",
		"golang.org/x/tools/cmd/stringer@v1.0.0": "not in module",
	} {
		if _, err := Parse(spec, "golang.org/x/perf", "h1:x="); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", spec, err, want)
		}
	}
	if _, err := Parse("golang.org/x/perf/cmd/benchstat@v1.0.0", "golang.org/x/perf", "deadbeef"); err == nil {
		t.Error("a sum without h1: was accepted")
	}
}
