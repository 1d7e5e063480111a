package cache

import (
	"context"
	"time"
)

// refreshInterval is the per-key floor between the upstream calls refreshes cause: a refresh
// starts no attempt sooner than this after the key's previous one started. One second bounds a
// refreshNow loop to the cost of a 1 s TTL and delays an occasional refresh by at most that.
const refreshInterval = time.Second

// revalidate answers a key whose entry e expired but may still be served stale. It serves e at
// once when the key backs off, when its last attempt failed (AWS is known sick: the retry goes
// on in the background), or when the attempt in flight is already MaxWait old; otherwise it
// waits for the attempt until MaxWait after its start. A transient failure, or a wait that runs
// out, is answered with what k's entry is then (a value stored meanwhile through an alias
// included); only a caller left with nothing servable waits on as a miss would. Called with
// c.mu held; returns with it released.
func (c *Cache[K, V]) revalidate(ctx context.Context, k K, e *entry[K, V], now time.Time) (V, Status, error) {
	s := c.slot(k)
	cl, leader := s.call, false
	wait := c.o.MaxWait
	switch {
	case cl != nil:
		wait = min(wait, wait-now.Sub(cl.started))
	case now.Before(s.notBefore) || c.closed:
		v := e.val
		c.mu.Unlock()
		return c.served(v, StaleIfError)
	default:
		cl, leader = c.start(k, s), true
	}
	if s.failures > 0 || wait <= 0 {
		outcome := StaleWhileRevalidate
		if s.failures > 0 {
			outcome = StaleIfError
		}
		v := e.val
		c.mu.Unlock()
		return c.served(v, outcome)
	}
	c.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-cl.done:
	case <-timer.C:
		if v, st, ok := c.current(k, StaleWhileRevalidate); ok {
			return v, st, nil
		}
		// Nothing servable is left (the entry was dropped, or aged past the stale window).
		return c.await(ctx, k, false)
	case <-ctx.Done():
		var zero V
		return zero, Status{Outcome: Miss}, callerGone(ctx)
	}
	if cl.err == nil {
		outcome := Collapsed
		if leader {
			outcome = Expired
			c.o.Observer.Miss()
		} else {
			c.o.Observer.Collapsed()
		}
		return cl.v, Status{Outcome: outcome, TTL: cl.left(c.o.Now())}, nil
	}
	if transient(cl.err) {
		if v, st, ok := c.current(k, StaleIfError); ok {
			return v, st, nil
		}
	}
	var zero V
	return zero, Status{Outcome: Miss}, cl.err // deleted or revoked: never masked
}

// current answers k from its entry as it is now: a fresh one as a hit, one expired inside the
// stale window as stale with outcome o. ok is false when there is neither.
func (c *Cache[K, V]) current(k K, o Outcome) (V, Status, bool) {
	now, wall := c.clocks()
	c.mu.Lock()
	e := c.entries.get(k)
	if e == nil {
		c.mu.Unlock()
		var zero V
		return zero, Status{}, false
	}
	age := e.age(now, wall)
	if age >= e.life+c.o.StaleIfError {
		c.mu.Unlock()
		var zero V
		return zero, Status{}, false
	}
	c.entries.touch(e)
	v := e.val
	c.mu.Unlock()
	if age < e.life {
		c.o.Observer.Hit()
		return v, Status{Outcome: Hit, TTL: e.life - age}, true
	}
	v, st, _ := c.served(v, o)
	return v, st, true
}

func (c *Cache[K, V]) served(v V, o Outcome) (V, Status, error) {
	c.o.Observer.StaleServed()
	if o == StaleWhileRevalidate {
		c.o.Observer.StaleWhileRevalidate()
	}
	return v, Status{Outcome: o}, nil
}

