package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	testToken  = "session-token-for-tests"
	testSecret = "sk-kinko-test-0123456789-wxyz"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func sessionEnv() func(string) string {
	return env(map[string]string{"AWS_SESSION_TOKEN": testToken})
}

func newClient(t *testing.T, url string, getenv func(string) string, opts ...Option) *Client {
	t.Helper()
	c, err := New(getenv, append([]Option{WithBaseURL(url), WithRetry(3, time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func TestSecretSendsTokenAndParsesDocument(t *testing.T) {
	var gotToken, gotPath, gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotToken, gotPath, gotQuery = r.Header.Get(TokenHeader), r.URL.Path, r.URL.RawQuery
		w.Header().Set("Cache-Status", "kinko; fwd=miss; stored")
		writeJSON(w, 200, map[string]any{
			"ARN":           "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf",
			"Name":          "app",
			"VersionId":     "v1",
			"SecretString":  testSecret,
			"SecretBinary":  []byte{0, 1, 2, 255},
			"VersionStages": []string{"AWSCURRENT"},
			"CreatedDate":   "2025-01-02T03:04:05.5Z",
		})
	}))
	defer srv.Close()

	s, err := newClient(t, srv.URL, sessionEnv()).Secret(t.Context(), "app")
	if err != nil {
		t.Fatalf("Secret: %v", err)
	}
	if gotToken != testToken {
		t.Errorf("token header = %q, want %q", gotToken, testToken)
	}
	if gotPath != "/secretsmanager/get" || gotQuery != "secretId=app" {
		t.Errorf("request = %s?%s, want /secretsmanager/get?secretId=app", gotPath, gotQuery)
	}
	want := time.Date(2025, 1, 2, 3, 4, 5, 5e8, time.UTC)
	if s.Name != "app" || s.VersionId != "v1" || s.SecretString != testSecret ||
		string(s.SecretBinary) != "\x00\x01\x02\xff" || len(s.VersionStages) != 1 ||
		!s.CreatedDate.Equal(want) || !strings.HasSuffix(s.ARN, "app-AbCdEf") {
		t.Errorf("parsed: %s", describe(s.SecretString, s.ARN, s.Name, s.VersionId, s.CacheStatus))
	}
	if s.CacheStatus != "kinko; fwd=miss; stored" {
		t.Errorf("CacheStatus = %q", s.CacheStatus)
	}
}

func TestTokenFallsBackToContainerToken(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get(TokenHeader)
		writeJSON(w, 200, map[string]string{"Name": "x"})
	}))
	defer srv.Close()
	// Empty AWS_SESSION_TOKEN is what the Lambda emulator passes when credentials are unset.
	getenv := env(map[string]string{"AWS_SESSION_TOKEN": "", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container"})
	if _, err := newClient(t, srv.URL, getenv).Secret(t.Context(), "x"); err != nil {
		t.Fatal(err)
	}
	if got != "container" {
		t.Errorf("token = %q, want the container token", got)
	}
}

func TestNoTokenFailsWithoutRequest(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, err := newClient(t, srv.URL, env(nil)).Secret(t.Context(), "x")
	if !errors.Is(err, ErrNoToken) {
		t.Fatalf("err = %v, want ErrNoToken", err)
	}
	for _, name := range []string{"AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("server got %d requests, want none", hits.Load())
	}
}

// hookTransport reports each failed round trip and may hold it until the test is ready.
type hookTransport struct {
	next  http.RoundTripper
	onErr func(error)
}

func (h hookTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(r)
	if err != nil {
		h.onErr(err)
	}
	return resp, err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRetriesRefusedConnectionUntilExtensionListens(t *testing.T) {
	addr := freeAddr(t)
	refused, bound := make(chan error), make(chan struct{})
	var once sync.Once
	tr := hookTransport{next: &http.Transport{}, onErr: func(err error) {
		// The first failure waits until the test has bound the port, so the retry
		// meets a listener: no timing guesses.
		once.Do(func() { refused <- err; <-bound })
	}}
	c := newClient(t, "http://"+addr, sessionEnv(), WithHTTPClient(&http.Client{Transport: tr}))

	type result struct {
		s   *SecretValue
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := c.Secret(t.Context(), "app")
		done <- result{s, err}
	}()

	select {
	case err := <-refused:
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("first attempt failed with %v, want connection refused", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no connection attempt within 10s")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		close(bound)
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"Name": "app", "SecretString": testSecret})
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	close(bound)

	select {
	case r := <-done:
		if r.err != nil || r.s.SecretString != testSecret {
			t.Fatalf("Secret after retry: got a value %t, %v", r.s != nil, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Secret did not return within 10s of the listener binding")
	}
}

func TestUnreachableAfterBoundedAttempts(t *testing.T) {
	addr := freeAddr(t)
	var attempts atomic.Int32
	tr := hookTransport{next: &http.Transport{}, onErr: func(error) { attempts.Add(1) }}
	c := newClient(t, "http://"+addr, sessionEnv(), WithHTTPClient(&http.Client{Transport: tr}), WithRetry(4, time.Millisecond))
	_, err := c.Secret(t.Context(), "app")
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want ErrUnreachable wrapping connection refused", err)
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "layer") {
		t.Errorf("error %q should name the address and suggest attaching the layer", err)
	}
	if n := attempts.Load(); n != 4 {
		t.Errorf("attempts = %d, want 4", n)
	}
}

func TestRetryStopsAtContextDeadline(t *testing.T) {
	addr := freeAddr(t)
	var attempts atomic.Int32
	tr := hookTransport{next: &http.Transport{}, onErr: func(error) { attempts.Add(1) }}
	// A long delay with a short deadline: the client must give up rather than sleep past it.
	c := newClient(t, "http://"+addr, sessionEnv(), WithHTTPClient(&http.Client{Transport: tr}), WithRetry(100, time.Second))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Secret(ctx, "app")
	if err == nil {
		t.Fatal("want an error")
	}
	if el := time.Since(start); el > 150*time.Millisecond {
		t.Errorf("took %v: the client slept although the delay could not fit before the deadline", el)
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("attempts = %d, want 1", n)
	}
}

func TestTypedErrors(t *testing.T) {
	cases := []struct {
		name   string
		status int
		header string
		body   string
		want   Error
	}{
		{"not found", 400, "", `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`,
			Error{400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."}},
		{"bad token", 401, "AccessDeniedException", `{"message":"bad session token or header key"}`,
			Error{401, "AccessDeniedException", "bad session token or header key"}},
		{"plain text", 400, "", "  bad\nrequest ", Error{400, "", "bad request"}},
		{"namespaced code", 500, "", `{"__type":"com.amazonaws.secretsmanager#InternalServiceError","Message":"boom"}`,
			Error{500, "InternalServiceError", "boom"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set("X-Amzn-Errortype", tc.header)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			_, err := newClient(t, srv.URL, sessionEnv()).Secret(t.Context(), "app")
			var kerr *Error
			if !errors.As(err, &kerr) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if *kerr != tc.want {
				t.Errorf("got %+v, want %+v", *kerr, tc.want)
			}
			if !strings.Contains(err.Error(), `"app"`) {
				t.Errorf("error %q does not name the secret", err)
			}
		})
	}
}

func TestSecretJSONKey(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case q.Get("secretId") != "app":
			writeJSON(w, 400, map[string]string{"__type": "ResourceNotFoundException", "message": "no such secret"})
		case q.Get("jsonKey") == "OPENAI_API_KEY":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, testSecret)
		default:
			writeJSON(w, 404, map[string]string{"__type": "KeyNotFound", "message": "no such key"})
		}
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, sessionEnv())

	v, err := c.SecretJSONKey(t.Context(), "app", "OPENAI_API_KEY")
	if err != nil || v != testSecret {
		t.Fatalf("SecretJSONKey: value matches %t, %v", v == testSecret, err)
	}
	_, err = c.SecretJSONKey(t.Context(), "app", "OTHER")
	var kerr *Error
	if !errors.As(err, &kerr) || kerr.Status != 404 {
		t.Fatalf("absent key: err = %v, want *Error 404", err)
	}
	if _, err := c.SecretJSONKey(t.Context(), "app", ""); err == nil {
		t.Error("empty key: want an error")
	}
}

func TestCacheStatusTo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Status", "kinko; hit; ttl=42")
		if r.URL.Query().Has("jsonKey") {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, testSecret)
			return
		}
		writeJSON(w, 200, map[string]string{"Name": "app", "SecretString": testSecret})
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, sessionEnv())

	var status string
	if v, err := c.SecretJSONKey(t.Context(), "app", "OPENAI_API_KEY", CacheStatusTo(&status)); err != nil || v != testSecret {
		t.Fatalf("SecretJSONKey: value matches %t, %v", v == testSecret, err)
	}
	if status != "kinko; hit; ttl=42" {
		t.Errorf("SecretJSONKey: CacheStatusTo got %q", status)
	}
	status = ""
	if _, err := c.Secret(t.Context(), "app", CacheStatusTo(&status)); err != nil || status != "kinko; hit; ttl=42" {
		t.Errorf("Secret: CacheStatusTo got %q, %v", status, err)
	}
	// A failed call leaves dst alone: there is no answer to describe.
	status = "untouched"
	if _, err := c.SecretJSONKey(t.Context(), "", "k", CacheStatusTo(&status)); err == nil || status != "untouched" {
		t.Errorf("invalid call: err %v, status %q", err, status)
	}
}

