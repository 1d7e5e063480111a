package cache

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestForgetDropsEveryValueEvenStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v1", nil)
		u.set("b", "w1", nil)
		c := newCache(u, nil)
		defer c.Close()
		get(t, c, "a")
		get(t, c, "b")

		c.Forget()
		if c.Len() != 0 {
			t.Fatalf("entries after Forget = %d, want 0", c.Len())
		}
		// AWS fails: a value from before Forget must not come back as stale-if-error.
		u.set("a", "", errTransient)
		if v, st, err := get(t, c, "a"); !errors.Is(err, errTransient) {
			t.Fatalf("after Forget, AWS failing: %q %+v %v, want the upstream error", v, st, err)
		}
		if v, st, err := get(t, c, "b"); err != nil || v != "w1" || st.Outcome != Miss {
			t.Fatalf("after Forget: %q %+v %v, want a new fetch (Miss)", v, st, err)
		}
	})
}

func TestFetchFromBeforeForgetAnswersButIsNotStored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "old", nil)
		u.gate = make(chan struct{})
		c := newCache(u, nil)
		defer c.Close()

		var before atomic.Value
		go func() {
			v, _, _ := c.Get(t.Context(), "a")
			before.Store(v)
		}()
		synctest.Wait() // the fetch is in flight
		c.Forget()
		// A caller after Forget does not join the fetch from before it.
		var after atomic.Value
		go func() {
			v, _, _ := c.Get(t.Context(), "a")
			after.Store(v)
		}()
		synctest.Wait()
		if n := u.count("a"); n != 1 {
			t.Fatalf("upstream calls = %d, want 1: one attempt in flight per key", n)
		}
		close(u.gate)
		synctest.Wait()
		if n := u.count("a"); n != 2 {
			t.Fatalf("upstream calls = %d, want 2: the caller after Forget must not take the answer from before it", n)
		}
		if before.Load() != "old" || after.Load() != "old" {
			t.Fatalf("answers = %v, %v; want both callers answered", before.Load(), after.Load())
		}
		// Only the post-Forget fetch was stored: the next get is a hit on it, one entry.
		if _, st, _ := get(t, c, "a"); st.Outcome != Hit || c.Len() != 1 {
			t.Fatalf("after both fetches: %+v with %d entries, want a hit on one entry", st, c.Len())
		}
	})
}

func TestFetchFromBeforeForgetStoresNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "old", nil)
		u.gate = make(chan struct{})
		c := newCache(u, nil)
		defer c.Close()
		go c.Get(t.Context(), "a")
		synctest.Wait()
		c.Forget()
		close(u.gate)
		synctest.Wait()
		if c.Len() != 0 {
			t.Fatalf("entries = %d, want 0: a fetch from before Forget stored its answer", c.Len())
		}
	})
}

// wallAhead is a wall clock that runs ahead of the monotonic one by a settable offset, as
// after a SnapStart restore or a long freeze.
type wallAhead struct{ offset atomic.Int64 }

func (w *wallAhead) now() time.Time { return time.Now().Round(0).Add(time.Duration(w.offset.Load())) }

func TestWallClockAheadEndsFreshness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v1", nil)
		w := &wallAhead{}
		c := newCache(u, func(o *options) { o.Wall = w.now })
		defer c.Close()
		get(t, c, "a")
		time.Sleep(10 * time.Second)
		if _, st, _ := get(t, c, "a"); st.Outcome != Hit || st.TTL != 90*time.Second {
			t.Fatalf("clocks agree: %+v, want a hit with 90s left", st)
		}

		// The wall clock jumps past the TTL while the monotonic clock stood still.
		w.offset.Store(int64(95 * time.Second))
		u.set("a", "v2", nil)
		if v, st, err := get(t, c, "a"); err != nil || v != "v2" || st.Outcome != Expired {
			t.Fatalf("wall clock past the TTL: %q %+v %v, want a refetched v2, not the old value as fresh", v, st, err)
		}
		// Freshness left is the smaller of the two: 10 s of wall age already counts.
		w.offset.Store(int64(105 * time.Second))
		if _, st, _ := get(t, c, "a"); st.Outcome != Hit || st.TTL != 90*time.Second {
			t.Fatalf("after 10 s more by the wall clock: %+v, want a hit with 90s left", st)
		}
	})
}

func TestWallClockAheadEndsStaleWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v1", nil)
		w := &wallAhead{}
		c := newCache(u, func(o *options) { o.Wall = w.now })
		defer c.Close()
		get(t, c, "a")

		u.set("a", "", errTransient)
		w.offset.Store(int64(140 * time.Second)) // within TTL 100 + stale 50 by the wall clock
		if v, st, err := get(t, c, "a"); err != nil || v != "v1" || st.Outcome != StaleIfError {
			t.Fatalf("within the stale window by the wall clock: %q %+v %v, want stale v1", v, st, err)
		}
		w.offset.Store(int64(150 * time.Second)) // the window is over by the wall clock only
		if v, st, err := get(t, c, "a"); !errors.Is(err, errTransient) {
			t.Fatalf("past the stale window by the wall clock: %q %+v %v, want the upstream error", v, st, err)
		}
	})
}

// A failure of an attempt from before Forget (a connection that died across a SnapStart
// snapshot) sets no backoff: the first request after the restore tries at once.
func TestFailureFromBeforeForgetSetsNoBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("v")
		hang := make(chan struct{})
		f.set("", errTransient, hang)
		c := flakyCache(f, nil)
		defer c.Close()
		ctx, leave := context.WithCancel(context.Background())
		go c.Get(ctx, "a")
		synctest.Wait()
		c.Forget()
		leave()     // its caller is gone: nobody retries
		close(hang) // and the old attempt fails now
		synctest.Wait()
		f.set("fresh", nil, nil)
		if v, st, took, err := timed(c, "a"); err != nil || v != "fresh" || took != 0 {
			t.Fatalf("first request after Forget: %q %+v %v after %s, want a fetch at once", v, st, err, took)
		}
	})
}
