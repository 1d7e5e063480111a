package memo

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

// The Python and Node clients in the layer read Cache-Status with their own copies of KeepFor;
// testdata/keepfor.json holds the cases all three must agree on (client/python/tests and
// client/node/test read the same file).
func TestKeepForSharedCases(t *testing.T) {
	b, err := os.ReadFile("testdata/keepfor.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []struct {
			Lines  []string `json:"lines"`
			KeepMS int64    `json:"keep_ms"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("testdata/keepfor.json: %v", err)
	}
	if len(f.Cases) < 30 {
		t.Fatalf("testdata/keepfor.json has %d cases; the file lost some", len(f.Cases))
	}
	for _, c := range f.Cases {
		if got, want := KeepFor(c.Lines), time.Duration(c.KeepMS)*time.Millisecond; got != want {
			t.Errorf("KeepFor(%q) = %v, want %v", c.Lines, got, want)
		}
	}
}
