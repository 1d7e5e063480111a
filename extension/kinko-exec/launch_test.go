package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/handoff"
)

// fakeExtensionsAPI is Lambda's side of /register and /event/next, on loopback, recording what
// the launcher sends. /event/next answers only when the test says.
type fakeExtensionsAPI struct {
	addr    string
	mu      sync.Mutex
	regs    []*http.Request
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
		f.regs, f.regBody = append(f.regs, r), string(b)
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
		select {
		case <-f.release:
		default:
			close(f.release)
		}
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

// launchEnv is a sandbox's environment with the fake API and a free port; each of more
// (NAME=value) replaces its variable or adds it.
func launchEnv(t *testing.T, api string, more ...string) []string {
	t.Helper()
	env := []string{
		"AWS_LAMBDA_RUNTIME_API=" + api,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=a", "AWS_SECRET_ACCESS_KEY=b", "AWS_SESSION_TOKEN=" + token,
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=" + strconv.Itoa(freePort(t)),
	}
	for _, kv := range more {
		name, _, _ := strings.Cut(kv, "=")
		env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, name+"=") })
		env = append(env, kv)
	}
	return env
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

var launchArgs = []string{"/opt/kinko-exec", launchFlag, "/opt/extensions/kinko"}

// handedOff checks that exec was asked to start kinkod with a handoff and returns its state,
// closing the descriptors at the test's end.
func handedOff(t *testing.T, e *execCall) handoff.State {
	t.Helper()
	if !e.calledOnce || e.path != "/opt/kinko/kinkod" {
		t.Fatalf("exec(%q), want /opt/kinko/kinkod", e.path)
	}
	st, ok, err := handoff.Parse(e.argv)
	if !ok || err != nil {
		t.Fatalf("kinkod's argv %q has no handoff: %v", e.argv, err)
	}
	if e.argv[0] != "/opt/extensions/kinko" {
		t.Errorf("argv[0] = %q, want the extension's path (Lambda knows it by that name)", e.argv[0])
	}
	t.Cleanup(func() {
		closeFDs(st.Listeners)
		if st.Next >= 0 {
			syscall.Close(st.Next)
		}
	})
	return st
}

func TestLaunchRegistersSendsNextAndHandsOff(t *testing.T) {
	api := startExtensionsAPI(t)
	env := launchEnv(t, api.addr)
	var e execCall
	var stderr bytes.Buffer
	if code := launch(launchArgs, env, &stderr, e.exec); code != exitCannotRun {
		t.Fatalf("exit %d (%s), want %d after the stub exec", code, stderr.String(), exitCannotRun)
	}
	st := handedOff(t, &e)
	if st.ID != "id-123" || st.FunctionName != "fn-1" || st.AccountID != "123456789012" {
		t.Errorf("state %+v, want the registration's id, function and account", st)
	}
	if strings.Join(e.env, "\n") != strings.Join(env, "\n") {
		t.Error("kinkod's environment differs from the launcher's")
	}

	// Registered as kinkod registers: the extension's name, SHUTDOWN only, the accountId feature.
	regs, _ := api.seen()
	if regs != 1 {
		t.Fatalf("%d registrations, want 1", regs)
	}
	r := api.regs[0]
	if r.Header.Get("Lambda-Extension-Name") != "kinko" || r.Header.Get("Lambda-Extension-Accept-Feature") != "accountId" {
		t.Errorf("register headers %v", r.Header)
	}
	var body struct{ Events []string }
	if err := json.Unmarshal([]byte(api.regBody), &body); err != nil || strings.Join(body.Events, ",") != "SHUTDOWN" {
		t.Errorf("register body %q, want SHUTDOWN only", api.regBody)
	}

	// The listeners accept on the configured port; kinkod serves them.
	port := lookup(env, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT")
	if len(st.Listeners) == 0 {
		t.Fatal("no listener handed off")
	}
	c, err := net.DialTimeout("tcp4", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		t.Fatalf("the handed-off port does not accept: %v", err)
	}
	c.Close()
	for _, fd := range st.Listeners {
		if flags, err := fcntl(fd, syscall.F_GETFD); err != nil || flags&syscall.FD_CLOEXEC != 0 {
			t.Errorf("listener %d: flags %d, %v; it must survive exec", fd, flags, err)
		}
	}

	// /event/next was sent with the id, and its answer arrives on the handed-off connection.
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
		t.Fatal("no /event/next connection handed off")
	}
	if flags, err := fcntl(st.Next, syscall.F_GETFD); err != nil || flags&syscall.FD_CLOEXEC != 0 {
		t.Errorf("the /event/next connection: flags %d, %v; it must survive exec", flags, err)
	}
	close(api.release)
	dup, err := syscall.Dup(st.Next)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(dup), "next")
	defer f.Close()
	resp, err := http.ReadResponse(bufio.NewReader(f), nil)
	if err != nil {
		t.Fatalf("reading the first event from the handed-off connection: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"SHUTDOWN"`) {
		t.Errorf("first event: %d %s", resp.StatusCode, b)
	}
}

