package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

type key string

func (k key) String() string { return string(k) }

// failure is an upstream error as the cache sees one: it says what it is, as kinko.Error does.
type failure struct {
	msg                            string
	transient, notFound, throttled bool
}

func (f *failure) Error() string   { return f.msg }
func (f *failure) Transient() bool { return f.transient }
func (f *failure) NotFound() bool  { return f.notFound }
func (f *failure) Throttled() bool { return f.throttled }

var (
	errTransient error = &failure{msg: "upstream 503", transient: true}
	errNotFound  error = &failure{msg: "ResourceNotFoundException", notFound: true}
)

// source is a Source over a test's functions: no aliases and a cost of 1 unless given.
type source[V any] struct {
	load    func(context.Context, key) (V, error)
	aliases func(key, V) []key
	cost    func(key, V) int
}

func (s source[V]) Load(ctx context.Context, k key) (V, error) { return s.load(ctx, k) }

func (s source[V]) Aliases(k key, v V) []key {
	if s.aliases == nil {
		return nil
	}
	return s.aliases(k, v)
}

func (s source[V]) Cost(k key, v V) int {
	if s.cost == nil {
		return 1
	}
	return s.cost(k, v)
}

// options is a test cache's configuration: the cache's Options, and what its source says of
// the values beside loading them.
type options struct {
	Options[key]
	Aliases func(key, string) []key
	Cost    func(key, string) int
}

func (o options) build(load func(context.Context, key) (string, error)) *Cache[key, string] {
	return New[key, string](source[string]{load: load, aliases: o.Aliases, cost: o.Cost}, o.Options)
}

// upstream is a fake Load: it answers value/err per key and counts calls.
type upstream struct {
	mu     sync.Mutex
	calls  map[key]int
	values map[key]string
	errs   map[key]error
	gate   chan struct{} // when set, every load waits for it
}

func newUpstream() *upstream {
	return &upstream{calls: map[key]int{}, values: map[key]string{}, errs: map[key]error{}}
}

func (u *upstream) load(ctx context.Context, k key) (string, error) {
	u.mu.Lock()
	u.calls[k]++
	gate := u.gate
	v, err := u.values[k], u.errs[k]
	u.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", errNotFound
	}
	return v, nil
}

func (u *upstream) set(k key, v string, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.values[k], u.errs[k] = v, err
}

func (u *upstream) count(k key) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[k]
}

func newCache(u *upstream, mod func(*options)) *Cache[key, string] {
	o := options{Options: Options[key]{
		TTL:          func(key) time.Duration { return 100 * time.Second },
		Size:         10,
		RefreshAhead: 1,
		StaleIfError: 50 * time.Second,
		MaxWait:      time.Second,
		// No jitter: lifetimes are the TTL, refresh-ahead points the earliest allowed.
		Rand: func() float64 { return 0 },
	}}
	if mod != nil {
		mod(&o)
	}
	return o.build(u.load)
}

func get(t *testing.T, c *Cache[key, string], k key) (string, Status, error) {
	t.Helper()
	return c.Get(t.Context(), k)
}

func TestMissThenHitThenExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v1", nil)
		c := newCache(u, nil)
		defer c.Close()

		if v, st, err := get(t, c, "a"); err != nil || v != "v1" || st.Outcome != Miss {
			t.Fatalf("first get = %q %+v %v, want v1 Miss", v, st, err)
		}
		time.Sleep(30 * time.Second)
		v, st, err := get(t, c, "a")
		if err != nil || v != "v1" || st.Outcome != Hit || st.TTL != 70*time.Second {
			t.Fatalf("second get = %q %+v %v, want v1 Hit ttl 70s", v, st, err)
		}
		u.set("a", "v2", nil)
		time.Sleep(70 * time.Second) // exactly at expiry: no longer fresh
		if v, st, err := get(t, c, "a"); err != nil || v != "v2" || st.Outcome != Expired {
			t.Fatalf("after TTL = %q %+v %v, want v2 Expired", v, st, err)
		}
		if n := u.count("a"); n != 2 {
			t.Fatalf("upstream calls = %d, want 2", n)
		}
	})
}

func TestConcurrentMissesMakeOneCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v", nil)
		u.gate = make(chan struct{})
		c := newCache(u, nil)
		defer c.Close()

		const n = 64
		var wg sync.WaitGroup
		outcomes := make([]Outcome, n)
		for i := range n {
			wg.Go(func() {
				v, st, err := c.Get(context.Background(), "a")
				if err != nil || v != "v" {
					t.Errorf("get = %q %v", v, err)
				}
				outcomes[i] = st.Outcome
			})
		}
		synctest.Wait() // all 64 are parked: one in Load, 63 waiting on it
		close(u.gate)
		wg.Wait()
		if got := u.count("a"); got != 1 {
			t.Fatalf("upstream calls = %d, want 1", got)
		}
		counts := map[Outcome]int{}
		for _, o := range outcomes {
			counts[o]++
		}
		if counts[Miss] != 1 || counts[Collapsed] != n-1 {
			t.Fatalf("outcomes = %v, want 1 Miss and %d Collapsed", counts, n-1)
		}
	})
}

