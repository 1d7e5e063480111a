package server

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The guards in front of the API: what a browser sends is refused (everywhere, Lambda
// included), and outside Lambda the open connections are bounded and a caller that keeps
// failing the token check is refused for a while.

// browserRequest says why r is refused as a browser's request, or "" if it is not one.
//
// A page in a developer's browser can make the browser call http://localhost:2773 directly, or,
// by DNS rebinding, through a name of its own that resolves to 127.0.0.1 (a same-origin request
// then, without Origin, and without the Sec-Fetch-* headers a browser sends only to trustworthy
// origins). The token stops both from reading a value, but kinko need not answer them at all:
//   - Origin: no client that is not a browser sends it;
//   - Sec-Fetch-Site, Sec-Fetch-Dest, Sec-Fetch-User: a browser sends Sec-Fetch-Site with every
//     request to localhost. Sec-Fetch-Mode alone is not refused: Node's built-in fetch sends
//     "sec-fetch-mode: cors" on every request (the compatibility corpus has it from Lambda
//     functions), and a browser never sends it without Sec-Fetch-Site;
//   - a Host that is not a loopback name, on a connection to a loopback address: the rebinding
//     name. A connection to another address (a deliberate non-loopback bind, which needs a
//     dedicated token) or to a Unix socket (no browser reaches one) is not held to it.
func browserRequest(r *http.Request) string {
	hdr := r.Header
	if _, ok := hdr["Origin"]; ok {
		return "a request with an Origin header comes from a browser page, which kinko does not answer; call kinko from your code, not from a page"
	}
	for _, name := range [...]string{"Sec-Fetch-Site", "Sec-Fetch-Dest", "Sec-Fetch-User"} {
		if _, ok := hdr[name]; ok {
			return "a request with a " + name + " header comes from a browser, which kinko does not answer; call kinko from your code, not from a browser"
		}
	}
	if r.Host == "" || loopbackHost(r.Host) || !onLoopback(r) {
		return ""
	}
	return "Host " + strconv.Quote(clipHost(r.Host)) + " is not a loopback name: on a loopback address kinko answers only Host localhost, " +
		"127.0.0.1 or [::1] (another name pointing here is how a web page reaches localhost by DNS rebinding); call http://localhost:<port>"
}

// loopbackHost reports whether host (a Host header, with or without a port) names this machine
// in a way no DNS answer can change: localhost or a name under .localhost (RFC 6761: resolved to
// loopback by the client itself), or an IP literal that is loopback or unspecified (0.0.0.0,
// which some clients dial to reach localhost).
func loopbackHost(host string) bool {
	switch host { // the common spellings first: no parsing on the hot path
	case "localhost", "127.0.0.1", "[::1]":
		return true
	}
	h := host
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		if _, err := strconv.ParseUint(h[i+1:], 10, 16); err == nil || h[i+1:] == "" {
			h = h[:i]
		}
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	a, err := netip.ParseAddr(h)
	if err != nil {
		return false
	}
	a = a.Unmap()
	return a.IsLoopback() || a.IsUnspecified()
}

// onLoopback reports whether r came in on a loopback address.
func onLoopback(r *http.Request) bool {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

func clipHost(h string) string {
	if len(h) > 100 {
		return h[:100] + "..."
	}
	return h
}

// refuse answers a refusal of the guards, which is about the request, not about a value.
func refuse(w http.ResponseWriter, status int, message string) {
	writeError(w, status, "RequestRefused", message)
}

// connection bound

type overLimitKey struct{}

// limitConns makes srv count its open connections: a connection opened while max are open is
// marked, and its request answered 429 (limited, overLimit) and the connection closed.
// Counting connections, not requests, bounds what idle kept-alive connections hold too.
func limitConns(srv *http.Server, bound int) {
	var open atomic.Int64
	var counted sync.Map // net.Conn -> struct{}: each connection is counted down once
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		counted.Store(c, struct{}{})
		if open.Add(1) > int64(bound) {
			return context.WithValue(ctx, overLimitKey{}, bound)
		}
		return ctx
	}
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateClosed || s == http.StateHijacked {
			if _, ok := counted.LoadAndDelete(c); ok {
				open.Add(-1)
			}
		}
	}
}

// limited reports whether r came on a connection opened beyond the bound.
func limited(r *http.Request) bool {
	_, over := r.Context().Value(overLimitKey{}).(int)
	return over
}

// overLimit answers a request on a connection beyond the bound and closes the connection. /ping
// is answered anyway, so a health check does not fail a kinko that is busy, not sick.
func (h *Handler) overLimit(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	if r.URL.Path == "/ping" {
		h.mux.ServeHTTP(w, r)
		return
	}
	bound, _ := r.Context().Value(overLimitKey{}).(int)
	w.Header().Set("Retry-After", "1")
	refuse(w, http.StatusTooManyRequests, "more than "+strconv.Itoa(bound)+
		" client connections are open (max_conn, KINKO_MAX_CLIENT_CONNECTIONS); this one is closed: reuse connections, or raise the bound")
}

// failed token checks

// Throttle counts failed token checks per remote address: after Failures of them without a
// success, the address is refused (429, Retry-After) for Window, doubling with each refusal in
// a row up to MaxWindow. A correct token guessed while refused is never checked, so guessing is
// slowed to Failures tries per window; a success ends the count.
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

// refused returns how long addr is still refused, 0 if it is not.
func (t *Throttle) refused(addr string) time.Duration {
	if !t.any.Load() {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.addrs[addr]
	if !ok {
		return 0
	}
	return max(0, s.until.Sub(t.now()))
}

// failed counts a failed check from addr, refusing it when that makes Failures.
func (t *Throttle) failed(addr string) {
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

// tooManyFailures answers a caller refused by the throttle.
func tooManyFailures(w http.ResponseWriter, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	refuse(w, http.StatusTooManyRequests, "too many requests with a missing or wrong token from this address; kinko refuses it for "+
		strconv.Itoa(secs)+" s: send the right token in "+TokenHeader)
}
