package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// flaky is a fake upstream whose behaviour the test changes while callers run: it answers
// value, or fails with err, or hangs until released; it records when each attempt started and
// the most attempts ever in flight at once.
type flaky struct {
	mu       sync.Mutex
	value    string
	err      error
	hang     chan struct{} // when set, attempts wait for it (or their context)
	starts   []time.Duration
	inFlight int
	maxIn    int
	t0       time.Time
}

func newFlaky(value string) *flaky { return &flaky{value: value, t0: time.Now()} }

func (f *flaky) load(ctx context.Context, _ key) (string, error) {
	f.mu.Lock()
	f.starts = append(f.starts, time.Since(f.t0))
	f.inFlight++
	f.maxIn = max(f.maxIn, f.inFlight)
	v, err, hang := f.value, f.err, f.hang
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inFlight--; f.mu.Unlock() }()
	if hang != nil {
		select {
		case <-hang:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return v, err
}

func (f *flaky) set(v string, err error, hang chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.value, f.err, f.hang = v, err, hang
}

// attemptsIn counts attempts that started in [from, to) since the fake's creation.
func (f *flaky) attemptsIn(from, to time.Duration) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.starts {
		if s >= from && s < to {
			n++
		}
	}
	return n
}

func (f *flaky) attempts() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.starts) }
func (f *flaky) mostInFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxIn
}

func flakyCache(f *flaky, mod func(*options)) *Cache[key, string] {
	o := options{Options: Options[key]{
		TTL:          func(key) time.Duration { return 10 * time.Second },
		Size:         100,
		RefreshAhead: 1,
		StaleIfError: time.Hour,
		MaxWait:      250 * time.Millisecond,
		Rand:         rand.New(rand.NewPCG(1, 2)).Float64,
	}}
	if mod != nil {
		mod(&o)
	}
	return o.build(f.load)
}

// gaveUp reports whether err is the cache's own: the caller's budget ran out first.
func gaveUp(err error) bool {
	var g *GaveUpError
	return errors.As(err, &g)
}

// lockedRand makes a seeded source safe for the cache's goroutines.
func lockedRand(seed uint64) func() float64 {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func() float64 { mu.Lock(); defer mu.Unlock(); return r.Float64() }
}

// timed is Get with the fake time it took.
func timed(c *Cache[key, string], k key) (string, Status, time.Duration, error) {
	start := time.Now()
	v, st, err := c.Get(context.Background(), k)
	return v, st, time.Since(start), err
}

func TestCallerWithAValueWaitsAtMostMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("v1")
		c := flakyCache(f, nil)
		defer c.Close()
		c.Get(t.Context(), "a")
		time.Sleep(11 * time.Second) // expired

		hang := make(chan struct{})
		f.set("v2", nil, hang) // AWS hangs, and would answer v2
		v, st, took, err := timed(c, "a")
		if err != nil || v != "v1" || st.Outcome != StaleWhileRevalidate || took != 250*time.Millisecond || st.TTL != 0 {
			t.Fatalf("AWS hanging: %q %+v %v after %s, want v1 stale-while-revalidate after exactly MaxWait", v, st, err, took)
		}
		// Others asking once the attempt is MaxWait old do not wait at all (issue 22 point 2),
		// and no second attempt starts.
		for range 3 {
			if _, st, took, _ := timed(c, "a"); st.Outcome != StaleWhileRevalidate || took != 0 {
				t.Fatalf("while the refetch hangs: %+v after %s", st, took)
			}
		}
		if n := f.attempts(); n != 2 {
			t.Fatalf("attempts = %d, want 2 (the first fetch and one refetch in flight)", n)
		}
		close(hang) // the refetch, still owned by the cache, ends and stores v2
		synctest.Wait()
		if v, st, _ := get(t, c, "a"); v != "v2" || st.Outcome != Hit {
			t.Fatalf("after the slow refetch: %q %+v, want the v2 it stored", v, st)
		}
	})
}

