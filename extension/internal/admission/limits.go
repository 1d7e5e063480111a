package admission

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
// failed token checks. Only package daemon makes them; package server reaches them through its
// own interfaces (server.Options' Conns and Gate), so the Lambda layer's build links neither.

// ConnLimit bounds the open client connections of a server: a request on a connection opened
// beyond the bound is refused (Over). Counting connections, not requests, bounds what idle
// kept-alive connections hold too.
type ConnLimit struct {
	bound   int
	open    atomic.Int64
	counted sync.Map // net.Conn -> struct{}: each connection is counted down once
}

// NewConnLimit bounds the open client connections at bound (the agent's max_conn).
func NewConnLimit(bound int) *ConnLimit { return &ConnLimit{bound: bound} }

type overLimitKey struct{}

// Install makes srv count its open connections and mark one opened while bound are open.
func (l *ConnLimit) Install(srv *http.Server) {
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

// Over says why r is refused, or "" if its connection was opened within the bound. The server
// answers the refusal and closes the connection (a health check it may answer anyway: kinko is
// busy, not sick).
func (l *ConnLimit) Over(r *http.Request) string {
	if marked, _ := r.Context().Value(overLimitKey{}).(bool); !marked {
		return ""
	}
	return "more than " + strconv.Itoa(l.bound) +
		" client connections are open (max_conn, KINKO_MAX_CLIENT_CONNECTIONS); this one is closed: reuse connections, or raise the bound"
}

// Throttle counts failed token checks per remote address: after failures of them without a
// success, the address is refused (Refused; the server answers 429 with Retry-After) for a
// window, doubling with each refusal in a row up to a maximum. A correct token guessed while
// refused is never checked, so guessing is slowed to failures tries per window; a success ends
// the count. Callers that share an address (the containers of a pod on 127.0.0.1) share its
// count.
type Throttle struct {
	header         string // the token header its refusals name
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
// checks, doubling up to maxWindow; now is the clock (time.Now in use). Its refusals tell the
// caller to send the right token in header.
func NewThrottle(header string, failures int, window, maxWindow time.Duration, now func() time.Time) *Throttle {
	return &Throttle{header: header, failures: failures, window: window, maxWin: maxWindow, now: now, addrs: map[string]*strikes{}}
}

// Refused says why r's address may not have its token checked now, and in how many seconds to
// come back; "" while it may.
func (t *Throttle) Refused(r *http.Request) (why string, retryAfter int) {
	wait := t.refused(r)
	if wait <= 0 {
		return "", 0
	}
	secs := int(math.Ceil(wait.Seconds()))
	return "too many requests with a missing or wrong token from this address; kinko refuses it for " +
		strconv.Itoa(secs) + " s: send the right token in " + t.header, secs
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

// Failed counts a failed check from r's address, refusing it when that makes failures.
func (t *Throttle) Failed(r *http.Request) {
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

// Succeeded ends r's address's count.
func (t *Throttle) Succeeded(r *http.Request) {
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
