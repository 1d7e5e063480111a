// Package earlystart registers kinko with Lambda during package initialisation, before the
// AWS SDK's packages initialise.
//
// Lambda starts the function's runtime only once every extension has registered, and ends init
// only once every extension has called /event/next, so what kinko does before those two calls
// is added to every cold start. Go initialises a program's packages in dependency order, and
// among those whose imports are ready, in the order of their import paths; this package imports
// only the standard library's smallest packages and kinko's own configuration, so its init runs
// before net/http, the TLS stack and the SDK's endpoint tables initialise (about half of kinko's
// package initialisation). From there it loads the configuration, binds 127.0.0.1 and [::1],
// registers and sends the first /event/next over raw sockets, and leaves what it settled in the
// process's environment (package handoff) for main, which serves on those sockets and reads its
// first event from that connection. Anything it cannot settle exactly as main would (a bad
// setting, a port in use, an unusual environment) it leaves alone, and main starts as if this
// package did nothing: every init error is still reported by main, with /init/error.
//
// BENCHMARKS.md section 8 measures it; KINKO_EARLY_REGISTER=false turns it off.
package earlystart

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/handoff"
	"github.com/kinko-dev/kinko/extension/internal/jsonfield"
)

func init() {
	// Only what this process's own start settled is handed to main.
	_ = os.Unsetenv(handoff.EnvVar)
	if st, ok := Start(os.Args, os.Getenv); ok {
		_ = os.Setenv(handoff.EnvVar, st.Encode())
	}
}

// apiTimeout bounds each exchange with the Extensions API here; Lambda answers at once, and a
// start that gives up only leaves the registration to main.
const apiTimeout = 2 * time.Second

// Start registers the extension args[0] names and sends its first /event/next, when Lambda
// started it (AWS_LAMBDA_RUNTIME_API is set and it runs from an extensions directory) and the
// environment is one kinko accepts as is. ok is false when it did nothing, having closed
// whatever it had opened.
func Start(args []string, getenv func(string) string) (st handoff.State, ok bool) {
	runtimeAPI := getenv("AWS_LAMBDA_RUNTIME_API")
	if runtimeAPI == "" || len(args) == 0 {
		return handoff.State{}, false
	}
	dir, name := splitPath(args[0])
	if _, parent := splitPath(dir); parent != "extensions" || name == "" {
		return handoff.State{}, false // not started by Lambda as an extension (a test binary, a shell)
	}
	cfg, err := config.Load(getenv)
	if err != nil || !cfg.EarlyRegister || !handoff.Settled(getenv) {
		return handoff.State{}, false
	}
	api, ok := parseIPv4(runtimeAPI)
	if !ok {
		return handoff.State{}, false
	}
	listeners, err := bindLoopback(cfg.Port)
	if err != nil {
		return handoff.State{}, false // main binds again and reports the port, with /init/error
	}
	st, err = register(api, runtimeAPI, name, cfg.Subscriptions())
	if err != nil {
		closeFDs(listeners)
		return handoff.State{}, false
	}
	st.Listeners, st.Next = listeners, -1
	// Provisioned concurrency inits on no one's clock and is frozen after: main warms the cache
	// first and sends /event/next itself (CONTRACT.md section 2).
	if cfg.InitType != config.InitProvisionedConcurrency {
		if fd, err := sendNext(api, runtimeAPI, st.ID); err == nil {
			st.Next = fd
		}
	}
	return st, true
}

