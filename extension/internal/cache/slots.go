package cache

import "time"

// minSlots is the fewest per-key slots the cache lets build up before it sweeps out those
// that hold nothing worth keeping, and the floor of how many idle ones it keeps.
const minSlots = 64

// slot is one key's upstream state: the attempt in flight and the backoff after failures.
type slot[V any] struct {
	call      *call[V]
	failures  int       // consecutive transient failures
	firstFail time.Time // when the current run of failures began
	notBefore time.Time // no attempt before this (backoff)
	lastErr   error     // the last failure, for callers who give up during a backoff
	// dropped: the sequence number of an attempt that found the value gone (deleted,
	// access revoked); an older attempt still in flight stores nothing.
	dropped uint64
	waiters int // callers without a value waiting on this key
	// The key's newest attempt: its sequence number, when it started, and once it ended, its
	// error (nil for a success). A refresh starts no attempt within refreshInterval of lastStart.
	lastSeq   uint64
	lastStart time.Time
	result    error
	// notFoundUntil: result is a not-found (its NotFound() said so) remembered until then.
	notFoundUntil time.Time
}

// call is one upstream attempt. v and err are set before done is closed.
type call[V any] struct {
	seq     uint64
	started time.Time // by Options.Now: a caller with a value waits MaxWait from here at most
	done    chan struct{}
	v       V
	err     error
	// stored and storedAt tell the freshness of the answer: its entry's lifetime.
	life     time.Duration
	storedAt time.Time
}

// slot returns k's upstream state, making it. Called with c.mu held.
func (c *Cache[K, V]) slot(k K) *slot[V] {
	s := c.slots[k]
	if s == nil {
		if len(c.slots) >= c.sweepAt {
			c.sweep(c.o.Now())
		}
		s = &slot[V]{}
		c.slots[k] = s
	}
	return s
}

// idle reports whether k's slot holds nothing a caller depends on: no attempt in flight and
// nobody waiting. Its other state (backoff, a remembered not-found, the refresh floor) only
// saves upstream calls.
func (s *slot[V]) idle() bool { return s.call == nil && s.waiters == 0 }

// spent reports whether an idle slot holds nothing worth keeping at now either: the backoff
// and the memory of its failures (BackoffCap past it, for the doubling), the refresh floor and
// a remembered not-found are all over.
func (c *Cache[K, V]) spent(s *slot[V], now time.Time) bool {
	return s.idle() && !now.Before(s.notBefore.Add(c.o.BackoffCap)) &&
		!now.Before(s.lastStart.Add(refreshInterval)) && !now.Before(s.notFoundUntil)
}

// tidy forgets k's slot once it is spent. Called with c.mu held.
func (c *Cache[K, V]) tidy(k K, s *slot[V], now time.Time) {
	if c.slots[k] == s && c.spent(s, now) {
		delete(c.slots, k)
	}
}

// sweep forgets every spent slot, and beyond max(Size, minSlots) idle ones, some of those
// too (their state only saves upstream calls; the cache's entries are bounded by Size, and so
// is this). Called with c.mu held.
func (c *Cache[K, V]) sweep(now time.Time) {
	keep := max(c.o.Size, minSlots)
	for k, s := range c.slots {
		switch {
		case c.spent(s, now):
			delete(c.slots, k)
		case !s.idle():
		case keep > 0:
			keep--
		default:
			delete(c.slots, k)
		}
	}
	c.sweepAt = max(2*len(c.slots), minSlots)
	c.sweepNext = now.Add(c.o.BackoffCap)
}

// start launches one upstream attempt for k, owned by the cache (Close waits for it). Called
// with c.mu held and s.call nil.
func (c *Cache[K, V]) start(k K, s *slot[V]) *call[V] {
	c.seq++
	cl := &call[V]{seq: c.seq, started: c.o.Now(), done: make(chan struct{})}
	s.call = cl
	s.lastSeq, s.lastStart, s.result = cl.seq, cl.started, nil
	c.wg.Add(1)
	go c.attempt(k, s, cl)
	return cl
}

func (c *Cache[K, V]) attempt(k K, s *slot[V], cl *call[V]) {
	defer c.wg.Done()
	defer close(cl.done)
	v, err := c.src.Load(c.bg, k)
	var aliases []K
	var fed []fedAnswer[K, V]
	if err == nil {
		aliases, fed = c.src.Aliases(k, v), c.fed(k, v)
	}
	now, wall := c.clocks()
	c.mu.Lock()
	defer c.mu.Unlock()
	s.call = nil
	cl.v, cl.err = v, err
	s.result, s.notFoundUntil = err, time.Time{}
	switch {
	case err == nil:
		s.failures, s.notBefore, s.lastErr = 0, time.Time{}, nil
		c.o.Pacer.recovered(k)
		c.storeFed(k, cl.seq, fed, now, wall) // first: the key's own answer wins where they meet
		c.keep(k, v, aliases, cl, now, wall)
	case transient(err):
		// Closing, or an attempt from before a Forget (after a SnapStart restore its connection
		// is likely dead): no backoff learned from it.
		if c.closed || cl.seq <= c.floor {
			break
		}
		if s.failures == 0 {
			s.firstFail = now
		}
		s.failures++
		s.lastErr = err
		s.notBefore = now.Add(c.backoff(k, s, err, now))
		if s.waiters == 0 {
			c.o.Logger.Warn("upstream attempt failed; serving the cached value if there is one, retrying after a backoff",
				"key", k, "error", err, "failures", s.failures, "retry_in_ms", s.notBefore.Sub(now).Milliseconds())
		}
	default:
		s.failures, s.notBefore, s.lastErr = 0, time.Time{}, nil
		c.o.Pacer.recovered(k)
		c.drop(k, cl.seq) // deleted or revoked: never serve it again
		if c.o.NotFoundTTL > 0 && cl.seq > c.floor && notFound(err) {
			s.notFoundUntil = now.Add(c.o.NotFoundTTL)
		}
	}
	c.tidy(k, s, now)
	if !now.Before(c.sweepNext) {
		c.sweep(now)
	}
}

// backoff is the wait before k's next attempt after its s.failures-th transient failure in a
// row: exponential (BackoffBase, doubling, capped at BackoffCap) with full jitter. The envelope
// is also capped by how long the failures have lasted (at least BackoffBase), so once the
// upstream recovers, a key never stays stale for longer than its outage had lasted. A Pacer
// may widen the envelope (to at most its Recovery) and the draw when other keys fail too, or
// when err is throttling.
func (c *Cache[K, V]) backoff(k K, s *slot[V], err error, now time.Time) time.Duration {
	env := c.o.BackoffCap
	if n := s.failures - 1; n < 30 {
		env = min(env, c.o.BackoffBase<<n)
	}
	env = min(env, max(c.o.BackoffBase, now.Sub(s.firstFail)))
	env, equal := c.o.Pacer.failed(k, err, env, now)
	if equal {
		return env/2 + jitter(c.o.Rand(), env-env/2, c.o.BackoffBase)
	}
	return jitter(c.o.Rand(), env, c.o.BackoffBase)
}

// jitter is full jitter over env, but at least a hundredth of base: a draw of 0 must not let
// waiters without a value spin on a failing upstream.
func jitter(r float64, env, base time.Duration) time.Duration {
	return max(time.Duration(r*float64(env)), base/100)
}

// later is the later of two times.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
