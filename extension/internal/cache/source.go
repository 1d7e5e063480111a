package cache

import (
	"context"
	"errors"
)

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

// How a load's error says what it means (see Source).
type (
	transientError interface{ Transient() bool }
	notFoundError  interface{ NotFound() bool }
	throttledError interface{ Throttled() bool }
)

// transient reports whether err may pass: a stale value may stand in, and the key backs off and
// retries.
func transient(err error) bool {
	var e transientError
	return errors.As(err, &e) && e.Transient()
}

// notFound reports whether err says the value does not exist.
func notFound(err error) bool {
	var e notFoundError
	return errors.As(err, &e) && e.NotFound()
}

// throttled reports whether err says the upstream is over its rate.
func throttled(err error) bool {
	var e throttledError
	return errors.As(err, &e) && e.Throttled()
}
