// Package cache keeps fetched values for a TTL in a bounded LRU. It makes one upstream call
// for concurrent misses of one key, lets a value's other names (a secret's ARN and Name) share
// its entry, refreshes a busy entry in the background before it expires, and serves an expired
// value for a bounded time while the upstream fails with a transient error.
package cache

import (
	"container/list"
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Key identifies a cached value. String must be unique per key: it names the key's
// in-flight fetch.
type Key interface {
	comparable
	String() string
}

// Outcome says how an answer was produced; the server turns it into Cache-Status.
type Outcome uint8

const (
	Bypass       Outcome = iota // caching is off for this key: fetched, not stored
	Hit                         // fresh entry
	Miss                        // no entry: this request fetched and stored
	Collapsed                   // no entry: joined another request's fetch
	Expired                     // entry expired: this request (or one it joined) refetched
	StaleIfError                // entry expired and the upstream failed transiently: served stale
	Refreshed                   // caller asked to bypass the cache (refreshNow): fetched and stored
)

// Status describes one answer.
type Status struct {
	Outcome Outcome
	TTL     time.Duration // for Hit: time left before expiry
}

// Observer counts what the cache does (metrics). All methods must be safe for concurrent use.
type Observer interface {
	Hit()
	Miss()
	Collapsed()
	StaleServed()
}

// Options configure a Cache. Load, TTL and Transient are required.
type Options[K Key, V any] struct {
	// Load fetches the value for k from upstream. It gets the cache's own context, not the
	// caller's, so one caller hanging up does not fail the others waiting on the same fetch.
	Load func(ctx context.Context, k K) (V, error)
	// Aliases returns the other keys the value just fetched for k also answers.
	Aliases func(k K, v V) []K
	// TTL is how long a value for k stays fresh; 0 means never cache it.
	TTL func(k K) time.Duration
	// Transient reports whether err may pass (timeouts, 5xx, throttling): only then is a
	// stale value served.
	Transient func(err error) bool

	Size         int           // most entries kept
	RefreshAhead float64       // fraction of TTL after which a hit refreshes in the background; >= 1 never
	StaleIfError time.Duration // how long past expiry a value may be served while the upstream fails

	// Now is the monotonic clock ages are measured by (time.Now carries a monotonic reading).
	Now func() time.Time
	// Wall is the wall clock, read beside Now: a value is fresh only while its age is under
	// its lifetime by both. A monotonic clock stands still while a sandbox is frozen or a
	// SnapStart snapshot waits to be restored; the wall clock does not. Default: time.Now
	// without its monotonic reading.
	Wall     func() time.Time
	Observer Observer
	Logger   *slog.Logger
}

// Cache is safe for concurrent use. Close it to stop and wait for background refreshes.
type Cache[K Key, V any] struct {
	o      Options[K, V]
	flight singleflight.Group

	mu    sync.Mutex
	index map[K]*entry[K, V]
	lru   list.List // of *entry, most recently used first

	// gen counts Forget calls: a fetch stores its answer only if no Forget came since it
	// started, and fetches are collapsed only within one generation.
	gen uint64

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
	refreshed bool // background refresh already started for this value
	keys      []K  // every key that points here
	elem      *list.Element
}

// New returns a cache. Its background work lives until Close.
func New[K Key, V any](o Options[K, V]) *Cache[K, V] {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Wall == nil {
		o.Wall = func() time.Time { return time.Now().Round(0) }
	}
	if o.Aliases == nil {
		o.Aliases = func(K, V) []K { return nil }
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	bg, stop := context.WithCancel(context.Background())
	return &Cache[K, V]{o: o, index: map[K]*entry[K, V]{}, bg: bg, stop: stop}
}

// Close cancels fetches in flight and waits for background refreshes to end.
func (c *Cache[K, V]) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.stop()
	c.wg.Wait()
}

// Forget drops every entry, so no value stored before this call is served again, not even
// stale (after a SnapStart restore, whatever is in memory may be days old). A fetch in flight
// now still answers the callers waiting on it but stores nothing, and later callers do not
// join it.
func (c *Cache[K, V]) Forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for c.lru.Len() > 0 {
		c.remove(c.lru.Back().Value.(*entry[K, V]))
	}
}

// age is how old e is at (now, wall): the larger of its monotonic and wall-clock ages, so a
// clock that stood still never makes a value younger. A wall clock stepped back (NTP) makes
// the wall age negative, and the monotonic age rules.
func (e *entry[K, V]) age(now, wall time.Time) time.Duration {
	return max(now.Sub(e.stored), wall.Sub(e.wall))
}

