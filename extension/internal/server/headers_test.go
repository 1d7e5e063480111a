package server

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/cache"
)

// The shared renderings answer exactly what cacheStatus renders, first and second time,
// whatever the fraction of a second left, and from many goroutines at once.
func TestSharedCacheStatusMatchesRendering(t *testing.T) {
	hv := newHeaderValues()
	outcomes := []cache.Outcome{cache.Hit, cache.Miss, cache.Collapsed, cache.Expired, cache.Refreshed, cache.StaleIfError, cache.Bypass}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for _, o := range outcomes {
				for ms := int64(0); ms < 400_000; ms += 997 + int64(g) {
					st := cache.Status{Outcome: o, TTL: time.Duration(ms) * time.Millisecond}
					want := cacheStatus(st, nil)
					for range 2 {
						if got := hv.cacheStatus(st, nil); len(got) != 1 || got[0] != want {
							t.Errorf("%v: shared %q, rendered %q", st, got, want)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
}

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
