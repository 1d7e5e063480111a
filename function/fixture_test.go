package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/internal/syncbuf"

	"github.com/aws/aws-lambda-go/events"
)

const (
	fakeKey      = "sk-proj-FAKEKEY0123456789abcdefghijTESTwxyz"
	sessionToken = "test-session-token"
)

// kinkoStub stands in for the extension: it checks the token and answers like kinko,
// with AWS's 400 ResourceNotFoundException for an unknown secret.
type kinkoStub struct {
	srv     *httptest.Server
	secrets map[string]string // name -> SecretString

	mu       sync.Mutex
	queries  []string
	badToken int
}

func newKinkoStub(t *testing.T, secrets map[string]string) *kinkoStub {
	t.Helper()
	k := &kinkoStub{secrets: secrets}
	k.srv = httptest.NewServer(http.HandlerFunc(k.serve))
	t.Cleanup(k.srv.Close)
	return k
}

func (k *kinkoStub) serve(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	k.queries = append(k.queries, r.URL.RawQuery)
	ok := r.Header.Get("X-Aws-Parameters-Secrets-Token") == sessionToken
	if !ok {
		k.badToken++
	}
	s, found := k.secrets[r.URL.Query().Get("secretId")]
	k.mu.Unlock()

	w.Header().Set("Cache-Status", "kinko; hit; ttl=287")
	if !ok {
		w.Header().Set("X-Amzn-Errortype", "AccessDeniedException")
		writeJSON(w, 401, map[string]string{"__type": "AccessDeniedException", "message": "bad session token or header key"})
		return
	}
	if r.URL.Path != "/secretsmanager/get" {
		writeJSON(w, 404, map[string]string{"__type": "NotFound", "message": "unknown path"})
		return
	}
	q := r.URL.Query()
	if !found {
		writeJSON(w, 400, map[string]string{"__type": "ResourceNotFoundException", "message": "Secrets Manager can't find the specified secret."})
		return
	}
	if q.Has("jsonKey") {
		var obj map[string]any
		if json.Unmarshal([]byte(s), &obj) != nil || obj == nil {
			writeJSON(w, 400, map[string]string{"__type": "InvalidRequestException", "message": "the secret is not a JSON object"})
			return
		}
		v, has := obj[q.Get("jsonKey")].(string)
		if !has {
			writeJSON(w, 404, map[string]string{"__type": "JSONKeyNotFound", "message": "no such key"})
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, v)
		return
	}
	writeJSON(w, 200, map[string]any{
		"ARN":           "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + q.Get("secretId") + "-AbCdEf",
		"Name":          q.Get("secretId"),
		"VersionId":     "a1b2c3d4-0000-0000-0000-000000000001",
		"SecretString":  s,
		"VersionStages": []string{"AWSCURRENT"},
		"CreatedDate":   "2025-01-02T03:04:05Z",
	})
}

// setSecret stores a new value for name: a rotation.
func (k *kinkoStub) setSecret(name, value string) {
	k.mu.Lock()
	k.secrets[name] = value
	k.mu.Unlock()
}

func (k *kinkoStub) seen() (queries []string, badToken int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.queries...), k.badToken
}

type chatRequest struct {
	Model     string `json:"model"`
	MaxTokens int    `json:"max_tokens"`
	Messages  []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

type openAICall struct {
	auth string
	path string
	body chatRequest
}

// openAIStub is an OpenAI-compatible server; respond gets the 1-based attempt number.
type openAIStub struct {
	srv     *httptest.Server
	respond func(w http.ResponseWriter, r *http.Request, attempt int)

	mu    sync.Mutex
	calls []openAICall
}

func newOpenAIStub(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, attempt int)) *openAIStub {
	t.Helper()
	o := &openAIStub{respond: respond}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body chatRequest
		_ = json.NewDecoder(r.Body).Decode(&body)
		o.mu.Lock()
		o.calls = append(o.calls, openAICall{auth: r.Header.Get("Authorization"), path: r.URL.Path, body: body})
		n := len(o.calls)
		o.mu.Unlock()
		o.respond(w, r, n)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *openAIStub) seen() []openAICall {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]openAICall(nil), o.calls...)
}

func chatOK(content string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		writeJSON(w, 200, map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
			"choices": []any{map[string]any{
				"index": 0, "finish_reason": "stop",
				"message": map[string]string{"role": "assistant", "content": content},
			}},
		})
	}
}

