// Package cache keeps fetched values for a TTL in a bounded LRU. It makes at most one upstream
// attempt at a time per key, lets a value's other names (a secret's ARN and Name) share its
// entry, refreshes a busy entry in the background before it expires, never keeps a caller that
// has a value at hand waiting long on a sick upstream, and backs off per key after a failure.
//
// A caller whose key holds a value waits at most MaxWait for a refetch, counted from when that
// refetch started, and not at all for a retry after a failure: AWS is then known to be sick.
//
// Floods are cheap: a failure that says it is a not-found is remembered for
// Options.NotFoundTTL, so a loop over a missing id is not a loop of upstream calls; and a
// refresh (refreshNow) never starts an attempt within refreshInterval (1 s) of the key's
// previous one: it waits for that point, and every refresh arriving meanwhile joins the one
// attempt started then. A key so costs at most one refresh call a second however often it is
// refreshed, and a refresh is always answered by an attempt that started after it asked (the
// caller distrusts what came before, as after a rotation), at the price of up to a second's wait.
package cache

import (
	"container/list"
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Key identifies a cached value. Log lines show it as the logger shows any value.
type Key interface {
	comparable
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

// Source is where the cache's values come from.
//
// The cache learns what a failed load means from the error itself, through methods it looks
// for with errors.As (the domain's error, kinko.Error, has them all):
//
//	Transient() bool  // it may pass (timeouts, 5xx, throttling): only then is a stale value
//	                  // served, and only then does the cache back off and retry
//	NotFound() bool   // the value does not exist: remembered for Options.NotFoundTTL
//	Throttled() bool  // the upstream says slow down: the Pacer waits longer
//
// An error with none of them is permanent, and says nothing more.
type Source[K Key, V any] interface {
	// Load makes one upstream attempt for k. It gets the cache's own context, not a caller's,
	// so one caller hanging up does not fail the others waiting on the same attempt; it must
	// bound its own time (upstream.Client.Fetch does).
	Load(ctx context.Context, k K) (V, error)
	// Aliases returns the other keys the value just loaded for k also answers. The set replaces
	// the one stored before: a key not in it leaves the entry.
	Aliases(k K, v V) []K
	// Cost is what an entry for k holding v costs in bytes, counted against Options.MaxBytes.
	Cost(k K, v V) int
}

// LoadFunc is a Source that only loads: its values have no aliases, and every entry costs 1
// (Options.MaxBytes then bounds the number of entries).
type LoadFunc[K Key, V any] func(ctx context.Context, k K) (V, error)

func (f LoadFunc[K, V]) Load(ctx context.Context, k K) (V, error) { return f(ctx, k) }
func (LoadFunc[K, V]) Aliases(K, V) []K                           { return nil }
func (LoadFunc[K, V]) Cost(K, V) int                              { return 1 }

// Options configure a Cache. TTL is required.
type Options[K Key] struct {
	// TTL is how long a value for k stays fresh; 0 means never cache it.
	TTL func(k K) time.Duration
	// Budget is how long a caller with no value to fall back on (or one that asked for
	// refreshNow) waits for the upstream, retries included. Default DefaultBudget.
	Budget func(k K) time.Duration

	// MaxBytes bounds the bytes the entries hold, by Source.Cost (0: no bound). The least
	// recently used go first; a value that alone costs more is answered but not stored.
	MaxBytes int
	Size     int // most entries kept
	// RefreshAhead is the fraction of a value's lifetime after which a hit refreshes it in the
	// background, as given; >= 1 never. 0 is the default: a jittered point from 1/1.2 of the
	// TTL on, so a key costs at most 1.2 upstream calls per TTL at steady load.
	RefreshAhead float64
	StaleIfError time.Duration // how long past expiry a value may be served while the upstream fails
	// MaxWait is the longest a caller whose key holds a value (servable stale) waits for a
	// refetch before it gets that value.
	MaxWait time.Duration
	// NotFoundTTL is how long a failure that says NotFound() is remembered: callers without a
	// value get it again without an upstream call meanwhile (0: nothing is remembered).
	NotFoundTTL time.Duration
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

// maxCallsPerTTL bounds what the default refresh-ahead costs at steady load (CONTRACT.md
// section 4): its earliest point is 1/maxCallsPerTTL of the TTL. A RefreshAhead the user sets
// is used as given: they chose more calls for fresher values.
const maxCallsPerTTL = 1.2

// refreshInterval is the per-key floor between the upstream calls refreshes cause: a refresh
// starts no attempt sooner than this after the key's previous one started. One second bounds a
// refreshNow loop to the cost of a 1 s TTL and delays an occasional refresh by at most that.
const refreshInterval = time.Second

// minSlots is the fewest per-key slots the cache lets build up before it sweeps out those
// that hold nothing worth keeping, and the floor of how many idle ones it keeps.
const minSlots = 64

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
	src Source[K, V]
	o   Options[K]

	mu    sync.Mutex
	index map[K]*entry[K, V]
	lru   list.List // of *entry, most recently used first
	slots map[K]*slot[V]
	seq   uint64 // the last sequence number handed to an attempt
	bytes int    // the entries' costs, summed
	// floor: attempts with a sequence number up to it store nothing (they started before
	// the last Forget).
	floor uint64
	// The slots are swept (tidied all at once) when they reach sweepAt, twice as many as the
	// last sweep left, or at an attempt's end after sweepNext: so the cost is amortised, and
	// a key's state goes some time after its backoff ends even when no new key comes.
	sweepAt   int
	sweepNext time.Time

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
	cost      int           // counted in Cache.bytes
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

// New returns a cache of what src loads. Its background work lives until Close.
func New[K Key, V any](src Source[K, V], o Options[K]) *Cache[K, V] {
	if o.Now == nil {
		o.Now = time.Now
	}
	// A nil Wall stays nil: clocks then takes the wall reading of Now's own instant, so a hit
	// reads the clock once, not twice.
	if o.Budget == nil {
		o.Budget = func(K) time.Duration { return DefaultBudget }
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
	return &Cache[K, V]{src: src, o: o, index: map[K]*entry[K, V]{}, slots: map[K]*slot[V]{}, bg: bg, stop: stop}
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
		s.failures, s.notBefore, s.lastErr, s.notFoundUntil = 0, time.Time{}, nil, time.Time{}
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
	return now, c.wall(now)
}

// wall is the wall-clock reading to go with now (see clocks).
func (c *Cache[K, V]) wall(now time.Time) time.Time {
	if c.o.Wall == nil {
		return now.Round(0)
	}
	return c.o.Wall()
}

// Len is the number of entries (not keys).
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Bytes is what the entries cost, summed (Source.Cost).
func (c *Cache[K, V]) Bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// Recount counts k's entry again: its value has grown or shrunk since it was stored (a jsonKey
// index built on first use), and the byte budget must see what it holds now. Entries, that one
// included, are evicted if the budget is now exceeded.
func (c *Cache[K, V]) Recount(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.index[k]
	if e == nil {
		return
	}
	cost := c.src.Cost(k, e.val)
	c.bytes += cost - e.cost
	e.cost = cost
	c.evict()
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
	e := c.index[k]
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
	c.lru.MoveToFront(e.elem)
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
				notBefore = later(notBefore, s.lastStart.Add(refreshInterval))
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
		e := c.index[k]
		if !refresh || e == nil || e.seq < s.lastSeq {
			break
		}
		if age := e.age(now, c.wall(now)); age < e.life {
			c.lru.MoveToFront(e.elem)
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
	if err == nil {
		aliases = c.src.Aliases(k, v)
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
		c.store(k, v, aliases, cl, now, wall)
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
// may widen the envelope and the draw when other keys fail too, or when err is throttling.
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

// left is the freshness of an answer taken from cl at now.
func (cl *call[V]) left(now time.Time) time.Duration {
	if cl.life == 0 {
		return 0 // not stored (a Forget came, or a newer value won)
	}
	return max(0, cl.life-now.Sub(cl.storedAt))
}

// lifetimes draws a new value's lifetime (a random 90-100% of ttl, never longer: the TTL is a
// promise about age, and sandboxes started together then do not refresh in the same second)
// and its refresh-ahead point: RefreshAhead of the lifetime when it is set; by default spread
// at random over the earliest three quarters of the time between 1/1.2 of the TTL and the
// lifetime, so at steady load a key costs at most 1.2 upstream calls per TTL.
func (c *Cache[K, V]) lifetimes(ttl time.Duration) (life, refreshAt time.Duration) {
	life = ttl - time.Duration(c.o.Rand()*float64(ttl)/10)
	switch {
	case c.o.RefreshAhead >= 1:
		return life, life
	case c.o.RefreshAhead > 0:
		return life, time.Duration(c.o.RefreshAhead * float64(life))
	}
	lo := time.Duration(float64(ttl) / maxCallsPerTTL)
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
		c.remove(old) // even when v is not stored below: old is older than the answer just given
	}
	cost := c.src.Cost(k, v)
	if c.o.MaxBytes > 0 && cost > c.o.MaxBytes {
		// Stored, it would evict everything else and still not fit: answered, not kept. Each
		// request for it goes to AWS; the line says why, never what.
		c.o.Logger.Warn("value larger than the cache's byte budget; answered, not cached",
			"key", k, "bytes", cost, "max_bytes", c.o.MaxBytes)
		return
	}
	e := &entry[K, V]{val: v, stored: now, wall: wall, seq: cl.seq, cost: cost}
	c.bytes += cost
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
	c.evict()
}

// evict removes the least recently used entries until the cache is within its bounds, in
// entries and in bytes. Called with c.mu held.
func (c *Cache[K, V]) evict() {
	for c.lru.Len() > 0 && (c.lru.Len() > c.o.Size || c.o.MaxBytes > 0 && c.bytes > c.o.MaxBytes) {
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
	c.bytes -= e.cost
	e.cost = 0
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

// later is the later of two times.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
