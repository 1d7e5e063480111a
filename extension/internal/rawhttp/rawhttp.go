// Package rawhttp speaks just enough HTTP/1.0 over raw sockets for the code that runs before
// net/http initialises (package earlystart, registering with Lambda during package
// initialisation) or without it at all (kinko-exec, on every cold start of the functions that
// use it): one request per connection, an answer read to its end, loopback listeners bound by
// hand.
//
// It imports no net, net/http or fmt on purpose: each would initialise before earlystart and
// add to kinko-exec's size and start (TestEarlyStartLinksLittle, TestWrapperLinksLittle).
// HTTP/1.0 keeps the answers simple: the server closes the connection after one, and never
// sends it chunked.
package rawhttp

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Errors of Parse and Receive. Callers word them for their own reader.
var (
	// ErrUnfinished: the answer ended before its headers did.
	ErrUnfinished = errors.New("the answer ended before its headers did")
	// ErrNotHTTP: the first line is not an HTTP/1.x status line.
	ErrNotHTTP = errors.New("the answer is not HTTP/1.x")
	// ErrLength: the Content-Length header is not a length.
	ErrLength = errors.New("the answer has a bad Content-Length")
	// ErrShort: the body is shorter than its Content-Length.
	ErrShort = errors.New("the answer was cut short")
	// ErrEncoded: the answer has a Transfer-Encoding, which no answer to HTTP/1.0 may have.
	ErrEncoded = errors.New("the answer to an HTTP/1.0 request has a Transfer-Encoding, which HTTP/1.0 does not allow")
	// ErrTooLong: the answer is longer than the limit given to Receive.
	ErrTooLong = errors.New("the answer is longer than the limit")
	// ErrTimeout: the deadline given to Receive passed.
	ErrTimeout = errors.New("timed out")
)

// Answer is an HTTP/1.x answer.
type Answer struct {
	Status int
	Body   []byte
	header []string // name, value, name, value...
}

// Header is the value of the answer's first header called name (in any case), or "".
func (a Answer) Header(name string) string {
	for i := 0; i+1 < len(a.header); i += 2 {
		if equalFold(a.header[i], name) {
			return a.header[i+1]
		}
	}
	return ""
}

// equalFold is strings.EqualFold for ASCII, which header names are; it links no Unicode tables.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Parse reads a whole HTTP/1.x answer to an HTTP/1.0 request. With ErrShort and ErrEncoded it
// returns the answer as far as it goes too (status, headers, the body that came), for the
// caller's message.
func Parse(raw []byte) (Answer, error) {
	head, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		return Answer{}, ErrUnfinished
	}
	lines := strings.Split(string(head), "\r\n")
	proto, rest, _ := strings.Cut(lines[0], " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "HTTP/1.") || err != nil || status < 100 || status > 999 {
		return Answer{}, ErrNotHTTP
	}
	a := Answer{Status: status, header: make([]string, 0, 2*(len(lines)-1))}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ":")
		a.header = append(a.header, strings.TrimSpace(k), strings.TrimSpace(v))
	}
	a.Body = body
	if a.Header("Transfer-Encoding") != "" {
		return a, ErrEncoded
	}
	if v := a.Header("Content-Length"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return Answer{}, ErrLength
		}
		if len(body) < n {
			return a, ErrShort
		}
		a.Body = body[:n]
	}
	return a, nil
}

// Request is an HTTP/1.0 request: the request line, Host, each of header ("Name: value"), and
// body (with its Content-Length when there is one).
func Request(method, target, host string, header []string, body string) string {
	req := method + " " + target + " HTTP/1.0\r\nHost: " + host + "\r\n"
	for _, h := range header {
		req += h + "\r\n"
	}
	if body != "" {
		req += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
	}
	return req + "\r\n" + body
}

