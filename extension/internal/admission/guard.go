// Package admission decides who kinko lets in, before any route and whatever the request asks:
// what a browser sends is refused everywhere, Lambda included (guard.go); outside Lambda the open
// client connections are bounded and an address that keeps failing the token check is refused
// for a while (limits.go). It only says why, and for how long, a request is refused: package
// server answers it (the statuses and headers are server's), and reaches the limits through
// interfaces of its own (server.Options), so a build that never makes one (the Lambda layer's)
// links none of their code.
package admission

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// BrowserRequest says why r is refused as a browser's request, or "" if it is not one. Package
// server asks it of every request before any route, /ping included.
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
func BrowserRequest(r *http.Request) string {
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
	h := host
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		if _, err := strconv.ParseUint(h[i+1:], 10, 16); err == nil || h[i+1:] == "" {
			h = h[:i]
		}
	}
	// The common spellings first, without their port (clients send one: localhost:2773), so a
	// request from a function takes no further parsing; the rest of this function accepts them too.
	switch h {
	case "localhost", "127.0.0.1", "[::1]":
		return true
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if h == "" || (h[0] < '0' || h[0] > '9') && !strings.Contains(h, ":") {
		return false // a name: not parsed as an address (a failed parse allocates its error)
	}
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
