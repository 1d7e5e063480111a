// Package cache keeps fetched values for a TTL in a bounded LRU. It makes at most one upstream
// attempt at a time per key, lets a value's other names (a secret's ARN and Name) share its
// entry, refreshes a busy entry in the background before it expires, never keeps a caller that
// has a value at hand waiting long on a sick upstream, and backs off per key after a failure.
package cache

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Key identifies a cached value.
type Key interface {
	comparable
	String() string
}

// Outcome says how an answer was produced; the server turns it into Cache-Status.
type Outcome uint8

const (
	Bypass               Outcome = iota // caching is off for this key: fetched, not stored
	Hit                                 // fresh entry
	Miss                                // no usable entry: this request's attempt fetched and stored
	Collapsed                           // no usable entry: joined an attempt another request started
	Expired                             // entry expired (inside the stale window): refetched within MaxWait
	StaleIfError                        // entry expired, the upstream failed transiently (or kinko backs off): served stale
	StaleWhileRevalidate                // entry expired, the refetch outlasted MaxWait: served stale, refetch goes on
	Refreshed                           // caller asked to bypass the cache (refreshNow): fetched and stored
)

// Status describes one answer.
type Status struct {
	Outcome Outcome
	// TTL is the freshness left for every fresh answer (Hit, Miss, Collapsed, Expired,
	// Refreshed); zero for stale answers, bypassed ones and errors.
	TTL time.Duration
}

// Observer counts what the cache does (metrics). All methods must be safe for concurrent use.
type Observer interface {
	Hit()
	Miss()
	Collapsed()
	StaleServed() // every stale answer, whatever the reason
	// StaleWhileRevalidate counts the stale answers given because the refetch was slower than
	// MaxWait (also counted by StaleServed); the rest were given because the upstream failed.
	StaleWhileRevalidate()
}

// ErrCallerGone is returned when the caller's context ended before its answer was ready: the
// caller hung up, which is neither an upstream failure nor kinko shutting down.
var ErrCallerGone = errors.New("the caller went away before the answer was ready")

// ErrClosed is what a caller waiting when the cache closes gets, unless Options.Closed says otherwise.
var ErrClosed = errors.New("the cache is closed")

// Options configure a Cache. Load, TTL and Transient are required.
type Options[K Key, V any] struct {
	// Load makes one upstream attempt for k. It gets the cache's own context, not a caller's,
	// so one caller hanging up does not fail the others waiting on the same attempt; it must
	// bound its own time (upstream.Client.Fetch does).
	Load func(ctx context.Context, k K) (V, error)
	// Aliases returns the other keys the value just fetched for k also answers. The set
	// replaces the one stored before: a key not in it leaves the entry.
	Aliases func(k K, v V) []K
	// TTL is how long a value for k stays fresh; 0 means never cache it.
	TTL func(k K) time.Duration
	// Transient reports whether err may pass (timeouts, 5xx, throttling): only then is a
	// stale value served, and only then does the cache back off and retry.
	Transient func(err error) bool
	// Budget is how long a caller with no value to fall back on (or one that asked for
	// refreshNow) waits for the upstream, retries included. Default DefaultBudget.
	Budget func(k K) time.Duration
	// GaveUp is the error for a caller whose budget ended while the first attempt it waited
	// on was still in flight (a later one reports the failure before it). Required when
	// Budget can end before Load returns.
	GaveUp func(k K, waited time.Duration) error
	// Closed is the error for a caller still waiting when the cache closes (SHUTDOWN).
	// Default ErrClosed.
	Closed func(k K) error

	Size         int           // most entries kept
	RefreshAhead float64       // fraction of TTL after which a hit refreshes in the background; >= 1 never
	StaleIfError time.Duration // how long past expiry a value may be served while the upstream fails
	// MaxWait is the longest a caller whose key holds a value (servable stale) waits for a
	// refetch before it gets that value.
	MaxWait time.Duration
	// BackoffBase and BackoffCap shape the per-key backoff after a transient failure
	// (defaults 1 s and 30 s).
	BackoffBase, BackoffCap time.Duration
	// Pacer spreads the retries of keys failing together (see Pacer). Nil: each key backs
	// off alone.
	Pacer *Pacer[K]
	// Rand returns a number in [0, 1): the TTL jitter, the refresh-ahead point and the
	// backoff's full jitter draw from it. Default math/rand/v2.Float64.
	Rand func() float64

	// Now is the monotonic clock ages are measured by (time.Now carries a monotonic reading).
	Now func() time.Time
	// Wall is the wall clock, read beside Now: a value is fresh only while its age is under
	// its lifetime by both. A monotonic clock stands still while a sandbox is frozen or a
	// SnapStart snapshot waits to be restored; the wall clock does not. Default: the wall
	// reading of Now's own value (what time.Now carries besides its monotonic reading).
	Wall     func() time.Time
	Observer Observer
	Logger   *slog.Logger
}

