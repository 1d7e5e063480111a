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
//
// The cache words none of the upstream's errors: it returns them as they came, or its own
// (ErrClosed, *GaveUpError, ErrCallerGone), and learns what a failure means from the error
// itself (see Source).
//
// # Layout
//
// One concept a file: store.go, the entries (an LRU bounded in number and in bytes, and the
// index of every key that names an entry); slots.go, each key's upstream state (its one attempt
// in flight, the backoff after failures; pacer.go spreads the backoffs of keys failing
// together); wait.go, what a caller waits for and how long (a miss, a refresh, a revalidation,
// a bypass); fresh.go, the freshness math (jittered lifetimes, the refresh-ahead point, ages by
// two clocks). The package is over 500 lines because these are one invariant under one lock,
// Cache.mu: an entry is only ever replaced by the answer of a newer attempt (stores are fenced
// by the attempts' sequence numbers, across aliases, drops and Forget), and a key has at most
// one attempt in flight. As packages, each would need the others' state under the others' lock.
//
// The per-key slots are the cache's own, not x/sync/singleflight's (which it used before):
// singleflight collapses callers onto whatever call is in flight, but cannot say when that call
// started (a refreshNow must not join an older one, and a store must not overwrite a newer
// one), nor whether one is in flight at all (a refreshNow waits for it to end, then starts the
// next), and a key's backoff outlives its calls.
package cache

import (
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

// Cache is safe for concurrent use. Close it to stop and wait for background attempts.
//
// Per key there is at most one upstream attempt in flight (a slot's call). Every attempt takes
// a sequence number from one counter when it starts, and a store only replaces an entry stored
// by an older attempt: a slow fetch that ends after a newer one (through an alias, say) cannot
// bring an older value back. refreshNow callers never take the answer of an attempt that
// started before they asked: they wait for it to end, then share the next one; so a key still
// never has two attempts in flight, and a refreshNow behind a hung attempt waits for that
// attempt's timeout (bounded by its budget) instead of opening a second connection.
type Cache[K Key, V any] struct {
	src Source[K, V]
	o   Options[K]

	mu      sync.Mutex
	entries store[K, V]
	slots   map[K]*slot[V]
	seq     uint64 // the last sequence number handed to an attempt
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
	return &Cache[K, V]{src: src, o: o, slots: map[K]*slot[V]{}, bg: bg, stop: stop,
		entries: store[K, V]{index: map[K]*entry[K, V]{}, size: o.Size, maxBytes: o.MaxBytes}}
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
	c.entries.clear()
	// The backoff was learned before the restore too: the restored sandbox starts afresh.
	c.o.Pacer.reset()
	for k, s := range c.slots {
		s.failures, s.notBefore, s.lastErr, s.notFoundUntil = 0, time.Time{}, nil, time.Time{}
		if s.call == nil && s.waiters == 0 {
			delete(c.slots, k)
		}
	}
}

// Len is the number of entries (not keys).
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries.len()
}

// Bytes is what the entries cost, summed (Source.Cost).
func (c *Cache[K, V]) Bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries.bytes
}

// Recount counts k's entry again: its value has grown or shrunk since it was stored (a jsonKey
// index built on first use), and the byte budget must see what it holds now. Entries, that one
// included, are evicted if the budget is now exceeded.
func (c *Cache[K, V]) Recount(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries.get(k)
	if e == nil {
		return
	}
	c.entries.recount(e, c.src.Cost(k, e.val))
}

// Get answers k from the cache or the upstream.
func (c *Cache[K, V]) Get(ctx context.Context, k K) (V, Status, error) {
	if c.o.TTL(k) <= 0 {
		return c.bypass(ctx, k)
	}
	now, wall := c.clocks()
	c.mu.Lock()
	e := c.entries.get(k)
	if e != nil {
		age := e.age(now, wall)
		if age < e.life {
			c.entries.touch(e)
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
			c.entries.touch(e)
		}
	}
	if e == nil {
		c.mu.Unlock()
		return c.await(ctx, k, false)
	}
	return c.revalidate(ctx, k, e, now) // unlocks
}

// Refresh bypasses the cache: it fetches k, stores the answer and returns it. A failure is
// returned as is, never covered by the cached value: the caller asked because it distrusts it.
func (c *Cache[K, V]) Refresh(ctx context.Context, k K) (V, Status, error) {
	if c.o.TTL(k) <= 0 {
		return c.bypass(ctx, k)
	}
	return c.await(ctx, k, true)
}