func TestRefetchWithinMaxWaitIsAnsweredFresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("v1")
		c := flakyCache(f, func(o *options) { o.Rand = func() float64 { return 0 } })
		defer c.Close()
		c.Get(t.Context(), "a")
		time.Sleep(11 * time.Second)
		f.set("v2", nil, nil)
		if v, st, err := get(t, c, "a"); err != nil || v != "v2" || st.Outcome != Expired || st.TTL != 10*time.Second {
			t.Fatalf("expired, AWS well: %q %+v %v, want the refetched v2 with its ttl", v, st, err)
		}
	})
}

func TestBackoffServesStaleAtOnceAndAttemptsOnlyWhenDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("v1")
		c := flakyCache(f, func(o *options) { o.Rand = func() float64 { return 0.5 } })
		defer c.Close()
		c.Get(t.Context(), "a")
		time.Sleep(11 * time.Second)
		f.set("", errTransient, nil)

		if v, st, err := get(t, c, "a"); err != nil || v != "v1" || st.Outcome != StaleIfError {
			t.Fatalf("first failure: %q %+v %v, want v1 stale-if-error", v, st, err)
		}
		// Backoff after one failure: half (the draw) of 1 s. Meanwhile stale at once, no attempt.
		for range 4 {
			time.Sleep(100 * time.Millisecond)
			if v, st, took, _ := timed(c, "a"); v != "v1" || st.Outcome != StaleIfError || took != 0 {
				t.Fatalf("during the backoff: %q %+v after %s, want stale at once", v, st, took)
			}
		}
		if n := f.attempts(); n != 2 {
			t.Fatalf("attempts during the backoff = %d, want 2 (the first fetch, one refetch)", n)
		}
		time.Sleep(100 * time.Millisecond) // 500 ms after the failure: due
		get(t, c, "a")
		synctest.Wait() // the retry runs in the background: the caller had a value (issue 22 point 2)
		if n := f.attempts(); n != 3 {
			t.Fatalf("attempts once the backoff ran out = %d, want 3", n)
		}
	})
}

// A long outage with callers asking ten times a second: at most one attempt in flight, few in
// the first 5 s, the rate falling until the cap, and the fresh value soon after recovery.
func TestBackoffOverALongOutage(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { longOutage(t, seed) })
		})
	}
}

