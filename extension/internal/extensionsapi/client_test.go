package extensionsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI is the Extensions API side of Lambda, as much of it as these tests need.
type fakeAPI struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []string      // "METHOD path" of every request
	headers  []http.Header // of every /register
}

func startAPI(t *testing.T, accountID string) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		switch r.URL.Path {
		case "/2020-01-01/extension/register":
			f.mu.Lock()
			f.headers = append(f.headers, r.Header.Clone())
			f.mu.Unlock()
			w.Header().Set("Lambda-Extension-Identifier", "ext-1")
			body := `{"functionName":"fn","functionVersion":"$LATEST","handler":"bootstrap"`
			// Lambda adds the account id only when the extension asks for the feature.
			if r.Header.Get("Lambda-Extension-Accept-Feature") == "accountId" && accountID != "" {
				body += fmt.Sprintf(`,"accountId":%q`, accountID)
			}
			fmt.Fprint(w, body+"}")
		case "/2020-01-01/extension/event/next":
			fmt.Fprint(w, `{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":1}`)
		default:
			fmt.Fprint(w, `{"status":"OK"}`)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func TestRegisterAsksForTheAccountID(t *testing.T) {
	f := startAPI(t, "123456789012")
	c, err := New(strings.TrimPrefix(f.srv.URL, "http://"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reg, err := c.Register(t.Context(), "kinko", []string{Shutdown})
	if err != nil {
		t.Fatal(err)
	}
	if reg.AccountID != "123456789012" || reg.FunctionName != "fn" {
		t.Fatalf("registration %+v, want account 123456789012 and function fn", reg)
	}
	if h := f.headers[0]; h.Get("Lambda-Extension-Accept-Feature") != "accountId" || h.Get("Lambda-Extension-Name") != "kinko" {
		t.Fatalf("register headers %v", h)
	}

	// Where Lambda does not offer the feature, registering still works, without an account id.
	old := startAPI(t, "")
	c2, _ := New(strings.TrimPrefix(old.srv.URL, "http://"), nil)
	defer c2.Close()
	if reg, err := c2.Register(t.Context(), "kinko", []string{Shutdown}); err != nil || reg.AccountID != "" {
		t.Fatalf("without the feature: %+v %v", reg, err)
	}
}

// proxyChildEnv tells the test binary it runs as the child of TestTheRuntimeAPIIsNeverProxied.
const proxyChildEnv = "KINKO_TEST_PROXY_CHILD_LAMBDA"

// runtimeAPI is a non-loopback Runtime API address, as newer runtimes have been reported to
// use. Nothing ever connects to it: the test's dialer sends its connections to loopback.
const runtimeAPI = "169.254.100.1:9001"

// TestTheRuntimeAPIIsNeverProxied runs the client in a child process whose environment sets
// HTTP_PROXY (net/http reads the proxy variables once per process, so the child is what makes
// them count). The proxy is a stand-in on loopback that must see only the control request.
func TestTheRuntimeAPIIsNeverProxied(t *testing.T) {
	if addr := os.Getenv(proxyChildEnv); addr != "" {
		proxyChild(t, addr)
		return
	}
	api := startAPI(t, "123456789012")
	var mu sync.Mutex
	var proxied []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxied = append(proxied, r.Method+" "+r.URL.String())
		mu.Unlock()
		fmt.Fprint(w, "from the proxy")
	}))
	defer proxy.Close()

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestTheRuntimeAPIIsNeverProxied$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		proxyChildEnv+"="+strings.TrimPrefix(api.srv.URL, "http://"),
		"HTTP_PROXY="+proxy.URL, "HTTPS_PROXY="+proxy.URL, "http_proxy="+proxy.URL, "https_proxy="+proxy.URL,
		"NO_PROXY=", "no_proxy=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	// The control request (a transport that follows the environment) went to the proxy: the
	// setting was live in the child. Nothing else did.
	if len(proxied) != 1 || proxied[0] != "GET http://"+runtimeAPI+"/control" {
		t.Fatalf("the proxy saw %q, want only the control request", proxied)
	}
	want := []string{"POST /2020-01-01/extension/register", "GET /2020-01-01/extension/event/next", "POST /2020-01-01/extension/exit/error"}
	if got := api.seen(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("the Extensions API saw %q, want %q", got, want)
	}
}

func proxyChild(t *testing.T, lambdaAddr string) {
	// Connections to the Runtime API address go to the fake API on loopback; loopback (the
	// proxy stand-in) is dialled as asked; anything else is refused, so nothing leaves loopback.
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		if addr == runtimeAPI {
			return d.DialContext(ctx, network, lambdaAddr)
		}
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("test dialer: refusing %s, not loopback", addr)
		}
		return d.DialContext(ctx, network, addr)
	}

	control := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, DialContext: dial}}
	resp, err := control.Get("http://" + runtimeAPI + "/control")
	if err != nil {
		t.Fatalf("control request: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "from the proxy" {
		t.Fatalf("control request answered %q: HTTP_PROXY is not in effect, so this test would prove nothing", body)
	}

	c, err := New(runtimeAPI, dial)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reg, err := c.Register(t.Context(), "kinko", []string{Shutdown})
	if err != nil || reg.AccountID != "123456789012" {
		t.Fatalf("register with HTTP_PROXY set: %+v %v", reg, err)
	}
	if ev, err := c.Next(t.Context()); err != nil || ev.EventType != Shutdown {
		t.Fatalf("event/next with HTTP_PROXY set: %+v %v", ev, err)
	}
	if err := c.ExitError(t.Context(), "Test", errors.New("reported")); err != nil {
		t.Fatalf("exit/error with HTTP_PROXY set: %v", err)
	}
}

// An error report is sent on the way out: a Lambda API that does not answer it must not keep
// the extension from exiting.
func TestErrorReportsAreBounded(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/2020-01-01/extension/register" {
			w.Header().Set("Lambda-Extension-Identifier", "ext-1")
			fmt.Fprint(w, `{}`)
			return
		}
		select { // never answers a report until the test ends
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, _ := New(strings.TrimPrefix(srv.URL, "http://"), nil)
	defer c.Close()
	if _, err := c.Register(t.Context(), "kinko", []string{Shutdown}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.ExitError(context.Background(), "Test", errors.New("x")) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("unanswered report: %v, want it to give up at its deadline", err)
		}
	case <-time.After(reportTimeout + 5*time.Second):
		t.Fatalf("an unanswered report still waits after %s", reportTimeout+5*time.Second)
	}
}