func TestSecretOptions(t *testing.T) {
	var got []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.RawQuery)
		mu.Unlock()
		writeJSON(w, 200, map[string]string{"Name": "app"})
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, sessionEnv())
	ctx := t.Context()
	for _, opts := range [][]SecretOption{{VersionStage("AWSPREVIOUS")}, {VersionID("v2"), RefreshNow()}} {
		if _, err := c.Secret(ctx, "app", opts...); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"secretId=app&versionStage=AWSPREVIOUS", "refreshNow=true&secretId=app&versionId=v2"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("queries = %q, want %q", got, want)
	}
	if _, err := c.Secret(ctx, "app", VersionStage("AWSCURRENT"), VersionID("v2")); err == nil {
		t.Error("stage and id together: want an error")
	}
	if _, err := c.Secret(ctx, ""); err == nil {
		t.Error("empty id: want an error")
	}
	if len(got) != 2 {
		t.Errorf("invalid calls reached the server: %q", got)
	}
}

func TestTimeouts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // hang until the client gives up
	}))
	defer srv.Close()

	t.Run("client timeout", func(t *testing.T) {
		c := newClient(t, srv.URL, sessionEnv(), WithTimeout(50*time.Millisecond))
		start := time.Now()
		_, err := c.Secret(t.Context(), "app")
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "50ms") {
			t.Fatalf("err = %v, want a deadline error naming the timeout", err)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("took %v", el)
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		c := newClient(t, srv.URL, sessionEnv(), WithTimeout(time.Minute))
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := c.Secret(ctx, "app")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestParameter(t *testing.T) {
	var gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/systemsmanager/parameters/get" || r.Header.Get(TokenHeader) != testToken {
			w.WriteHeader(404)
			return
		}
		gotQuery = r.URL.RawQuery
		w.Header().Set("Cache-Status", "kinko; hit; ttl=10")
		writeJSON(w, 200, map[string]any{"Parameter": map[string]any{
			"ARN": "arn:aws:ssm:us-east-1:123456789012:parameter/app/db", "DataType": "text",
			"LastModifiedDate": 1735787045.25, "Name": "/app/db", "Type": "SecureString",
			"Value": testSecret, "Version": 3,
		}})
	}))
	defer srv.Close()
	p, err := newClient(t, srv.URL, sessionEnv()).Parameter(t.Context(), "/app/db", true)
	if err != nil {
		t.Fatal(err)
	}
	if gotQuery != "name=%2Fapp%2Fdb&withDecryption=true" {
		t.Errorf("query = %q", gotQuery)
	}
	if p.Value != testSecret || p.Version != 3 || p.Type != "SecureString" || p.CacheStatus != "kinko; hit; ttl=10" ||
		!p.LastModifiedDate.Equal(time.Unix(1735787045, 25e7)) {
		t.Errorf("parsed: %s", describe(p.Value, p.ARN, p.Name, p.Type, p.CacheStatus))
	}
}