// DefaultBudget bounds a caller without a value when Options.Budget is not set: it answers
// within it even when every attempt hangs.
const DefaultBudget = 4 * time.Second

// maxCallsPerTTL bounds what refresh-ahead may cost at steady load (CONTRACT.md section 4):
// the earliest refresh point is 1/maxCallsPerTTL of the TTL, whatever KINKO_REFRESH_AHEAD says.
const maxCallsPerTTL = 1.2

// Cache is safe for concurrent use. Close it to stop and wait for background attempts.
//
// Per key there is at most one upstream attempt in flight (a slot's call). Every attempt takes
// a sequence number from one counter when it starts, and a store only replaces an entry stored
// by an older attempt: a slow fetch that ends after a newer one (through an alias, say) cannot
// bring an older value back. refreshNow callers never take the answer of an attempt that
// started before they asked: they wait for it to end, then share the next one; so a key still
// never has two attempts in flight, and a refreshNow behind a hung attempt waits for that
// attempt's timeout (bounded by its budget) instead of opening a second connection.
//
// This is why the slots are ours and not x/sync/singleflight's, which the cache used before:
// singleflight collapses callers onto whatever call is in flight, but cannot say when that call
// started (a refreshNow must not join an older one, and a store must not overwrite a newer one),
// nor whether one is in flight at all (a refreshNow waits for it to end, then starts the next),
// and a key's backoff must live between calls anyway.
type Cache[K Key, V any] struct {
	o Options[K, V]

	mu    sync.Mutex
	index map[K]*entry[K, V]
	lru   list.List // of *entry, most recently used first
	slots map[K]*slot[V]
	seq   uint64 // the last sequence number handed to an attempt
	// floor: attempts with a sequence number up to it store nothing (they started before
	// the last Forget).
	floor uint64

	bg     context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

type entry[K Key, V any] struct {
	val       V
	stored    time.Time // by Options.Now
	wall      time.Time // by Options.Wall
	life      time.Duration
	refreshAt time.Duration // age from which a hit refreshes in the background; >= life: never
	refreshed bool          // background refresh already started for this value
	seq       uint64        // of the attempt that stored it
	keys      []K           // every key that points here
	elem      *list.Element
}

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
}

// call is one upstream attempt. v and err are set before done is closed.
type call[V any] struct {
	seq  uint64
	done chan struct{}
	v    V
	err  error
	// stored and storedAt tell the freshness of the answer: its entry's lifetime.
	life     time.Duration
	storedAt time.Time
}

// New returns a cache. Its background work lives until Close.
func New[K Key, V any](o Options[K, V]) *Cache[K, V] {
	if o.Now == nil {
		o.Now = time.Now
	}
	// A nil Wall stays nil: clocks then takes the wall reading of Now's own instant, so a hit
	// reads the clock once, not twice.
	if o.Aliases == nil {
		o.Aliases = func(K, V) []K { return nil }
	}
	if o.Budget == nil {
		o.Budget = func(K) time.Duration { return DefaultBudget }
	}
	if o.GaveUp == nil {
		o.GaveUp = func(K, time.Duration) error { return context.DeadlineExceeded }
	}
	if o.Closed == nil {
		o.Closed = func(K) error { return ErrClosed }
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	if o.BackoffCap <= 0 {
		o.BackoffCap = 30 * time.Second
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	bg, stop := context.WithCancel(context.Background())
	return &Cache[K, V]{o: o, index: map[K]*entry[K, V]{}, slots: map[K]*slot[V]{}, bg: bg, stop: stop}
}

// Close cancels attempts in flight and waits for them to end.
func (c *Cache[K, V]) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.stop()
	c.wg.Wait()
}

// Forget drops every entry, so no value stored before this call is served again, not even
// stale (after a SnapStart restore, whatever is in memory may be days old). An attempt in
// flight now still answers the callers waiting on it but stores nothing.
func (c *Cache[K, V]) Forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.floor = c.seq
	for c.lru.Len() > 0 {
		c.remove(c.lru.Back().Value.(*entry[K, V]))
	}
	// The backoff was learned before the restore too: the restored sandbox starts afresh.
	c.o.Pacer.reset()
	for k, s := range c.slots {
		s.failures, s.notBefore, s.lastErr = 0, time.Time{}, nil
		if s.call == nil && s.waiters == 0 {
			delete(c.slots, k)
		}
	}
}