// await is the path of a caller with no value to fall back on, or one that asked for a
// refresh: it waits, within its budget, on the key's one retrying fetch. Transient failures
// are retried after the key's backoff (the caller sleeps through it with the others); the
// first attempt that succeeds or fails for good answers everyone. A refresh takes only the
// answer of an attempt started after it asked, and starts none within refreshInterval of the
// key's previous attempt. A not-found remembered for k answers a caller without a value at once.
func (c *Cache[K, V]) await(ctx context.Context, k K, refresh bool) (V, Status, error) {
	outcome := Miss
	if refresh {
		outcome = Refreshed
	}
	var zero V
	budget := c.o.Budget(k)
	deadline := time.NewTimer(budget)
	defer deadline.Stop()

	c.mu.Lock()
	now := c.o.Now()
	s := c.slot(k)
	// The answer must come from an attempt numbered above after: for a refresh, one that
	// starts after it asked (the caller distrusts what came before); for anyone, one that
	// started after the last Forget.
	after := c.floor
	if refresh {
		after = c.seq
	}
	giveUpAt := now.Add(budget)
	s.waiters++
	defer func() {
		c.mu.Lock()
		if s.waiters--; s.waiters == 0 {
			c.tidy(k, s, c.o.Now())
		}
		c.mu.Unlock()
	}()
	var lastErr error
	for {
		// c.mu is held here; s stays k's slot while this caller waits on it.
		cl, leader := s.call, false
		var backoff <-chan time.Time
		switch {
		case cl != nil && cl.seq <= after:
			// Started before this refresh asked: let it end, then take the next one.
		case cl != nil:
		case c.closed:
			c.mu.Unlock()
			return zero, Status{Outcome: outcome}, ErrClosed
		default:
			now := c.o.Now()
			if v, st, err, ok := c.remembered(k, s, refresh, after, now); ok {
				c.mu.Unlock()
				c.o.Observer.Hit()
				return v, st, err
			}
			notBefore := s.notBefore
			if refresh && s.lastSeq > c.floor {
				// The per-key floor: a refresh never starts an attempt within refreshInterval
				// of the key's previous one; it waits for that point, and every refresh that
				// arrives meanwhile joins the one attempt started then.
				due := s.lastStart.Add(refreshInterval)
				if due.After(giveUpAt) {
					// A budget shorter than the floor's wait (a timeout under a second): the
					// key's newest attempt answers, the freshest the floor allows, rather than
					// a timeout for a call never made.
					if v, st, err, ok := c.remembered(k, s, true, s.lastSeq-1, now); ok {
						c.mu.Unlock()
						c.o.Observer.Hit()
						return v, st, err
					}
				}
				notBefore = later(notBefore, due)
			}
			if wait := notBefore.Sub(now); wait > 0 {
				if lastErr == nil {
					lastErr = s.lastErr
				}
				if notBefore.After(giveUpAt) && lastErr != nil {
					// The next attempt is not due within the budget: say so now, not at its end.
					c.mu.Unlock()
					return zero, Status{Outcome: outcome}, lastErr
				}
				t := time.NewTimer(wait)
				defer t.Stop()
				backoff = t.C
			} else {
				cl, leader = c.start(k, s), true
			}
		}
		c.mu.Unlock()

		var done <-chan struct{}
		if cl != nil {
			done = cl.done
		}
		select {
		case <-done:
		case <-backoff:
			c.mu.Lock()
			continue
		case <-c.bg.Done(): // closing: the loop answers
			c.mu.Lock()
			if cl == nil {
				continue
			}
			c.mu.Unlock()
			<-cl.done // cancelled with the rest
		case <-deadline.C:
			if lastErr == nil {
				lastErr = &GaveUpError{Waited: budget}
			}
			return zero, Status{Outcome: outcome}, lastErr
		case <-ctx.Done():
			return zero, Status{Outcome: outcome}, callerGone(ctx)
		}
		if cl.seq <= after {
			c.mu.Lock()
			continue
		}
		if cl.err == nil {
			switch {
			case refresh:
				c.o.Observer.Miss()
			case leader:
				c.o.Observer.Miss()
			default:
				outcome = Collapsed
				c.o.Observer.Collapsed()
			}
			return cl.v, Status{Outcome: outcome, TTL: cl.left(c.o.Now())}, nil
		}
		if !transient(cl.err) {
			return zero, Status{Outcome: outcome}, cl.err
		}
		lastErr = cl.err
		c.mu.Lock()
	}
}

// remembered answers k from its newest attempt, ended and numbered above after, without a new
// one: a refresh gets that attempt's value (from the entry it stored, if that is still k's and
// fresh) or its permanent failure; anyone gets a not-found still remembered. ok is false when a new attempt is needed. Called with c.mu held.
func (c *Cache[K, V]) remembered(k K, s *slot[V], refresh bool, after uint64, now time.Time) (V, Status, error, bool) {
	var zero V
	switch {
	case s.call != nil || s.lastSeq <= after || s.lastSeq <= c.floor:
	case s.result == nil:
		e := c.entries.get(k)
		if !refresh || e == nil || e.seq < s.lastSeq {
			break
		}
		if age := e.age(now, c.wall(now)); age < e.life {
			c.entries.touch(e)
			return e.val, Status{Outcome: Hit, TTL: e.life - age}, nil, true
		}
	case transient(s.result): // retried after the backoff, as before
	case refresh || now.Before(s.notFoundUntil):
		return zero, Status{Outcome: Hit}, s.result, true
	}
	return zero, Status{}, nil, false
}

// bypass fetches without the cache (caching is off for k). The attempt ends when the caller
// hangs up or when the cache closes (SHUTDOWN's drain), whichever comes first, so a caller
// still waiting at the drain deadline gets an answer instead of a cut connection.
// Transient failures are retried within the caller's budget with the same jittered backoff,
// but per request: with nothing cached there is no key state to share.
func (c *Cache[K, V]) bypass(ctx context.Context, k K) (V, Status, error) {
	lctx, cancel := context.WithCancelCause(c.bg)
	defer cancel(nil)
	defer context.AfterFunc(ctx, func() { cancel(ErrCallerGone) })()
	c.o.Observer.Miss()
	giveUpAt := c.o.Now().Add(c.o.Budget(k))
	for n := 0; ; n++ {
		v, err := c.src.Load(lctx, k)
		switch {
		case err == nil:
			return v, Status{Outcome: Bypass}, nil
		case ctx.Err() != nil && c.bg.Err() == nil:
			return v, Status{Outcome: Bypass}, callerGone(ctx)
		case lctx.Err() != nil || !transient(err):
			return v, Status{Outcome: Bypass}, err
		}
		env := c.o.BackoffCap
		if n < 30 {
			env = min(env, c.o.BackoffBase<<n)
		}
		wait := jitter(c.o.Rand(), env, c.o.BackoffBase)
		if c.o.Now().Add(wait).After(giveUpAt) {
			return v, Status{Outcome: Bypass}, err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-lctx.Done():
		}
		t.Stop()
	}
}