func openAIErr(status int, typ, code, msg string) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type fixture struct {
	t      *testing.T
	kinko  *kinkoStub
	openai *openAIStub
	logs   *syncbuf.Buffer
	h      *handler

	mu     sync.Mutex
	bodies []string
}

// newFixture wires the handler as run does, from an environment pointing at the
// stubs. Its cleanup checks that the key appears in no answer and no log line, and
// that every request logged exactly one line.
func newFixture(t *testing.T, secrets map[string]string, respond func(http.ResponseWriter, *http.Request, int), extraEnv ...string) *fixture {
	t.Helper()
	f := &fixture{t: t, logs: &syncbuf.Buffer{}}
	f.kinko = newKinkoStub(t, secrets)
	f.openai = newOpenAIStub(t, respond)
	_, port, _ := net.SplitHostPort(f.kinko.srv.Listener.Addr().String())
	vars := map[string]string{
		"AWS_SESSION_TOKEN":                      sessionToken,
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": port,
		"OPENAI_BASE_URL":                        f.openai.srv.URL + "/v1",
	}
	for i := 0; i+1 < len(extraEnv); i += 2 {
		vars[extraEnv[i]] = extraEnv[i+1]
	}
	h, err := newHandlerFromEnv(func(k string) string { return vars[k] }, f.logs)
	if err != nil {
		t.Fatalf("newHandlerFromEnv: %v", err)
	}
	h.openai.(*retryDoer).baseDelay = time.Millisecond
	f.h = h
	t.Cleanup(f.checkNoLeak)
	return f
}

func (f *fixture) checkNoLeak() {
	f.mu.Lock()
	defer f.mu.Unlock()
	// The failures below never print what they found: it would print the key.
	for i, b := range f.bodies {
		if strings.Contains(b, fakeKey) {
			f.t.Errorf("answer %d contains the key (%d bytes; not printed)", i, len(b))
		}
	}
	logs := f.logs.String()
	if strings.Contains(logs, fakeKey) {
		f.t.Errorf("the logs contain the key (%d bytes; not printed)", len(logs))
		return // the checks below print log lines
	}
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if logs == "" {
		lines = nil
	}
	if len(lines) != len(f.bodies) {
		f.t.Errorf("%d log lines for %d requests:\n%s", len(lines), len(f.bodies), logs)
	}
	for _, l := range lines {
		var rec struct {
			Msg        string   `json:"msg"`
			Route      string   `json:"route"`
			Status     int      `json:"status"`
			DurationMS *float64 `json:"duration_ms"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Msg != "request" || rec.Route == "" ||
			rec.Status == 0 || rec.DurationMS == nil {
			f.t.Errorf("log line lacks msg/route/status/duration_ms: %s", l)
		}
	}
}

func (f *fixture) do(ctx context.Context, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	f.t.Helper()
	resp, err := f.h.Handle(ctx, req)
	if err != nil {
		f.t.Fatalf("Handle returned an error (API Gateway would show a bare 500): %v", err)
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, resp.Body)
	f.mu.Unlock()
	// Stop here, printing nothing, if the answer carries the key: the tests' failure messages
	// print answers, and must never print the key.
	for k, v := range resp.Headers {
		if strings.Contains(k+v, fakeKey) {
			f.t.Fatalf("header %s carries the key (not printed)", k)
		}
	}
	if strings.Contains(resp.Body, fakeKey) {
		f.t.Fatalf("the answer carries the key (%d bytes; not printed)", len(resp.Body))
	}
	return resp
}

func request(method, path, body string) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: "$default",
		RawPath:  path,
		Body:     body,
		Headers:  map[string]string{"content-type": "application/json"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			Stage:     "$default",
			RequestID: "req-" + strconv.Itoa(len(body)),
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
		},
	}
}

func prompt(p string) string {
	b, _ := json.Marshal(map[string]string{"prompt": p})
	return string(b)
}

// errorOf checks the answer is a JSON error with status and returns its message.
func errorOf(t *testing.T, resp events.APIGatewayV2HTTPResponse, status int) string {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d (body %s)", resp.StatusCode, status, resp.Body)
	}
	if ct := resp.Headers["Content-Type"]; ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &e); err != nil || e.Error == "" {
		t.Errorf("body %q is not {\"error\": \"...\"}", resp.Body)
	}
	return e.Error
}
