package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/admission"
)

// Package admission decides who is refused; these tests hold server to answering its refusals,
// through the whole handler: before any route, with server's statuses and headers.

// rawGet sends one raw HTTP/1.1 GET over conn (so Host and header names are exactly the
// client's) and reads the answer.
func rawGet(t *testing.T, conn net.Conn, target string, headers ...string) *http.Response {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + target + " HTTP/1.1\r\n" + strings.Join(headers, "\r\n") + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func dialLoopback(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// What a browser sends is refused before any route, over a real loopback connection, in
// Lambda's handler (NewHandler): an Origin, a Sec-Fetch-Site/Dest/User header, a Host that is
// not a loopback name (DNS rebinding). What real clients send is answered: every loopback
// spelling of Host with or without a port, and Node's fetch's lone "sec-fetch-mode: cors".
func TestBrowserRequestsAreRefusedOnLoopback(t *testing.T) {
	h, _ := newTestHandler(t, newFake(), token)
	srv := httptest.NewServer(h) // 127.0.0.1
	defer srv.Close()
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	tok := TokenHeader + ": " + token
	for _, tc := range []struct {
		name    string
		headers []string
		target  string
		want    int
	}{
		{"Host localhost:port", []string{"Host: localhost:" + port, tok}, "/secretsmanager/get?secretId=app", 200},
		{"Host 127.0.0.1:port", []string{"Host: 127.0.0.1:" + port, tok}, "/secretsmanager/get?secretId=app", 200},
		{"Host [::1]:port", []string{"Host: [::1]:" + port, tok}, "/secretsmanager/get?secretId=app", 200},
		{"Host localhost", []string{"Host: localhost", tok}, "/secretsmanager/get?secretId=app", 200},
		{"Host LOCALHOST.", []string{"Host: LOCALHOST.:" + port, tok}, "/secretsmanager/get?secretId=app", 200},
		{"Host 127.0.0.2", []string{"Host: 127.0.0.2:" + port, tok}, "/secretsmanager/get?secretId=app", 200},
		{"Host 0.0.0.0", []string{"Host: 0.0.0.0:" + port, tok}, "/secretsmanager/get?secretId=app", 200},
		{"Host app.localhost", []string{"Host: app.localhost:" + port, tok}, "/secretsmanager/get?secretId=app", 200},
		{"Node fetch's sec-fetch-mode", []string{"host: localhost:" + port, "x-aws-parameters-secrets-token: " + token, "sec-fetch-mode: cors", "accept-language: *"}, "/secretsmanager/get?secretId=app", 200},
		{"rebinding name", []string{"Host: attacker.example:" + port, tok}, "/secretsmanager/get?secretId=app", 403},
		{"rebinding name, ping", []string{"Host: attacker.example:" + port}, "/ping", 403},
		{"a name resolving here", []string{"Host: myhost:" + port, tok}, "/secretsmanager/get?secretId=app", 403},
		{"Origin", []string{"Host: localhost:" + port, tok, "Origin: https://attacker.example"}, "/secretsmanager/get?secretId=app", 403},
		{"Origin null", []string{"Host: localhost:" + port, "Origin: null"}, "/ping", 403},
		{"Sec-Fetch-Site", []string{"Host: localhost:" + port, tok, "Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: no-cors"}, "/secretsmanager/get?secretId=app", 403},
		{"Sec-Fetch-Dest", []string{"Host: localhost:" + port, "Sec-Fetch-Dest: document"}, "/ping", 403},
		{"Sec-Fetch-User", []string{"Host: localhost:" + port, "sec-fetch-user: ?1"}, "/ping", 403},
	} {
		resp := rawGet(t, dialLoopback(t, srv.Listener.Addr().String()), tc.target, tc.headers...)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if tc.want == 403 && resp.Header.Get("X-Amzn-Errortype") != "RequestRefused" {
			t.Errorf("%s: error type %q, want RequestRefused", tc.name, resp.Header.Get("X-Amzn-Errortype"))
		}
	}
}

// A connection to a non-loopback address (a deliberate bind beyond loopback, which needs a
// dedicated token) or to a Unix socket is not held to a loopback Host: callers there name the
// host they dialled. The other browser headers are refused everywhere.
func TestHostIsCheckedOnlyOnLoopbackConnections(t *testing.T) {
	h, _ := newTestHandler(t, newFake(), token)
	for _, tc := range []struct {
		name  string
		local net.Addr
		hdr   map[string]string
		want  int
	}{
		{"LAN address, its name", &net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 2773}, withToken(), 200},
		{"Unix socket", &net.UnixAddr{Name: "/run/kinko/kinko.sock", Net: "unix"}, withToken(), 200},
		{"loopback", &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 2773}, withToken(), 403},
		{"LAN address, Origin", &net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 2773}, map[string]string{TokenHeader: token, "Origin": "https://a.example"}, 403},
	} {
		req := httptest.NewRequestWithContext(context.WithValue(t.Context(), http.LocalAddrContextKey, tc.local),
			"GET", "/secretsmanager/get?secretId=app", nil)
		req.Host = "kinko.internal:2773"
		for k, v := range tc.hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, rec.Code, tc.want)
		}
	}
}

