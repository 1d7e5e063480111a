package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The README's handlers send the session token to kinko and nowhere else: a redirect from
// whatever answers on kinko's port is an error, never followed, and a proxy in the environment
// is never used. An error answer reaches the caller with kinko's body (issue 28: the snippet
// showed "HTTP Error 404: Not Found" and dropped the body that said which secret and why).
func TestExamplesKeepTheTokenAndShowKinkosBody(t *testing.T) {
	root := repoRoot(t)
	const token = "tok-examples-test"
	var elsewhere atomic.Int32 // requests that reached the redirect's target or the proxy
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.Write([]byte(`{"SecretString":"from elsewhere"}`))
	}))
	defer other.Close()

	var redirect atomic.Bool
	kinko := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Aws-Parameters-Secrets-Token") != token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if redirect.Load() {
			http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"secret \"prod/db\": Secrets Manager can't find the specified secret."}`))
	})
	port := serveLoopback(t, kinko)

	run := func(t *testing.T, name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = []string{
			"PATH=/usr/local/bin:/usr/bin:/bin", "AWS_SESSION_TOKEN=" + token,
			"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=" + strconv.Itoa(port),
			"HTTP_PROXY=" + other.URL, "http_proxy=" + other.URL, "PYTHONDONTWRITEBYTECODE=1",
		}
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("the read succeeded; it should have failed:\n%s", out)
		}
		return string(out)
	}
	python := func(t *testing.T) string {
		return run(t, interp(t, "python3"), "-c", "import sys; sys.path.insert(0, sys.argv[1]); import app; app.get_secret('prod/db')",
			filepath.Join(root, "e2e/examples/python"))
	}
	node := func(t *testing.T) string {
		return run(t, interp(t, "node"), "--input-type=module", "-e",
			"const m = await import(process.argv[1]); await m.getSecret('prod/db');", "file://"+filepath.Join(root, "e2e/examples/node/index.mjs"))
	}
	for name, read := range map[string]func(*testing.T) string{"python": python, "node": node} {
		t.Run(name, func(t *testing.T) {
			redirect.Store(false)
			out := read(t)
			if !strings.Contains(out, `kinko: 404 {"__type":"ResourceNotFoundException","message":"secret \"prod/db\": Secrets Manager`) {
				t.Errorf("the error does not carry kinko's body:\n%s", out)
			}
			redirect.Store(true)
			out = read(t)
			if strings.Contains(out, "from elsewhere") || elsewhere.Load() != 0 {
				t.Errorf("the token left for the redirect's target or the proxy (%d requests there):\n%s", elsewhere.Load(), out)
			}
		})
	}
}

// serveLoopback serves h on 127.0.0.1 and, when it can, [::1] on the same port (Node's fetch
// tries localhost's ::1 first), until the test ends.
func serveLoopback(t *testing.T, h http.Handler) int {
	t.Helper()
	l4, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l4.Addr().(*net.TCPAddr).Port
	listeners := []net.Listener{l4}
	if l6, err := net.Listen("tcp6", "[::1]:"+strconv.Itoa(port)); err == nil {
		listeners = append(listeners, l6)
	}
	for _, l := range listeners {
		srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}}
		srv.Start()
		t.Cleanup(srv.Close)
	}
	return port
}

func interp(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed", name)
	}
	return p
}
