package upstream

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/awsconfig"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
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

func containerEnv(url string, extra ...string) func(string) string {
	m := map[string]string{"AWS_REGION": "us-east-1", "AWS_CONTAINER_CREDENTIALS_FULL_URI": url}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return envOf(m)
}

// secretsStandIn answers GetSecretValue with ExpiredTokenException for calls signed with any of
// the expired access keys, and with a secret for the others.
func secretsStandIn(t *testing.T, expired ...string) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		key := ""
		if _, rest, ok := strings.Cut(auth, "Credential="); ok {
			key, _, _ = strings.Cut(rest, "/")
		}
		mu.Lock()
		keys = append(keys, key)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		for _, k := range expired {
			if key == k {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}`)
				return
			}
		}
		fmt.Fprintf(w, `{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf","Name":"s","SecretString":%q,"VersionId":"v1","VersionStages":["AWSCURRENT"]}`, secretText)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), keys...) }
}

// ExpiredTokenException says the credentials lapsed, not that the secret is gone: it is transient
// (a cached value may stand in) and the next call is signed with credentials fetched again.
func TestExpiredTokenIsTransientAndFetchesCredentialsAgain(t *testing.T) {
	e := startCredentials(t, time.Hour)
	sm, signedWith := secretsStandIn(t, "ASIA-1")
	cfg, err := awsconfig.Load(containerEnv(e.srv.URL, "AWS_MAX_ATTEMPTS", "1"))
	if err != nil {
		t.Fatal(err)
	}
	c := New(cfg, Options{MaxConnections: 1, Timeout: func(kinko.Kind) time.Duration { return 5 * time.Second },
		Endpoints: map[kinko.Kind]string{kinko.SecretsManager: sm.URL}})
	req := kinko.Request{Kind: kinko.SecretsManager, ID: "s", Stage: kinko.CurrentStage}

	_, err = c.Fetch(t.Context(), req)
	ue, ok := err.(*kinko.Error)
	if !ok || ue.AWSCode != "ExpiredTokenException" || ue.AWSStatus != 400 || !transient(err) || !ue.FromAWS() {
		t.Fatalf("first call: %v, want AWS's 400 ExpiredTokenException, transient", err)
	}
	v, err := c.Fetch(t.Context(), req)
	if err != nil || v.Name != "s" {
		t.Fatalf("second call: %v, want the secret", err)
	}
	if got := signedWith(); strings.Join(got, ",") != "ASIA-1,ASIA-2" {
		t.Fatalf("calls signed with %q, want ASIA-1 then fresh credentials ASIA-2", got)
	}
}

// A failure at the container credentials endpoint is kinko's to report, not AWS's answer.
func TestCredentialsEndpointFailureIsCredentialsUnavailable(t *testing.T) {
	const rawBody = "raw-endpoint-body-7c1d: stack trace and internal detail"
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        string
		answer      kinko.Code // the server answers CredentialsUnavailable 500 (504 timed out, 502 unreachable)
		problem     string
	}{
		{"500 with a plain body", 500, "text/plain", rawBody, kinko.CredentialsUnavailable, "it answered HTTP 500"},
		{"403 with a JSON error", 403, "application/json", `{"code":"AccessDenied","message":"` + rawBody + `"}`, kinko.CredentialsUnavailable, "it answered HTTP 403"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer creds.Close()
			sm, signedWith := secretsStandIn(t)
			cfg, _ := awsconfig.Load(containerEnv(creds.URL))
			c := New(cfg, Options{MaxConnections: 1, Timeout: func(kinko.Kind) time.Duration { return 5 * time.Second },
				Endpoints: map[kinko.Kind]string{kinko.SecretsManager: sm.URL}})
			_, err := c.Fetch(t.Context(), kinko.Request{Kind: kinko.SecretsManager, ID: "s", Stage: kinko.CurrentStage})
			ue, ok := err.(*kinko.Error)
			if !ok {
				t.Fatalf("error %T, want *kinko.Error", err)
			}
			if ue.Code != tc.answer || ue.Type() != "CredentialsUnavailable" || !ue.Transient() || ue.FromAWS() {
				t.Fatalf("got %v %q transient=%t fromAWS=%t, want %v CredentialsUnavailable, transient, not from AWS",
					ue.Code, ue.Type(), ue.Transient(), ue.FromAWS(), tc.answer)
			}
			if strings.Contains(ue.Error(), "raw-endpoint-body") {
				t.Fatal("the message carries the endpoint's raw answer")
			}
			for _, want := range []string{tc.problem, "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "Secrets Manager"} {
				if !strings.Contains(ue.Message, want) {
					t.Errorf("message %q lacks %q", ue.Message, want)
				}
			}
			if n := len(signedWith()); n != 0 {
				t.Errorf("%d calls reached Secrets Manager without credentials", n)
			}
		})
	}

	// Nothing listens: a connection failure at the endpoint, still CredentialsUnavailable.
	l := httptest.NewServer(http.NotFoundHandler())
	url := l.URL
	l.Close()
	cfg, _ := awsconfig.Load(containerEnv(url))
	c := New(cfg, Options{MaxConnections: 1, Timeout: func(kinko.Kind) time.Duration { return 5 * time.Second },
		Endpoints: map[kinko.Kind]string{kinko.SecretsManager: url}})
	_, err := c.Fetch(t.Context(), kinko.Request{Kind: kinko.SecretsManager, ID: "s"})
	if ue, ok := err.(*kinko.Error); !ok || ue.Code != kinko.CredentialsUnreachable || ue.Type() != "CredentialsUnavailable" || !strings.Contains(ue.Message, "connection refused") {
		t.Fatalf("endpoint down: %v, want 502 CredentialsUnavailable naming the refused connection", err)
	}
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

