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

	"github.com/kinko-dev/kinko/internal/extensionsapitest"
)

// startAPI is the Extensions API side of Lambda; without the account id unless withAccount.
func startAPI(t *testing.T, withAccount bool) *extensionsapitest.Server {
	t.Helper()
	api := extensionsapitest.NewServer()
	if !withAccount {
		api.OmitAccountID()
	}
	t.Cleanup(api.Close)
	return api
}

func TestRegisterAsksForTheAccountID(t *testing.T) {
	f := startAPI(t, true)
	c, err := New(f.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reg, err := c.Register(t.Context(), "kinko", []string{Shutdown})
	if err != nil {
		t.Fatal(err)
	}
	if reg.AccountID != extensionsapitest.AccountID || reg.FunctionName != extensionsapitest.FunctionName {
		t.Fatalf("registration %+v, want account %s and function %s", reg, extensionsapitest.AccountID, extensionsapitest.FunctionName)
	}
	if h := f.LastRegistration().Header; h.Get("Lambda-Extension-Accept-Feature") != "accountId" || h.Get("Lambda-Extension-Name") != "kinko" {
		t.Fatalf("register headers %v", h)
	}

	// Where Lambda does not offer the feature, registering still works, without an account id.
	old := startAPI(t, false)
	c2, _ := New(old.Addr, nil)
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
	api := startAPI(t, true)
	api.Send(extensionsapitest.Shutdown(time.Second)) // the child's /event/next
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
		proxyChildEnv+"="+api.Addr,
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
	if got := api.Requests(); strings.Join(got, ",") != strings.Join(want, ",") {
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
	if err != nil || reg.AccountID != extensionsapitest.AccountID {
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
	api := startAPI(t, true)
	api.StallReports() // never answers a report until the test ends
	c, _ := New(api.Addr, nil)
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
