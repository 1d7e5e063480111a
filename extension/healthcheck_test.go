package main

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kinko-dev/kinko/extension/internal/server"
)

// serveOnLoopback serves h on 127.0.0.1 at a free port until the test ends and returns the port.
func serveOnLoopback(t *testing.T, h http.Handler) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.NewHTTPServer(h, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// kinko health passes against kinko's own /ping (no token needed), on the port given or the one
// PARAMETERS_SECRETS_EXTENSION_HTTP_PORT configures, as the server reads it.
func TestHealthPassesOnKinkosPing(t *testing.T) {
	port := strconv.Itoa(serveOnLoopback(t, server.NewHandler(nil, "", slog.New(slog.DiscardHandler))))
	for name, tc := range map[string]struct {
		args   []string
		getenv func(string) string
	}{
		"-port":                    {[]string{"-port", port}, env()},
		"the server's variable":    {nil, env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", port)},
		"-port over the variable":  {[]string{"-port", port}, env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "1")},
		"other variables are bad":  {nil, env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", port, "SECRETS_MANAGER_TTL", "soon")},
		"a timeout":                {[]string{"-timeout", "10s", "-port", port}, env()},
		"a port and a proxy to it": {[]string{"-port", port}, env("HTTP_PROXY", "http://127.0.0.1:1")},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := health(t.Context(), tc.args, tc.getenv, &stderr); code != 0 {
				t.Errorf("exit %d, want 0; stderr: %s", code, stderr.String())
			}
		})
	}
}

// It fails, saying why, when nothing answers, when the answer is not 200, and when the answer
// does not come in time; a bad port is a clear error, not a check of port 2773.
func TestHealthFailsWhenKinkoDoesNotAnswer(t *testing.T) {
	unhealthy := strconv.Itoa(serveOnLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "draining", http.StatusServiceUnavailable)
	})))
	stuck := strconv.Itoa(serveOnLoopback(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})))
	for name, tc := range map[string]struct {
		args   []string
		getenv func(string) string
		want   string
	}{
		"nothing listening":    {[]string{"-port", strconv.Itoa(closedPort(t))}, env(), "connection refused"},
		"not 200":              {[]string{"-port", unhealthy}, env(), "503"},
		"no answer in time":    {[]string{"-port", stuck, "-timeout", "50ms"}, env(), "deadline exceeded"},
		"port out of range":    {[]string{"-port", "70000"}, env(), "want 1 to 65535"},
		"bad port variable":    {nil, env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "http"), "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"},
		"port variable 0":      {nil, env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "0"), "want 1 to 65535"},
		"an unknown argument":  {[]string{"now"}, env(), "usage: kinko health"},
		"an unknown flag":      {[]string{"-url", "http://example.com/"}, env(), "flag provided but not defined"},
		"a timeout of nothing": {[]string{"-timeout", "0s"}, env(), "positive duration"},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := health(t.Context(), tc.args, tc.getenv, &stderr); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not say %q", stderr.String(), tc.want)
			}
		})
	}
}

// The built binary dispatches `kinko health` before anything of the server starts: exit 0
// against a /ping that answers, 1 against a closed port.
func TestHealthCommandInTheBinary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build the extension")
	}
	bin := filepath.Join(t.TempDir(), "kinko")
	if out, err := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port := serveOnLoopback(t, server.NewHandler(nil, "", slog.New(slog.DiscardHandler)))
	cmd := exec.CommandContext(t.Context(), bin, "health")
	cmd.Env = []string{"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=" + strconv.Itoa(port)}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("kinko health against a serving /ping: %v\n%s", err, out)
	}
	cmd = exec.CommandContext(t.Context(), bin, "health", "-port", strconv.Itoa(closedPort(t)))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("kinko health against a closed port: %v, want exit status 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "kinko health:") {
		t.Errorf("the failure does not say what failed: %s", out)
	}
}
