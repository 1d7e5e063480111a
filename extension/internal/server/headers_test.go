package server

import (
	"net/http"
	"testing"
)

// A handler that adds to a shared value gets its own copy: the next answer is unchanged.
func TestSharedHeaderValuesAreNotWrittenThrough(t *testing.T) {
	hv := newHeaderValues()
	h := http.Header{}
	h["Cache-Status"] = hv.bypass
	h.Add("Cache-Status", "added")
	h["Cache-Control"] = hv.noStore
	h.Set("Cache-Control", "changed")
	if len(hv.bypass) != 1 || hv.bypass[0] != "kinko; fwd=bypass" || hv.noStore[0] != "no-store" {
		t.Fatalf("shared values changed: %q %q", hv.bypass, hv.noStore)
	}
	if got := h.Values("Cache-Status"); len(got) != 2 {
		t.Fatalf("Add: %q", got)
	}
}
