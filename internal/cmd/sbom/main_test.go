package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// buildLike builds pkg (relative to the repository root) as the Makefile builds the layer, for
// this machine's architecture (as the e2e stack does, so the build cache is shared with it).
func buildLike(t *testing.T, pkg, out string, flags ...string) {
	t.Helper()
	if pkg == "./extension" {
		gc, err := os.ReadFile("../../../layer/kinko.gcflags")
		if err != nil {
			t.Fatal(err)
		}
		flags = append(append(flags, "-tags", "lambda"), strings.Fields(string(gc))...)
	}
	args := append([]string{"build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid= -X main.version=v0.0.0-test"}, flags...)
	cmd := exec.Command("go", append(args, "-o", out, pkg)...)
	cmd.Dir = "../../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

func sbomOf(t *testing.T, bin string, env map[string]string, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.cdx.json")
	args = append(append([]string{"-o", out, "-version", "v0.0.0-test"}, args...), bin)
	var stderr bytes.Buffer
	if err := run(args, func(k string) string { return env[k] }, &stderr); err != nil {
		t.Fatalf("sbom: %v %s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type modLine struct{ version, sum string }

// goVersionM runs `go version -m` (the oracle) and returns its dep lines by module path, the
// replacement's version and hash where there is one, and the Go version.
func goVersionM(t *testing.T, bin string) (map[string]modLine, string) {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	mods := map[string]modLine{}
	var last, goVersion string
	for i, line := range strings.Split(string(out), "\n") {
		if i == 0 {
			_, goVersion, _ = strings.Cut(line, ": ")
			continue
		}
		f := strings.Split(strings.TrimSpace(line), "\t")
		switch {
		case f[0] == "dep" && len(f) >= 3:
			last = f[1]
			m := modLine{version: f[2]}
			if len(f) > 3 {
				m.sum = f[3]
			}
			mods[last] = m
		case f[0] == "=>" && len(f) >= 3:
			m := modLine{version: f[2]}
			if len(f) > 3 {
				m.sum = f[3]
			}
			mods[last] = m
		}
	}
	return mods, strings.TrimSpace(goVersion)
}

type parsed struct {
	BOMFormat, SpecVersion, SerialNumber string
	Metadata                             struct {
		Timestamp string
		Component parsedComponent
	}
	Components   []parsedComponent
	Dependencies []struct {
		Ref       string
		DependsOn []string
	}
}

type parsedComponent struct {
	Type, Name, Version, PURL string
	BOMRef                    string `json:"bom-ref"`
	Hashes                    []struct{ Alg, Content string }
	Properties                []struct{ Name, Value string }
}

func (c parsedComponent) prop(name string) string {
	for _, p := range c.Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

func decode(t *testing.T, b []byte) parsed {
	t.Helper()
	var p parsed
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return p
}

// The SBOM of the extension lists exactly the modules `go version -m` reports, with their
// versions and go.sum hashes, plus the standard library at the binary's Go version.
func TestSBOMListsWhatGoVersionMReports(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kinko")
	buildLike(t, "./extension", bin)
	want, goVersion := goVersionM(t, bin)
	if len(want) < 5 {
		t.Fatalf("go version -m listed %d modules; the extension has the AWS SDK's", len(want))
	}
	p := decode(t, sbomOf(t, bin, nil, "-name", "kinko", "-file", "extensions/kinko"))

	if p.BOMFormat != "CycloneDX" || p.SpecVersion != "1.6" || !strings.HasPrefix(p.SerialNumber, "urn:uuid:") {
		t.Errorf("header %q %q %q", p.BOMFormat, p.SpecVersion, p.SerialNumber)
	}
	got := map[string]parsedComponent{}
	var std *parsedComponent
	for _, c := range p.Components {
		if c.Name == "stdlib" {
			std = &c
			continue
		}
		got[c.Name] = c
	}
	if std == nil || std.Version != goVersion || std.PURL != "pkg:golang/stdlib@"+strings.TrimPrefix(goVersion, "go") {
		t.Errorf("stdlib component %+v, want version %s", std, goVersion)
	}
	for path, m := range want {
		c, ok := got[path]
		if !ok {
			t.Errorf("module %s (go version -m) is not in the SBOM", path)
			continue
		}
		if c.Version != m.version || c.prop("kinko:gomod:sum") != m.sum || c.PURL != "pkg:golang/"+path+"@"+m.version {
			t.Errorf("%s: SBOM has %s %s %s, go version -m %s %s", path, c.Version, c.prop("kinko:gomod:sum"), c.PURL, m.version, m.sum)
		}
		if h, err := h1Hex(m.sum); err != nil || len(c.Hashes) != 1 || c.Hashes[0].Alg != "SHA-256" || c.Hashes[0].Content != h {
			t.Errorf("%s: hashes %+v, want SHA-256 %s (%v)", path, c.Hashes, h, err)
		}
	}
	for path := range got {
		if _, ok := want[path]; !ok {
			t.Errorf("the SBOM lists %s, which go version -m does not", path)
		}
	}

	main := p.Metadata.Component
	b, _ := os.ReadFile(bin)
	sum := sha256Hex(b)
	if main.Name != "kinko" || main.Version != "v0.0.0-test" || main.PURL != "pkg:golang/github.com/kinko-dev/kinko@v0.0.0-test#extension" ||
		len(main.Hashes) != 1 || main.Hashes[0].Content != sum || main.prop("cdx:gomod:build:env:GOARCH") != runtime.GOARCH ||
		main.prop("cdx:gomod:build:env:GOVERSION") != goVersion || main.prop("kinko:file") != "extensions/kinko" ||
		main.prop("kinko:go:build:-trimpath") != "true" {
		t.Errorf("metadata.component = %+v; want kinko v0.0.0-test, the binary's SHA-256 %s, %s, %s", main, sum, runtime.GOARCH, goVersion)
	}
	if len(p.Dependencies) != len(p.Components)+1 || p.Dependencies[0].Ref != main.BOMRef || len(p.Dependencies[0].DependsOn) != len(p.Components) {
		t.Errorf("dependencies: %d entries, the binary's depends on %d; want %d and %d", len(p.Dependencies), len(p.Dependencies[0].DependsOn), len(p.Components)+1, len(p.Components))
	}
}

// Two builds of the same source give byte-identical SBOMs (no clock, no random serial); the
// timestamp is SOURCE_DATE_EPOCH's; another binary gets another serial number.
func TestSBOMIsReproducible(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "a", "kinko-exec"), filepath.Join(dir, "b", "kinko-exec")
	buildLike(t, "./extension/kinko-exec", first, "-gcflags=all=-l")
	buildLike(t, "./extension/kinko-exec", second, "-gcflags=all=-l")
	epoch := map[string]string{"SOURCE_DATE_EPOCH": "1764979200"}

	a := sbomOf(t, first, epoch)
	b := sbomOf(t, second, epoch)
	if !bytes.Equal(a, b) {
		t.Fatalf("two builds gave different SBOMs:\n%s\n---\n%s", a, b)
	}
	p := decode(t, a)
	if p.Metadata.Timestamp != "2025-12-06T00:00:00Z" {
		t.Errorf("timestamp %q, want SOURCE_DATE_EPOCH's 2025-12-06T00:00:00Z", p.Metadata.Timestamp)
	}
	if p.Metadata.Component.Name != "kinko-exec" {
		t.Errorf("default name %q, want the file's base name", p.Metadata.Component.Name)
	}
	if p := decode(t, sbomOf(t, first, nil)); p.Metadata.Timestamp != "" {
		t.Errorf("timestamp %q without SOURCE_DATE_EPOCH, want none", p.Metadata.Timestamp)
	}

	// The serial number follows the binary.
	other := filepath.Join(dir, "c", "kinko-exec")
	buildLike(t, "./extension/kinko-exec", other, "-gcflags=all=-N")
	if q := decode(t, sbomOf(t, other, epoch)); q.SerialNumber == p.SerialNumber {
		t.Errorf("two different binaries share serial %s", q.SerialNumber)
	}
}

func TestSBOMBadInput(t *testing.T) {
	notGo := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notGo, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "x.json")
	cases := map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"no version":   {[]string{"-o", out, notGo}, nil, "-version is required"},
		"no output":    {[]string{"-version", "v1", notGo}, nil, "-o is required"},
		"bad epoch":    {[]string{"-o", out, "-version", "v1", notGo}, map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}, "SOURCE_DATE_EPOCH"},
		"not Go":       {[]string{"-o", out, "-version", "v1", notGo}, nil, "no Go build information"},
		"two binaries": {[]string{"-o", out, "-version", "v1", notGo, notGo}, nil, "usage"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := run(c.args, func(k string) string { return c.env[k] }, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want an error saying %q", err, c.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("an output file was written")
			}
		})
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
