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
						t.Errorf("refresh: %q %v", v, err)
					}
					mu.Lock()
					answers++
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		if n := u.count("a"); n > 3 {
			t.Fatalf("%d refreshNow in 3 s made %d upstream calls, want at most 3 (one per %s)", answers, n, refreshInterval)
		}
	})
}

// Within the interval a refreshNow gets the newest attempt's answer; past it, never a value
// fetched before it asked.
func TestRefreshNowAnswersFromTheNewestAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v1", nil)
		c := newCache(u, nil)
		defer c.Close()
		if v, st, err := c.Refresh(t.Context(), "a"); err != nil || v != "v1" || st.Outcome != Refreshed {
			t.Fatalf("first refresh: %q %+v %v", v, st, err)
		}
		u.set("a", "v2", nil)
		time.Sleep(refreshInterval - time.Millisecond)
		if v, st, err := c.Refresh(t.Context(), "a"); err != nil || v != "v1" || st.TTL <= 0 || u.count("a") != 1 {
			t.Fatalf("within the interval: %q %+v %v after %d calls, want the newest attempt's v1 and no call", v, st, err, u.count("a"))
		}
		time.Sleep(time.Millisecond)
		if v, st, err := c.Refresh(t.Context(), "a"); err != nil || v != "v2" || st.Outcome != Refreshed || u.count("a") != 2 {
			t.Fatalf("past the interval: %q %+v %v after %d calls, want a new call's v2", v, st, err, u.count("a"))
		}
	})
}

// A refreshNow joins an attempt in flight that started within the interval (it shares its
// answer instead of waiting for it and opening a second one).
func TestRefreshNowJoinsARecentAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("v1")
		hang := make(chan struct{})
		f.set("v1", nil, hang)
		c := flakyCache(f, nil)
		defer c.Close()
		go c.Get(context.Background(), "a")
		synctest.Wait()
		time.Sleep(500 * time.Millisecond)
		f.set("v2", nil, hang)
		done := make(chan answer, 1)
		go func() { v, st, err := c.Refresh(context.Background(), "a"); done <- answer{v: v, st: st, err: err} }()
		synctest.Wait()
		close(hang)
		if got := <-done; got.err != nil || got.v != "v1" || f.attempts() != 1 {
			t.Fatalf("refresh 500 ms into an attempt: %q %v after %d attempts, want that attempt's v1", got.v, got.err, f.attempts())
		}
	})
}

// A not-found is remembered for NotFoundTTL: a loop over a missing id is not a loop of
// upstream calls; after it, AWS is asked again (the secret may have been created).
func TestNotFoundIsRememberedBriefly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		c := newCache(u, func(o *Options[key, string]) {
			o.NotFound = func(err error) bool { return errors.Is(err, errNotFound) }
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

// Only what NotFound classifies is remembered, and NotFoundTTL 0 remembers nothing.
func TestOnlyNotFoundIsRemembered(t *testing.T) {
	for name, mod := range map[string]func(*Options[key, string]){
		"other error": func(o *Options[key, string]) {
			o.NotFound = func(error) bool { return false }
			o.NotFoundTTL = 5 * time.Second
		},
		"ttl 0": func(o *Options[key, string]) { o.NotFound = func(error) bool { return true } },
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				u := newUpstream()
				c := newCache(u, mod)
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
		c := newCache(u, func(o *Options[key, string]) {
			o.NotFound = func(err error) bool { return errors.Is(err, errNotFound) }
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
