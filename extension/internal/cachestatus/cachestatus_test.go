package cachestatus

import (
	"sync"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

func TestCacheStatusValues(t *testing.T) {
	for st, want := range map[cache.Status]string{
		{Outcome: cache.Hit, TTL: 287900 * time.Millisecond}:       "kinko; hit; ttl=287",
		{Outcome: cache.Miss, TTL: 300 * time.Second}:              "kinko; fwd=miss; stored; ttl=300",
		{Outcome: cache.Collapsed, TTL: 299500 * time.Millisecond}: "kinko; fwd=miss; collapsed; ttl=299",
		{Outcome: cache.Expired, TTL: 271 * time.Second}:           "kinko; fwd=stale; stored; ttl=271",
		{Outcome: cache.StaleIfError}:                              "kinko; hit; detail=stale-if-error",
		{Outcome: cache.StaleWhileRevalidate}:                      "kinko; hit; detail=stale-while-revalidate",
		{Outcome: cache.Refreshed, TTL: 300 * time.Second}:         "kinko; fwd=request; stored; ttl=300",
		{Outcome: cache.Bypass}:                                    "kinko; fwd=bypass",
		// Answered but not stored (a value over the cache's byte budget): no promise of freshness.
		{Outcome: cache.Miss}:      "kinko; fwd=miss",
		{Outcome: cache.Collapsed}: "kinko; fwd=miss; collapsed",
		{Outcome: cache.Expired}:   "kinko; fwd=stale",
		{Outcome: cache.Refreshed}: "kinko; fwd=request",
	} {
		if got := Render(st, nil); got != want {
			t.Errorf("%v: %q, want %q", st.Outcome, got, want)
		}
	}
	// An error answered from the cache (a remembered not-found) forwarded nothing.
	notFound := &kinko.Error{Code: kinko.NotFound, AWSStatus: 404, AWSCode: "ResourceNotFoundException", Message: "gone"}
	for st, want := range map[cache.Status]string{
		{Outcome: cache.Hit}:       "kinko; hit; detail=remembered-error",
		{Outcome: cache.Miss}:      "kinko; fwd=miss; fwd-status=404",
		{Outcome: cache.Refreshed}: "kinko; fwd=request; fwd-status=404",
	} {
		if got := Render(st, notFound); got != want {
			t.Errorf("error, %v: %q, want %q", st.Outcome, got, want)
		}
	}
}

// The shared renderings answer exactly what Render renders, first and second time,
// whatever the fraction of a second left, and from many goroutines at once.
func TestSharedCacheStatusMatchesRendering(t *testing.T) {
	var shared Shared
	outcomes := []cache.Outcome{cache.Hit, cache.Miss, cache.Collapsed, cache.Expired, cache.Refreshed, cache.StaleIfError, cache.Bypass}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for _, o := range outcomes {
				for ms := int64(0); ms < 400_000; ms += 997 + int64(g) {
					st := cache.Status{Outcome: o, TTL: time.Duration(ms) * time.Millisecond}
					want := Render(st, nil)
					for range 2 {
						if got := shared.Header(st, nil); len(got) != 1 || got[0] != want {
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