// Len is the number of entries (not keys).
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Get answers k from the cache or the upstream.
func (c *Cache[K, V]) Get(ctx context.Context, k K) (V, Status, error) {
	ttl := c.o.TTL(k)
	if ttl <= 0 {
		v, err := c.o.Load(ctx, k)
		c.o.Observer.Miss()
		return v, Status{Outcome: Bypass}, err
	}
	now, wall := c.o.Now(), c.o.Wall()
	c.mu.Lock()
	e := c.index[k]
	if e != nil && e.age(now, wall) < e.life {
		c.lru.MoveToFront(e.elem)
		age := e.age(now, wall)
		v, left := e.val, e.life-age
		refresh := !e.refreshed && c.o.RefreshAhead < 1 && !c.closed &&
			age >= time.Duration(c.o.RefreshAhead*float64(e.life))
		if refresh {
			e.refreshed = true
			c.wg.Add(1)
		}
		c.mu.Unlock()
		if refresh {
			go c.refreshAhead(k)
		}
		c.o.Observer.Hit()
		return v, Status{Outcome: Hit, TTL: left}, nil
	}
	switch {
	case e == nil:
	case e.age(now, wall) >= e.life+c.o.StaleIfError:
		e = nil // past the stale window: as good as absent
	default:
		// Asked for, so in use: keep it from eviction while its refetch is in flight, or a
		// failed refetch finds no stale value to fall back on.
		c.lru.MoveToFront(e.elem)
	}
	c.mu.Unlock()

	v, leader, err := c.fetch(k, false)
	if err == nil {
		switch {
		case !leader:
			c.o.Observer.Collapsed()
			return v, Status{Outcome: Collapsed}, nil
		case e != nil:
			c.o.Observer.Miss()
			return v, Status{Outcome: Expired}, nil
		default:
			c.o.Observer.Miss()
			return v, Status{Outcome: Miss}, nil
		}
	}
	if e != nil && c.o.Transient(err) {
		if v, ok := c.stale(k, e); ok {
			c.o.Observer.StaleServed()
			return v, Status{Outcome: StaleIfError}, nil
		}
	}
	var zero V
	return zero, Status{Outcome: Miss}, err
}

// Refresh bypasses the cache: it fetches k, stores the answer and returns it. A failure is
// returned as is, never covered by the cached value: the caller asked because it distrusts it.
func (c *Cache[K, V]) Refresh(ctx context.Context, k K) (V, Status, error) {
	if c.o.TTL(k) <= 0 {
		v, err := c.o.Load(ctx, k)
		c.o.Observer.Miss()
		return v, Status{Outcome: Bypass}, err
	}
	v, _, err := c.fetch(k, true)
	c.o.Observer.Miss()
	return v, Status{Outcome: Refreshed}, err
}

// fetch makes one upstream call for all concurrent callers of k and stores a success.
// leader is true for the caller whose call ran.
func (c *Cache[K, V]) fetch(k K, refresh bool) (v V, leader bool, err error) {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	// A fetch from before a Forget is not joined: its answer may predate a restore.
	name := strconv.FormatUint(gen, 10) + "\x00" + k.String()
	if refresh {
		// refreshNow callers collapse with each other but never join a fetch that started
		// before they asked.
		name = "refresh\x00" + name
	}
	res, err, _ := c.flight.Do(name, func() (any, error) {
		leader = true
		v, err := c.o.Load(c.bg, k)
		if err != nil {
			if !c.o.Transient(err) {
				c.drop(k) // deleted or revoked: never serve it again
			}
			return nil, err
		}
		c.store(k, v, gen)
		return v, nil
	})
	if err != nil {
		return v, leader, err
	}
	return res.(V), leader, nil
}

func (c *Cache[K, V]) refreshAhead(k K) {
	defer c.wg.Done()
	if _, _, err := c.fetch(k, false); err != nil {
		c.o.Logger.Warn("background refresh failed; serving the cached value until it expires",
			"key", k, "error", err)
	}
}

func (c *Cache[K, V]) stale(k K, e *entry[K, V]) (V, bool) {
	now, wall := c.o.Now(), c.o.Wall()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index[k] != e || e.age(now, wall) >= e.life+c.o.StaleIfError {
		var zero V
		return zero, false
	}
	c.lru.MoveToFront(e.elem)
	return e.val, true
}

// store keeps v for k unless a Forget came since the fetch of generation gen started.
func (c *Cache[K, V]) store(k K, v V, gen uint64) {
	keys := append([]K{k}, c.o.Aliases(k, v)...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	now, wall := c.o.Now(), c.o.Wall()
	e := c.index[k]
	if e == nil {
		e = &entry[K, V]{}
		e.elem = c.lru.PushFront(e)
	} else {
		c.lru.MoveToFront(e.elem)
	}
	e.val, e.stored, e.wall, e.life, e.refreshed = v, now, wall, c.o.TTL(k), false
	for _, ak := range keys {
		if old := c.index[ak]; old != nil && old != e {
			c.unlink(old, ak)
		}
		if !slices.Contains(e.keys, ak) {
			e.keys = append(e.keys, ak)
		}
		c.index[ak] = e
	}
	for c.lru.Len() > c.o.Size {
		c.remove(c.lru.Back().Value.(*entry[K, V]))
	}
}

// drop forgets k's entry and all its aliases.
func (c *Cache[K, V]) drop(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.index[k]; e != nil {
		c.remove(e)
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
	e.keys = slices.DeleteFunc(e.keys, func(x K) bool { return x == k })
	if len(e.keys) == 0 {
		c.lru.Remove(e.elem)
		var zero V
		e.val = zero
	}
}

type nopObserver struct{}

func (nopObserver) Hit()         {}
func (nopObserver) Miss()        {}
func (nopObserver) Collapsed()   {}
func (nopObserver) StaleServed() {}

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
	case Refreshed:
		return "refreshed"
	}
	return "unknown"
}
