package cache

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

func (c *Cache[K, V]) slotCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.slots)
}

// Issue 22 point 5: the per-key state of keys that failed transiently is freed once their
// backoff is over, not kept for ever.
func TestSlotsOfKeysThatFailedAreFreed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		c := newCache(u, func(o *options) {
			o.Size = 1000                                                  // room for every key's backoff
			o.Budget = func(key) time.Duration { return time.Millisecond } // no wait for the retry
		})
		defer c.Close()
		for i := range 500 {
			k := key(fmt.Sprint("k", i))
			u.set(k, "", errTransient)
			if _, _, err := get(t, c, k); err == nil {
				t.Fatalf("%s: want the transient failure", k)
			}
		}
		synctest.Wait()
		if n := c.slotCount(); n < 500 {
			t.Fatalf("%d slots right after 500 failures, want each key's backoff kept", n)
		}
		time.Sleep(2 * time.Minute) // every backoff, and the memory of it, is long over
		u.set("other", "v", nil)
		get(t, c, "other")
		synctest.Wait()
		if n := c.slotCount(); n > 1 {
			t.Fatalf("%d slots two minutes after the failures, want them freed", n)
		}
	})
}

// However many keys fail at once, the slots kept for keys with nothing in flight and nobody
// waiting stay bounded by the cache's size (with a floor for tiny caches).
func TestIdleSlotsAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		c := newCache(u, func(o *options) {
			o.Budget = func(key) time.Duration { return time.Millisecond }
		})
		defer c.Close()
		for i := range 5000 {
			k := key(fmt.Sprint("k", i))
			u.set(k, "", errTransient)
			get(t, c, k)
			synctest.Wait()
		}
		if n := c.slotCount(); n > 2*(minSlots+1) {
			t.Fatalf("%d slots after 5000 keys failed within a second, want at most %d", n, 2*(minSlots+1))
		}
	})
}
