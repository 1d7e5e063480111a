package main

import (
	"io"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/handoff"
)

// launchFlag is what /opt/extensions/kinko's first line passes: `#!/opt/kinko-exec --extension`.
const launchFlag = "--extension"

// kinkod is the extension proper, relative to this binary's directory (the layer's root, /opt).
const kinkod = "kinko/kinkod"

// apiTimeout bounds each exchange with the Extensions API before the handoff; Lambda answers at
// once, and a launcher that gives up only hands the start to kinkod.
const apiTimeout = 2 * time.Second

// launch is kinko's start up to its first /event/next, done by this small binary rather than by
// kinkod, whose AWS SDK and larger image take about twice as long to load (BENCHMARKS.md section
// 8): it settles the configuration, binds the port, registers and sends /event/next, then execs
// kinkod with all of it (package handoff). What it cannot settle exactly as kinkod would, it
// leaves to kinkod by exec'ing it without a handoff, so kinkod reports every init error itself.
// args are [this binary, launchFlag, the extension's path]. It returns only if exec failed.
func launch(args, environ []string, stderr io.Writer, exec execFunc) int {
	if len(args) < 3 {
		say(stderr, launchFlag+" is for the first line of the layer's extensions/kinko (`#!/opt/kinko-exec "+launchFlag+"`), which names the extension")
		return exitUsage
	}
	self, ext := args[0], args[2]
	target := kinkod
	if i := strings.LastIndexByte(self, '/'); i >= 0 {
		target = self[:i+1] + kinkod
	}
	start := func(argv []string) int {
		err := exec(target, argv, environ)
		say(stderr, "cannot start the extension "+target+": "+err.Error()+"; the layer is incomplete: deploy it again (`make layer`)")
		if err == syscall.ENOENT {
			return exitNotFound
		}
		return exitCannotRun
	}
	alone := func() int { return start([]string{ext}) }

	getenv := func(k string) string { return lookup(environ, k) }
	cfg, err := config.Load(getenv)
	if err != nil || !handoff.Settled(getenv) {
		return alone()
	}
	api, ok := parseIPv4(getenv("AWS_LAMBDA_RUNTIME_API"))
	if !ok {
		return alone()
	}
	listeners, err := bindLoopback(cfg.Port)
	if err != nil {
		return alone() // kinkod binds again and reports the port, with /init/error
	}
	name := ext[strings.LastIndexByte(ext, '/')+1:]
	st, err := register(api, getenv("AWS_LAMBDA_RUNTIME_API"), name, cfg.Subscriptions())
	if err != nil {
		closeFDs(listeners)
		return alone()
	}
	st.Listeners, st.Next = listeners, -1
	// Provisioned concurrency inits on no one's clock and is frozen after: kinkod warms the
	// cache first and sends /event/next itself (CONTRACT.md section 2).
	if cfg.InitType != config.InitProvisionedConcurrency {
		if fd, err := sendNext(api, getenv("AWS_LAMBDA_RUNTIME_API"), st.ID); err == nil {
			st.Next = fd
		}
	}
	return start(st.Args(ext))
}

// parseIPv4 reads host:port where host is a dotted IPv4 address, as Lambda sets
// AWS_LAMBDA_RUNTIME_API; a name would need a resolver, which is kinkod's to have.
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

// bindLoopback listens on 127.0.0.1:port (required) and [::1] on the same port (best effort),
// as kinkod's own listen does. The sockets are not close-on-exec: kinkod inherits them.
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
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM, 0)
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

// register is POST /register, as kinkod's extensionsapi.Client.Register sends it.
func register(api *syscall.SockaddrInet4, host, name string, events []string) (handoff.State, error) {
	body := `{"events":["` + strings.Join(events, `","`) + `"]}`
	req := "POST /2020-01-01/extension/register HTTP/1.0\r\nHost: " + host +
		"\r\nLambda-Extension-Name: " + name +
		"\r\nLambda-Extension-Accept-Feature: accountId\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
	fd, err := dial(api, true)
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
	a, err := parseAnswer(raw)
	if err != nil {
		return handoff.State{}, err
	}
	if a.status != 200 || !printable(a.identifier) {
		return handoff.State{}, errorString("register: Lambda answered " + strconv.Itoa(a.status))
	}
	st := handoff.State{ID: a.identifier}
	if v, isString, _, err := field(a.body, "functionName"); err == nil && isString && printable(v) {
		st.FunctionName = v
	}
	if v, isString, _, err := field(a.body, "accountId"); err == nil && isString && printable(v) {
		st.AccountID = v
	}
	return st, nil
}

// sendNext sends GET /event/next on a new connection and returns it unanswered: the answer is
// the first event, read by kinkod, which inherits the connection.
func sendNext(api *syscall.SockaddrInet4, host, id string) (int, error) {
	fd, err := dial(api, false)
	if err != nil {
		return -1, err
	}
	req := "GET /2020-01-01/extension/event/next HTTP/1.0\r\nHost: " + host + "\r\nLambda-Extension-Identifier: " + id + "\r\n\r\n"
	if err := writeAll(fd, req); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// dial connects to the Extensions API. closeOnExec is false for the connection kinkod inherits;
// that one also keeps no timeout, as /event/next answers only when the next event comes.
func dial(sa *syscall.SockaddrInet4, closeOnExec bool) (int, error) {
	typ := syscall.SOCK_STREAM
	if closeOnExec {
		typ |= syscall.SOCK_CLOEXEC
	}
	fd, err := syscall.Socket(syscall.AF_INET, typ, 0)
	if err != nil {
		return -1, err
	}
	tv := syscall.NsecToTimeval(apiTimeout.Nanoseconds())
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv) // bounds connect too
	for {
		err = syscall.Connect(fd, sa)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		syscall.Close(fd)
		return -1, err
	}
	if !closeOnExec {
		var none syscall.Timeval
		_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &none)
		_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &none)
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

// printable is true for a non-empty value safe to pass in argv and to log.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return s != ""
}
