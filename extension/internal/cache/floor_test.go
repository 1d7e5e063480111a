package cache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Issue 22 point 10: a flood of refreshNow on one key costs at most one upstream call per
// interval, not one per request.
func TestRefreshNowFloodIsFloored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v", nil)
		c := newCache(u, nil)
		defer c.Close()
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		answers := 0
		for range 8 {
			wg.Go(func() {
				for time.Since(start) < 3*time.Second {
					if v, _, err := c.Refresh(context.Background(), "a"); err != nil || v != "v" {
						t.Errorf("refresh at %v: %q %v", time.Since(start), v, err)
					}
					mu.Lock()
					answers++
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		// Refreshes ran for 3 s; the last may start one more attempt at 3 s.
		if n, most := u.count("a"), 1+int(3*time.Second/refreshInterval); n > most {
			t.Fatalf("%d refreshNow in 3 s made %d upstream calls, want at most %d (one per %s)", answers, n, most, refreshInterval)
		}
		if answers < 8*3 {
			t.Fatalf("8 callers refreshing for 3 s got %d answers, want at least one each per %s", answers, refreshInterval)
		}
	})
}

// A refreshNow within the interval waits for its end and then fetches: it is never answered
// by an attempt that started before it asked (the caller distrusts that value, as after a
// rotation), and the key still costs at most one refresh call per interval.
func TestRefreshNowWithinTheIntervalWaitsAndFetches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v1", nil)
		c := newCache(u, nil)
		defer c.Close()
		if v, st, err := c.Refresh(t.Context(), "a"); err != nil || v != "v1" || st.Outcome != Refreshed {
			t.Fatalf("first refresh: %q %+v %v", v, st, err)
		}
		u.set("a", "v2", nil) // rotated
		time.Sleep(refreshInterval / 2)
		asked := time.Now()
		v, st, err := c.Refresh(t.Context(), "a")
		if err != nil || v != "v2" || st.Outcome != Refreshed || u.count("a") != 2 {
			t.Fatalf("refresh half an interval later: %q %+v %v after %d calls, want a new call's v2", v, st, err, u.count("a"))
		}
		if waited := time.Since(asked); waited != refreshInterval/2 {
			t.Fatalf("the refresh waited %s, want the rest of the interval (%s)", waited, refreshInterval/2)
		}
	})
}

// A refreshNow that finds an attempt in flight which started before it asked does not take
// that attempt's answer: it waits for it, then for the interval, then for its own attempt.
func TestRefreshNowDoesNotTakeAnOlderAttemptsAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("v1")
		hang := make(chan struct{})
		f.set("v1", nil, hang)
		c := flakyCache(f, nil)
		defer c.Close()
		go c.Get(context.Background(), "a")
		synctest.Wait()
		time.Sleep(500 * time.Millisecond)
		f.set("v2", nil, nil)
		done := make(chan answer, 1)
		go func() { v, st, err := c.Refresh(context.Background(), "a"); done <- answer{v: v, st: st, err: err} }()
		synctest.Wait()
		close(hang)
		if got := <-done; got.err != nil || got.v != "v2" || f.attempts() != 2 {
			t.Fatalf("refresh 500 ms into an older attempt: %q %v after %d attempts, want its own attempt's v2", got.v, got.err, f.attempts())
		}
	})
}

// A not-found is remembered for NotFoundTTL: a loop over a missing id is not a loop of
// upstream calls; after it, AWS is asked again (the secret may have been created).
func TestNotFoundIsRememberedBriefly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		c := newCache(u, func(o *options) {
			o.NotFoundTTL = 5 * time.Second
		})
		defer c.Close()
		for range 50 {
			if _, _, err := get(t, c, "missing"); !errors.Is(err, errNotFound) {
				t.Fatalf("missing id: %v, want not found", err)
			}
			time.Sleep(99 * time.Millisecond)
		}
		if n := u.count("missing"); n != 1 {
			t.Fatalf("50 reads of a missing id in 4.95 s: %d calls, want 1", n)
		}
		time.Sleep(50 * time.Millisecond) // 5 s after the call
		u.set("missing", "created", nil)
		if v, _, err := get(t, c, "missing"); err != nil || v != "created" || u.count("missing") != 2 {
			t.Fatalf("after NotFoundTTL: %q %v after %d calls, want the new secret from a second call", v, err, u.count("missing"))
		}
	})
}

// Only a failure that says it is a not-found is remembered, and NotFoundTTL 0 remembers nothing.
func TestOnlyNotFoundIsRemembered(t *testing.T) {
	for name, tc := range map[string]struct {
		err error
		mod func(*options)
	}{
		"other error": {&failure{msg: "AccessDeniedException"}, func(o *options) { o.NotFoundTTL = 5 * time.Second }},
		"ttl 0":       {errNotFound, nil},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				u := newUpstream()
				u.set("missing", "", tc.err)
				c := newCache(u, tc.mod)
				defer c.Close()
				for range 3 {
					get(t, c, "missing")
				}
				if n := u.count("missing"); n != 3 {
					t.Fatalf("%d calls for 3 reads, want 3", n)
				}
			})
		})
	}
}

// The memory of a not-found does not cross a Forget (a SnapStart restore).
func TestForgetForgetsNotFound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		c := newCache(u, func(o *options) {
			o.NotFoundTTL = 5 * time.Second
		})
		defer c.Close()
		get(t, c, "missing")
		c.Forget()
		u.set("missing", "created", nil)
		if v, _, err := get(t, c, "missing"); err != nil || v != "created" {
			t.Fatalf("after Forget: %q %v, want AWS asked again", v, err)
		}
	})
}

// A caller whose budget is shorter than the floor's wait (a timeout under a second) is not left
// to time out on a call never made: the key's newest attempt answers it.
func TestRefreshNowWithAShortBudgetTakesTheNewestAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v1", nil)
		c := newCache(u, func(o *options) {
			o.Budget = func(key) time.Duration { return 500 * time.Millisecond }
		})
		defer c.Close()
		if v, _, err := c.Refresh(t.Context(), "a"); err != nil || v != "v1" {
			t.Fatalf("first refresh: %q %v", v, err)
		}
		time.Sleep(100 * time.Millisecond)
		asked := time.Now()
		v, st, err := c.Refresh(t.Context(), "a")
		if err != nil || v != "v1" || st.TTL <= 0 || u.count("a") != 1 || time.Since(asked) != 0 {
			t.Fatalf("refresh 100 ms later with a 500 ms budget: %q %+v %v after %d calls and %s, want the newest attempt's v1 at once",
				v, st, err, u.count("a"), time.Since(asked))
		}
		time.Sleep(refreshInterval)
		if v, st, err := c.Refresh(t.Context(), "a"); err != nil || st.Outcome != Refreshed || u.count("a") != 2 {
			t.Fatalf("past the interval: %q %+v %v after %d calls, want a new call", v, st, err, u.count("a"))
		}
	})
}