// age is how old e is at (now, wall): the larger of its monotonic and wall-clock ages, so a
// clock that stood still never makes a value younger. A wall clock stepped back (NTP) makes
// the wall age negative, and the monotonic age rules.
func (e *entry[K, V]) age(now, wall time.Time) time.Duration {
	return max(now.Sub(e.stored), wall.Sub(e.wall))
}

// clocks reads the monotonic clock and the wall clock: Options.Wall when set, else the wall
// reading that Now's time.Time already carries (Round(0) strips the monotonic one).
func (c *Cache[K, V]) clocks() (now, wall time.Time) {
	now = c.o.Now()
	if c.o.Wall == nil {
		return now, now.Round(0)
	}
	return now, c.o.Wall()
}

// Len is the number of entries (not keys).
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Get answers k from the cache or the upstream.
func (c *Cache[K, V]) Get(ctx context.Context, k K) (V, Status, error) {
	if c.o.TTL(k) <= 0 {
		return c.bypass(ctx, k)
	}
	now, wall := c.clocks()
	c.mu.Lock()
	e := c.index[k]
	if e != nil {
		age := e.age(now, wall)
		if age < e.life {
			c.lru.MoveToFront(e.elem)
			v := e.val
			if !e.refreshed && age >= e.refreshAt && !c.closed {
				// Refresh ahead, once per value; a key backing off waits its turn.
				if s := c.slot(k); s.call == nil && !now.Before(s.notBefore) {
					e.refreshed = true
					c.start(k, s)
				}
			}
			c.mu.Unlock()
			c.o.Observer.Hit()
			return v, Status{Outcome: Hit, TTL: e.life - age}, nil
		}
		if age >= e.life+c.o.StaleIfError {
			e = nil // past the stale window: as good as absent
		} else {
			// Asked for, so in use: keep it from eviction while its refetch is in flight, or a
			// failed refetch finds no stale value to fall back on.
			c.lru.MoveToFront(e.elem)
		}
	}
	if e == nil {
		c.mu.Unlock()
		return c.await(ctx, k, false)
	}
	return c.revalidate(ctx, k, e, now) // unlocks
}