func longOutage(t *testing.T, seed uint64) {
	f := newFlaky("v1")
	c := flakyCache(f, func(o *options) { o.Rand = lockedRand(seed) })
	defer c.Close()
	c.Get(t.Context(), "a")
	time.Sleep(11 * time.Second)
	f.set("", errTransient, nil)
	f.mu.Lock()
	f.starts, f.t0 = nil, time.Now()
	f.mu.Unlock()

	const outage = 10 * time.Minute
	for time.Since(f.t0) < outage {
		if v, st, took, err := timed(c, "a"); err != nil || v != "v1" || took > 250*time.Millisecond ||
			st.Outcome != StaleIfError && st.Outcome != StaleWhileRevalidate {
			t.Fatalf("during the outage: %q %+v %v after %s", v, st, err, took)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := f.attemptsIn(0, 5*time.Second); n > 20 {
		t.Errorf("%d attempts in the first 5 s, want at most 20", n)
	}
	// Per minute: falling, then at the cap (30 s, full jitter: at least one every 30 s).
	prev := f.attemptsIn(0, time.Minute)
	for m := time.Minute; m < outage; m += time.Minute {
		n := f.attemptsIn(m, m+time.Minute)
		if n < 2 || n > prev+2 || n > 40 {
			t.Errorf("minute %d: %d attempts (previous minute %d), want 2 to 40 and not rising", int(m/time.Minute), n, prev)
		}
		prev = max(prev, n) // allow noise, never a climb past the worst so far
	}
	if f.mostInFlight() != 1 {
		t.Errorf("at most %d attempts in flight, want 1", f.mostInFlight())
	}

	f.set("v2", nil, nil)
	recovered := time.Now()
	for {
		v, _, _ := get(t, c, "a")
		if v == "v2" {
			break
		}
		if time.Since(recovered) > 30*time.Second {
			t.Fatal("no fresh value 30 s after AWS recovered")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if took := time.Since(recovered); took > 30*time.Second {
		t.Errorf("fresh value %s after recovery, want within the 30 s cap", took)
	}
}

// After a short outage the wait for a fresh value is bounded by the outage's own length.
func TestFreshValueSoonAfterAShortOutage(t *testing.T) {
	for seed := range uint64(50) {
		synctest.Test(t, func(t *testing.T) {
			f := newFlaky("v1")
			c := flakyCache(f, func(o *options) { o.Rand = lockedRand(seed) })
			defer c.Close()
			c.Get(t.Context(), "a")
			time.Sleep(11 * time.Second)
			f.set("", errTransient, nil)
			start := time.Now()
			for time.Since(start) < 5*time.Second {
				get(t, c, "a")
				time.Sleep(100 * time.Millisecond)
			}
			f.set("v2", nil, nil)
			recovered := time.Now()
			for {
				if v, _, _ := get(t, c, "a"); v == "v2" {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if took := time.Since(recovered); took > 5*time.Second+100*time.Millisecond {
				t.Errorf("seed %d: fresh value %s after a 5 s outage ended, want at most the outage's length", seed, took)
			}
		})
	}
}

func TestNoValueCallersShareOneRetryingFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("")
		f.set("", errTransient, nil) // throttled, say
		c := flakyCache(f, nil)
		defer c.Close()

		const n = 8
		var wg sync.WaitGroup
		answers := make([]string, n)
		for i := range n {
			wg.Go(func() {
				v, st, err := c.Get(context.Background(), "a")
				if err != nil {
					t.Errorf("caller %d: %v", i, err)
				}
				if st.Outcome != Miss && st.Outcome != Collapsed || st.TTL <= 0 {
					t.Errorf("caller %d: %+v, want a fresh miss or collapsed answer with a ttl", i, st)
				}
				answers[i] = v
			})
		}
		time.Sleep(2 * time.Second) // the shared fetch retries with backoff meanwhile
		retried := f.attempts()
		f.set("v", nil, nil)
		wg.Wait()
		for i, v := range answers {
			if v != "v" {
				t.Errorf("caller %d got %q, want v", i, v)
			}
		}
		if retried < 2 || retried > 6 || f.mostInFlight() != 1 {
			t.Errorf("%d attempts in 2 s for 8 callers, at most %d at once; want one retrying fetch (2-6 attempts, 1 at a time)", retried, f.mostInFlight())
		}
	})
}

func TestNoValueCallerGivesUpAtItsBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("v")
		hang := make(chan struct{})
		f.set("v", nil, hang)
		c := flakyCache(f, nil)
		defer c.Close()
		if _, st, took, err := timed(c, "a"); !gaveUp(err) || took != DefaultBudget || st.TTL != 0 {
			t.Fatalf("AWS hanging, no value: %+v %v after %s, want GaveUp after the default budget", st, err, took)
		}
		close(hang)
	})
}

func TestNoValueCallerGetsTheLastFailureWhenNoAttemptIsDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("")
		f.set("", errTransient, nil)
		c := flakyCache(f, func(o *options) {
			o.Budget = func(key) time.Duration { return 100 * time.Millisecond }
			o.Rand = func() float64 { return 0.9 }
		})
		defer c.Close()
		if _, _, took, err := timed(c, "a"); !errors.Is(err, errTransient) || took != 0 {
			t.Fatalf("first: %v after %s, want the failure at once (the retry is not due within 100 ms)", err, took)
		}
		if _, _, took, err := timed(c, "a"); !errors.Is(err, errTransient) || took != 0 || f.attempts() != 1 {
			t.Fatalf("during the backoff: %v after %s, %d attempts; want the last failure at once, no attempt", err, took, f.attempts())
		}
	})
}

