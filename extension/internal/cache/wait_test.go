package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// aliased is a fake upstream for one secret known by two names, "name" and "arn", whose loads
// by name can be made slow (they wait for release, then answer or fail with failWith).
type aliased struct {
	mu       sync.Mutex
	version  string
	slowName chan struct{} // when set, loads by name wait for it to close
	failWith error         // what a slow load by name returns once released
}

func (a *aliased) load(_ context.Context, k key) (string, error) {
	a.mu.Lock()
	v, slow, fail := a.version, a.slowName, a.failWith
	a.mu.Unlock()
	if k == "name" && slow != nil {
		<-slow
		if fail != nil {
			return "", fail
		}
	}
	return v, nil
}

func aliasedCache(a *aliased) *Cache[key, string] {
	return New[key, string](source[string]{load: a.load, aliases: func(key, string) []key { return []key{"name", "arn"} }}, Options[key]{
		TTL:          func(key) time.Duration { return 10 * time.Second },
		Size:         10,
		RefreshAhead: 1,
		StaleIfError: time.Hour,
		MaxWait:      250 * time.Millisecond,
		Rand:         func() float64 { return 0 },
	})
}

type answer struct {
	v    string
	st   Status
	err  error
	took time.Duration
}

func goGet(c *Cache[key, string], k key) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		start := time.Now()
		v, st, err := c.Get(context.Background(), k)
		ch <- answer{v, st, err, time.Since(start)}
	}()
	return ch
}

// Issue 22 point 1: a caller whose MaxWait ran out while its own refetch was slow, after the
// entry was replaced through an alias, gets the replacement at the end of its MaxWait, not
// its own slow attempt's error after the whole budget.
func TestMaxWaitServesTheReplacementStoredThroughAnAlias(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &aliased{version: "v1"}
		c := aliasedCache(a)
		defer c.Close()
		if v, _, err := c.Get(t.Context(), "name"); err != nil || v != "v1" {
			t.Fatalf("priming: %q %v", v, err)
		}
		time.Sleep(11 * time.Second) // expired, inside the stale window

		release := make(chan struct{})
		a.mu.Lock()
		a.version, a.slowName = "v2", release // AWS is slow on the name
		a.mu.Unlock()
		r1 := goGet(c, "name")
		synctest.Wait() // R1 started the refetch by name, which hangs
		if v, st, err := c.Get(t.Context(), "arn"); err != nil || v != "v2" {
			t.Fatalf("by ARN: %q %+v %v, want the v2 it fetched", v, st, err)
		}
		got := <-r1
		if got.err != nil || got.v != "v2" || got.st.Outcome != Hit || got.st.TTL <= 0 || got.took != 250*time.Millisecond {
			t.Errorf("R1: %q %+v %v after %s; want the fresh v2 as a hit at the end of its MaxWait (250ms)", got.v, got.st, got.err, got.took)
		}
		close(release)
	})
}

// Issue 22 point 1, the other branch: the caller's own refetch fails transiently within its
// MaxWait, after a fresh value was stored through an alias: it gets that value, not the error.
func TestFailedRefetchServesTheReplacementStoredThroughAnAlias(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &aliased{version: "v1"}
		c := aliasedCache(a)
		defer c.Close()
		c.Get(t.Context(), "name")
		time.Sleep(11 * time.Second)

		release := make(chan struct{})
		a.mu.Lock()
		a.version, a.slowName, a.failWith = "v2", release, errTransient
		a.mu.Unlock()
		r1 := goGet(c, "name")
		synctest.Wait()
		c.Get(t.Context(), "arn") // stores v2 for both names
		time.Sleep(100 * time.Millisecond)
		close(release) // the refetch by name fails, within R1's MaxWait
		got := <-r1
		if got.err != nil || got.v != "v2" || got.st.Outcome != Hit {
			t.Errorf("R1: %q %+v %v; want the fresh v2 stored meanwhile", got.v, got.st, got.err)
		}
	})
}

