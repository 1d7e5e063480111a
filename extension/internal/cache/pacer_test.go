package cache

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var errThrottled error = &failure{msg: "ThrottlingException: rate exceeded", transient: true, throttled: true}

func TestPacerEnvelope(t *testing.T) {
	p := NewPacer[key](PacerOptions{})
	t0 := time.Now()
	check := func(k key, err error, env time.Duration, at time.Duration, wantEnv time.Duration, wantEqual bool) {
		t.Helper()
		if got, equal := p.failed(k, err, env, t0.Add(at)); got != wantEnv || equal != wantEqual {
			t.Errorf("%s failing (own envelope %s): envelope %s, equal jitter %t; want %s, %t", k, env, got, equal, wantEnv, wantEqual)
		}
	}
	check("a", errTransient, time.Second, 0, time.Second, false)                 // alone: as without a pacer
	check("a", errThrottled, 2*time.Second, time.Second, 2*time.Second, true)    // alone, throttled: equal jitter
	check("b", errTransient, time.Second, time.Second, 2*time.Second, true)      // two failing: twice the envelope
	check("c", errTransient, 2*time.Second, time.Second, 6*time.Second, true)    // three
	check("c", errTransient, 4*time.Second, 2*time.Second, 10*time.Second, true) // 12 s, but at most Recovery
	check("c", errTransient, 20*time.Second, 3*time.Second, 20*time.Second, true)
	p.recovered("b")
	check("a", errTransient, time.Second, 4*time.Second, 2*time.Second, true) // b answered: two left
	p.recovered("a")
	p.recovered("c")
	check("a", errTransient, time.Second, 5*time.Second, time.Second, false) // alone again
	check("b", errTransient, time.Second, 6*time.Second, 2*time.Second, true)
	// A key not heard of for failingFor no longer counts: nobody asks for it, so it does not retry.
	check("c", errTransient, time.Second, 6*time.Second+failingFor, time.Second, false)
	p.reset()
	check("a", errTransient, time.Second, 7*time.Second+failingFor, time.Second, false)

	var none *Pacer[key] // nil: every key alone, full jitter, whatever the error
	if env, equal := none.failed("a", errThrottled, time.Second, t0); env != time.Second || equal {
		t.Errorf("nil pacer: %s, %t; want the key's own envelope, full jitter", env, equal)
	}
	none.recovered("a")
	none.reset()
}

// keyed is a fake upstream for several keys that fail or answer together: it records when
// each key's attempts started.
type keyed struct {
	mu     sync.Mutex
	err    error
	value  string
	starts map[key][]time.Duration
	t0     time.Time
}

func newKeyed() *keyed { return &keyed{value: "v1", starts: map[key][]time.Duration{}, t0: time.Now()} }

func (f *keyed) load(_ context.Context, k key) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts[k] = append(f.starts[k], time.Since(f.t0))
	return f.value, f.err
}

func (f *keyed) set(v string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.value, f.err = v, err
}

// restart forgets the attempts so far and counts time from now.
func (f *keyed) restart() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts, f.t0 = map[key][]time.Duration{}, time.Now()
}

func (f *keyed) attemptsIn(from, to time.Duration) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, ss := range f.starts {
		for _, s := range ss {
			if s >= from && s < to {
				n++
			}
		}
	}
	return n
}

func (f *keyed) startsOf(k key) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.starts[k])
}

func keys(n int) []key {
	ks := make([]key, n)
	for i := range ks {
		ks[i] = key(fmt.Sprintf("secret-%d", i+1))
	}
	return ks
}

// warmThenFail caches every key, lets the values expire, then makes the upstream fail with err
// and restarts the fake's clock: attempts from then on are the outage's.
func warmThenFail(t *testing.T, f *keyed, c *Cache[key, string], ks []key, err error) {
	t.Helper()
	for _, k := range ks {
		if _, _, err := c.Get(t.Context(), k); err != nil {
			t.Fatalf("warming %s: %v", k, err)
		}
	}
	time.Sleep(11 * time.Second)
	f.set("", err)
	f.restart()
}

// askEvery100ms asks for every key, in turn, every 100 ms for d; every answer must be the
// cached value at once.
func askEvery100ms(t *testing.T, c *Cache[key, string], ks []key, d time.Duration) {
	t.Helper()
	for start := time.Now(); time.Since(start) < d; time.Sleep(100 * time.Millisecond) {
		for _, k := range ks {
			if v, st, took, err := timed(c, k); err != nil || v != "v1" || took > 250*time.Millisecond {
				t.Fatalf("%s during the outage: %q %+v %v after %s", k, v, st, err, took)
			}
		}
	}
}

func pacedCache(f *keyed, seed uint64, pacer *Pacer[key]) *Cache[key, string] {
	return New[key, string](LoadFunc[key, string](f.load), Options[key]{
		TTL:          func(key) time.Duration { return 10 * time.Second },
		Size:         100,
		RefreshAhead: 1,
		StaleIfError: time.Hour,
		MaxWait:      250 * time.Millisecond,
		Rand:         lockedRand(seed),
		Pacer:        pacer,
	})
}

