package cache

import "time"

// Feeder is a Source whose answer for one key holds the answers for others too: a read of a
// path holds each parameter under it. The cache stores each of them as if the same attempt had
// loaded it for its own key, so a newer answer, a Drop or a Forget fences them as it fences the
// key's own answer.
type Feeder[K Key, V any] interface {
	Source[K, V]
	// Feed returns the other keys v answers, each with its own value.
	Feed(k K, v V) []Fed[K, V]
}

// Fed is one key's value inside another key's answer.
type Fed[K Key, V any] struct {
	Key   K
	Value V
}

// fedAnswer is a Fed with its aliases, worked out before the lock is taken.
type fedAnswer[K Key, V any] struct {
	Fed[K, V]
	aliases []K
}

// fed returns what v, just loaded for k, answers for other keys.
func (c *Cache[K, V]) fed(k K, v V) []fedAnswer[K, V] {
	f, ok := c.src.(Feeder[K, V])
	if !ok {
		return nil
	}
	var out []fedAnswer[K, V]
	for _, x := range f.Feed(k, v) {
		if c.o.TTL(x.Key) > 0 {
			out = append(out, fedAnswer[K, V]{Fed: x, aliases: c.src.Aliases(x.Key, x.Value)})
		}
	}
	return out
}

// storeFed stores what attempt seq for k answered for other keys, unless k's own answer is
// fenced. Called with c.mu held.
func (c *Cache[K, V]) storeFed(k K, seq uint64, fed []fedAnswer[K, V], now, wall time.Time) {
	if len(fed) == 0 || c.fenced(k, seq) {
		return
	}
	for _, f := range fed {
		c.store(f.Key, f.Value, f.aliases, seq, now, wall)
	}
}
