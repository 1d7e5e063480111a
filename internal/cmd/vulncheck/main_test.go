package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/internal/gotool"
	"github.com/kinko-dev/kinko/internal/vulndb"
)

// fixtureDB writes a database with one made-up vulnerability: strings.ToUpper in every Go
// release. testdata/victim calls it; testdata/clean imports strings but does not.
func fixtureDB(t *testing.T, dated time.Time) string {
	t.Helper()
	src := t.TempDir()
	entry := map[string]any{
		"schema_version": "1.3.1",
		"id":             "GO-2099-0001",
		"modified":       "0001-01-01T00:00:00Z",
		"published":      "0001-01-01T00:00:00Z",
		"summary":        "made-up vulnerability in strings.ToUpper (a test fixture)",
		// govulncheck's text report reads it (v1.10.0 crashes on an entry without it).
		"database_specific": map[string]string{"url": "https://pkg.go.dev/vuln/GO-2099-0001"},
		"affected": []any{map[string]any{
			"package":            map[string]string{"name": "stdlib", "ecosystem": "Go"},
			"ranges":             []any{map[string]any{"type": "SEMVER", "events": []any{map[string]string{"introduced": "0"}}}},
			"ecosystem_specific": map[string]any{"imports": []any{map[string]any{"path": "strings", "symbols": []string{"ToUpper"}}}},
		}},
	}
	b, err := json.Marshal(entry)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "GO-2099-0001.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "db")
	if _, err := vulndb.Build(src, dst, dated); err != nil {
		t.Fatal(err)
	}
	return dst
}

type result struct {
	code           int
	stdout, stderr string
}

func check(t *testing.T, environ []string, now time.Time, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, deps{environ: environ, now: func() time.Time { return now }, stdout: &stdout, stderr: &stderr})
	return result{code, stdout.String(), stderr.String()}
}

// needGovulncheck installs the pinned govulncheck into dir, or skips the test when it cannot be
// had (no module proxy and not in the module cache).
func needGovulncheck(t *testing.T, dir string) {
	t.Helper()
	tool, err := gotool.Parse(govulncheckModule+"/cmd/govulncheck@"+govulncheckVersion, govulncheckModule, govulncheckSum)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (gotool.Installer{Dir: dir}).Install(t.Context(), tool); errors.Is(err, gotool.ErrUnavailable) {
		t.Skipf("govulncheck %s cannot be installed here (no module proxy, not in the module cache): %v", govulncheckVersion, err)
	} else if err != nil {
		t.Fatal(err)
	}
}