// revalidate answers a key whose entry e expired but may still be served stale: it waits at
// most MaxWait for an attempt, and serves e when the attempt fails transiently, is slower, or
// is not due yet (backoff). Called with c.mu held; returns with it released.
func (c *Cache[K, V]) revalidate(ctx context.Context, k K, e *entry[K, V], now time.Time) (V, Status, error) {
	s := c.slot(k)
	cl, leader := s.call, false
	if cl == nil {
		if now.Before(s.notBefore) || c.closed {
			v := e.val
			c.mu.Unlock()
			return c.served(v, StaleIfError)
		}
		cl, leader = c.start(k, s), true
	}
	c.mu.Unlock()

	timer := time.NewTimer(c.o.MaxWait)
	defer timer.Stop()
	select {
	case <-cl.done:
	case <-timer.C:
		if v, ok := c.stale(k, e); ok {
			return c.served(v, StaleWhileRevalidate)
		}
		// The entry was replaced or dropped meanwhile: wait for the attempt as a miss would.
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
	if c.o.Transient(cl.err) {
		if v, ok := c.stale(k, e); ok {
			return c.served(v, StaleIfError)
		}
	}
	var zero V
	return zero, Status{Outcome: Miss}, cl.err // deleted or revoked: never masked
}

func (c *Cache[K, V]) served(v V, o Outcome) (V, Status, error) {
	c.o.Observer.StaleServed()
	if o == StaleWhileRevalidate {
		c.o.Observer.StaleWhileRevalidate()
	}
	return v, Status{Outcome: o}, nil
}

// Refresh bypasses the cache: it fetches k, stores the answer and returns it. A failure is
// returned as is, never covered by the cached value: the caller asked because it distrusts it.
func (c *Cache[K, V]) Refresh(ctx context.Context, k K) (V, Status, error) {
	if c.o.TTL(k) <= 0 {
		return c.bypass(ctx, k)
	}
	return c.await(ctx, k, true)
}

// await is the path of a caller with no value to fall back on, or one that asked for a
// refresh: it waits, within its budget, on the key's one retrying fetch. Transient failures
// are retried after the key's backoff (the caller sleeps through it with the others); the
// first attempt that succeeds or fails for good answers everyone. A refresh only takes the
// answer of an attempt that started after it asked.
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
	// The answer must come from an attempt numbered above after: for a refresh, one that
	// started after it asked; for anyone, one that started after the last Forget.
	after := c.floor
	if refresh {
		after = c.seq
	}
	giveUpAt := c.o.Now().Add(budget)
	s := c.slot(k)
	s.waiters++
	defer func() {
		c.mu.Lock()
		if s.waiters--; s.waiters == 0 {
			c.tidy(k, s)
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
			return zero, Status{Outcome: outcome}, c.o.Closed(k)
		default:
			now := c.o.Now()
			if wait := s.notBefore.Sub(now); wait > 0 {
				if lastErr == nil {
					lastErr = s.lastErr
				}
				if s.notBefore.After(giveUpAt) {
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
				lastErr = c.o.GaveUp(k, budget)
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
		if !c.o.Transient(cl.err) {
			return zero, Status{Outcome: outcome}, cl.err
		}
		lastErr = cl.err
		c.mu.Lock()
	}
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
		v, err := c.o.Load(lctx, k)
		switch {
		case err == nil:
			return v, Status{Outcome: Bypass}, nil
		case ctx.Err() != nil && c.bg.Err() == nil:
			return v, Status{Outcome: Bypass}, callerGone(ctx)
		case lctx.Err() != nil || !c.o.Transient(err):
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

func callerGone(ctx context.Context) error {
	return errors.Join(ErrCallerGone, context.Cause(ctx))
}

// slot returns k's upstream state, making it. Called with c.mu held.
func (c *Cache[K, V]) slot(k K) *slot[V] {
	s := c.slots[k]
	if s == nil {
		s = &slot[V]{}
		c.slots[k] = s
	}
	return s
}

// tidy forgets k's slot once nothing depends on it: no attempt in flight, nobody waiting, and
// no backoff still running. Called with c.mu held.
func (c *Cache[K, V]) tidy(k K, s *slot[V]) {
	if c.slots[k] == s && s.call == nil && s.waiters == 0 && !c.o.Now().Before(s.notBefore.Add(c.o.BackoffCap)) {
		delete(c.slots, k)
	}
}

// start launches one upstream attempt for k, owned by the cache (Close waits for it). Called
// with c.mu held and s.call nil.
func (c *Cache[K, V]) start(k K, s *slot[V]) *call[V] {
	c.seq++
	cl := &call[V]{seq: c.seq, done: make(chan struct{})}
	s.call = cl
	c.wg.Add(1)
	go c.attempt(k, s, cl)
	return cl
}

func (c *Cache[K, V]) attempt(k K, s *slot[V], cl *call[V]) {
	defer c.wg.Done()
	defer close(cl.done)
	v, err := c.o.Load(c.bg, k)
	var aliases []K
	if err == nil {
		aliases = c.o.Aliases(k, v)
	}
	now, wall := c.clocks()
	c.mu.Lock()
	defer c.mu.Unlock()
	s.call = nil
	cl.v, cl.err = v, err
	switch {
	case err == nil:
		s.failures, s.notBefore, s.lastErr = 0, time.Time{}, nil
		c.o.Pacer.recovered(k)
		c.store(k, v, aliases, cl, now, wall)
	case c.o.Transient(err):
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
	}
	c.tidy(k, s)
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

// stale returns e's value if it is still k's entry and inside the stale window.
func (c *Cache[K, V]) stale(k K, e *entry[K, V]) (V, bool) {
	now, wall := c.clocks()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index[k] != e || e.age(now, wall) >= e.life+c.o.StaleIfError {
		var zero V
		return zero, false
	}
	c.lru.MoveToFront(e.elem)
	return e.val, true
}

// left is the freshness of an answer taken from cl at now.
func (cl *call[V]) left(now time.Time) time.Duration {
	if cl.life == 0 {
		return 0 // not stored (a Forget came, or a newer value won)
	}
	return max(0, cl.life-now.Sub(cl.storedAt))
}

// lifetimes draws a new value's lifetime (a random 90-100% of ttl, never longer: the TTL is a
// promise about age, and sandboxes started together then do not refresh in the same second)
// and its refresh-ahead point, spread at random over the earliest three quarters of the time
// between the earliest point allowed and the lifetime. The earliest point is RefreshAhead of the TTL, but never before 1/1.2 of it, so
// at steady load a key costs at most 1.2 upstream calls per TTL.
func (c *Cache[K, V]) lifetimes(ttl time.Duration) (life, refreshAt time.Duration) {
	life = ttl - time.Duration(c.o.Rand()*float64(ttl)/10)
	if c.o.RefreshAhead >= 1 {
		return life, life
	}
	lo := time.Duration(max(c.o.RefreshAhead, 1/maxCallsPerTTL) * float64(ttl))
	if lo >= life {
		return life, life
	}
	// The last quarter of the window is kept as lead, so that a refresh started at the
	// latest point still has time to land before the value expires.
	return life, lo + time.Duration(c.o.Rand()*float64(life-lo)*3/4)
}

// store keeps v for k and its aliases, replacing k's entry whole (aliases included: a key the
// new answer does not name leaves), unless a newer attempt already stored or dropped k, or a
// Forget came since cl started. Called with c.mu held.
func (c *Cache[K, V]) store(k K, v V, aliases []K, cl *call[V], now, wall time.Time) {
	if cl.seq <= c.floor || c.slots[k] != nil && c.slots[k].dropped > cl.seq {
		return
	}
	if old := c.index[k]; old != nil {
		if old.seq > cl.seq {
			return
		}
		c.remove(old)
	}
	e := &entry[K, V]{val: v, stored: now, wall: wall, seq: cl.seq}
	e.life, e.refreshAt = c.lifetimes(c.o.TTL(k))
	e.elem = c.lru.PushFront(e)
	cl.life, cl.storedAt = e.life, now
	for _, ak := range append([]K{k}, aliases...) {
		if s := c.slots[ak]; s != nil && s.dropped > cl.seq {
			continue
		}
		if old := c.index[ak]; old != nil && old != e {
			if old.seq > cl.seq {
				continue // a newer answer holds that name
			}
			c.unlink(old, ak)
		}
		if c.index[ak] != e {
			e.keys = append(e.keys, ak)
			c.index[ak] = e
		}
	}
	for c.lru.Len() > c.o.Size {
		c.remove(c.lru.Back().Value.(*entry[K, V]))
	}
}

// drop forgets k's entry and all its aliases, as learned by attempt seq; attempts for those
// keys that started before it store nothing. Called with c.mu held.
func (c *Cache[K, V]) drop(k K, seq uint64) {
	keys := []K{k}
	if e := c.index[k]; e != nil && e.seq < seq {
		keys = append(keys, e.keys...)
		c.remove(e)
	}
	for _, ak := range keys {
		if s := c.slots[ak]; s != nil && s.call != nil {
			s.dropped = max(s.dropped, seq)
		}
	}
}

func (c *Cache[K, V]) remove(e *entry[K, V]) {
	for _, k := range e.keys {
		if c.index[k] == e {
			delete(c.index, k)
		}
	}
	c.lru.Remove(e.elem)
	// Drop the references so an evicted value is garbage as soon as no answer holds it.
	var zero V
	e.val, e.keys = zero, nil
}

// unlink takes key k away from e, which another entry now answers for; e goes when no key is left.
func (c *Cache[K, V]) unlink(e *entry[K, V], k K) {
	for i, x := range e.keys {
		if x == k {
			e.keys = append(e.keys[:i], e.keys[i+1:]...)
			break
		}
	}
	delete(c.index, k)
	if len(e.keys) == 0 {
		c.remove(e)
	}
}

type nopObserver struct{}

func (nopObserver) Hit()                  {}
func (nopObserver) Miss()                 {}
func (nopObserver) Collapsed()            {}
func (nopObserver) StaleServed()          {}
func (nopObserver) StaleWhileRevalidate() {}

func (o Outcome) String() string {
	switch o {
	case Bypass:
		return "bypass"
	case Hit:
		return "hit"
	case Miss:
		return "miss"
	case Collapsed:
		return "collapsed"
	case Expired:
		return "expired"
	case StaleIfError:
		return "stale-if-error"
	case StaleWhileRevalidate:
		return "stale-while-revalidate"
	case Refreshed:
		return "refreshed"
	}
	return "unknown"
}
