package earlystart

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/handoff"
)

// fakeExtensionsAPI is Lambda's side of /register and /event/next, on loopback, recording what
// the early start sends. /event/next answers only when the test says.
type fakeExtensionsAPI struct {
	addr    string
	mu      sync.Mutex
	regs    []http.Header
	regBody string
	nextIDs []string
	status  int           // /register's status (200 unless set)
	release chan struct{} // closed: /event/next answers SHUTDOWN
}

func startExtensionsAPI(t *testing.T) *fakeExtensionsAPI {
	t.Helper()
	f := &fakeExtensionsAPI{status: 200, release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2020-01-01/extension/register", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.regs, f.regBody = append(f.regs, r.Header.Clone()), string(b)
		status := f.status
		f.mu.Unlock()
		w.Header().Set("Lambda-Extension-Identifier", "id-123")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"functionName":"fn-1","functionVersion":"$LATEST","handler":"h","accountId":"123456789012"}`)
	})
	mux.HandleFunc("GET /2020-01-01/extension/event/next", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.nextIDs = append(f.nextIDs, r.Header.Get("Lambda-Extension-Identifier"))
		f.mu.Unlock()
		select {
		case <-f.release:
			_, _ = io.WriteString(w, `{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":1}`)
		case <-r.Context().Done():
		}
	})
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() {
		f.mu.Lock()
		select {
		case <-f.release:
		default:
			close(f.release)
		}
		f.mu.Unlock()
		_ = srv.Close()
		<-done
	})
	f.addr = l.Addr().String()
	return f
}

func (f *fakeExtensionsAPI) seen() (regs int, nexts []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.regs), append([]string(nil), f.nextIDs...)
}

