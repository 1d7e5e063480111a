package upstream

import (
	"context"
	"net/http"
	"sync"
)

// Fetcher is what the cache loads through.
type Fetcher interface {
	Fetch(ctx context.Context, r Request) (Value, error)
}

// Pending stands in for a Fetcher that is still being built (AWS configuration loads after
// the first /event/next, beside the runtime's init). A request that arrives meanwhile waits
// for it instead of failing.
type Pending struct {
	once  sync.Once
	ready chan struct{}
	f     Fetcher
	err   error
}

// NewPending returns a Pending that is not ready yet.
func NewPending() *Pending { return &Pending{ready: make(chan struct{})} }

// Resolve makes f (or, when err is set, the failure to build it) the answer to every Fetch.
// Only the first call counts.
func (p *Pending) Resolve(f Fetcher, err error) {
	p.once.Do(func() {
		p.f, p.err = f, err
		close(p.ready)
	})
}

// Fetch waits for the Fetcher, then fetches through it.
func (p *Pending) Fetch(ctx context.Context, r Request) (Value, error) {
	select {
	case <-p.ready:
	case <-ctx.Done():
		return Value{}, classify(r.Kind, ctx.Err(), 0)
	}
	if p.err != nil {
		return Value{}, &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
			Message: "kinko could not load its AWS configuration: " + p.err.Error() + "; check the function's AWS environment", cause: p.err}
	}
	return p.f.Fetch(ctx, r)
}
