package cache

import "time"

// Drop forgets every entry that a key matching match names, with all its other names, because
// the caller just changed the value upstream (a write through kinko). Attempts in flight for
// matching keys store nothing (they may have read the value before the change), and a
// remembered not-found for a matching key ends (the value may exist now). Attempts that start
// after Drop store as usual. It returns how many entries went.
func (c *Cache[K, V]) Drop(match func(K) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A number above every attempt started so far: the fence for the ones in flight.
	c.seq++
	fence := c.seq
	gone := map[*entry[K, V]]struct{}{}
	for k, e := range c.entries.index {
		if match(k) {
			gone[e] = struct{}{}
		}
	}
	for e := range gone {
		c.entries.remove(e)
	}
	for k, s := range c.slots {
		if !match(k) {
			continue
		}
		if s.call != nil {
			s.dropped = max(s.dropped, fence)
		}
		s.notFoundUntil = time.Time{}
	}
	return len(gone)
}