func TestPermanentFailureIsNeverMaskedEvenMidOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("v1")
		c := flakyCache(f, nil)
		defer c.Close()
		c.Get(t.Context(), "a")
		time.Sleep(11 * time.Second)
		f.set("", errTransient, nil)
		get(t, c, "a")
		time.Sleep(2 * time.Second) // past any first backoff
		f.set("", errNotFound, nil)
		// The retry goes on in the background (AWS is known sick: no wait for it); once it has
		// answered not found, the value is never served again.
		if v, st, err := get(t, c, "a"); err != nil || v != "v1" || st.Outcome != StaleIfError {
			t.Fatalf("starting the retry: %q %+v %v, want v1 stale-if-error at once", v, st, err)
		}
		synctest.Wait()
		if _, _, err := get(t, c, "a"); !errors.Is(err, errNotFound) {
			t.Fatalf("deleted during an outage: %v, want not found", err)
		}
	})
}

func TestTTLJitterStaysUnderTheTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, draw := range []float64{0, 0.5, 0.999999} {
			f := newFlaky("v")
			c := flakyCache(f, func(o *options) { o.Rand = func() float64 { return draw } })
			c.Get(t.Context(), "a")
			life := 10*time.Second - time.Duration(draw*float64(time.Second))
			time.Sleep(life - time.Millisecond)
			if _, st, _ := get(t, c, "a"); st.Outcome != Hit {
				t.Errorf("draw %g: %+v just before %s, want a hit", draw, st, life)
			}
			time.Sleep(time.Millisecond)
			if _, st, _ := get(t, c, "a"); st.Outcome == Hit {
				t.Errorf("draw %g: still a hit at %s", draw, life)
			}
			if life > 10*time.Second || life < 9*time.Second {
				t.Errorf("draw %g: lifetime %s outside 90-100%% of the TTL", draw, life)
			}
			c.Close()
		}
	})
}

// At steady load (a hit a second), the default refresh-ahead costs at most 1.2 upstream calls
// per TTL, for any draw of the jitter.
func TestRefreshAheadCostsAtMost1Point2CallsPerTTL(t *testing.T) {
	for name, r := range map[string]func() float64{
		"earliest": func() float64 { return 0 }, "latest": func() float64 { return 0.999999 }, "random": lockedRand(7),
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFlaky("v")
				c := flakyCache(f, func(o *options) {
					o.TTL = func(key) time.Duration { return 100 * time.Second }
					o.RefreshAhead = 0 // the default
					o.Rand = r
				})
				defer c.Close()
				const ttls = 50
				for range ttls * 100 {
					if _, st, _ := get(t, c, "a"); st.Outcome != Hit && f.attempts() > 1 {
						t.Fatalf("steady load: %+v, want every answer after the first a hit", st)
					}
					time.Sleep(time.Second)
				}
				if per := float64(f.attempts()) / ttls; per > 1.2 {
					t.Errorf("%.3f upstream calls per TTL, want at most 1.2", per)
				}
			})
		})
	}
}

// 40 values fetched together are refreshed spread over the end of the TTL, not in one burst.
func TestRefreshesOfValuesFetchedTogetherSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 40
		ttl := 100 * time.Second
		var mu sync.Mutex
		second := map[key]time.Duration{}
		calls := map[key]int{}
		t0 := time.Now()
		c := New[key, string](LoadFunc[key, string](func(_ context.Context, k key) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			if calls[k]++; calls[k] == 2 {
				second[k] = time.Since(t0)
			}
			return "v", nil
		}), Options[key]{
			TTL:          func(key) time.Duration { return ttl },
			Size:         n,
			RefreshAhead: 0, // the default
			StaleIfError: time.Hour,
			MaxWait:      250 * time.Millisecond,
			Rand:         lockedRand(3),
		})
		defer c.Close()
		keys := make([]key, n)
		for i := range keys {
			keys[i] = key(fmt.Sprint("s", i))
		}
		for time.Since(t0) < ttl+time.Second {
			for _, k := range keys {
				c.Get(context.Background(), k)
			}
			time.Sleep(100 * time.Millisecond)
		}
		synctest.Wait()
		lo, hi := ttl, time.Duration(0)
		for _, k := range keys {
			d, ok := second[k]
			if !ok {
				t.Fatalf("%s was not refreshed within its TTL", k)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo < time.Duration(float64(ttl)/1.2) || hi > ttl || hi-lo < ttl/20 {
			t.Errorf("refreshes between %s and %s, want spread (at least %s apart) within [TTL/1.2, TTL]", lo, hi, ttl/20)
		}
		t.Logf("40 refreshes spread over %s .. %s of a %s TTL", lo, hi, ttl)
	})
}

