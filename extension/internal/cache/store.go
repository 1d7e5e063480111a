package cache

import (
	"container/list"
	"time"
)

// store is the entries: each value kept once, in an LRU bounded in number and in bytes, found
// by every key that names it (a secret's name and ARN share one entry). It knows nothing of
// attempts: Cache.keep and Cache.drop fence what they give it by the attempts' sequence
// numbers. Guarded by Cache.mu.
type store[K Key, V any] struct {
	index    map[K]*entry[K, V] // by every key that names an entry
	lru      list.List          // of *entry, most recently used first
	bytes    int                // the entries' costs, summed
	size     int                // most entries kept
	maxBytes int                // most bytes kept; 0: no bound
}

type entry[K Key, V any] struct {
	val       V
	stored    time.Time // by Options.Now
	wall      time.Time // by Options.Wall
	life      time.Duration
	refreshAt time.Duration // age from which a hit refreshes in the background; >= life: never
	refreshed bool          // background refresh already started for this value
	seq       uint64        // of the attempt that stored it
	cost      int           // counted in store.bytes
	keys      []K           // every key that points here
	elem      *list.Element
}

func (s *store[K, V]) get(k K) *entry[K, V] { return s.index[k] }

// touch marks e as just used: the last to be evicted.
func (s *store[K, V]) touch(e *entry[K, V]) { s.lru.MoveToFront(e.elem) }

func (s *store[K, V]) len() int { return s.lru.Len() }

// fits reports whether an entry of cost can be kept at all: one that alone costs more than the
// byte budget would evict everything else and still not fit.
func (s *store[K, V]) fits(cost int) bool { return s.maxBytes <= 0 || cost <= s.maxBytes }

// add counts e and puts it first in the LRU; no key names it until link.
func (s *store[K, V]) add(e *entry[K, V]) {
	s.bytes += e.cost
	e.elem = s.lru.PushFront(e)
}

// link makes k name e.
func (s *store[K, V]) link(e *entry[K, V], k K) {
	if s.index[k] != e {
		e.keys = append(e.keys, k)
		s.index[k] = e
	}
}

// recount counts e at cost from now on, and evicts if the budget is then exceeded.
func (s *store[K, V]) recount(e *entry[K, V], cost int) {
	s.bytes += cost - e.cost
	e.cost = cost
	s.evict()
}

// evict removes the least recently used entries until the store is within its bounds, in
// entries and in bytes.
func (s *store[K, V]) evict() {
	for s.lru.Len() > 0 && (s.lru.Len() > s.size || s.maxBytes > 0 && s.bytes > s.maxBytes) {
		s.remove(s.lru.Back().Value.(*entry[K, V]))
	}
}

// clear removes every entry.
func (s *store[K, V]) clear() {
	for s.lru.Len() > 0 {
		s.remove(s.lru.Back().Value.(*entry[K, V]))
	}
}

func (s *store[K, V]) remove(e *entry[K, V]) {
	for _, k := range e.keys {
		if s.index[k] == e {
			delete(s.index, k)
		}
	}
	s.lru.Remove(e.elem)
	s.bytes -= e.cost
	e.cost = 0
	// Drop the references so an evicted value is garbage as soon as no answer holds it.
	var zero V
	e.val, e.keys = zero, nil
}

// unlink takes key k away from e, which another entry now answers for; e goes when no key is left.
func (s *store[K, V]) unlink(e *entry[K, V], k K) {
	for i, x := range e.keys {
		if x == k {
			e.keys = append(e.keys[:i], e.keys[i+1:]...)
			break
		}
	}
	delete(s.index, k)
	if len(e.keys) == 0 {
		s.remove(e)
	}
}

// keep stores v for k and its aliases, replacing k's entry whole (aliases included: a key the
// new answer does not name leaves), unless a newer attempt already stored or dropped k, or a
// Forget came since cl started. Called with c.mu held.
func (c *Cache[K, V]) keep(k K, v V, aliases []K, cl *call[V], now, wall time.Time) {
	if e := c.store(k, v, aliases, cl.seq, now, wall); e != nil {
		cl.life, cl.storedAt = e.life, now
	}
}

// fenced reports whether what attempt seq learned of k must not be stored: a Forget came since
// it started, or a newer attempt (or a Drop) found k's value gone. Called with c.mu held.
func (c *Cache[K, V]) fenced(k K, seq uint64) bool {
	return seq <= c.floor || c.slots[k] != nil && c.slots[k].dropped > seq
}

// store is keep for an answer of attempt seq, which may be another key's (Feeder): it returns
// the entry stored, or nil. Called with c.mu held.
func (c *Cache[K, V]) store(k K, v V, aliases []K, seq uint64, now, wall time.Time) *entry[K, V] {
	if c.fenced(k, seq) {
		return nil
	}
	if old := c.entries.get(k); old != nil {
		if old.seq > seq {
			return nil
		}
		c.entries.remove(old) // even when v is not stored below: old is older than the answer just given
	}
	cost := c.src.Cost(k, v)
	if !c.entries.fits(cost) {
		// Answered, not kept. Each request for it goes to AWS; the line says why, never what.
		c.o.Logger.Warn("value larger than the cache's byte budget; answered, not cached",
			"key", k, "bytes", cost, "max_bytes", c.o.MaxBytes)
		return nil
	}
	e := &entry[K, V]{val: v, stored: now, wall: wall, seq: seq, cost: cost}
	e.life, e.refreshAt = c.lifetimes(c.o.TTL(k))
	c.entries.add(e)
	for _, ak := range append([]K{k}, aliases...) {
		if s := c.slots[ak]; s != nil && s.dropped > seq {
			continue
		}
		if old := c.entries.get(ak); old != nil && old != e {
			if old.seq > seq {
				continue // a newer answer holds that name
			}
			c.entries.unlink(old, ak)
		}
		c.entries.link(e, ak)
	}
	c.entries.evict()
	return e
}

// drop forgets k's entry and all its aliases, as learned by attempt seq; attempts for those
// keys that started before it store nothing. Called with c.mu held.
func (c *Cache[K, V]) drop(k K, seq uint64) {
	keys := []K{k}
	if e := c.entries.get(k); e != nil && e.seq < seq {
		keys = append(keys, e.keys...)
		c.entries.remove(e)
	}
	for _, ak := range keys {
		if s := c.slots[ak]; s != nil && s.call != nil {
			s.dropped = max(s.dropped, seq)
		}
	}
}
