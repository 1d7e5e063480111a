package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// socketMode lets kinko's user and group use a Unix socket: callers are given the group.
const socketMode = 0o660

// Listen binds every address of s (TCP ones wrapped in TLS when s has it). A port of 0 is
// picked once, by the first TCP address, and used by the rest that name none. A best-effort
// address that cannot be bound is skipped; any other failure closes what was bound.
func Listen(s Settings, logger *slog.Logger) ([]net.Listener, error) {
	var out []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		for _, l := range out {
			_ = l.Close()
		}
		return nil, err
	}
	port := s.Port
	for _, a := range s.Bind {
		if a.Unix != "" {
			l, err := listenUnix(a.Unix)
			if err != nil {
				return fail(err)
			}
			out = append(out, l)
			continue
		}
		p := a.Port
		if p < 0 {
			p = port
		}
		hostPort := net.JoinHostPort(a.Host, strconv.Itoa(p))
		network := "tcp"
		if ip := net.ParseIP(a.Host); ip != nil && ip.To4() == nil {
			network = "tcp6" // [::] is IPv6 only here; 0.0.0.0 is its own entry
		}
		l, err := (&net.ListenConfig{}).Listen(context.Background(), network, hostPort)
		if err != nil {
			if a.BestEffort {
				logger.Debug("no IPv6 loopback; serving IPv4 only", "address", hostPort, "error", err)
				continue
			}
			return fail(fmt.Errorf("cannot listen on %s (KINKO_BIND %q): %w; another process may hold the port: set PARAMETERS_SECRETS_EXTENSION_HTTP_PORT (or http_port) to a free one", hostPort, a.Spelled, err))
		}
		if port == 0 && a.Port < 0 {
			port = l.Addr().(*net.TCPAddr).Port
		}
		if s.TLS != nil {
			l = tls.NewListener(l, s.TLS)
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, errors.New("KINKO_BIND: no address could be bound")
	}
	return out, nil
}

// listenUnix binds a Unix socket at path, mode socketMode. A socket left behind by a kinko that
// did not exit cleanly is replaced; a live one, or a file that is not a socket, is an error.
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("KINKO_BIND unix:%s: the path exists and is not a socket; remove it or choose another path", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("KINKO_BIND unix:%s: another process is serving on this socket", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("KINKO_BIND unix:%s: cannot tell whether the socket there is in use: %w", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("KINKO_BIND unix:%s: cannot remove the stale socket: %w", path, err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on unix:%s (KINKO_BIND): %w", path, err)
	}
	// The socket's mode is set right after it is made: until then the umask's applies, so put
	// it in a directory only kinko and its callers can enter (/run/kinko, mode 0750).
	if err := os.Chmod(path, socketMode); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("KINKO_BIND unix:%s: cannot set the socket's mode to 0660: %w", path, err)
	}
	return l, nil
}