// After a SnapStart restore the pooled connections lead nowhere: DropConnections closes them,
// so the next call dials afresh instead of failing on a dead one and waiting a retry's backoff.
func TestDropConnectionsClosesThePools(t *testing.T) {
	var cc connCounter
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprint(w, `{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf","Name":"s","SecretString":"v","VersionId":"v1"}`)
	}))
	srv.Config.ConnState = cc.state
	srv.Start()
	defer srv.Close()
	cfg, _ := awsconfig.Load(staticEnv("AWS_REGION", "us-east-1"))
	c := New(cfg, Options{MaxConnections: 1, Timeout: func(kinko.Kind) time.Duration { return 5 * time.Second },
		Endpoints: map[kinko.Kind]string{kinko.SecretsManager: srv.URL}})
	req := kinko.Request{Kind: kinko.SecretsManager, ID: "s"}
	// Whether the transport keeps a connection after a call is its own decision and timing (now
	// and then it closes one): call until one is held open, rather than count on the first.
	for i := 0; c.conns.count() == 0; i++ {
		if i == 10 {
			t.Fatal("10 calls and no connection kept open")
		}
		if _, err := c.Fetch(t.Context(), req); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := cc.get()
	c.DropConnections()
	waitUntil(t, "the server to see every connection closed", func() bool { _, closed := cc.get(); return closed == before })
	if n := c.conns.count(); n != 0 {
		t.Fatalf("%d connections still tracked after DropConnections", n)
	}
	if _, err := c.Fetch(t.Context(), req); err != nil {
		t.Fatalf("the call after DropConnections: %v", err)
	}
	if opened, _ := cc.get(); opened != before+1 {
		t.Fatalf("%d connections opened in all, want %d: a new one after DropConnections", opened, before+1)
	}
	// The call right after DropConnections, without waiting for the transport to notice
	// anything: the pools are empty at once, so it dials afresh and never writes on a closed
	// connection (the first call after a SnapStart restore).
	for i := range 50 {
		c.DropConnections()
		if _, err := c.Fetch(t.Context(), req); err != nil {
			t.Fatalf("call %d right after DropConnections: %v", i+1, err)
		}
	}
}
