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
	"syscall"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/rawhttp"
	"github.com/kinko-dev/kinko/internal/extensionsapitest"
)

// startExtensionsAPI is Lambda's side of /register and /event/next, on loopback, recording what
// the early start sends. /event/next answers only when the test sends an event.
func startExtensionsAPI(t *testing.T) *extensionsapitest.Server {
	t.Helper()
	api := extensionsapitest.NewServer()
	t.Cleanup(api.Close)
	return api
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
func closeAtEnd(t *testing.T, st State) {
	t.Cleanup(func() {
		rawhttp.CloseAll(st.Listeners)
		if st.Next >= 0 {
			syscall.Close(st.Next)
		}
	})
}

func TestStartRegistersAndSendsNext(t *testing.T) {
	api := startExtensionsAPI(t)
	getenv := sandbox(t, api.Addr)
	st, ok := Start(extensionArgs, getenv)
	if !ok {
		t.Fatal("Start did nothing in a sandbox's usual environment")
	}
	closeAtEnd(t, st)
	if st.ID != extensionsapitest.Identifier || st.FunctionName != extensionsapitest.FunctionName || st.AccountID != extensionsapitest.AccountID {
		t.Errorf("state %+v, want the registration's id, function and account", st)
	}

	// Registered as main registers: the extension's name, SHUTDOWN only, the accountId feature.
	regs := api.Registrations()
	if len(regs) != 1 {
		t.Fatalf("%d registrations, want 1", len(regs))
	}
	h := regs[0].Header
	if h.Get("Lambda-Extension-Name") != "kinko" || h.Get("Lambda-Extension-Accept-Feature") != "accountId" {
		t.Errorf("register headers %v", h)
	}
	var body struct{ Events []string }
	if err := json.Unmarshal([]byte(regs[0].Body), &body); err != nil || strings.Join(body.Events, ",") != "SHUTDOWN" {
		t.Errorf("register body %q, want SHUTDOWN only", regs[0].Body)
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
	for len(api.NextIdentifiers()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("/event/next never reached the API")
		}
		time.Sleep(time.Millisecond)
	}
	if nexts := api.NextIdentifiers(); nexts[0] != extensionsapitest.Identifier {
		t.Errorf("/event/next with identifier %q, want %s", nexts[0], extensionsapitest.Identifier)
	}
	if st.Next < 0 {
		t.Fatal("no /event/next connection")
	}
	api.Send(extensionsapitest.Shutdown(time.Second))
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
		st, ok := Start(extensionArgs, sandbox(t, api.Addr, "AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency"))
		if !ok {
			t.Fatal("Start did nothing")
		}
		closeAtEnd(t, st)
		if st.Next != -1 {
			t.Errorf("next = %d, want -1 (none sent)", st.Next)
		}
		if nexts := api.NextIdentifiers(); len(nexts) != 0 {
			t.Errorf("/event/next sent %d times under provisioned concurrency", len(nexts))
		}
	})
	t.Run("snap-start", func(t *testing.T) {
		api := startExtensionsAPI(t)
		st, ok := Start(extensionArgs, sandbox(t, api.Addr, "AWS_LAMBDA_INITIALIZATION_TYPE=snap-start"))
		if !ok {
			t.Fatal("Start did nothing")
		}
		closeAtEnd(t, st)
		if st.Next < 0 {
			t.Error("no /event/next sent under SnapStart")
		}
		if body := api.LastRegistration().Body; !strings.Contains(body, `"INVOKE","SHUTDOWN"`) {
			t.Errorf("register body %q, want INVOKE and SHUTDOWN (the first INVOKE is the restore)", body)
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
			if st, ok := Start(tc.args, tc.env(t, api.Addr)); ok {
				closeAtEnd(t, st)
				t.Fatalf("Start settled %+v; main must start alone", st)
			}
			if regs, nexts := api.Registrations(), api.NextIdentifiers(); len(regs) != 0 || len(nexts) != 0 {
				t.Errorf("registered %d times and sent /event/next %d times; main must do both", len(regs), len(nexts))
			}
		})
	}

	t.Run("register refused", func(t *testing.T) {
		api := startExtensionsAPI(t)
		api.RefuseRegister(http.StatusForbidden)
		getenv := sandbox(t, api.Addr)
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

// main takes the early start's result once: a second Take finds nothing, so no two owners close
// the same descriptors.
func TestTakeReturnsItOnce(t *testing.T) {
	if st := Take(); st != nil {
		t.Fatalf("a test binary's early start settled %+v", st)
	}
	want := &State{ID: "id", Listeners: []int{-1}, Next: -1}
	settled.Store(want)
	if got := Take(); got != want {
		t.Fatalf("Take = %+v, want what the early start settled", got)
	}
	if got := Take(); got != nil {
		t.Fatalf("second Take = %+v, want nil", got)
	}
}