func TestAliasesShareOneEntry(t *testing.T) {
	u := newUpstream()
	u.set("name", "v", nil)
	c := newCache(u, func(o *options) {
		o.Aliases = func(k key, v string) []key { return []key{"arn", "name"} }
	})
	defer c.Close()
	if _, st, err := get(t, c, "name"); err != nil || st.Outcome != Miss {
		t.Fatalf("by name: %+v %v", st, err)
	}
	if v, st, err := get(t, c, "arn"); err != nil || v != "v" || st.Outcome != Hit {
		t.Fatalf("by arn: %q %+v %v, want a hit", v, st, err)
	}
	if u.count("arn") != 0 || u.count("name") != 1 || c.Len() != 1 {
		t.Fatalf("calls name=%d arn=%d entries=%d, want 1, 0, 1", u.count("name"), u.count("arn"), c.Len())
	}
}

func TestLeastRecentlyUsedIsEvicted(t *testing.T) {
	u := newUpstream()
	for _, k := range []key{"a", "b", "c"} {
		u.set(k, "v"+string(k), nil)
	}
	c := newCache(u, func(o *options) { o.Size = 2 })
	defer c.Close()
	for _, k := range []key{"a", "b", "a", "c"} { // a touched after b: b is least recent
		if _, _, err := get(t, c, k); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != 2 {
		t.Fatalf("entries = %d, want 2", c.Len())
	}
	// In this order: asking for b first would fetch it and evict a.
	for _, want := range []struct {
		k       key
		outcome Outcome
	}{{"a", Hit}, {"c", Hit}, {"b", Miss}} {
		if _, st, _ := get(t, c, want.k); st.Outcome != want.outcome {
			t.Errorf("%s: outcome %v, want %v", want.k, st.Outcome, want.outcome)
		}
	}
}

func TestRefreshAheadRunsOnceInBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v1", nil)
		c := newCache(u, func(o *options) { o.RefreshAhead = 0.9 })
		defer c.Close()
		get(t, c, "a")

		time.Sleep(89 * time.Second)
		get(t, c, "a")
		synctest.Wait()
		if n := u.count("a"); n != 1 {
			t.Fatalf("before 90%% of TTL: %d calls, want 1", n)
		}

		u.set("a", "v2", nil)
		u.gate = make(chan struct{})
		time.Sleep(2 * time.Second) // 91 s: past 90 s
		for range 3 {
			if v, st, _ := get(t, c, "a"); v != "v1" || st.Outcome != Hit {
				t.Fatalf("during refresh: %q %+v, want the cached v1 as a hit", v, st)
			}
		}
		synctest.Wait()
		if n := u.count("a"); n != 2 {
			t.Fatalf("three hits past 90%%: %d calls, want exactly one background refresh (2 in all)", n)
		}
		close(u.gate)
		synctest.Wait()
		v, st, _ := get(t, c, "a")
		if v != "v2" || st.Outcome != Hit || st.TTL != 100*time.Second {
			t.Fatalf("after refresh: %q %+v, want v2 with a full TTL", v, st)
		}
	})
}

func TestStaleIfErrorWithinBoundOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v1", nil)
		c := newCache(u, nil)
		defer c.Close()
		get(t, c, "a")

		u.set("a", "", errTransient)
		time.Sleep(100*time.Second + 49*time.Second) // 49 s past expiry, window is 50 s
		if v, st, err := get(t, c, "a"); err != nil || v != "v1" || st.Outcome != StaleIfError {
			t.Fatalf("within the window: %q %+v %v, want v1 StaleIfError", v, st, err)
		}
		time.Sleep(time.Second) // 50 s past expiry: the window is closed
		if _, _, err := get(t, c, "a"); !errors.Is(err, errTransient) {
			t.Fatalf("past the window: err %v, want the upstream error", err)
		}
	})
}

