package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const commit = "0123456789abcdef0123456789abcdef01234567"

// h1 makes a well-formed go.sum hash from a seed.
func h1(seed string) string {
	s := sha256.Sum256([]byte(seed))
	return "h1:" + base64.StdEncoding.EncodeToString(s[:])
}

// sbom writes a minimal SBOM in internal/cmd/sbom's shape.
func sbom(t *testing.T, dir, name, binary, arch string, modules map[string]string) {
	t.Helper()
	comps := []map[string]any{{"type": "library", "name": "stdlib", "version": "go1.26.11", "purl": "pkg:golang/stdlib@1.26.11"}}
	for path, version := range modules {
		comps = append(comps, map[string]any{
			"type": "library", "name": path, "version": version, "purl": "pkg:golang/" + path + "@" + version,
			"properties": []map[string]string{{"name": "kinko:gomod:sum", "value": h1(path + version)}},
		})
	}
	doc := map[string]any{
		"bomFormat": "CycloneDX", "specVersion": "1.6",
		"metadata": map[string]any{"component": map[string]any{
			"name": binary, "hashes": []map[string]string{{"alg": "SHA-256", "content": strings.Repeat("ab", 32)}},
			"properties": []map[string]string{{"name": "cdx:gomod:build:env:GOVERSION", "value": "go1.26.11"}, {"name": "cdx:gomod:build:env:GOARCH", "value": arch}},
		}},
		"components": comps,
	}
	b, _ := json.Marshal(doc)
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fixture(t *testing.T) (dist string, args []string) {
	t.Helper()
	dist = t.TempDir()
	for name, body := range map[string]string{"kinko-layer-arm64.zip": "zip arm64", "kinko-layer-x86_64.zip": "zip x86_64"} {
		if err := os.WriteFile(filepath.Join(dist, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sdk := map[string]string{"github.com/aws/aws-sdk-go-v2": "v1.48.0", "github.com/aws/aws-sdk-go-v2/credentials": "v1.21.0", "golang.org/x/sync": "v0.25.0"}
	sbom(t, dist, "kinko-layer-arm64.kinko.cdx.json", "kinko", "arm64", sdk)
	sbom(t, dist, "kinko-layer-x86_64.kinko.cdx.json", "kinko", "amd64", sdk)
	sbom(t, dist, "kinko-layer-arm64.kinko-exec.cdx.json", "kinko-exec", "arm64", nil)
	input := filepath.Join(t.TempDir(), "go.sum")
	if err := os.WriteFile(input, []byte("go.sum content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dist, []string{"-dist", dist, "-version", "v1.2.3", "-commit", commit, "-input", input, "-tool", "zopfli=1.0.3-1+b1",
		"kinko-layer-x86_64.zip", "kinko-layer-arm64.zip", "kinko-layer-arm64.kinko.cdx.json",
		"kinko-layer-x86_64.kinko.cdx.json", "kinko-layer-arm64.kinko-exec.cdx.json"}
}

func sumOf(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestReleaseWritesSumsProvenanceAndNotes(t *testing.T) {
	dist, args := fixture(t)
	if err := run(args, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}

	// SHA256SUMS is what sha256sum -c checks, and it passes against the files.
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
		cmd.Dir = dist
		if out, err := cmd.CombinedOutput(); err != nil || strings.Count(string(out), ": OK") != 5 {
			t.Fatalf("sha256sum -c: %v\n%s", err, out)
		}
	}
	sums, _ := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if first := strings.SplitN(string(sums), "\n", 2)[0]; first != sumOf(t, filepath.Join(dist, "kinko-layer-arm64.kinko-exec.cdx.json"))+"  kinko-layer-arm64.kinko-exec.cdx.json" {
		t.Errorf("SHA256SUMS is not sorted by name or not in sha256sum's format:\n%s", sums)
	}

	var p struct {
		Type          string `json:"_type"`
		PredicateType string
		Subject       []resource
		Predicate     struct {
			BuildDefinition struct {
				BuildType            string
				ExternalParameters   map[string]string
				InternalParameters   map[string]string
				ResolvedDependencies []resource
			}
			RunDetails struct{ Builder struct{ ID string } }
		}
	}
	b, _ := os.ReadFile(filepath.Join(dist, "kinko.intoto.json"))
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "https://in-toto.io/Statement/v1" || p.PredicateType != "https://slsa.dev/provenance/v1" || len(p.Subject) != 5 {
		t.Fatalf("statement header %q %q, %d subjects", p.Type, p.PredicateType, len(p.Subject))
	}
	for _, s := range p.Subject {
		if want := sumOf(t, filepath.Join(dist, s.Name)); s.Digest["sha256"] != want {
			t.Errorf("subject %s: sha256 %s, want %s", s.Name, s.Digest["sha256"], want)
		}
	}
	bd := p.Predicate.BuildDefinition
	if bd.ExternalParameters["commit"] != commit || bd.ExternalParameters["command"] != "make release VERSION=v1.2.3" ||
		bd.InternalParameters["toolchain"] != "go1.26.11" || !strings.Contains(p.Predicate.RunDetails.Builder.ID, commit) {
		t.Errorf("build definition %+v, builder %q", bd, p.Predicate.RunDetails.Builder.ID)
	}
	deps := map[string]resource{}
	for _, r := range bd.ResolvedDependencies {
		deps[r.URI] = r
	}
	if r := deps["git+https://github.com/kinko-dev/kinko@"+commit]; r.Digest["gitCommit"] != commit {
		t.Errorf("no source commit among the inputs: %+v", bd.ResolvedDependencies)
	}
	if r := deps["https://github.com/kinko-dev/kinko/blob/"+commit+"/"+filepath.ToSlash(args[7])]; r.Digest["sha256"] != sumOf(t, args[7]) {
		t.Errorf("the input file's digest is missing or wrong: %+v", r)
	}
	sdk := deps["pkg:golang/github.com/aws/aws-sdk-go-v2@v1.48.0"]
	want, _ := dirHash(h1("github.com/aws/aws-sdk-go-v2v1.48.0"))
	if sdk.Digest["dirHash"] != want {
		t.Errorf("module digest %+v, want dirHash %s", sdk, want)
	}
	// zopfli compressed the zips: its version is an input of the bytes.
	if r := deps["pkg:generic/zopfli@1.0.3-1%2Bb1"]; r.Name != "zopfli" {
		t.Errorf("zopfli's version is not among the inputs: %+v", bd.ResolvedDependencies)
	}
	if n := strings.Count(string(b), "pkg:golang/golang.org/x/sync@v0.25.0"); n != 1 {
		t.Errorf("golang.org/x/sync listed %d times; a module in two binaries is one input", n)
	}

	notes, _ := os.ReadFile(filepath.Join(dist, "RELEASE.md"))
	for _, w := range []string{"# kinko v1.2.3", "`kinko-layer-arm64.kinko.cdx.json`", "`kinko-layer-x86_64.kinko.cdx.json`", "`kinko-layer-arm64.kinko-exec.cdx.json`",
		sumOf(t, filepath.Join(dist, "kinko-layer-arm64.zip")), "git checkout " + commit, "sha256sum -c", "`github.com/aws/aws-sdk-go-v2` v1.48.0",
		"with go1.26.11 and zopfli 1.0.3-1+b1 by", "with the same zopfli 1.0.3-1+b1"} {
		if !strings.Contains(string(notes), w) {
			t.Errorf("RELEASE.md lacks %q:\n%s", w, notes)
		}
	}

	if i, j := strings.Index(string(notes), "`github.com/aws/aws-sdk-go-v2` "), strings.Index(string(notes), "`github.com/aws/aws-sdk-go-v2/credentials` "); i < 0 || j < 0 || i > j {
		t.Errorf("modules not listed by path (a module before its sub-modules):\n%s", notes)
	}

	// Nothing depends on the clock or the order of the arguments: a second run is the same bytes.
	before := map[string][]byte{}
	for _, n := range []string{"SHA256SUMS", "kinko.intoto.json", "RELEASE.md"} {
		before[n], _ = os.ReadFile(filepath.Join(dist, n))
	}
	shuffled := append(append([]string{}, args[:10]...), args[len(args)-1], args[11], args[10], args[13], args[12])
	if err := run(shuffled, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for n, b := range before {
		if after, _ := os.ReadFile(filepath.Join(dist, n)); !bytes.Equal(after, b) {
			t.Errorf("%s changed on a second run", n)
		}
	}
}

func TestReleaseRefuses(t *testing.T) {
	dist, args := fixture(t)
	cases := map[string]struct {
		args []string
		want string
	}{
		"dirty tree":          {append([]string{"-dirty"}, args...), "changes that are not committed"},
		"short commit":        {[]string{"-dist", dist, "-version", "v1", "-commit", "abc123", "kinko-layer-arm64.zip"}, "40-digit"},
		"no files":            {[]string{"-dist", dist, "-version", "v1", "-commit", commit}, "name the release's files"},
		"missing file":        {[]string{"-dist", dist, "-version", "v1", "-commit", commit, "kinko-layer-mips.zip"}, "make layer"},
		"a path":              {[]string{"-dist", dist, "-version", "v1", "-commit", commit, "dist/kinko-layer-arm64.zip"}, "base name"},
		"not an SBOM":         {[]string{"-dist", dist, "-version", "v1", "-commit", commit, "kinko-layer-arm64.zip", "bad.cdx.json"}, "not a CycloneDX SBOM"},
		"tool, no version":    {[]string{"-dist", dist, "-version", "v1", "-commit", commit, "-tool", "zopfli", "kinko-layer-arm64.zip"}, "NAME=VERSION"},
		"tool, empty version": {[]string{"-dist", dist, "-version", "v1", "-commit", commit, "-tool", "zopfli=", "kinko-layer-arm64.zip"}, "NAME=VERSION"},
		"tool twice":          {[]string{"-dist", dist, "-version", "v1", "-commit", commit, "-tool", "zopfli=1.0.3", "-tool", "zopfli=1.0.2", "kinko-layer-arm64.zip"}, "given twice"},
	}
	if err := os.WriteFile(filepath.Join(dist, "bad.cdx.json"), []byte(`{"hello":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := run(c.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want an error saying %q", err, c.want)
			}
			if _, err := os.Stat(filepath.Join(dist, "SHA256SUMS")); err == nil {
				t.Fatal("SHA256SUMS written despite the error")
			}
		})
	}
}