func fcntl(fd, cmd int) (int, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// Provisioned concurrency warms the cache before init ends: kinkod sends /event/next itself.
// SnapStart needs INVOKE to see the restore.
func TestLaunchFollowsTheInitType(t *testing.T) {
	t.Run("provisioned", func(t *testing.T) {
		api := startExtensionsAPI(t)
		var e execCall
		launch(launchArgs, launchEnv(t, api.addr, "AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency"), io.Discard, e.exec)
		if st := handedOff(t, &e); st.Next != -1 {
			t.Errorf("next = %d, want -1 (none sent)", st.Next)
		}
		if _, nexts := api.seen(); len(nexts) != 0 {
			t.Errorf("the launcher sent /event/next %d times under provisioned concurrency", len(nexts))
		}
	})
	t.Run("snap-start", func(t *testing.T) {
		api := startExtensionsAPI(t)
		var e execCall
		launch(launchArgs, launchEnv(t, api.addr, "AWS_LAMBDA_INITIALIZATION_TYPE=snap-start"), io.Discard, e.exec)
		if st := handedOff(t, &e); st.Next < 0 {
			t.Error("no /event/next sent under SnapStart")
		}
		if !strings.Contains(api.regBody, `"INVOKE","SHUTDOWN"`) {
			t.Errorf("register body %q, want INVOKE and SHUTDOWN (the first INVOKE is the restore)", api.regBody)
		}
	})
}

// Whatever kinkod would refuse or judge differently, the launcher leaves to it: kinkod starts
// alone (argv without a handoff), binds, registers and reports the problem itself.
func TestLaunchLeavesTheUnsettledToKinkod(t *testing.T) {
	cases := []struct {
		name string
		env  func(t *testing.T, api string) []string
	}{
		{"bad setting", func(t *testing.T, api string) []string {
			return launchEnv(t, api, "SECRETS_MANAGER_TTL=forever")
		}},
		{"no region", func(t *testing.T, api string) []string { return launchEnv(t, api, "AWS_REGION=") }},
		{"no credentials", func(t *testing.T, api string) []string {
			return launchEnv(t, api, "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
		}},
		{"an SDK setting", func(t *testing.T, api string) []string { return launchEnv(t, api, "AWS_MAX_ATTEMPTS=3") }},
		{"an API address that is a name", func(t *testing.T, api string) []string {
			_, port, _ := strings.Cut(api, ":")
			return launchEnv(t, "localhost:"+port)
		}},
		{"the port in use", func(t *testing.T, api string) []string {
			l, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return launchEnv(t, api, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT="+strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := startExtensionsAPI(t)
			var e execCall
			var stderr bytes.Buffer
			launch(launchArgs, tc.env(t, api.addr), &stderr, e.exec)
			if e.path != "/opt/kinko/kinkod" || strings.Join(e.argv, " ") != "/opt/extensions/kinko" {
				t.Errorf("exec(%q, %q), want kinkod started alone", e.path, e.argv)
			}
			if regs, nexts := api.seen(); regs != 0 || len(nexts) != 0 {
				t.Errorf("the launcher registered %d times and sent /event/next %d times; kinkod must do both", regs, len(nexts))
			}
		})
	}

	t.Run("register refused", func(t *testing.T) {
		api := startExtensionsAPI(t)
		api.status = http.StatusForbidden
		env := launchEnv(t, api.addr)
		var e execCall
		launch(launchArgs, env, io.Discard, e.exec)
		if strings.Join(e.argv, " ") != "/opt/extensions/kinko" {
			t.Errorf("argv %q, want kinkod started alone", e.argv)
		}
		// The port is free again for kinkod to bind.
		l, err := net.Listen("tcp4", "127.0.0.1:"+lookup(env, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"))
		if err != nil {
			t.Errorf("the launcher kept the port after handing the start to kinkod: %v", err)
		} else {
			l.Close()
		}
	})
}

func TestLaunchSaysWhatIsMissing(t *testing.T) {
	var stderr bytes.Buffer
	if code := launch([]string{"/opt/kinko-exec", launchFlag}, nil, &stderr, (&execCall{}).exec); code != exitUsage ||
		!strings.Contains(stderr.String(), "extensions/kinko") {
		t.Errorf("exit %d, %q", code, stderr.String())
	}
	stderr.Reset()
	missing := func(string, []string, []string) error { return syscall.ENOENT }
	if code := launch(launchArgs, []string{"PARAMETERS_SECRETS_EXTENSION_TTL=x"}, &stderr, missing); code != exitNotFound ||
		!strings.Contains(stderr.String(), "/opt/kinko/kinkod") || !strings.Contains(stderr.String(), "deploy it again") {
		t.Errorf("exit %d, %q", code, stderr.String())
	}
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