// Ten keys failing together: each makes its first attempt, one drawn over the shared envelope
// (at most 10 s: the tenth key's), then waits at least Recovery/2 (5 s) before the next. So in
// the first 10 s at most 3 attempts a key; failing each alone, a key makes about 7 there
// (full jitter over an envelope capped by how long it has failed).
func TestKeysFailingTogetherRetryAtTheirSharedPace(t *testing.T) {
	for seed := range uint64(10) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newKeyed()
				c := pacedCache(f, seed, NewPacer[key](PacerOptions{}))
				defer c.Close()
				ks := keys(10)
				warmThenFail(t, f, c, ks, errTransient)
				askEvery100ms(t, c, ks, 30*time.Second)
				if n := f.attemptsIn(0, 10*time.Second); n > 3*len(ks) {
					t.Errorf("%d keys failing together made %d attempts in the first 10 s, want at most %d", len(ks), n, 3*len(ks))
				}
				// Then no key retries sooner than 5 s after its last attempt: at most 2 a second in all.
				if n := f.attemptsIn(10*time.Second, 30*time.Second); n > 2*20 {
					t.Errorf("%d attempts from 10 s to 30 s, want at most 2 a second", n)
				}
				for _, k := range ks {
					ss := f.startsOf(k)
					for i := 2; i < len(ss); i++ {
						if gap := ss[i] - ss[i-1]; gap < DefaultRecovery/2 {
							t.Fatalf("%s: attempt %d came %s after the one before, want at least %s", k, i+1, gap, DefaultRecovery/2)
						}
					}
				}
			})
		})
	}
}

// A key failing alone backs off exactly as without a pacer: the same attempts at the same
// times, so its recovery after an outage stays bounded by the outage's length.
func TestAKeyFailingAloneBacksOffAsWithoutAPacer(t *testing.T) {
	run := func(seed uint64, pacer *Pacer[key]) []time.Duration {
		var starts []time.Duration
		synctest.Test(t, func(t *testing.T) {
			f := newKeyed()
			c := pacedCache(f, seed, pacer)
			defer c.Close()
			warmThenFail(t, f, c, keys(1), errTransient)
			askEvery100ms(t, c, keys(1), 2*time.Minute)
			starts = f.startsOf("secret-1")
		})
		return starts
	}
	for seed := range uint64(5) {
		alone, paced := run(seed, nil), run(seed, NewPacer[key](PacerOptions{}))
		if !slices.Equal(alone, paced) || len(alone) < 5 {
			t.Errorf("seed %d: attempts at %v with a pacer, %v without; want the same", seed, paced, alone)
		}
	}
}

// After throttling, even alone, a key waits at least half its envelope (the first retry at
// least 0.5 s later): a retry drawn near zero would land in the burst the account is over.
func TestAThrottledKeyWaitsAtLeastHalfItsEnvelope(t *testing.T) {
	for seed := range uint64(20) {
		synctest.Test(t, func(t *testing.T) {
			f := newKeyed()
			c := pacedCache(f, seed, NewPacer[key](PacerOptions{}))
			defer c.Close()
			warmThenFail(t, f, c, keys(1), errThrottled)
			askEvery100ms(t, c, keys(1), 5*time.Second)
			ss := f.startsOf("secret-1")
			if len(ss) < 2 || ss[1]-ss[0] < 500*time.Millisecond {
				t.Fatalf("seed %d: throttled, then attempts at %v; want the first retry at least 500ms after the first attempt", seed, ss)
			}
		})
	}
}

// Keys failing together are fresh again within the longer of the outage and Recovery once the
// upstream heals: after a 12 s outage within 12 s (the 15 s that RELIABILITY.md promises for a
// key's recovery holds), after a 3 s one within 10 s.
func TestKeysFailingTogetherAreFreshWithinRecovery(t *testing.T) {
	for _, outage := range []time.Duration{3 * time.Second, 12 * time.Second} {
		for seed := range uint64(20) {
			synctest.Test(t, func(t *testing.T) {
				f := newKeyed()
				c := pacedCache(f, seed, NewPacer[key](PacerOptions{}))
				defer c.Close()
				ks := keys(3)
				warmThenFail(t, f, c, ks, errTransient)
				askEvery100ms(t, c, ks, outage)
				f.set("v2", nil)
				healed := time.Now()
				fresh := map[key]time.Duration{}
				for len(fresh) < len(ks) && time.Since(healed) < time.Minute {
					for _, k := range ks {
						if v, _, _ := get(t, c, k); v == "v2" {
							if _, ok := fresh[k]; !ok {
								fresh[k] = time.Since(healed)
							}
						}
					}
					time.Sleep(100 * time.Millisecond)
				}
				limit := max(outage, DefaultRecovery) + 100*time.Millisecond
				for _, k := range ks {
					if took, ok := fresh[k]; !ok || took > limit {
						t.Errorf("outage %s, seed %d: %s fresh after %s (ok %t), want within %s", outage, seed, k, took, ok, limit)
					}
				}
			})
		}
	}
}
