package cache

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// byteCache is a cache of string values bounded to max bytes, each value costing its length.
func byteCache(u *upstream, max int, mod func(*options)) *Cache[key, string] {
	return newCache(u, func(o *options) {
		o.Size = 1000
		o.MaxBytes = max
		o.Cost = func(_ key, v string) int { return len(v) }
		if mod != nil {
			mod(o)
		}
	})
}

// The cache holds at most MaxBytes, counted by Cost, whatever the number of entries allowed:
// large values evict the least recently used, and the count follows every store and removal.
func TestByteBudgetEvictsLeastRecentlyUsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		for _, k := range []key{"a", "b", "c", "d", "e"} {
			u.set(k, strings.Repeat(string(k), 3000), nil)
		}
		c := byteCache(u, 10_000, nil)
		defer c.Close()
		for _, k := range []key{"a", "b", "c"} {
			if _, st, err := get(t, c, k); err != nil || st.Outcome != Miss {
				t.Fatalf("%s: %+v %v", k, st, err)
			}
		}
		if c.Len() != 3 || c.Bytes() != 9000 {
			t.Fatalf("after three values of 3,000 bytes: %d entries, %d bytes", c.Len(), c.Bytes())
		}
		get(t, c, "a") // a is now the most recently used: b is the least
		get(t, c, "d") // 12,000 bytes would be over the budget: one entry goes
		if c.Len() != 3 || c.Bytes() != 9000 {
			t.Fatalf("after a fourth: %d entries, %d bytes, want 3 and 9,000", c.Len(), c.Bytes())
		}
		for _, k := range []key{"a", "c", "d"} { // in this order: a is the least recently used
			if _, st, _ := get(t, c, k); st.Outcome != Hit {
				t.Errorf("%s: %v, want a hit", k, st.Outcome)
			}
		}
		if _, st, _ := get(t, c, "b"); st.Outcome != Miss { // evicted; stored again, evicting a
			t.Errorf("b: %v, want a miss (it was the least recently used)", st.Outcome)
		}
		if _, st, _ := get(t, c, "a"); st.Outcome != Miss { // and a went for it; c goes now
			t.Errorf("a: %v, want a miss", st.Outcome)
		}

		// A value that shrinks or grows on refresh is counted anew, not twice.
		u.set("b", "small", nil)
		if _, _, err := c.Refresh(t.Context(), "b"); err != nil {
			t.Fatal(err)
		}
		if c.Bytes() != 6000+5 {
			t.Fatalf("after b shrank to 5 bytes: %d bytes counted, want 6,005", c.Bytes())
		}
		// A value AWS says is gone leaves, and its bytes with it.
		u.set("d", "", errNotFound)
		time.Sleep(101 * time.Second)
		if _, _, err := get(t, c, "d"); err == nil {
			t.Fatal("d: deleted upstream, still answered")
		}
		if c.Len() != 2 || c.Bytes() != 3000+5 {
			t.Fatalf("after d was deleted: %d entries, %d bytes", c.Len(), c.Bytes())
		}
		c.Forget()
		if c.Len() != 0 || c.Bytes() != 0 {
			t.Fatalf("after Forget: %d entries, %d bytes", c.Len(), c.Bytes())
		}
	})
}

// An entry with aliases (a secret's name and ARN) is counted once.
func TestAliasedEntryIsCountedOnce(t *testing.T) {
	u := newUpstream()
	u.set("id", strings.Repeat("v", 1000), nil)
	c := byteCache(u, 10_000, func(o *options) {
		o.Aliases = func(key, string) []key { return []key{"arn", "name"} }
	})
	defer c.Close()
	get(t, c, "id")
	if c.Bytes() != 1000 {
		t.Fatalf("one value under three names: %d bytes counted, want 1,000", c.Bytes())
	}
}

// A value that alone costs more than the budget is answered, but not stored: it would evict
// everything and still not fit. The log says so, without the value; an older value for the key
// leaves (the caller just got a newer one).
func TestValueOverBudgetIsAnsweredNotStored(t *testing.T) {
	u := newUpstream()
	u.set("small", "s3cr3t-small", nil)
	u.set("big", "s3cr3t-old", nil)
	var logs bytes.Buffer
	c := byteCache(u, 10_000, func(o *options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	defer c.Close()
	get(t, c, "small")
	get(t, c, "big")
	huge := "s3cr3t-" + strings.Repeat("x", 20_000)
	u.set("big", huge, nil)
	v, st, err := c.Refresh(t.Context(), "big")
	if err != nil || v != huge {
		t.Fatalf("big: %v, answered the new value: %t", err, v == huge)
	}
	if st.TTL != 0 {
		t.Errorf("big: ttl %v for a value not stored, want 0", st.TTL)
	}
	if c.Len() != 1 || c.Bytes() != len("s3cr3t-small") {
		t.Fatalf("after big: %d entries, %d bytes; want small alone", c.Len(), c.Bytes())
	}
	if _, st, _ := get(t, c, "small"); st.Outcome != Hit {
		t.Errorf("small was evicted for a value that was never stored")
	}
	if _, st, _ := get(t, c, "big"); st.Outcome != Miss {
		t.Errorf("big: %v, want a miss (neither the new nor the old value is kept)", st.Outcome)
	}
	if !strings.Contains(logs.String(), "larger than the cache's byte budget") {
		t.Error("nothing logged about the value over the budget")
	}
	if strings.Contains(logs.String(), "s3cr3t") {
		t.Error("the log holds the value")
	}
}

// growing is a value whose cost grows after it is stored (as a jsonKey index is built).
type growing struct {
	name  string
	extra *atomic.Int64
}

// Recount counts what an entry holds now: the budget sees the growth, and evicts for it.
func TestRecountCountsGrowth(t *testing.T) {
	c := New[key, growing](source[growing]{load: func(_ context.Context, k key) (growing, error) {
		return growing{name: string(k), extra: &atomic.Int64{}}, nil
	}, cost: func(_ key, v growing) int { return 1000 + int(v.extra.Load()) }}, Options[key]{
		TTL:          func(key) time.Duration { return time.Hour },
		Size:         1000,
		MaxBytes:     5000,
		RefreshAhead: 1,
	})
	defer c.Close()
	var vals []growing
	for _, k := range []key{"a", "b", "c"} {
		v, _, _ := c.Get(t.Context(), k)
		vals = append(vals, v)
	}
	vals[2].extra.Store(500)
	c.Recount("c")
	if c.Bytes() != 3500 {
		t.Fatalf("after c grew by 500: %d bytes counted, want 3,500", c.Bytes())
	}
	vals[2].extra.Store(2000)
	c.Recount("c") // 5,000 bytes: still within
	vals[2].extra.Store(2500)
	c.Recount("c") // 5,500: a, the least recently used, goes
	if c.Len() != 2 || c.Bytes() != 4500 {
		t.Fatalf("after c grew past the budget: %d entries, %d bytes; want 2 and 4,500", c.Len(), c.Bytes())
	}
	if _, st, _ := c.Get(t.Context(), "a"); st.Outcome != Miss {
		t.Errorf("a: %v, want a miss (evicted)", st.Outcome)
	}
	c.Recount("nobody") // no entry: nothing to do
}
