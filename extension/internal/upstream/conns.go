package upstream

import (
	"context"
	"net"
	"net/http"
	"sync"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// httpClient is a client with the SDK's own transport settings (timeouts, TLS 1.2 and up, HTTP/2,
// the proxy from the environment) that kinko can empty of connections (DropConnections): the SDK's
// buildable client keeps its live transport to itself. As the SDK's client, it follows no redirect.
func httpClient(maxConns int, conns *openConns) *http.Client {
	t := awshttp.NewBuildableClient().GetTransport()
	t.MaxConnsPerHost = maxConns
	t.MaxIdleConnsPerHost = maxConns
	t.DialContext = conns.track(t.DialContext)
	conns.mu.Lock()
	conns.idle = append(conns.idle, t.CloseIdleConnections)
	conns.mu.Unlock()
	return &http.Client{Transport: hop{t}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// hop marks kinko's own calls with HopHeader, after the SDK signed them: if an endpoint leads
// back to kinko, kinko sees the mark and refuses the call instead of serving it from a cache
// that is waiting for that very call.
type hop struct{ rt http.RoundTripper }

func (h hop) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context()) // a RoundTripper must not change the request it was given
	r.Header.Set(HopHeader, "1")
	return h.rt.RoundTrip(r)
}

// DropConnections closes every connection to AWS. After a SnapStart restore the pooled ones
// lead nowhere: a call on one fails or hangs, then waits a retry's backoff (up to 2 s at the
// first retry), on the very invoke SnapStart was meant to make fast.
func (c *Client) DropConnections() {
	if c.conns != nil {
		c.conns.closeAll()
	}
}

// openConns is the set of connections a Client's pools hold open, and a way to empty the pools:
// closing an idle connection under the transport would leave it in the pool until the transport
// noticed, and the next call could be written on it and fail.
type openConns struct {
	mu   sync.Mutex
	open map[*trackedConn]struct{}
	idle []func() // each transport's CloseIdleConnections
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (o *openConns) track(dial dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: nc, owner: o}
		o.mu.Lock()
		o.open[tc] = struct{}{}
		o.mu.Unlock()
		return tc, nil
	}
}

func (o *openConns) closeAll() {
	o.mu.Lock()
	idle := append([]func(){}, o.idle...)
	o.mu.Unlock()
	for _, f := range idle {
		f() // out of the pools first, so no call is written on a closed one
	}
	o.mu.Lock()
	all := make([]*trackedConn, 0, len(o.open))
	for tc := range o.open {
		all = append(all, tc)
	}
	o.mu.Unlock()
	for _, tc := range all {
		_ = tc.Close() // one in use: its call fails, and the transport does not pool it again
	}
}

func (o *openConns) count() int { o.mu.Lock(); defer o.mu.Unlock(); return len(o.open) }

// trackedConn leaves its set when closed, by anyone.
type trackedConn struct {
	net.Conn
	owner *openConns
	once  sync.Once
}

func (t *trackedConn) Close() error {
	t.once.Do(func() {
		t.owner.mu.Lock()
		delete(t.owner.open, t)
		t.owner.mu.Unlock()
	})
	return t.Conn.Close()
}