// A vulnerability the code reaches fails the check, naming it; one in a package that is
// imported but whose vulnerable function is never called does not. The database's age is said.
func TestReachableVulnerabilityFailsTheCheck(t *testing.T) {
	tools := t.TempDir()
	needGovulncheck(t, tools)
	dated := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	db := fixtureDB(t, dated)
	now := dated.Add(45 * 24 * time.Hour)

	r := check(t, os.Environ(), now, "-db", db, "-tools", tools, "-goarch", "amd64", "-C", "testdata/victim", ".")
	if r.code != 1 || !strings.Contains(r.stdout, "GO-2099-0001") || !strings.Contains(r.stderr, "FAIL") {
		t.Fatalf("victim: exit %d, want 1 naming GO-2099-0001 and FAIL\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "last changed 2026-01-01 (45 days old)") || !strings.Contains(r.stdout, "WARNING: the database is over 30 days old") {
		t.Errorf("the report does not give the database's age:\n%s", r.stdout)
	}

	r = check(t, os.Environ(), dated.Add(2*24*time.Hour), "-db", db, "-tools", tools, "-goarch", "amd64,arm64", "-C", "testdata/clean", ".")
	if r.code != 0 || !strings.Contains(r.stdout, "no vulnerability reachable") || strings.Contains(r.stdout, "WARNING") ||
		!strings.Contains(r.stdout, "(2 days old)") || !strings.Contains(r.stdout, "linux/arm64") {
		t.Fatalf("clean: exit %d, want 0 for both architectures\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// offlineEnv has no module proxy and an empty module cache: nothing can be downloaded.
func offlineEnv(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "GOPROXY" && k != "GOMODCACHE" && k != "GOFLAGS" && k != "GOTOOLCHAIN" {
			out = append(out, kv)
		}
	}
	// GOTOOLCHAIN=local: the Makefile's pinned toolchain lives in the real module cache, which
	// this environment hides.
	return append(out, "GOPROXY=off", "GOFLAGS=-modcacherw", "GOTOOLCHAIN=local", "GOMODCACHE="+t.TempDir())
}

// Without a database the check skips, says why and how to give it one; -require (a release)
// makes that a failure.
func TestNoDatabaseSkipsWithAClearMessage(t *testing.T) {
	environ := offlineEnv(t)
	r := check(t, environ, time.Now(), "-tools", t.TempDir(), "-out", t.TempDir(), "./extension")
	if r.code != 0 || !strings.Contains(r.stdout, "vulncheck: SKIP: no Go vulnerability database at hand") || !strings.Contains(r.stdout, "VULNDB_DIR") {
		t.Fatalf("offline: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = check(t, environ, time.Now(), "-require", "-tools", t.TempDir(), "-out", t.TempDir(), "./extension")
	if r.code != 1 || !strings.Contains(r.stderr, "FAIL: no Go vulnerability database") {
		t.Fatalf("offline with -require: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// A directory that is not a database is an error, not a skip: the user named it.
	r = check(t, environ, time.Now(), "-db", t.TempDir(), "-tools", t.TempDir(), "./extension")
	if r.code != 1 || !strings.Contains(r.stderr, "not a Go vulnerability database") {
		t.Fatalf("-db of an empty directory: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// The database is built from golang.org/x/vulndb as the module cache holds it, without network.
func TestDatabaseFromTheModuleCacheOffline(t *testing.T) {
	// A module cache that holds a fake golang.org/x/vulndb: the test fills a file proxy and
	// downloads from it into an empty cache, then goes offline.
	proxy := t.TempDir()
	version := "v0.0.0-20260102030405-abcdefabcdef"
	writeVulndbModule(t, proxy, version)
	cache := t.TempDir()
	base := append(offlineEnv(t), "GOMODCACHE="+cache) // the last GOMODCACHE wins
	if _, err := goModDownload(t.Context(), append(append([]string{}, base...), "GOPROXY=file://"+proxy, "GOSUMDB=off"), vulndbModule+"@"+version); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var said []string
	d, err := database(t.Context(), options{vulndbVersion: "latest", out: out}, deps{environ: base},
		func(f string, a ...any) { said = append(said, f) })
	if err != nil {
		t.Fatal(err)
	}
	if d.dir != filepath.Join(out, version) || !d.modified.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) || d.source != vulndbModule+"@"+version {
		t.Errorf("database %+v", d)
	}
	if mod, err := vulndb.Modified(d.dir); err != nil || !mod.Equal(d.modified) {
		t.Errorf("built database: %s %v", mod, err)
	}
	if _, err := os.Stat(filepath.Join(d.dir, "ID", "GO-2099-0001.json")); err != nil {
		t.Error(err)
	}
	if !strings.Contains(strings.Join(said, "\n"), "using the copy in the module cache") {
		t.Errorf("did not say it used the module cache: %q", said)
	}
}

// writeVulndbModule lays out a file-based module proxy holding golang.org/x/vulndb@version with
// one entry in data/osv.
func writeVulndbModule(t *testing.T, root, version string) {
	t.Helper()
	dir := filepath.Join(root, vulndbModule, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gomod := "module " + vulndbModule + "\n\ngo 1.22\n"
	files := map[string]string{
		"list":            version + "\n",
		version + ".info": `{"Version":"` + version + `","Time":"2026-01-02T03:04:05Z"}`,
		version + ".mod":  gomod,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	entry := `{"schema_version":"1.3.1","id":"GO-2099-0001","modified":"0001-01-01T00:00:00Z","affected":[{"package":{"name":"stdlib","ecosystem":"Go"}}]}`
	writeZip(t, filepath.Join(dir, version+".zip"), map[string]string{
		vulndbModule + "@" + version + "/go.mod":                     gomod,
		vulndbModule + "@" + version + "/data/osv/GO-2099-0001.json": entry,
	})
}

func writeZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for name, body := range files {
		w, err := zw.Create(name)
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
}