func TestMalformedAnswerDoesNotLeakSecret(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"SecretString": "`+testSecret+`" oops`)
	}))
	defer srv.Close()
	_, err := newClient(t, srv.URL, sessionEnv()).Secret(t.Context(), "app")
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "sk-") || strings.Contains(err.Error(), "wxyz") {
		t.Errorf("error leaks the secret: %v", err)
	}
}

func TestNewConfiguration(t *testing.T) {
	c, err := New(env(map[string]string{"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "2999"}))
	if err != nil || c.BaseURL() != "http://localhost:2999" {
		t.Errorf("BaseURL = %v, %v", c, err)
	}
	c, err = New(env(nil))
	if err != nil || c.BaseURL() != "http://localhost:2773" {
		t.Errorf("default BaseURL = %v, %v", c, err)
	}
	for _, bad := range []string{"abc", "0", "70000"} {
		_, err := New(env(map[string]string{"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": bad}))
		if err == nil || !strings.Contains(err.Error(), "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT") {
			t.Errorf("port %q: err = %v, want one naming the variable", bad, err)
		}
	}
	if _, err := New(env(nil), WithBaseURL("localhost:2773")); err == nil {
		t.Error("relative base URL: want an error")
	}
	if _, err := New(nil); err == nil {
		t.Error("nil getenv: want an error")
	}
}

func TestSecretJSONKeyWithExtensionIgnoringJSONKey(t *testing.T) {
	secrets := map[string]string{
		"obj":   `{"OPENAI_API_KEY":"` + testSecret + `","n":1}`,
		"plain": testSecret,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Like an extension that knows nothing of jsonKey: the whole document.
		writeJSON(w, 200, map[string]string{"Name": r.URL.Query().Get("secretId"), "SecretString": secrets[r.URL.Query().Get("secretId")]})
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, sessionEnv())

	if v, err := c.SecretJSONKey(t.Context(), "obj", "OPENAI_API_KEY"); err != nil || v != testSecret {
		t.Errorf("object: %q, %v", v, err)
	}
	for _, tc := range []struct {
		id, key string
		status  int
	}{{"plain", "OPENAI_API_KEY", 400}, {"obj", "missing", 404}, {"obj", "n", 404}} {
		_, err := c.SecretJSONKey(t.Context(), tc.id, tc.key)
		var kerr *Error
		if !errors.As(err, &kerr) || kerr.Status != tc.status {
			t.Errorf("%s/%s: err = %v, want *Error %d", tc.id, tc.key, err, tc.status)
		}
		if err != nil && strings.Contains(err.Error(), testSecret) {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
}

// describe shows parsed fields for a failure message with the secret value replaced by whether
// it matched: a failing test must not print the secret.
func describe(value string, fields ...string) string {
	return fmt.Sprintf("value matches %t, other fields %q", value == testSecret, fields)
}

// A redirect must never take the token elsewhere: kinko never redirects, so a 3xx means
// something else answers at the extension's address. The client does not follow it, with its
// own HTTP client or one the caller passed, and says why.
func TestRedirectIsNotFollowed(t *testing.T) {
	var elsewhere, withToken atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		if r.Header.Get(TokenHeader) != "" {
			withToken.Add(1)
		}
		writeJSON(w, 200, map[string]any{"Name": "app", "SecretString": testSecret,
			"Parameter": map[string]any{"Name": "p", "Value": testSecret}})
	}))
	defer other.Close()

	for _, status := range []int{301, 302, 303, 307, 308} {
		redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.RequestURI(), status)
		}))
		clients := map[string]*Client{
			"own HTTP client":   newClient(t, redirector.URL, sessionEnv()),
			"caller's client":   newClient(t, redirector.URL, sessionEnv(), WithHTTPClient(&http.Client{})),
			"caller's follower": newClient(t, redirector.URL, sessionEnv(), WithHTTPClient(&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }})),
		}
		for name, c := range clients {
			calls := map[string]func() error{
				"Secret":        func() error { _, err := c.Secret(t.Context(), "app"); return err },
				"SecretJSONKey": func() error { _, err := c.SecretJSONKey(t.Context(), "app", "k"); return err },
				"Parameter":     func() error { _, err := c.Parameter(t.Context(), "p", true); return err },
			}
			for call, do := range calls {
				err := do()
				var kerr *Error
				if err == nil || !errors.As(err, &kerr) || kerr.Status != status {
					t.Errorf("%d, %s, %s: err = %v, want *Error with status %d", status, name, call, err, status)
					continue
				}
				if msg := err.Error(); !strings.Contains(msg, "redirect") || !strings.Contains(msg, "not followed") ||
					!strings.Contains(msg, other.URL) || strings.Contains(msg, testSecret) {
					t.Errorf("%d, %s, %s: error %q should say a redirect to %s was not followed", status, name, call, msg, other.URL)
				}
			}
		}
		redirector.Close()
	}
	if n, tok := elsewhere.Load(), withToken.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests, %d of them with the token; want none", n, tok)
	}
}