// splitPath is path.Split without the trailing slash on dir (this package links no path).
func splitPath(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// parseIPv4 reads host:port where host is a dotted IPv4 address, as Lambda sets
// AWS_LAMBDA_RUNTIME_API; a name would need the resolver, which is main's to use.
func parseIPv4(hostport string) (*syscall.SockaddrInet4, bool) {
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

// bindLoopback listens on 127.0.0.1:port (required) and [::1] on the same port (best effort), as
// main's own listen does. The descriptors belong to no Go object, so nothing closes them before
// main takes them over.
func bindLoopback(port int) ([]int, error) {
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

func closeFDs(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}

// register is POST /register, as extensionsapi.Client.Register sends it.
func register(api *syscall.SockaddrInet4, host, name string, events []string) (handoff.State, error) {
	body := `{"events":["` + strings.Join(events, `","`) + `"]}`
	req := "POST /2020-01-01/extension/register HTTP/1.0\r\nHost: " + host +
		"\r\nLambda-Extension-Name: " + name +
		"\r\nLambda-Extension-Accept-Feature: accountId\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
	fd, err := dial(api)
	if err != nil {
		return handoff.State{}, err
	}
	defer syscall.Close(fd)
	if err := writeAll(fd, req); err != nil {
		return handoff.State{}, err
	}
	raw, err := readAll(fd)
	if err != nil {
		return handoff.State{}, err
	}
	status, id, answer, err := parseAnswer(raw)
	if err != nil {
		return handoff.State{}, err
	}
	if status != 200 || !printable(id) {
		return handoff.State{}, errorString("register: Lambda answered " + strconv.Itoa(status))
	}
	st := handoff.State{ID: id}
	if v, isString, _, err := jsonfield.Field(answer, "functionName"); err == nil && isString && printable(v) {
		st.FunctionName = v
	}
	if v, isString, _, err := jsonfield.Field(answer, "accountId"); err == nil && isString && printable(v) {
		st.AccountID = v
	}
	return st, nil
}

// parseAnswer reads an HTTP/1.x answer to an HTTP/1.0 request: its status, its
// Lambda-Extension-Identifier header and its body.
func parseAnswer(raw []byte) (status int, identifier string, body []byte, err error) {
	head, rest, ok := strings.Cut(string(raw), "\r\n\r\n")
	if !ok {
		return 0, "", nil, errorString("the Extensions API's answer ended before its headers did")
	}
	lines := strings.Split(head, "\r\n")
	proto, statusText, _ := strings.Cut(lines[0], " ")
	code, _, _ := strings.Cut(statusText, " ")
	if status, err = strconv.Atoi(code); !strings.HasPrefix(proto, "HTTP/1.") || err != nil {
		return 0, "", nil, errorString("the Extensions API's answer is not HTTP/1")
	}
	length := -1
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ":")
		switch strings.ToLower(k) {
		case "lambda-extension-identifier":
			identifier = strings.TrimSpace(v)
		case "content-length":
			if length, err = strconv.Atoi(strings.TrimSpace(v)); err != nil || length < 0 || length > len(rest) {
				return 0, "", nil, errorString("the Extensions API's answer has a bad Content-Length")
			}
		}
	}
	if length >= 0 {
		rest = rest[:length]
	}
	return status, identifier, []byte(rest), nil
}

// sendNext sends GET /event/next on a new connection and returns it unanswered: its answer is
// the first event, which main reads.
func sendNext(api *syscall.SockaddrInet4, host, id string) (int, error) {
	fd, err := dial(api)
	if err != nil {
		return -1, err
	}
	// /event/next answers only when the next event comes: no timeout on it from here on.
	var none syscall.Timeval
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &none)
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &none)
	req := "GET /2020-01-01/extension/event/next HTTP/1.0\r\nHost: " + host + "\r\nLambda-Extension-Identifier: " + id + "\r\n\r\n"
	if err := writeAll(fd, req); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// dial connects to the Extensions API; every read, write and the connect itself give up after
// apiTimeout.
func dial(sa *syscall.SockaddrInet4) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	tv := syscall.NsecToTimeval(apiTimeout.Nanoseconds())
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
	for {
		if err = syscall.Connect(fd, sa); err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

func writeAll(fd int, s string) error {
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

// readAll reads to the end of an HTTP/1.0 answer: the server closes the connection after it.
func readAll(fd int) ([]byte, error) {
	var raw []byte
	buf := make([]byte, 4<<10)
	for {
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
		if len(raw) > 64<<10 {
			return nil, errorString("the Extensions API's answer is too long")
		}
	}
}

// printable is true for a non-empty value with no control characters, safe to pass on and log.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return s != ""
}

type errorString string

func (e errorString) Error() string { return string(e) }
