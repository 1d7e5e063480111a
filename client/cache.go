package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// DefaultCacheSize is how many answers a Client keeps in memory at most: a function reads a
// few secrets, so a small bound is plenty and keeps the memory a sandbox gives it small.
const DefaultCacheSize = 64

// WithCacheSize sets how many answers the client keeps in memory (default DefaultCacheSize);
// 0 switches the client's cache off, so every call goes to the extension.
func WithCacheSize(n int) Option {
	return func(c *Client) error {
		if n < 0 {
			return fmt.Errorf("kinko: cache size %d is negative: pass 0 to switch the client cache off, or a bound like 64", n)
		}
		c.cacheSize = n
		return nil
	}
}

// WithoutCache switches the client's in-memory cache off: every call goes to the extension.
func WithoutCache() Option { return WithCacheSize(0) }

// WithClock sets the clock the client's cache judges freshness by (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *Client) error {
		if now == nil {
			return errors.New("kinko: WithClock(nil): pass a clock like time.Now or leave the option out")
		}
		c.now = now
		return nil
	}
}

type kind uint8

const (
	kindSecret kind = iota + 1
	kindSecretKey
	kindParameter
)

// cacheKey is everything that makes a request, refreshNow aside: two calls with equal keys
// send the same query. Strings and numbers only, so a lookup allocates nothing.
type cacheKey struct {
	kind    kind
	id      string // secretId or parameter name
	stage   string // versionStage, or a parameter's label
	version string // versionId
	pver    int64  // a parameter's version (0: none)
	jsonKey string
	decrypt bool
}

// flightKey names k for the singleflight group: every field, quoted, so no two keys share a name.
func (k cacheKey) flightKey() string {
	return fmt.Sprintf("%d %q %q %q %d %q %t", k.kind, k.id, k.stage, k.version, k.pver, k.jsonKey, k.decrypt)
}

// callerLeft wraps the error of a shared request that ended because the context of the
// caller who made it ended: its own error, but for the other callers no answer at all.
type callerLeft struct{ err error }

func (e *callerLeft) Error() string { return e.err.Error() }

// fetch answers a miss of k with get (a request to kinko that also keeps the answer). With the
// client's cache on, concurrent misses of one key share one request (singleflight): it runs
// in the group's goroutine under the ctx of the caller who started it, so it ends with that
// ctx or the client's timeout, and each caller waits for it as long as its own ctx lets it.
// When the caller who started it leaves, the others ask again rather than fail with another
// caller's cancellation. A refreshNow is never shared (an answer to a request from before it
// asked must not answer it), nor is any call with the cache off (WithoutCache: every call goes
// to the extension). shared says other callers got the same answer: copy what may change.
func fetch[T any](c *Client, ctx context.Context, k cacheKey, refresh bool, what string, get func(context.Context) (T, error)) (v T, shared bool, err error) {
	if c.cache == nil || refresh {
		v, err = get(ctx)
		return v, false, err
	}
	key := k.flightKey()
	for {
		done := c.flights.DoChan(key, func() (any, error) {
			v, err := get(ctx)
			if err != nil && ctx.Err() != nil {
				return nil, &callerLeft{err}
			}
			return v, err
		})
		select {
		case <-ctx.Done():
			return v, false, fmt.Errorf("kinko: %s: %w", what, context.Cause(ctx))
		case r := <-done:
			if left, ok := r.Err.(*callerLeft); ok {
				if ctx.Err() == nil {
					continue // another caller's request, and that caller left: ask again
				}
				return v, false, left.err
			}
			if r.Err != nil {
				return v, false, r.Err
			}
			return r.Val.(T), r.Shared, nil
		}
	}
}

// cached looks k up in the client's cache, unless the call bypasses it; a refreshNow call
// drops what was kept. sent is the time to store the answer under.
func (c *Client) cached(k cacheKey, refresh bool) (value any, left time.Duration, sent time.Time, ok bool) {
	if c.cache == nil {
		return nil, 0, time.Time{}, false
	}
	now := c.now()
	if refresh {
		c.cache.Drop(k, now)
		return nil, 0, now, false
	}
	value, left, ok = c.cache.Get(k, now)
	return value, left, now, ok
}

// keep stores an answer sent at sent (from cached) in the client's cache, if kinko's
// Cache-Status allows it.
func (c *Client) keep(k cacheKey, sent time.Time, hdr http.Header, value any) {
	if c.cache != nil {
		c.cache.Put(k, sent, hdr.Values("Cache-Status"), value)
	}
}

// clientStatus is the Cache-Status of an answer served from the client's memory.
func clientStatus(left time.Duration) string {
	return "client; hit; ttl=" + strconv.FormatInt(int64(left/time.Second), 10)
}