// After Failures failed token checks an address is refused, even with the right token, with
// 429 and Retry-After, for a window that doubles with each refusal in a row; a success ends the
// count; another address is not affected.
func TestThrottleRefusesAnAddressAfterFailedChecks(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	h := NewHandlerWith(newFake(), token, slog.New(slog.DiscardHandler), Options{Gate: admission.NewThrottle(TokenHeader, 3, time.Second, 4*time.Second, clock)})
	get := func(remote, tok string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(t.Context(), "GET", "/secretsmanager/get?secretId=app", nil)
		req.RemoteAddr = remote
		if tok != "" {
			req.Header.Set(TokenHeader, tok)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	const attacker, other = "192.0.2.7:40000", "192.0.2.8:40000"
	expect := func(what string, rec *httptest.ResponseRecorder, status int, retry string) {
		t.Helper()
		if rec.Code != status || rec.Header().Get("Retry-After") != retry {
			t.Fatalf("%s: %d Retry-After %q, want %d %q (%s)", what, rec.Code, rec.Header().Get("Retry-After"), status, retry, shown(rec.Body.String()))
		}
	}
	for i := range 3 {
		expect("failure "+strconv.Itoa(i+1), get(attacker, "guess"), 401, "")
	}
	expect("right token while refused", get(attacker, token), 429, "1")
	expect("the same host on another port", get("192.0.2.7:40001", token), 429, "1")
	expect("another address", get(other, token), 200, "")
	now = now.Add(time.Second)
	for range 2 {
		expect("failure after the window", get(attacker, ""), 401, "")
	}
	expect("third failure after the window", get(attacker, "guess"), 401, "")
	expect("second refusal doubles", get(attacker, token), 429, "2")
	now = now.Add(2 * time.Second)
	expect("right token after the window", get(attacker, token), 200, "")
	for range 2 {
		expect("failures after a success", get(attacker, "guess"), 401, "")
	}
	expect("a success ended the count", get(attacker, token), 200, "")
}

// At most MaxConns connections are served; a request on one more is answered 429 and its
// connection closed (a ping is answered), and once a connection closes, a new one is served.
func TestConnectionBound(t *testing.T) {
	o := Options{Conns: admission.NewConnLimit(2)}
	srv := NewHTTPServerWith(NewHandlerWith(newFake(), token, slog.New(slog.DiscardHandler), o), slog.New(slog.DiscardHandler), o)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(l) })
	defer func() { _ = srv.Close(); wg.Wait() }()
	addr := l.Addr().String()
	headers := []string{"Host: localhost", TokenHeader + ": " + token}
	a, b := dialLoopback(t, addr), dialLoopback(t, addr)
	for _, c := range []net.Conn{a, b} {
		if resp := rawGet(t, c, "/secretsmanager/get?secretId=app", headers...); resp.StatusCode != 200 {
			t.Fatalf("within the bound: %d", resp.StatusCode)
		}
	}
	over := dialLoopback(t, addr)
	resp := rawGet(t, over, "/secretsmanager/get?secretId=app", headers...)
	if resp.StatusCode != 429 || !resp.Close || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("beyond the bound: %d, closing %t, Retry-After %q", resp.StatusCode, resp.Close, resp.Header.Get("Retry-After"))
	}
	if resp := rawGet(t, dialLoopback(t, addr), "/ping", "Host: localhost"); resp.StatusCode != 200 {
		t.Fatalf("a ping beyond the bound: %d", resp.StatusCode)
	}
	if resp := rawGet(t, a, "/secretsmanager/get?secretId=app", headers...); resp.StatusCode != 200 {
		t.Fatalf("a kept connection within the bound: %d", resp.StatusCode)
	}
	a.Close()
	// The server sees the close on its own time: poll until a new connection is served.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := rawGet(t, dialLoopback(t, addr), "/secretsmanager/get?secretId=app", headers...)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a connection closed, a new one still gets %d", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
