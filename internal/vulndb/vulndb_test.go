package vulndb

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// osv writes an OSV entry affecting the given modules.
func osv(t *testing.T, dir, id, modified string, modules ...string) {
	t.Helper()
	var affected []map[string]any
	for _, m := range modules {
		affected = append(affected, map[string]any{
			"package": map[string]string{"name": m, "ecosystem": "Go"},
			"ranges":  []map[string]any{{"type": "SEMVER", "events": []map[string]string{{"introduced": "0"}}}},
		})
	}
	e := map[string]any{"schema_version": "1.3.1", "id": id, "modified": modified, "published": modified, "affected": affected}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, id+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBuildWritesTheLayoutGovulncheckReads(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "db")
	// As in golang.org/x/vulndb's data/osv: no modification time.
	osv(t, src, "GO-2024-0002", "0001-01-01T00:00:00Z", "stdlib", "example.com/b")
	osv(t, src, "GO-2023-0001", "0001-01-01T00:00:00Z", "example.com/b")
	osv(t, src, "GO-2025-0003", "2025-03-04T05:06:07Z", "example.com/a", "example.com/a") // one module listed twice
	if err := os.WriteFile(filepath.Join(src, "README.md"), []byte("not an entry"), 0o644); err != nil {
		t.Fatal(err)
	}
	dated := time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)

	st, err := Build(src, dst, dated)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 3 || st.Modules != 3 || !st.Modified.Equal(dated) {
		t.Errorf("stats %+v, want 3 entries, 3 modules, dated %s", st, dated)
	}
	for _, id := range []string{"GO-2023-0001", "GO-2024-0002", "GO-2025-0003"} {
		a, _ := os.ReadFile(filepath.Join(src, id+".json"))
		b, err := os.ReadFile(filepath.Join(dst, "ID", id+".json"))
		if err != nil || string(a) != string(b) {
			t.Errorf("%s: not copied as it was (%v)", id, err)
		}
	}
	modules, _ := os.ReadFile(filepath.Join(dst, "index", "modules.json"))
	want := `[{"path":"example.com/a","vulns":[{"id":"GO-2025-0003","modified":"2025-03-04T05:06:07Z"}]},` +
		`{"path":"example.com/b","vulns":[{"id":"GO-2023-0001","modified":"2026-11-05T23:49:57Z"},{"id":"GO-2024-0002","modified":"2026-11-05T23:49:57Z"}]},` +
		`{"path":"stdlib","vulns":[{"id":"GO-2024-0002","modified":"2026-11-05T23:49:57Z"}]}]`
	if string(modules) != want {
		t.Errorf("modules.json\n got %s\nwant %s", modules, want)
	}
	got, err := Modified(dst)
	if err != nil || !got.Equal(dated) {
		t.Errorf("Modified = %s, %v; want %s", got, err, dated)
	}
}

func TestBuildRefusesWhatIsNotADatabase(t *testing.T) {
	empty := t.TempDir()
	if _, err := Build(empty, t.TempDir(), time.Now()); err == nil || !strings.Contains(err.Error(), "no GO-*.json") {
		t.Errorf("empty source: %v", err)
	}
	renamed := t.TempDir()
	osv(t, renamed, "GO-2024-0002", "2025-01-01T00:00:00Z", "stdlib")
	if err := os.Rename(filepath.Join(renamed, "GO-2024-0002.json"), filepath.Join(renamed, "GO-2024-0009.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(renamed, t.TempDir(), time.Now()); err == nil || !strings.Contains(err.Error(), "does not match the file name") {
		t.Errorf("entry under another id's name: %v", err)
	}
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "GO-2024-0001.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(broken, t.TempDir(), time.Now()); err == nil || !strings.Contains(err.Error(), "not an OSV entry") {
		t.Errorf("broken JSON: %v", err)
	}
	if _, err := Modified(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a Go vulnerability database") {
		t.Errorf("Modified of an empty directory: %v", err)
	}
}