// Issue 22 point 2: a caller's wait is counted from when the attempt started, not from its own
// arrival: one arriving 100 ms into a hanging refetch waits 150 ms, one arriving after 250 ms
// does not wait at all.
func TestWaitIsCountedFromTheAttemptsStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("v1")
		c := flakyCache(f, nil)
		defer c.Close()
		c.Get(t.Context(), "a")
		time.Sleep(11 * time.Second)
		hang := make(chan struct{})
		f.set("v2", nil, hang)

		first := goGet(c, "a")
		time.Sleep(100 * time.Millisecond)
		second := goGet(c, "a")
		for name, ch := range map[string]<-chan answer{"first": first, "second (100 ms in)": second} {
			got := <-ch
			if got.err != nil || got.v != "v1" || got.st.Outcome != StaleWhileRevalidate {
				t.Errorf("%s: %q %+v %v, want v1 stale-while-revalidate", name, got.v, got.st, got.err)
			}
		}
		time.Sleep(time.Millisecond) // both have answered: the attempt is 250 ms old
		for range 3 {
			if v, st, took, err := timed(c, "a"); err != nil || v != "v1" || st.Outcome != StaleWhileRevalidate || took != 0 {
				t.Fatalf("after the attempt's first MaxWait: %q %+v %v after %s, want v1 at once", v, st, err, took)
			}
		}
		if n := f.attempts(); n != 2 {
			t.Fatalf("attempts = %d, want 2", n)
		}
		close(hang)
	})
}

func TestSecondCallerWaitsOnlyWhatIsLeftOfMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("v1")
		c := flakyCache(f, nil)
		defer c.Close()
		c.Get(t.Context(), "a")
		time.Sleep(11 * time.Second)
		hang := make(chan struct{})
		f.set("v2", nil, hang)
		goGet(c, "a")
		time.Sleep(100 * time.Millisecond)
		if _, st, took, _ := timed(c, "a"); st.Outcome != StaleWhileRevalidate || took != 150*time.Millisecond {
			t.Errorf("100 ms into the attempt: %+v after %s, want stale after the 150 ms left of MaxWait", st, took)
		}
		close(hang)
	})
}

// Issue 22 point 2: once a key's last attempt failed, a caller with a value does not wait for
// the retry, whether it starts it or finds it in flight.
func TestNoWaitForARetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("v1")
		c := flakyCache(f, func(o *options) { o.Rand = func() float64 { return 0.5 } })
		defer c.Close()
		c.Get(t.Context(), "a")
		time.Sleep(11 * time.Second)
		f.set("", errTransient, nil)
		get(t, c, "a") // the refetch fails: backing off for 500 ms
		time.Sleep(time.Second)

		hang := make(chan struct{})
		f.set("v2", nil, hang) // the retry hangs
		for i := range 3 {
			if v, st, took, err := timed(c, "a"); err != nil || v != "v1" || st.Outcome != StaleIfError || took != 0 {
				t.Fatalf("caller %d during the retry: %q %+v %v after %s, want v1 stale-if-error at once", i, v, st, err, took)
			}
		}
		synctest.Wait()
		if n := f.attempts(); n != 3 {
			t.Fatalf("attempts = %d, want 3 (fetch, failed refetch, one retry in flight)", n)
		}
		close(hang)
		synctest.Wait()
		if v, st, _ := get(t, c, "a"); v != "v2" || st.Outcome != Hit {
			t.Fatalf("after the retry: %q %+v, want the v2 it stored", v, st)
		}
	})
}

// Issue 22 point 2, as measured: Secrets Manager hangs (each attempt times out after 2 s), a
// value is cached and expired, 16 callers read continuously. Only the callers in the first
// MaxWait of the first attempt wait; after that every answer is the value at a hit's cost.
func TestHangingUpstreamCostsNoWaitAfterTheFirstMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var hanging atomic.Bool
		var attempts atomic.Int64
		c := New[key, string](LoadFunc[key, string](func(context.Context, key) (string, error) {
			attempts.Add(1)
			if hanging.Load() {
				time.Sleep(2 * time.Second) // the attempt's timeout
				return "", errTransient
			}
			return "v", nil
		}), Options[key]{
			TTL:          func(key) time.Duration { return time.Second },
			Size:         10,
			RefreshAhead: 1,
			StaleIfError: time.Hour,
			MaxWait:      250 * time.Millisecond,
			Rand:         lockedRand(5),
		})
		defer c.Close()
		c.Get(t.Context(), "a")
		time.Sleep(time.Second) // expired
		hanging.Store(true)
		outage := time.Now()

		var mu sync.Mutex
		waited, answers := 0, 0
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for time.Since(outage) < 10*time.Second {
					arrived := time.Since(outage)
					v, st, took, err := timed(c, "a")
					mu.Lock()
					answers++
					if err != nil || v != "v" {
						t.Errorf("at %s: %+v %v, want the value", arrived, st, err)
					}
					if took > 0 && arrived >= 250*time.Millisecond {
						waited++
					}
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		if waited > 0 {
			t.Errorf("%d of %d answers after the first 250 ms of the outage waited for AWS, want none", waited, answers)
		}
		t.Logf("%d answers, %d attempts in 10 s of hang", answers, attempts.Load()-1)
	})
}
