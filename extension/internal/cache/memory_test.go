package cache

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// These tests show that the cache lets go of a secret once it no longer serves it: after
// eviction, after AWS says the secret is gone, after a new value replaces it, and once a closed
// cache is dropped. "Lets go" means unreachable, proven by a cleanup that the garbage collector
// runs only for unreachable memory. It does not mean wiped: Go frees memory without zeroing it
// and cannot promise to erase copies (see RELIABILITY.md).

// box is a cached value whose collection the test can observe.
type box struct{ secret []byte }

// collector records which boxes the garbage collector has found unreachable.
type collector struct {
	mu   sync.Mutex
	gone map[string]bool
}

func (c *collector) box(name string) *box {
	b := &box{secret: []byte("secret-" + name)}
	runtime.AddCleanup(b, func(name string) {
		c.mu.Lock()
		c.gone[name] = true
		c.mu.Unlock()
	}, name)
	return b
}

func (c *collector) collected(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gone[name]
}

// waitCollected runs the collector until every name is collected, and fails if one is not.
func (c *collector) waitCollected(t *testing.T, names ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		missing := ""
		for _, n := range names {
			if !c.collected(n) {
				missing = n
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("value %q is still reachable 5 s after it left the cache", missing)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// memoryCache is a cache of boxes whose loads return box name+version, and fail for names in fail.
type memoryCache struct {
	*Cache[key, *box]
	col     *collector
	mu      sync.Mutex
	version map[key]string
	fail    map[key]error
	now     time.Time
}

func newMemoryCache(size int) *memoryCache {
	m := &memoryCache{col: &collector{gone: map[string]bool{}}, version: map[key]string{}, fail: map[key]error{}, now: time.Unix(1e9, 0)}
	m.Cache = New[key, *box](LoadFunc[key, *box](func(_ context.Context, k key) (*box, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		if err := m.fail[k]; err != nil {
			return nil, err
		}
		return m.col.box(string(k) + m.version[k]), nil
	}), Options[key]{
		TTL:          func(key) time.Duration { return time.Minute },
		Size:         size,
		RefreshAhead: 1,
		StaleIfError: time.Hour,
		MaxWait:      time.Hour,
		Now: func() time.Time {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.now
		},
	})
	return m
}

// ask gets k and drops the answer at once (no reference stays on this stack).
func (m *memoryCache) ask(t *testing.T, k key) {
	t.Helper()
	if _, _, err := m.Get(context.Background(), k); err != nil && !errors.Is(err, errNotFound) {
		t.Fatalf("get %s: %v", k, err)
	}
}

func TestEvictedValueIsUnreachable(t *testing.T) {
	m := newMemoryCache(2)
	defer m.Close()
	m.ask(t, "a")
	m.ask(t, "b")
	m.ask(t, "c") // evicts a, the least recently used
	m.col.waitCollected(t, "a")
	if m.col.collected("b") || m.col.collected("c") {
		t.Fatal("a value still cached was collected")
	}
}

func TestValueOfADeletedSecretIsUnreachable(t *testing.T) {
	m := newMemoryCache(10)
	defer m.Close()
	m.ask(t, "doomed")
	m.mu.Lock()
	m.fail["doomed"] = errNotFound // AWS: deleted
	m.now = m.now.Add(2 * time.Minute)
	m.mu.Unlock()
	m.ask(t, "doomed")
	m.col.waitCollected(t, "doomed")
}

func TestReplacedValueIsUnreachable(t *testing.T) {
	m := newMemoryCache(10)
	defer m.Close()
	m.ask(t, "rotated")
	m.mu.Lock()
	m.version["rotated"] = "-v2"
	m.now = m.now.Add(refreshInterval) // a refresh sooner would take the first fetch's answer
	m.mu.Unlock()
	if _, _, err := m.Refresh(context.Background(), "rotated"); err != nil {
		t.Fatal(err)
	}
	m.col.waitCollected(t, "rotated")
	if m.col.collected("rotated-v2") {
		t.Fatal("the new value was collected")
	}
}

func TestClosedCacheLetsGoOfEverything(t *testing.T) {
	// What run() does before it returns: fill, close, and keep no reference to the cache.
	col := func() *collector {
		m := newMemoryCache(10)
		for _, k := range []key{"x", "y", "z"} {
			m.ask(t, k)
		}
		m.Close()
		return m.col
	}()
	col.waitCollected(t, "x", "y", "z")
}
