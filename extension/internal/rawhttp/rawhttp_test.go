package rawhttp

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestParseIPv4(t *testing.T) {
	for in, ok := range map[string]bool{
		"127.0.0.1:9001": true, "169.254.100.1:9001": true,
		"localhost:9001": false, "127.0.0.1": false, "127.0.0.1:0": false, "1.2.3:9": false,
		"01.2.3.4:9": false, "256.1.1.1:9": false, "[::1]:9001": false, "": false,
	} {
		if _, got := ParseIPv4(in); got != ok {
			t.Errorf("ParseIPv4(%q) = %v, want %v", in, got, ok)
		}
	}
}

func TestParse(t *testing.T) {
	a, err := Parse([]byte("HTTP/1.0 200 OK\r\nLambda-Extension-Identifier: abc\r\ncontent-type:  text/plain \r\nContent-Length: 2\r\n\r\n{}tail"))
	if err != nil || a.Status != 200 || a.Header("lambda-extension-identifier") != "abc" || a.Header("Content-Type") != "text/plain" ||
		string(a.Body) != "{}" || a.Header("Location") != "" {
		t.Errorf("Parse = %+v %v", a, err)
	}
	if a, err := Parse([]byte("HTTP/1.1 404 Not Found\r\n\r\nto the end")); err != nil || a.Status != 404 || string(a.Body) != "to the end" {
		t.Errorf("no Content-Length: %+v %v, want the body to the end", a, err)
	}
	for raw, want := range map[string]error{
		"HTTP/1.0 200 OK\r\n":                                            ErrUnfinished,
		"SSH-2.0\r\n\r\n":                                                ErrNotHTTP,
		"HTTP/1.1 99 Low\r\n\r\n":                                        ErrNotHTTP,
		"HTTP/1.0 200 OK\r\nContent-Length: x\r\n\r\n{}":                 ErrLength,
		"HTTP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n{}":                ErrLength,
		"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\n{}":                 ErrShort,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n": ErrEncoded,
	} {
		if _, err := Parse([]byte(raw)); !errors.Is(err, want) {
			t.Errorf("Parse(%q) = %v, want %v", raw, err, want)
		}
	}
	// With ErrShort the answer so far comes back, for the caller's message.
	if a, err := Parse([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")); err != ErrShort || len(a.Body) != 5 || a.Header("Content-Length") != "100" {
		t.Errorf("cut short: %+v %v", a, err)
	}
}

func TestRequest(t *testing.T) {
	got := Request("POST", "/r", "h:1", []string{"A: b", "C: d"}, "{}")
	if want := "POST /r HTTP/1.0\r\nHost: h:1\r\nA: b\r\nC: d\r\nContent-Length: 2\r\n\r\n{}"; got != want {
		t.Errorf("Request = %q, want %q", got, want)
	}
	if got, want := Request("GET", "/n", "h", nil, ""), "GET /n HTTP/1.0\r\nHost: h\r\n\r\n"; got != want {
		t.Errorf("Request = %q, want %q", got, want)
	}
}

// serveOnce accepts one connection on a loopback listener, reads the request and answers with
// answer (or holds the connection when hold is set), then closes it.
func serveOnce(t *testing.T, answer string, hold bool) (*syscall.SockaddrInet4, <-chan string) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		c, err := l.Accept()
		if err != nil {
			got <- ""
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 4096)
		n, _ := c.Read(b)
		got <- string(b[:n])
		if hold {
			_, _ = c.Read(make([]byte, 1)) // until the client gives up
			return
		}
		_, _ = io.WriteString(c, answer)
	})
	sa, _ := ParseIPv4(l.Addr().String())
	return sa, got
}

func TestExchange(t *testing.T) {
	sa, got := serveOnce(t, "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", false)
	fd, err := Dial(sa, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := Send(fd, Request("GET", "/x", "h", nil, "")); err != nil {
		t.Fatal(err)
	}
	raw, err := Receive(fd, 1<<10, time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if a, err := Parse(raw); err != nil || string(a.Body) != "hello" {
		t.Errorf("answer %+v %v", a, err)
	}
	if req := <-got; !strings.HasPrefix(req, "GET /x HTTP/1.0\r\n") {
		t.Errorf("server read %q", req)
	}
}

// Every wait is bounded: a server that never answers times the read out, and an answer past
// the limit is cut off.
func TestReceiveIsBounded(t *testing.T) {
	t.Run("silent", func(t *testing.T) {
		sa, _ := serveOnce(t, "", true)
		fd, err := Dial(sa, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fd)
		if err := Send(fd, "GET / HTTP/1.0\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := Receive(fd, 1<<10, time.Time{}); !IsTimeout(err) {
			t.Errorf("Receive from a silent server: %v, want a timeout", err)
		}
	})
	t.Run("too long", func(t *testing.T) {
		sa, _ := serveOnce(t, "HTTP/1.0 200 OK\r\n\r\n"+strings.Repeat("x", 4<<10), false)
		fd, err := Dial(sa, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fd)
		_ = Send(fd, "GET / HTTP/1.0\r\n\r\n")
		if _, err := Receive(fd, 1<<10, time.Time{}); err != ErrTooLong {
			t.Errorf("Receive past the limit: %v, want ErrTooLong", err)
		}
	})
	t.Run("deadline passed", func(t *testing.T) {
		sa, _ := serveOnce(t, "HTTP/1.0 200 OK\r\n\r\n", false)
		fd, err := Dial(sa, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fd)
		if _, err := Receive(fd, 1<<10, time.Now().Add(-time.Second)); err != ErrTimeout {
			t.Errorf("Receive after its deadline: %v, want ErrTimeout", err)
		}
	})
}

// ListenLoopback binds 127.0.0.1 and, where the host has it, [::1] on one port; both accept.
func TestListenLoopback(t *testing.T) {
	fds, err := ListenLoopback(0)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseAll(fds)
	sa, err := syscall.Getsockname(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	v4 := sa.(*syscall.SockaddrInet4)
	if v4.Addr != [4]byte{127, 0, 0, 1} || v4.Port == 0 {
		t.Fatalf("first listener on %v:%d, want 127.0.0.1 and a port", v4.Addr, v4.Port)
	}
	addrs := []string{"127.0.0.1:" + strconv.Itoa(v4.Port)}
	if len(fds) == 2 {
		sa6, err := syscall.Getsockname(fds[1])
		if err != nil {
			t.Fatal(err)
		}
		if v6 := sa6.(*syscall.SockaddrInet6); v6.Addr != [16]byte{15: 1} || v6.Port != v4.Port {
			t.Fatalf("second listener on %v:%d, want [::1] on port %d", v6.Addr, v6.Port, v4.Port)
		}
		addrs = append(addrs, "[::1]:"+strconv.Itoa(v4.Port))
	}
	for _, a := range addrs {
		c, err := net.DialTimeout("tcp", a, 5*time.Second)
		if err != nil {
			t.Errorf("%s does not accept: %v", a, err)
			continue
		}
		c.Close()
	}
	// The port is taken now: binding it again fails, and leaves nothing open.
	if again, err := ListenLoopback(v4.Port); err == nil {
		CloseAll(again)
		t.Error("a second ListenLoopback on the same port succeeded")
	}
}