func TestNotFoundIsNeverMasked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v1", nil)
		c := newCache(u, nil)
		defer c.Close()
		get(t, c, "a")

		time.Sleep(101 * time.Second)
		u.set("a", "", errNotFound)
		if _, _, err := get(t, c, "a"); !errors.Is(err, errNotFound) {
			t.Fatalf("deleted secret: err %v, want not found", err)
		}
		// The entry is gone: a later transient failure has nothing stale to serve.
		u.set("a", "", errTransient)
		if _, _, err := get(t, c, "a"); !errors.Is(err, errTransient) {
			t.Fatalf("after deletion then outage: err %v, want the outage, not the deleted value", err)
		}
	})
}

func TestOnlySuccessesAreCached(t *testing.T) {
	synctest.Test(t, testOnlySuccessesAreCached)
}

func testOnlySuccessesAreCached(t *testing.T) {
	u := newUpstream()
	u.set("a", "", errTransient)
	c := newCache(u, nil)
	defer c.Close()
	if _, _, err := get(t, c, "a"); err == nil {
		t.Fatal("want the error")
	}
	synctest.Wait() // an attempt started as the budget ended reads the upstream before it changes
	u.set("a", "v", nil)
	time.Sleep(time.Minute) // past the backoff
	if v, st, err := get(t, c, "a"); err != nil || v != "v" || st.Outcome != Miss {
		t.Fatalf("after an error: %q %+v %v, want a fresh miss", v, st, err)
	}
	if n := u.count("a"); n < 2 {
		t.Fatalf("calls = %d, want the failures retried and then a new call", n)
	}
}

func TestRefreshNeverAnswersTheCachedValue(t *testing.T) {
	synctest.Test(t, testRefreshNeverAnswersTheCachedValue)
}

func testRefreshNeverAnswersTheCachedValue(t *testing.T) {
	u := newUpstream()
	u.set("a", "v1", nil)
	c := newCache(u, nil)
	defer c.Close()
	get(t, c, "a")

	u.set("a", "", errTransient)
	time.Sleep(refreshInterval) // sooner, the refresh would take the fetch's answer
	if v, st, err := c.Refresh(t.Context(), "a"); err == nil || v != "" || st.Outcome != Refreshed {
		t.Fatalf("failed refresh = %q %+v %v, want its error and no value", v, st, err)
	}
	u.set("a", "v2", nil)
	time.Sleep(time.Minute) // past the backoff
	if v, _, err := c.Refresh(t.Context(), "a"); err != nil || v != "v2" {
		t.Fatalf("refresh = %q %v, want v2", v, err)
	}
	if v, st, _ := get(t, c, "a"); v != "v2" || st.Outcome != Hit {
		t.Fatalf("after refresh: %q %+v, want the refreshed v2 stored", v, st)
	}
}

func TestZeroTTLBypasses(t *testing.T) {
	u := newUpstream()
	u.set("a", "v", nil)
	c := newCache(u, func(o *options) { o.TTL = func(key) time.Duration { return 0 } })
	defer c.Close()
	for range 3 {
		if _, st, err := get(t, c, "a"); err != nil || st.Outcome != Bypass {
			t.Fatalf("%+v %v, want Bypass", st, err)
		}
	}
	if n := u.count("a"); n != 3 || c.Len() != 0 {
		t.Fatalf("calls %d entries %d, want 3 and 0", n, c.Len())
	}
}

func TestCloseCancelsBackgroundRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v", nil)
		c := newCache(u, func(o *options) { o.RefreshAhead = 0.5 })
		get(t, c, "a")
		u.gate = make(chan struct{}) // the refresh would hang forever
		time.Sleep(90 * time.Second) // past the earliest refresh point, 1/1.2 of the TTL
		get(t, c, "a")
		synctest.Wait()
		c.Close() // returns only once the refresh goroutine has ended
		if n := u.count("a"); n != 2 {
			t.Fatalf("calls = %d, want 2", n)
		}
	})
}

type counting struct{ hit, miss, collapsed, stale atomic.Int64 }

func (c *counting) Hit()                  { c.hit.Add(1) }
func (c *counting) Miss()                 { c.miss.Add(1) }
func (c *counting) Collapsed()            { c.collapsed.Add(1) }
func (c *counting) StaleServed()          { c.stale.Add(1) }
func (c *counting) StaleWhileRevalidate() {}

func TestObserverCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v", nil)
		obs := &counting{}
		c := newCache(u, func(o *options) { o.Observer = obs })
		defer c.Close()
		get(t, c, "a")
		get(t, c, "a")
		u.set("a", "", errTransient)
		time.Sleep(101 * time.Second)
		get(t, c, "a")
		got := fmt.Sprint(obs.hit.Load(), obs.miss.Load(), obs.collapsed.Load(), obs.stale.Load())
		if got != "1 1 0 1" {
			t.Fatalf("hit miss collapsed stale = %s, want 1 1 0 1", got)
		}
	})
}
