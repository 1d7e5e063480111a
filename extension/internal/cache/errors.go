package cache

import (
	"context"
	"errors"
	"time"
)

// The cache's own errors: what a caller gets when the cache, not the upstream, ends its wait.
// The server says what each means for the request (kinko's ExtensionShuttingDown, a timeout
// naming the service), so the cache needs no callback to word them.
var (
	// ErrCallerGone is returned when the caller's context ended before its answer was ready:
	// the caller hung up, which is neither an upstream failure nor kinko shutting down.
	ErrCallerGone = errors.New("the caller went away before the answer was ready")
	// ErrClosed is what a caller still waiting when the cache closes (SHUTDOWN) gets.
	ErrClosed = errors.New("the cache is closed")
)

// GaveUpError is what a caller without a value gets when its budget (Options.Budget) ran out
// while the attempt it waited on was still in flight: no failure had been heard of yet (one
// that had is returned instead). It is a deadline: errors.Is(err, context.DeadlineExceeded).
type GaveUpError struct {
	Waited time.Duration // the budget
}

func (e *GaveUpError) Error() string {
	return "no answer from the upstream within " + e.Waited.String()
}

func (e *GaveUpError) Unwrap() error { return context.DeadlineExceeded }

func callerGone(ctx context.Context) error {
	return errors.Join(ErrCallerGone, context.Cause(ctx))
}
