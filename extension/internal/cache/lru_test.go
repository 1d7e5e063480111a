package cache

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// An expired entry that requests are asking for is in use, not least recently used: while its
// refetch is in flight, new entries must evict something else, or the refetch's failure finds
// no stale value to fall back on. (Found by the whole-process soak: hot secrets answered 504
// while cold misses filled the cache during a hang.)
func TestExpiredEntryBeingRefetchedIsNotEvicted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		var failing atomic.Bool
		c := New[key, string](LoadFunc[key, string](func(_ context.Context, k key) (string, error) {
			if k == "a" && failing.Load() {
				<-gate // AWS hangs, then fails
				return "", errTransient
			}
			return "v-" + string(k), nil
		}), Options[key]{
			TTL:          func(key) time.Duration { return 100 * time.Second },
			Size:         2,
			RefreshAhead: 1,
			StaleIfError: time.Hour,
			MaxWait:      time.Hour, // wait for the refetch's failure, not for the clock
		})
		defer c.Close()
		get := func(k key) (string, Status, error) { return c.Get(context.Background(), k) }
		get("a")
		get("b") // least recently used first: a, then b
		time.Sleep(101 * time.Second)

		failing.Store(true)
		type answer struct {
			v   string
			st  Status
			err error
		}
		got := make(chan answer, 1)
		go func() { v, st, err := get("a"); got <- answer{v, st, err} }()
		synctest.Wait() // a is asked for: its refetch is parked at AWS

		if _, st, err := get("c"); err != nil || st.Outcome != Miss { // full: one entry must go
			t.Fatalf("c: %+v %v", st, err)
		}
		close(gate)
		if a := <-got; a.err != nil || a.v != "v-a" || a.st.Outcome != StaleIfError {
			t.Fatalf("a, refetch failed: %q %+v %v; want the stale value (b was the least recently used)", a.v, a.st, a.err)
		}
		if _, st, _ := get("b"); st.Outcome == Hit {
			t.Fatal("b is still cached: the wrong entry was evicted")
		}
	})
}
