package server

import (
	"context"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The limits of a process outside Lambda: a bound on open client connections and a throttle on
// failed token checks. The API reaches them through interfaces (Options.Conns, Options.Gate),
// so a build that never makes one (the Lambda layer's) links none of their code.

// ConnLimit bounds the open client connections of a server (NewConnLimit).
type ConnLimit interface {
	install(srv *http.Server)
	// over answers r and reports true if r came on a connection beyond the bound; /ping is
	// answered by ping.
	over(w http.ResponseWriter, r *http.Request, ping http.Handler) bool
}

// TokenGate watches the token checks of each remote address and may refuse one for a while
// (NewThrottle).
type TokenGate interface {
	// admit reports whether r's address may have its token checked; if not, it has answered r.
	admit(w http.ResponseWriter, r *http.Request) bool
	failed(r *http.Request)
	succeeded(r *http.Request)
}

// NewConnLimit bounds the open client connections at bound (the agent's max_conn): a request on
// a connection opened beyond it is answered 429 and its connection closed, /ping excepted.
// Counting connections, not requests, bounds what idle kept-alive connections hold too.
func NewConnLimit(bound int) ConnLimit { return &connLimit{bound: bound} }

type connLimit struct {
	bound   int
	open    atomic.Int64
	counted sync.Map // net.Conn -> struct{}: each connection is counted down once
}

type overLimitKey struct{}

// install makes srv count its open connections and mark one opened while bound are open.
func (l *connLimit) install(srv *http.Server) {
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		l.counted.Store(c, struct{}{})
		if l.open.Add(1) > int64(l.bound) {
			return context.WithValue(ctx, overLimitKey{}, true)
		}
		return ctx
	}
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateClosed || s == http.StateHijacked {
			if _, ok := l.counted.LoadAndDelete(c); ok {
				l.open.Add(-1)
			}
		}
	}
}

// over answers a request on a marked connection and closes the connection. /ping is answered
// anyway, so a health check does not fail a kinko that is busy, not sick.
func (l *connLimit) over(w http.ResponseWriter, r *http.Request, ping http.Handler) bool {
	if marked, _ := r.Context().Value(overLimitKey{}).(bool); !marked {
		return false
	}
	w.Header().Set("Connection", "close")
	if r.URL.Path == "/ping" {
		ping.ServeHTTP(w, r)
		return true
	}
	w.Header().Set("Retry-After", "1")
	refuse(w, http.StatusTooManyRequests, "more than "+strconv.Itoa(l.bound)+
		" client connections are open (max_conn, KINKO_MAX_CLIENT_CONNECTIONS); this one is closed: reuse connections, or raise the bound")
	return true
}

// Throttle counts failed token checks per remote address: after failures of them without a
// success, the address is refused (429, Retry-After) for a window, doubling with each refusal in
// a row up to a maximum. A correct token guessed while refused is never checked, so guessing is
// slowed to failures tries per window; a success ends the count. Callers that share an address
// (the containers of a pod on 127.0.0.1) share its count.
type Throttle struct {
	failures       int
	window, maxWin time.Duration
	now            func() time.Time
	mu             sync.Mutex
	addrs          map[string]*strikes
	// any is whether addrs holds anything: a success costs no lock while nobody failed.
	any atomic.Bool
}

type strikes struct {
	failed  int
	until   time.Time // refused until then
	refusal int       // refusals in a row: the window doubles with each
}

// maxThrottled bounds the addresses remembered; past it, those not refused are forgotten first.
const maxThrottled = 10_000

// NewThrottle returns a throttle that refuses an address for window after failures failed
// checks, doubling up to maxWindow; now is the clock (time.Now in use).
func NewThrottle(failures int, window, maxWindow time.Duration, now func() time.Time) *Throttle {
	return &Throttle{failures: failures, window: window, maxWin: maxWindow, now: now, addrs: map[string]*strikes{}}
}

// admit answers 429 with Retry-After, and reports false, while r's address is refused.
func (t *Throttle) admit(w http.ResponseWriter, r *http.Request) bool {
	wait := t.refused(r)
	if wait <= 0 {
		return true
	}
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	refuse(w, http.StatusTooManyRequests, "too many requests with a missing or wrong token from this address; kinko refuses it for "+
		strconv.Itoa(secs)+" s: send the right token in "+TokenHeader)
	return false
}

// refused returns how long r's address is still refused, 0 if it is not.
func (t *Throttle) refused(r *http.Request) time.Duration {
	if !t.any.Load() {
		return 0
	}
	addr := remoteKey(r)
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.addrs[addr]
	if !ok {
		return 0
	}
	return max(0, s.until.Sub(t.now()))
}

// failed counts a failed check from r's address, refusing it when that makes failures.
func (t *Throttle) failed(r *http.Request) {
	addr := remoteKey(r)
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.addrs[addr]
	if !ok {
		if len(t.addrs) >= maxThrottled {
			t.forget()
		}
		s = &strikes{}
		t.addrs[addr] = s
		t.any.Store(true)
	}
	s.failed++
	if s.failed < t.failures {
		return
	}
	win := t.window << min(s.refusal, 30)
	if win > t.maxWin || win <= 0 {
		win = t.maxWin
	}
	s.until, s.failed = t.now().Add(win), 0
	s.refusal++
}

// succeeded ends r's address's count.
func (t *Throttle) succeeded(r *http.Request) {
	if !t.any.Load() {
		return
	}
	addr := remoteKey(r)
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.addrs, addr)
	t.any.Store(len(t.addrs) > 0)
}

// forget drops the addresses not refused now, or if all are, all of them: the bound holds
// against a caller with endless addresses, at the cost of forgetting some counts.
func (t *Throttle) forget() {
	now := t.now()
	for a, s := range t.addrs {
		if !s.until.After(now) {
			delete(t.addrs, a)
		}
	}
	if len(t.addrs) >= maxThrottled {
		clear(t.addrs)
	}
}

// remoteKey is the address a throttle counts r under: its IP (every port of one host is one
// caller), or "local" for a Unix socket's callers.
func remoteKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil || host == "" {
		return "local"
	}
	return host
}
