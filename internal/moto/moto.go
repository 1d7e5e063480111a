// Package moto starts and stops moto's server, the local stand-in for AWS Secrets
// Manager and SSM that the tests, `make package` and `make demo` run against.
package moto

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/internal/syncbuf"
)

// InstallHint is what a person must do when moto is missing.
const InstallHint = "install moto's server with: pip install 'moto[server]'"

// Server is a running moto_server on a loopback port.
type Server struct {
	URL  string // http://127.0.0.1:PORT
	Port int

	cmd  *exec.Cmd
	log  *syncbuf.Buffer
	done chan struct{}
	err  error // set before done is closed
}

// Command finds the program that runs moto's server: moto_server on PATH, else python3 -m moto.server.
func Command() ([]string, error) {
	if p, err := exec.LookPath("moto_server"); err == nil {
		return []string{p}, nil
	}
	if p, err := exec.LookPath("python3"); err == nil {
		if exec.Command(p, "-c", "import moto.server").Run() == nil {
			return []string{p, "-m", "moto.server"}, nil
		}
	}
	return nil, errors.New("moto_server not found on PATH and python3 cannot import moto.server; " + InstallHint)
}

// Start runs moto on a free loopback port and returns once it answers HTTP.
// The process is stopped by Stop or when ctx ends.
func Start(ctx context.Context) (*Server, error) {
	argv, err := Command()
	if err != nil {
		return nil, err
	}
	// A port picked free can be taken again before moto binds it; try a few.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := start(ctx, argv, port)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func start(ctx context.Context, argv []string, port int) (*Server, error) {
	args := append(argv[1:], "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd := exec.Command(argv[0], args...)
	logs := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto (%s): %w", argv[0], err)
	}
	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), Port: port, cmd: cmd, log: logs, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			s.Stop()
		case <-s.done:
		}
	}()
	if err := s.waitReady(ctx, 30*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/moto-api/data.json", nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("moto exited before answering on port %d: %v\n%s", s.Port, s.err, s.log.String())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("moto did not answer on %s within %s\n%s", s.URL, limit, s.log.String())
		}
	}
}

// Reset clears every secret and parameter moto holds.
func (s *Server) Reset(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/moto-api/reset", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset moto: status %d", resp.StatusCode)
	}
	return nil
}

// Logs returns what moto printed so far (request lines; moto never logs secret values it stores,
// but callers that scan logs for secrets scan this too).
func (s *Server) Logs() string { return s.log.String() }

// Stop ends moto and its children and waits for it.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// ForTest starts moto for a test and stops it when the test ends. It fails the test
// (it does not skip) when moto is missing: `make test` installs it.
func ForTest(tb testing.TB) *Server {
	tb.Helper()
	s, err := Start(context.Background())
	if err != nil {
		tb.Fatalf("moto: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Env returns the environment an AWS SDK client needs to talk to this server with dummy credentials.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":          s.URL,
		"AWS_REGION":                "us-east-1",
		"AWS_ACCESS_KEY_ID":         "testing",
		"AWS_SECRET_ACCESS_KEY":     "testing",
		"AWS_EC2_METADATA_DISABLED": "true",
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