// sandbox is a Lambda sandbox's environment with the fake API and a free port; each of more
// (NAME=value) replaces its variable or adds it.
func sandbox(t *testing.T, api string, more ...string) func(string) string {
	t.Helper()
	env := map[string]string{
		"AWS_LAMBDA_RUNTIME_API": api,
		"AWS_REGION":             "us-east-1",
		"AWS_ACCESS_KEY_ID":      "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_SESSION_TOKEN": "t",
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": strconv.Itoa(freePort(t)),
	}
	for _, kv := range more {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var extensionArgs = []string{"/opt/extensions/kinko"}

// closeAtEnd closes st's descriptors when the test ends.
func closeAtEnd(t *testing.T, st handoff.State) {
	t.Cleanup(func() {
		closeFDs(st.Listeners)
		if st.Next >= 0 {
			syscall.Close(st.Next)
		}
	})
}

func TestStartRegistersAndSendsNext(t *testing.T) {
	api := startExtensionsAPI(t)
	getenv := sandbox(t, api.addr)
	st, ok := Start(extensionArgs, getenv)
	if !ok {
		t.Fatal("Start did nothing in a sandbox's usual environment")
	}
	closeAtEnd(t, st)
	if st.ID != "id-123" || st.FunctionName != "fn-1" || st.AccountID != "123456789012" {
		t.Errorf("state %+v, want the registration's id, function and account", st)
	}

	// Registered as main registers: the extension's name, SHUTDOWN only, the accountId feature.
	if regs, _ := api.seen(); regs != 1 {
		t.Fatalf("%d registrations, want 1", regs)
	}
	h := api.regs[0]
	if h.Get("Lambda-Extension-Name") != "kinko" || h.Get("Lambda-Extension-Accept-Feature") != "accountId" {
		t.Errorf("register headers %v", h)
	}
	var body struct{ Events []string }
	if err := json.Unmarshal([]byte(api.regBody), &body); err != nil || strings.Join(body.Events, ",") != "SHUTDOWN" {
		t.Errorf("register body %q, want SHUTDOWN only", api.regBody)
	}

	// The listeners accept on the configured port.
	if len(st.Listeners) == 0 {
		t.Fatal("no listener")
	}
	c, err := net.DialTimeout("tcp4", "127.0.0.1:"+getenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"), 5*time.Second)
	if err != nil {
		t.Fatalf("the port does not accept: %v", err)
	}
	c.Close()

	// /event/next was sent with the id, and its answer arrives on the connection.
	deadline := time.Now().Add(5 * time.Second)
	for _, nexts := api.seen(); len(nexts) == 0; _, nexts = api.seen() {
		if time.Now().After(deadline) {
			t.Fatal("/event/next never reached the API")
		}
		time.Sleep(time.Millisecond)
	}
	if _, nexts := api.seen(); nexts[0] != "id-123" {
		t.Errorf("/event/next with identifier %q, want id-123", nexts[0])
	}
	if st.Next < 0 {
		t.Fatal("no /event/next connection")
	}
	api.mu.Lock()
	close(api.release)
	api.mu.Unlock()
	dup, err := syscall.Dup(st.Next)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(dup), "next")
	defer f.Close()
	resp, err := http.ReadResponse(bufio.NewReader(f), nil)
	if err != nil {
		t.Fatalf("reading the first event: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"SHUTDOWN"`) {
		t.Errorf("first event: %d %s", resp.StatusCode, b)
	}
}

// Provisioned concurrency warms the cache before init ends: main sends /event/next itself.
// SnapStart needs INVOKE to see the restore.
func TestStartFollowsTheInitType(t *testing.T) {
	t.Run("provisioned", func(t *testing.T) {
		api := startExtensionsAPI(t)
		st, ok := Start(extensionArgs, sandbox(t, api.addr, "AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency"))
		if !ok {
			t.Fatal("Start did nothing")
		}
		closeAtEnd(t, st)
		if st.Next != -1 {
			t.Errorf("next = %d, want -1 (none sent)", st.Next)
		}
		if _, nexts := api.seen(); len(nexts) != 0 {
			t.Errorf("/event/next sent %d times under provisioned concurrency", len(nexts))
		}
	})
	t.Run("snap-start", func(t *testing.T) {
		api := startExtensionsAPI(t)
		st, ok := Start(extensionArgs, sandbox(t, api.addr, "AWS_LAMBDA_INITIALIZATION_TYPE=snap-start"))
		if !ok {
			t.Fatal("Start did nothing")
		}
		closeAtEnd(t, st)
		if st.Next < 0 {
			t.Error("no /event/next sent under SnapStart")
		}
		if !strings.Contains(api.regBody, `"INVOKE","SHUTDOWN"`) {
			t.Errorf("register body %q, want INVOKE and SHUTDOWN (the first INVOKE is the restore)", api.regBody)
		}
	})
}

// Whatever main would refuse or judge differently, the early start leaves alone: it registers
// nothing, keeps no port, and main starts as if it had not run.
func TestStartLeavesTheUnsettledToMain(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  func(t *testing.T, api string) func(string) string
	}{
		{"bad setting", extensionArgs, func(t *testing.T, api string) func(string) string {
			return sandbox(t, api, "SECRETS_MANAGER_TTL=forever")
		}},
		{"turned off", extensionArgs, func(t *testing.T, api string) func(string) string {
			return sandbox(t, api, "KINKO_EARLY_REGISTER=false")
		}},
		{"no region", extensionArgs, func(t *testing.T, api string) func(string) string { return sandbox(t, api, "AWS_REGION=") }},
		{"no credentials", extensionArgs, func(t *testing.T, api string) func(string) string {
			return sandbox(t, api, "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
		}},
		{"an SDK setting", extensionArgs, func(t *testing.T, api string) func(string) string {
			return sandbox(t, api, "AWS_MAX_ATTEMPTS=3")
		}},
		{"an API address that is a name", extensionArgs, func(t *testing.T, api string) func(string) string {
			_, port, _ := strings.Cut(api, ":")
			return sandbox(t, api, "AWS_LAMBDA_RUNTIME_API=localhost:"+port)
		}},
		{"not in an extensions directory", []string{"/tmp/extension.test"}, func(t *testing.T, api string) func(string) string {
			return sandbox(t, api)
		}},
		{"no Lambda", extensionArgs, func(t *testing.T, api string) func(string) string {
			return sandbox(t, api, "AWS_LAMBDA_RUNTIME_API=")
		}},
		{"the port in use", extensionArgs, func(t *testing.T, api string) func(string) string {
			l, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return sandbox(t, api, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT="+strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := startExtensionsAPI(t)
			if st, ok := Start(tc.args, tc.env(t, api.addr)); ok {
				closeAtEnd(t, st)
				t.Fatalf("Start settled %+v; main must start alone", st)
			}
			if regs, nexts := api.seen(); regs != 0 || len(nexts) != 0 {
				t.Errorf("registered %d times and sent /event/next %d times; main must do both", regs, len(nexts))
			}
		})
	}

	t.Run("register refused", func(t *testing.T) {
		api := startExtensionsAPI(t)
		api.status = http.StatusForbidden
		getenv := sandbox(t, api.addr)
		if st, ok := Start(extensionArgs, getenv); ok {
			closeAtEnd(t, st)
			t.Fatal("Start settled a refused registration")
		}
		// The port is free again for main to bind.
		l, err := net.Listen("tcp4", "127.0.0.1:"+getenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"))
		if err != nil {
			t.Errorf("the early start kept the port: %v", err)
		} else {
			l.Close()
		}
	})
}

func TestParseIPv4(t *testing.T) {
	for in, ok := range map[string]bool{
		"127.0.0.1:9001": true, "169.254.100.1:9001": true,
		"localhost:9001": false, "127.0.0.1": false, "127.0.0.1:0": false, "1.2.3:9": false,
		"01.2.3.4:9": false, "256.1.1.1:9": false, "[::1]:9001": false, "": false,
	} {
		if _, got := parseIPv4(in); got != ok {
			t.Errorf("parseIPv4(%q) = %v, want %v", in, got, ok)
		}
	}
}

func TestParseAnswer(t *testing.T) {
	status, id, body, err := parseAnswer([]byte("HTTP/1.0 200 OK\r\nLambda-Extension-Identifier: abc\r\nContent-Length: 2\r\n\r\n{}tail"))
	if err != nil || status != 200 || id != "abc" || string(body) != "{}" {
		t.Errorf("parseAnswer = %d %q %q %v", status, id, body, err)
	}
	for _, raw := range []string{"HTTP/1.0 200 OK\r\n", "SSH-2.0\r\n\r\n", "HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\n{}"} {
		if _, _, _, err := parseAnswer([]byte(raw)); err == nil {
			t.Errorf("parseAnswer(%q): no error", raw)
		}
	}
}