// Dial connects a new TCP socket to sa. Every read, write and the connect itself give up after
// timeout (0: never). A connect interrupted by a signal is tried again on a new socket.
func Dial(sa syscall.Sockaddr, timeout time.Duration) (int, error) {
	family := syscall.AF_INET
	if _, ok := sa.(*syscall.SockaddrInet6); ok {
		family = syscall.AF_INET6
	}
	for {
		fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		SetTimeout(fd, timeout)
		err = syscall.Connect(fd, sa)
		if err == nil {
			return fd, nil
		}
		syscall.Close(fd)
		// After EINTR the connect goes on in the kernel, and a second connect on the same
		// socket only says so (EALREADY): start again.
		if err != syscall.EINTR {
			return -1, err
		}
	}
}

// SetTimeout bounds every later read and write on fd by d (0: no bound).
func SetTimeout(fd int, d time.Duration) {
	var tv syscall.Timeval
	if d > 0 {
		tv = syscall.NsecToTimeval(d.Nanoseconds())
	}
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
}

// Send writes all of s to fd.
func Send(fd int, s string) error {
	for b := []byte(s); len(b) > 0; {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// Receive reads from fd to the end of the answer (the server closes the connection after an
// answer to HTTP/1.0). It gives up with ErrTooLong past limit bytes, and with ErrTimeout when
// deadline (if not zero) has passed between two reads; a read that times out on the socket's
// own timeout (SetTimeout) returns EAGAIN.
func Receive(fd, limit int, deadline time.Time) ([]byte, error) {
	var raw []byte
	buf := make([]byte, 32<<10)
	for {
		if !deadline.IsZero() && time.Now().After(deadline) {
			return nil, ErrTimeout
		}
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return raw, nil
		}
		raw = append(raw, buf[:n]...)
		if len(raw) > limit {
			return nil, ErrTooLong
		}
	}
}

// IsTimeout reports whether err is a deadline or a socket timeout passing.
func IsTimeout(err error) bool {
	return err == ErrTimeout || err == syscall.EAGAIN || err == syscall.EWOULDBLOCK ||
		err == syscall.EINPROGRESS || err == syscall.ETIMEDOUT
}

// ListenLoopback listens on 127.0.0.1:port (required) and [::1] on the same port (best
// effort: on Lambda "localhost" may resolve to ::1 first), as kinko's own listen does with
// package net; port 0 picks a free one for both. The descriptors belong to no Go object, so
// nothing closes them behind the caller's back.
func ListenLoopback(port int) ([]int, error) {
	l4, err := listenOn(syscall.AF_INET, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
	if err != nil {
		return nil, err
	}
	if port == 0 {
		sa, err := syscall.Getsockname(l4)
		if err != nil {
			syscall.Close(l4)
			return nil, err
		}
		port = sa.(*syscall.SockaddrInet4).Port
	}
	l6, err := listenOn(syscall.AF_INET6, &syscall.SockaddrInet6{Port: port, Addr: [16]byte{15: 1}})
	if err != nil {
		return []int{l4}, nil
	}
	return []int{l4, l6}, nil
}

func listenOn(family int, sa syscall.Sockaddr) (int, error) {
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	// As Go's net.Listen: reuse a port in TIME_WAIT, and [::1] for IPv6 only.
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if family == syscall.AF_INET6 {
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 1)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	// The kernel caps the backlog at net.core.somaxconn, as it does Go's.
	if err := syscall.Listen(fd, 4096); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// CloseAll closes every descriptor of fds.
func CloseAll(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}

// ParseIPv4 reads host:port where host is a dotted IPv4 address (as Lambda sets
// AWS_LAMBDA_RUNTIME_API); a name would need the resolver, which package net has.
func ParseIPv4(hostport string) (*syscall.SockaddrInet4, bool) {
	host, port, ok := strings.Cut(hostport, ":")
	if !ok {
		return nil, false
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return nil, false
	}
	sa := &syscall.SockaddrInet4{Port: p}
	parts := strings.Split(host, ".")
	if len(parts) != 4 {
		return nil, false
	}
	for i, s := range parts {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 255 || s == "" || (len(s) > 1 && s[0] == '0') {
			return nil, false
		}
		sa.Addr[i] = byte(n)
	}
	return sa, true
}
