package admission

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func from(t *testing.T, remote string) *http.Request {
	req := httptest.NewRequestWithContext(t.Context(), "GET", "/secretsmanager/get?secretId=app", nil)
	req.RemoteAddr = remote
	return req
}

// After failures failed checks an address is refused for a window that doubles with each
// refusal in a row, up to the maximum; a success ends the count; every port of a host is one
// address, another host is not affected, and a Unix socket's callers are one address. A
// refusal says when to come back in whole seconds, rounded up, and which header takes the token.
func TestThrottleCountsFailuresPerAddress(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	th := NewThrottle("X-Token", 3, time.Second, 4*time.Second, func() time.Time { return now })
	const attacker, other = "192.0.2.7:40000", "192.0.2.8:40000"
	expect := func(what, remote string, want time.Duration) {
		t.Helper()
		why, secs := th.Refused(from(t, remote))
		wantSecs := int((want + time.Second - 1) / time.Second)
		switch {
		case (why == "") != (want == 0) || secs != wantSecs:
			t.Fatalf("%s: refused for %d s (%q), want %s", what, secs, why, want)
		case want > 0 && !strings.Contains(why, "refuses it for "+strconv.Itoa(wantSecs)+" s: send the right token in X-Token"):
			t.Fatalf("%s: refusal %q, want it to say %d s and name X-Token", what, why, wantSecs)
		}
		if got := th.refused(from(t, remote)); got != want {
			t.Fatalf("%s: refused for %s, want %s", what, got, want)
		}
	}
	fail := func(remote string, n int) {
		for range n {
			th.Failed(from(t, remote))
		}
	}
	expect("nobody failed yet", attacker, 0)
	fail(attacker, 2)
	expect("two failures", attacker, 0)
	fail(attacker, 1)
	expect("three failures", attacker, time.Second)
	expect("the same host on another port", "192.0.2.7:40001", time.Second)
	expect("another address", other, 0)
	now = now.Add(400 * time.Millisecond)
	expect("part of the window later", attacker, 600*time.Millisecond)
	now = now.Add(600 * time.Millisecond)
	expect("the window over", attacker, 0)
	fail(attacker, 3)
	expect("a second refusal in a row doubles", attacker, 2*time.Second)
	now = now.Add(2 * time.Second)
	fail(attacker, 3)
	expect("a third", attacker, 4*time.Second)
	now = now.Add(4 * time.Second)
	fail(attacker, 3)
	expect("a fourth stays at the maximum", attacker, 4*time.Second)
	now = now.Add(4 * time.Second)
	th.Succeeded(from(t, attacker))
	fail(attacker, 2)
	th.Succeeded(from(t, attacker))
	fail(attacker, 2)
	expect("a success ended the count and the doubling", attacker, 0)
	fail(attacker, 1)
	expect("a fresh count", attacker, time.Second)

	fail("@", 3) // a Unix socket's caller
	expect("another Unix socket caller", "", time.Second)
}

// The throttle remembers at most maxThrottled addresses: past it, those not refused are
// forgotten first, and a refused one stays refused.
func TestThrottleForgetsPastItsBound(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	th := NewThrottle("X-Token", 2, time.Second, time.Second, func() time.Time { return now })
	const refused = "198.51.100.1:1"
	th.Failed(from(t, refused))
	th.Failed(from(t, refused))
	for i := range maxThrottled - 1 {
		th.Failed(from(t, "10."+strconv.Itoa(i>>16&255)+"."+strconv.Itoa(i>>8&255)+"."+strconv.Itoa(i&255)+":1"))
	}
	if n := len(th.addrs); n != maxThrottled {
		t.Fatalf("%d addresses remembered before the bound, want %d", n, maxThrottled)
	}
	th.Failed(from(t, "203.0.113.1:1"))
	if n := len(th.addrs); n != 2 {
		t.Errorf("%d addresses remembered past the bound, want 2 (the refused one and the newest)", n)
	}
	if got := th.refused(from(t, refused)); got != time.Second {
		t.Errorf("the refused address after the others were forgotten: refused for %s, want 1s", got)
	}
}

// get sends one raw HTTP/1.1 GET over conn, keeping it open, and returns the answer's body.
func get(t *testing.T, conn net.Conn) string {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// A request on a connection opened while bound others are open is over the bound, however
// many requests those carry; once one closes, a new connection is within it again.
func TestConnLimitMarksConnectionsBeyondTheBound(t *testing.T) {
	l := NewConnLimit(2)
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, l.Over(r)) }),
		ReadHeaderTimeout: 5 * time.Second,
	}
	l.Install(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	defer func() { _ = srv.Close(); wg.Wait() }()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := dial(), dial()
	for i, c := range []net.Conn{a, b, a, b} {
		if over := get(t, c); over != "" {
			t.Fatalf("request %d within the bound: refused (%s)", i+1, over)
		}
	}
	// once sends one request on a connection of its own, and closes it.
	once := func() string {
		c := dial()
		defer c.Close()
		return get(t, c)
	}
	if over := once(); !strings.Contains(over, "more than 2 client connections are open") {
		t.Fatalf("beyond the bound: %q, want the refusal naming the bound", over)
	}
	a.Close()
	// The server sees the closes on its own time: poll until a new connection is within the bound.
	deadline := time.Now().Add(10 * time.Second)
	for once() != "" {
		if time.Now().After(deadline) {
			t.Fatal("after a connection closed, a new one is still over the bound")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if over := get(t, b); over != "" {
		t.Fatalf("a kept connection within the bound: refused (%s)", over)
	}
}