// #18 point 4: past refreshInterval, a refresh never takes the answer of an attempt that
// started before it asked, and it does not open a second attempt beside it either.
func TestRefreshNeverJoinsAnOlderAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("before-rotation")
		hang := make(chan struct{})
		f.set("before-rotation", nil, hang)
		c := flakyCache(f, nil)
		defer c.Close()
		var old atomic.Value
		go func() { v, _, _ := c.Get(context.Background(), "a"); old.Store(v) }()
		synctest.Wait() // the first attempt read the old value and hangs

		time.Sleep(refreshInterval) // within it, the refresh would share the attempt's answer
		f.set("after-rotation", nil, hang)
		var refreshed atomic.Value
		var st Status
		go func() {
			var v string
			v, st, _ = c.Refresh(context.Background(), "a")
			refreshed.Store(v)
		}()
		synctest.Wait()
		if f.attempts() != 1 {
			t.Fatalf("%d attempts, want 1: the refresh waits for the one in flight", f.attempts())
		}
		close(hang)
		synctest.Wait()
		if refreshed.Load() != "after-rotation" || st.Outcome != Refreshed || st.TTL <= 0 {
			t.Fatalf("refresh = %v %+v, want the value from an attempt started after it asked, with a ttl", refreshed.Load(), st)
		}
		if old.Load() != "before-rotation" {
			t.Fatalf("the first caller got %v", old.Load())
		}
		if v, _, _ := get(t, c, "a"); v != "after-rotation" {
			t.Fatalf("after both: %q stored, want the refreshed value", v)
		}
		if f.mostInFlight() != 1 {
			t.Fatalf("%d attempts in flight at once, want 1", f.mostInFlight())
		}
	})
}

// #18 point 5: an older attempt that ends after a newer one (here through an alias, which has
// its own attempt) never overwrites the newer value.
func TestOlderAttemptNeverOverwritesANewerOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := make(chan struct{})
		var version atomic.Value
		version.Store("v1")
		c := New[key, string](source[string]{load: func(_ context.Context, k key) (string, error) {
			v := version.Load().(string)
			if k == "name" {
				<-slow
			}
			return v, nil
		}, aliases: func(k key, _ string) []key { return []key{"name", "arn"} }}, Options[key]{
			TTL:          func(key) time.Duration { return 100 * time.Second },
			Size:         10,
			RefreshAhead: 1,
			MaxWait:      time.Second,
		})
		defer c.Close()
		go c.Get(context.Background(), "name") // reads v1, then is slow
		synctest.Wait()
		version.Store("v2")
		if v, _, _ := c.Get(context.Background(), "arn"); v != "v2" {
			t.Fatalf("by arn: %q", v)
		}
		close(slow) // the older attempt ends now, with v1
		synctest.Wait()
		for _, k := range []key{"name", "arn"} {
			if v, st, _ := c.Get(context.Background(), k); v != "v2" || st.Outcome != Hit {
				t.Errorf("%s: %q %+v, want the newer v2 kept", k, v, st)
			}
		}
	})
}

// #18 point 3: each store replaces the entry's alias set.
func TestAliasSetIsReplacedOnStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var arn atomic.Value
		arn.Store(key("arn-old"))
		calls := map[key]int{}
		var mu sync.Mutex
		c := New[key, string](source[string]{load: func(_ context.Context, k key) (string, error) {
			mu.Lock()
			calls[k]++
			mu.Unlock()
			if k == "arn-old" {
				return "", errNotFound // deleted
			}
			return "v", nil
		}, aliases: func(k key, _ string) []key { return []key{arn.Load().(key)} }}, Options[key]{
			TTL:          func(key) time.Duration { return 10 * time.Second },
			Size:         10,
			RefreshAhead: 1,
			MaxWait:      time.Second,
		})
		defer c.Close()
		c.Get(t.Context(), "name")
		if _, st, _ := c.Get(t.Context(), "arn-old"); st.Outcome != Hit {
			t.Fatalf("arn-old before the recreation: %+v, want a hit on the name's entry", st)
		}
		arn.Store(key("arn-new")) // deleted and recreated under the same name
		time.Sleep(11 * time.Second)
		c.Get(t.Context(), "name")
		if _, _, err := c.Get(t.Context(), "arn-old"); !errors.Is(err, errNotFound) || calls["arn-old"] != 1 {
			t.Fatalf("the deleted ARN after the name was refetched: %v after %d calls, want not found from AWS", err, calls["arn-old"])
		}
		if _, st, _ := c.Get(t.Context(), "arn-new"); st.Outcome != Hit {
			t.Fatalf("the new ARN: %+v, want a hit", st)
		}
	})
}

func TestFreshAnswersCarryTheirTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("v")
		hang := make(chan struct{})
		f.set("v", nil, hang)
		c := flakyCache(f, func(o *options) { o.Rand = func() float64 { return 0.5 } }) // lifetime 9.5 s
		defer c.Close()
		sts := make(chan Status, 2)
		for range 2 {
			go func() { _, st, _ := c.Get(context.Background(), "a"); sts <- st }()
		}
		synctest.Wait()
		close(hang)
		for range 2 {
			if st := <-sts; st.Outcome != Miss && st.Outcome != Collapsed || st.TTL != 9500*time.Millisecond {
				t.Errorf("stored or collapsed: %+v, want ttl 9.5s", st)
			}
		}
		time.Sleep(time.Second)
		if _, st, _ := c.Refresh(t.Context(), "a"); st.Outcome != Refreshed || st.TTL != 9500*time.Millisecond {
			t.Errorf("refreshNow: %+v, want ttl 9.5s", st)
		}
	})
}

// #18 point 9 and 12: with caching off, the attempt ends when the cache closes (SHUTDOWN's
// drain), and a caller hanging up is told apart from a shutdown.
func TestBypassEndsWithCloseAndKnowsACallerThatLeft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("v")
		f.set("v", nil, make(chan struct{})) // hangs until its context ends
		c := flakyCache(f, func(o *options) { o.TTL = func(key) time.Duration { return 0 } })

		ctx, hangUp := context.WithCancel(context.Background())
		errs := make(chan error, 1)
		go func() { _, _, err := c.Get(ctx, "a"); errs <- err }()
		synctest.Wait()
		hangUp()
		if err := <-errs; !errors.Is(err, ErrCallerGone) {
			t.Fatalf("caller hung up: %v, want ErrCallerGone", err)
		}

		go func() { _, _, err := c.Get(context.Background(), "a"); errs <- err }()
		synctest.Wait()
		c.Close()
		if err := <-errs; !errors.Is(err, context.Canceled) || errors.Is(err, ErrCallerGone) {
			t.Fatalf("cache closed under a bypassed request: %v, want the cancelled attempt's error", err)
		}
	})
}

func TestCachedCallerThatLeftIsToldApart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("v")
		hang := make(chan struct{})
		f.set("v", nil, hang)
		c := flakyCache(f, nil)
		defer c.Close()
		ctx, hangUp := context.WithCancel(context.Background())
		errs := make(chan error, 1)
		go func() { _, _, err := c.Get(ctx, "a"); errs <- err }()
		synctest.Wait()
		hangUp()
		if err := <-errs; !errors.Is(err, ErrCallerGone) {
			t.Fatalf("caller hung up: %v, want ErrCallerGone", err)
		}
		close(hang) // the attempt goes on for others and stores
		synctest.Wait()
		if _, st, _ := get(t, c, "a"); st.Outcome != Hit {
			t.Fatalf("after the attempt the caller left: %+v, want a hit", st)
		}
	})
}

func TestWaitersGetClosedAtShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky("")
		f.set("", errTransient, nil)
		c := flakyCache(f, nil)
		errs := make(chan error, 1)
		go func() { _, _, err := c.Get(context.Background(), "a"); errs <- err }()
		time.Sleep(300 * time.Millisecond) // the caller sleeps through a backoff
		c.Close()
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("waiting at Close: %v, want ErrClosed", err)
		}
	})
}
