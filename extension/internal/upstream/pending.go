package upstream

import (
	"context"
	"net/http"
	"sync"

	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// Fetcher is what the cache loads through.
type Fetcher interface {
	Fetch(ctx context.Context, r kinko.Request) (document.Value, error)
}

// Pending stands in for a Fetcher that is still being built (the AWS clients are made after
// the first /event/next, beside the runtime's init). A request that arrives meanwhile waits
// for it instead of failing.
type Pending struct {
	once  sync.Once
	ready chan struct{}
	f     Fetcher
}

// NewPending returns a Pending that is not ready yet.
func NewPending() *Pending { return &Pending{ready: make(chan struct{})} }

// Resolve makes f the answer to every Fetch. Only the first call counts.
func (p *Pending) Resolve(f Fetcher) {
	p.once.Do(func() {
		p.f = f
		close(p.ready)
	})
}

// Fetch waits for the Fetcher, then fetches through it.
func (p *Pending) Fetch(ctx context.Context, r kinko.Request) (document.Value, error) {
	select {
	case <-p.ready:
	case <-ctx.Done():
		return document.Value{}, classify(r.Kind, ctx.Err(), 0)
	}
	return p.f.Fetch(ctx, r)
}

// DropConnections closes the Fetcher's connections, if it is built and has any (a restore).
func (p *Pending) DropConnections() {
	select {
	case <-p.ready:
	default:
		return // not built yet: no connections
	}
	if d, ok := p.f.(interface{ DropConnections() }); ok {
		d.DropConnections()
	}
}

// Source is what the cache loads through: f fetches, home names the other ids an answer goes
// by, and an entry costs what Cost says.
type Source struct {
	Fetcher Fetcher
	Home    *kinko.Home
}

func (s Source) Load(ctx context.Context, r kinko.Request) (document.Value, error) {
	return s.Fetcher.Fetch(ctx, r)
}

func (s Source) Aliases(r kinko.Request, v document.Value) []kinko.Request {
	return s.Home.Aliases(r, v.ARN, v.Name)
}

func (s Source) Cost(r kinko.Request, v document.Value) int { return document.Cost(r, v) }

// Forwarder sends a caller's call to AWS as it came, signed with kinko's credentials
// (Client.Forward).
type Forwarder interface {
	Forward(ctx context.Context, kind kinko.Kind, hdr http.Header, body []byte) (*http.Response, error)
}

// Forward waits for the Fetcher, then forwards through it.
func (p *Pending) Forward(ctx context.Context, kind kinko.Kind, hdr http.Header, body []byte) (*http.Response, error) {
	select {
	case <-p.ready:
	case <-ctx.Done():
		return nil, classify(kind, ctx.Err(), 0)
	}
	f, ok := p.f.(Forwarder)
	if !ok {
		return nil, &kinko.Error{Code: kinko.Internal, Message: "kinko's AWS client cannot forward calls"}
	}
	return f.Forward(ctx, kind, hdr, body)
}
