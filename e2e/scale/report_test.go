package scale

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/SCALE.golden.md from testdata/report.json")

// testdata/report.json is the Report of the full run behind the SCALE.md committed on
// 2026-12-01 (commit bbe7941f5e66), read back from that file (the closing section's inputs
// from its tables: 1922 steady calls, 1067 storm calls, 163.8 calls/s in the brownout). The
// renderer of that day rendered it to that SCALE.md byte for byte; the golden file is what the
// templates render from it, which differs from that SCALE.md only in the text changed since
// (the pacer's: "shared by a sandbox's failing keys", the brownout's cap at 22.5 s). After a
// deliberate change to the text, run go test ./e2e/scale -run TestMarkdownRendersTheRecordedReport
// -update and read the diff.
func TestMarkdownRendersTheRecordedReport(t *testing.T) {
	r, err := LoadReport(filepath.Join("testdata", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Markdown(r)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "SCALE.golden.md")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := firstDifference(string(want), got); diff != "" {
		t.Errorf("the report differs from %s (-update rewrites it): %s", golden, diff)
	}
}

// A report renders the same after a JSON round trip (report.json beside the run's record).
func TestReportRendersTheSameFromJSON(t *testing.T) {
	r, err := LoadReport(filepath.Join("testdata", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := Markdown(r)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.json")
	if err := SaveReport(path, r); err != nil {
		t.Fatal(err)
	}
	again, err := LoadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Markdown(again)
	if err != nil {
		t.Fatal(err)
	}
	if diff := firstDifference(want, got); diff != "" {
		t.Errorf("rendered from its JSON, the report differs: %s", diff)
	}
}

// firstDifference is "" for equal texts, else the first line that differs, both ways.
func firstDifference(want, got string) string {
	if want == got {
		return ""
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  want " + wl + "\n  got  " + gl
		}
	}
	return "they differ in line endings"
}
