package awsconfig

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// credentialsEndpoint is a container credentials endpoint stand-in: each answer has a new
// access key (ASIA-1, ASIA-2, ...) that expires ttl after it is served.
type credentialsEndpoint struct {
	srv *httptest.Server

	mu    sync.Mutex
	calls int
	ttl   time.Duration
	conns connCounter
}

func startCredentials(t *testing.T, ttl time.Duration) *credentialsEndpoint {
	t.Helper()
	e := &credentialsEndpoint{ttl: ttl}
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.calls++
		fmt.Fprintf(w, `{"AccessKeyId":"ASIA-%d","SecretAccessKey":"s","Token":"t","Expiration":%q}`,
			e.calls, time.Now().Add(e.ttl).UTC().Format(time.RFC3339))
	}))
	e.srv.Config.ConnState = e.conns.state
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

func (e *credentialsEndpoint) count() int { e.mu.Lock(); defer e.mu.Unlock(); return e.calls }

func containerEnv(url string, extra ...string) func(string) string {
	m := map[string]string{"AWS_REGION": "us-east-1", "AWS_CONTAINER_CREDENTIALS_FULL_URI": url}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return envOf(m)
}

// connCounter counts the connections a test server sees open and closed.
type connCounter struct {
	mu             sync.Mutex
	opened, closed int
}

func (c *connCounter) state(_ net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.opened++
	case http.StateClosed, http.StateHijacked:
		c.closed++
	}
}

func (c *connCounter) get() (int, int) { c.mu.Lock(); defer c.mu.Unlock(); return c.opened, c.closed }

func waitUntil(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func staticEnv(extra ...string) func(string) string {
	m := map[string]string{"AWS_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET"}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return envOf(m)
}

// The SDK's default chain refreshes container credentials 5 minutes before they expire; so does kinko.
func TestContainerCredentialsRefreshFiveMinutesEarly(t *testing.T) {
	for _, tc := range []struct {
		ttl   time.Duration
		calls int
	}{
		{time.Hour, 1},                      // well within their life: one fetch serves both calls
		{4 * time.Minute, 2},                // inside the window: fetched again at once
		{5*time.Minute + 30*time.Second, 1}, // just outside it
	} {
		t.Run(tc.ttl.String(), func(t *testing.T) {
			e := startCredentials(t, tc.ttl)
			cfg, err := Load(containerEnv(e.srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			first, err := cfg.Credentials.Retrieve(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cfg.Credentials.Retrieve(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := e.count(); got != tc.calls {
				t.Errorf("credentials lasting %s: %d calls to the endpoint for two retrievals, want %d", tc.ttl, got, tc.calls)
			}
			// The cache's expiry is the endpoint's less the window (the endpoint gives whole seconds).
			left := time.Until(first.Expires)
			if want := tc.ttl - containerExpiryWindow; left > want+time.Second || left < want-5*time.Second {
				t.Errorf("credentials lasting %s are kept for %s, want about %s", tc.ttl, left.Round(time.Second), want)
			}
		})
	}
}

func TestInvalidateCredentialsFetchesAgain(t *testing.T) {
	e := startCredentials(t, time.Hour)
	cfg, _ := Load(containerEnv(e.srv.URL))
	a, _ := cfg.Credentials.Retrieve(t.Context())
	InvalidateCredentials(cfg)
	b, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil || a.AccessKeyID != "ASIA-1" || b.AccessKeyID != "ASIA-2" {
		t.Fatalf("after InvalidateCredentials: %q then %q (%v), want ASIA-1 then ASIA-2", a.AccessKeyID, b.AccessKeyID, err)
	}
}

// The credentials endpoint is asked rarely: no connection is kept to it (one kept across a
// SnapStart snapshot would lead nowhere).
func TestNoConnectionIsKeptToTheCredentialsEndpoint(t *testing.T) {
	e := startCredentials(t, time.Hour)
	cc := &e.conns
	cfg, _ := Load(containerEnv(e.srv.URL))
	for range 2 {
		if _, err := cfg.Credentials.Retrieve(t.Context()); err != nil {
			t.Fatal(err)
		}
		InvalidateCredentials(cfg)
	}
	waitUntil(t, "both connections closed", func() bool { o, c := cc.get(); return o == 2 && c == 2 })
}

func TestBadSDKModesFailInitNamingTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"AWS_USE_FIPS_ENDPOINT", "yes"}, `AWS_USE_FIPS_ENDPOINT="yes": want true or false`},
		{[]string{"AWS_USE_DUALSTACK_ENDPOINT", "1"}, `AWS_USE_DUALSTACK_ENDPOINT="1": want true or false`},
		{[]string{"AWS_MAX_ATTEMPTS", "three"}, `AWS_MAX_ATTEMPTS="three"`},
		{[]string{"AWS_MAX_ATTEMPTS", "-1"}, `AWS_MAX_ATTEMPTS="-1"`},
		{[]string{"AWS_RETRY_MODE", "legacy"}, `AWS_RETRY_MODE="legacy": want standard or adaptive`},
		{[]string{"AWS_USE_FIPS_ENDPOINT", "true", "AWS_ENDPOINT_URL", "http://127.0.0.1:4566"}, "AWS_USE_FIPS_ENDPOINT=true with a custom endpoint"},
		{[]string{"AWS_USE_DUALSTACK_ENDPOINT", "true", "AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:4566"}, "AWS_USE_DUALSTACK_ENDPOINT=true with a custom endpoint"},
	} {
		_, err := Load(staticEnv(tc.env...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.env, err, tc.want)
		}
	}
	// Every bad one at once, so a user fixes them in one deploy.
	_, err := Load(staticEnv("AWS_USE_FIPS_ENDPOINT", "on", "AWS_RETRY_MODE", "x"))
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 2 {
		t.Errorf("two bad variables: %v, want both reported", err)
	}
}
