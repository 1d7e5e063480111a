package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

const (
	token       = "session-token-for-tests"
	secretValue = `{"OPENAI_API_KEY":"sk-test-0123456789abcdef","port":5432,"nested":{"a":1}}`
	plainValue  = "sk-plain-0123456789abcdef"
)

// fakeCache answers from fixed values and records the requests it got.
type fakeCache struct {
	mu       sync.Mutex
	requests []kinko.Request
	refresh  []bool
	recounts []kinko.Request
	values   map[string]document.Value // by ID
	err      error
	status   cache.Status
}

func (f *fakeCache) lookup(r kinko.Request, refresh bool) (document.Value, cache.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r)
	f.refresh = append(f.refresh, refresh)
	if f.err != nil {
		return document.Value{}, f.status, f.err
	}
	v, ok := f.values[r.ID]
	if !ok {
		return document.Value{}, f.status, &kinko.Error{Code: kinko.NotFound, AWSStatus: 400, AWSCode: "ResourceNotFoundException", Message: "Secrets Manager can't find the specified secret."}
	}
	return v, f.status, nil
}

func (f *fakeCache) Get(_ context.Context, r kinko.Request) (document.Value, cache.Status, error) {
	return f.lookup(r, false)
}

func (f *fakeCache) Refresh(_ context.Context, r kinko.Request) (document.Value, cache.Status, error) {
	return f.lookup(r, true)
}

func (f *fakeCache) Recount(r kinko.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recounts = append(f.recounts, r)
}

// textValue is the rendered answer for secret id holding text.
func textValue(id, text string) document.Value {
	v, err := document.RenderSecret(&secretsmanager.GetSecretValueOutput{Name: &id, SecretString: &text})
	if err != nil {
		panic(err)
	}
	return v
}

func newFake() *fakeCache {
	return &fakeCache{
		status: cache.Status{Outcome: cache.Hit, TTL: 287 * time.Second},
		values: map[string]document.Value{
			"app":    textValue("app", secretValue),
			"plain":  textValue("plain", plainValue),
			"binary": {Body: []byte(`{"SecretBinary":"AAE="}`), Name: "binary"},
		},
	}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, h http.Handler, method, target string, hdr map[string]string) answer {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return answer{rec.Code, rec.Header(), rec.Body.String()}
}

func withToken() map[string]string { return map[string]string{TokenHeader: token} }

func newTestHandler(t *testing.T, c Cache, tok string) (*Handler, *bytes.Buffer) {
	var logs bytes.Buffer
	return NewHandler(c, tok, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))), &logs
}

// noSecrets fails the test if any secret value appears in text, without printing the text.
func noSecrets(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range []string{secretValue, "sk-test-0123456789abcdef", plainValue, token} {
		if strings.Contains(text, s) {
			t.Errorf("%s contains a secret value (%d bytes of text; not printed)", where, len(text))
		}
	}
}

// shown is a body fit for a failure message: every fixture secret in it is replaced, so a
// regression that answers with a value fails the test without printing the value.
func shown(body string) string {
	for _, s := range []string{secretValue, "sk-test-0123456789abcdef", plainValue, token} {
		body = strings.ReplaceAll(body, s, "<secret redacted>")
	}
	return body
}

func TestEveryAnswerHasCacheHeaders(t *testing.T) {
	h, _ := newTestHandler(t, newFake(), token)
	for _, target := range []string{"/ping", "/secretsmanager/get?secretId=app", "/secretsmanager/get", "/nope", "/systemsmanager/parameters/get?name=x&label=a&version=1"} {
		for _, method := range []string{"GET", "POST", "HEAD"} {
			a := do(t, h, method, target, withToken())
			if a.header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(a.header.Get("Cache-Status"), "kinko") {
				t.Errorf("%s %s: Cache-Control %q Cache-Status %q", method, target, a.header.Get("Cache-Control"), a.header.Get("Cache-Status"))
			}
		}
	}
}

func TestContractTable(t *testing.T) {
	long := strings.Repeat("x", kinko.MaxIDBytes+1)
	cases := []struct {
		name, method, target string
		hdr                  map[string]string
		status               int
		code                 string // __type of a JSON error body, or "" for success
	}{
		{"ping needs no token", "GET", "/ping", nil, 200, ""},
		{"secret", "GET", "/secretsmanager/get?secretId=app", withToken(), 200, ""},
		{"no token", "GET", "/secretsmanager/get?secretId=app", nil, 401, "AccessDeniedException"},
		{"wrong token", "GET", "/secretsmanager/get?secretId=app", map[string]string{TokenHeader: "nope"}, 401, "AccessDeniedException"},
		{"near-miss token", "GET", "/secretsmanager/get?secretId=app", map[string]string{TokenHeader: token + "x"}, 401, "AccessDeniedException"},
		{"empty token", "GET", "/secretsmanager/get?secretId=app", map[string]string{TokenHeader: ""}, 401, "AccessDeniedException"},
		{"x-forwarded-for", "GET", "/secretsmanager/get?secretId=app", map[string]string{TokenHeader: token, "X-Forwarded-For": "10.0.0.1"}, 400, "InvalidRequest"},
		{"post", "POST", "/secretsmanager/get?secretId=app", withToken(), 405, "MethodNotAllowed"},
		{"head", "HEAD", "/secretsmanager/get?secretId=app", withToken(), 405, "MethodNotAllowed"},
		{"delete ping", "DELETE", "/ping", nil, 405, "MethodNotAllowed"},
		{"unknown path", "GET", "/systemsmanager/list", withToken(), 404, "NotFound"},
		{"path route", "GET", "/secretsmanager/app", withToken(), 200, ""},
		{"path route, unknown secret", "GET", "/secretsmanager/list", withToken(), 400, "ResourceNotFoundException"},
		{"trailing slash", "GET", "/secretsmanager/get/?secretId=app", withToken(), 200, ""},
		{"parameter trailing slash", "GET", "/systemsmanager/parameters/get/?name=app", withToken(), 200, ""},
		{"trailing slash is not a subtree", "GET", "/systemsmanager/parameters/get/x?name=app", withToken(), 404, "NotFound"},
		{"below the query route: the path route's secret get/x", "GET", "/secretsmanager/get/x", withToken(), 400, "ResourceNotFoundException"},
		{"two trailing slashes", "GET", "/systemsmanager/parameters/get//?name=app", withToken(), 404, "NotFound"},
		{"two trailing slashes on the path route", "GET", "/secretsmanager/get//?secretId=app", withToken(), 400, "InvalidRequest"},
		{"trailing slash on ping", "GET", "/ping/", nil, 404, "NotFound"},
		{"trailing slash, no token", "GET", "/systemsmanager/parameters/get/?name=app", nil, 401, "AccessDeniedException"},
		{"trailing slash, post", "POST", "/secretsmanager/get/?secretId=app", withToken(), 405, "MethodNotAllowed"},
		{"double slash", "GET", "//secretsmanager/get?secretId=app", withToken(), 404, "NotFound"},
		{"dot dot", "GET", "/systemsmanager/x/../parameters/get?name=app", withToken(), 404, "NotFound"},
		{"dot dot on the path route", "GET", "/secretsmanager/x/../get?secretId=app", withToken(), 400, "InvalidRequest"},
		{"encoded slash", "GET", "/secretsmanager%2Fget?secretId=app", withToken(), 404, "NotFound"},
		{"missing id", "GET", "/secretsmanager/get", withToken(), 400, "InvalidRequest"},
		{"empty id", "GET", "/secretsmanager/get?secretId=", withToken(), 400, "InvalidRequest"},
		{"id too long", "GET", "/secretsmanager/get?secretId=" + long, withToken(), 400, "InvalidRequest"},
		{"id of 2048 bytes", "GET", "/secretsmanager/get?secretId=" + long[1:], withToken(), 400, "ResourceNotFoundException"},
		{"control character", "GET", "/secretsmanager/get?secretId=a%0Ab", withToken(), 400, "InvalidRequest"},
		{"known parameter in another case", "GET", "/secretsmanager/get?secretId=app&secretid=app", withToken(), 400, "InvalidRequest"},
		{"versionstage", "GET", "/secretsmanager/get?secretId=app&versionstage=AWSPREVIOUS", withToken(), 400, "InvalidRequest"},
		{"secretID", "GET", "/secretsmanager/get?secretID=app", withToken(), 400, "InvalidRequest"},
		{"unknown parameter ignored", "GET", "/secretsmanager/get?secretId=app&withDecryption=true", withToken(), 200, ""},
		{"unknown parameter twice ignored", "GET", "/secretsmanager/get?secretId=app&x=1&x=2", withToken(), 200, ""},
		{"duplicate parameter", "GET", "/secretsmanager/get?secretId=app&secretId=app", withToken(), 400, "InvalidRequest"},
		{"duplicate stage", "GET", "/secretsmanager/get?secretId=app&versionStage=a&versionStage=a", withToken(), 400, "InvalidRequest"},
		{"refreshNow=1", "GET", "/secretsmanager/get?secretId=app&refreshNow=1", withToken(), 200, ""},
		{"refreshNow=FALSE", "GET", "/secretsmanager/get?secretId=app&refreshNow=FALSE", withToken(), 200, ""},
		{"refreshNow=2", "GET", "/secretsmanager/get?secretId=app&refreshNow=2", withToken(), 400, "InvalidRequest"},
		{"agent path", "GET", "/v1/app", withToken(), 200, ""},
		{"agent path, no token", "GET", "/v1/app", nil, 401, "AccessDeniedException"},
		{"agent path, x-forwarded-for", "GET", "/v1/app", map[string]string{TokenHeader: token, "X-Forwarded-For": "10.0.0.1"}, 400, "InvalidRequest"},
		{"agent path, post", "POST", "/v1/app", withToken(), 405, "MethodNotAllowed"},
		{"agent path, head", "HEAD", "/v1/app", withToken(), 405, "MethodNotAllowed"},
		{"agent path, no id", "GET", "/v1/", withToken(), 400, "InvalidRequest"},
		{"agent path, no slash", "GET", "/v1", withToken(), 404, "NotFound"},
		{"agent path, secretId too", "GET", "/v1/app?secretId=app", withToken(), 400, "InvalidRequest"},
		{"agent path, both versions", "GET", "/v1/app?versionId=v&versionStage=s", withToken(), 400, "InvalidRequest"},
		{"agent path, stage in another case", "GET", "/v1/app?VersionStage=s", withToken(), 400, "InvalidRequest"},
		{"agent path, refreshNow=0", "GET", "/v1/app?refreshNow=0", withToken(), 200, ""},
		{"agent path, unknown parameter", "GET", "/v1/app?abc=XXXXXXXX", withToken(), 200, ""},
		{"agent path, double slash", "GET", "/v1/a//b", withToken(), 404, "NotFound"},
		{"agent path, dot dot", "GET", "/v1/a/../app", withToken(), 404, "NotFound"},
		{"agent path, dot", "GET", "/v1/./app", withToken(), 404, "NotFound"},
		{"agent path, trailing slash", "GET", "/v1/app/", withToken(), 404, "NotFound"},
		{"agent path, control character", "GET", "/v1/a%0Ab", withToken(), 400, "InvalidRequest"},
		{"agent path, id too long", "GET", "/v1/" + long, withToken(), 400, "InvalidRequest"},
		{"malformed query", "GET", "/secretsmanager/get?secretId=%zz", withToken(), 400, "InvalidRequest"},
		{"stage and id", "GET", "/secretsmanager/get?secretId=app&versionStage=AWSCURRENT&versionId=v1", withToken(), 400, "InvalidRequest"},
		{"empty stage", "GET", "/secretsmanager/get?secretId=app&versionStage=", withToken(), 400, "InvalidRequest"},
		{"bad refreshNow", "GET", "/secretsmanager/get?secretId=app&refreshNow=yes", withToken(), 400, "InvalidRequest"},
		{"upstream not found", "GET", "/secretsmanager/get?secretId=gone", withToken(), 400, "ResourceNotFoundException"},
		{"jsonKey", "GET", "/secretsmanager/get?secretId=app&jsonKey=OPENAI_API_KEY", withToken(), 200, ""},
		{"jsonKey absent", "GET", "/secretsmanager/get?secretId=app&jsonKey=nope", withToken(), 404, "JsonKeyNotFound"},
		{"jsonKey on plain", "GET", "/secretsmanager/get?secretId=plain&jsonKey=k", withToken(), 400, "InvalidRequest"},
		{"jsonKey on binary", "GET", "/secretsmanager/get?secretId=binary&jsonKey=k", withToken(), 400, "InvalidRequest"},
		{"empty jsonKey", "GET", "/secretsmanager/get?secretId=app&jsonKey=", withToken(), 400, "InvalidRequest"},
		{"parameter", "GET", "/systemsmanager/parameters/get?name=app", withToken(), 200, ""},
		{"parameter no token", "GET", "/systemsmanager/parameters/get?name=app", nil, 401, "AccessDeniedException"},
		{"parameter version and label", "GET", "/systemsmanager/parameters/get?name=app&version=2&label=prod", withToken(), 400, "InvalidRequest"},
		{"parameter bad version", "GET", "/systemsmanager/parameters/get?name=app&version=two", withToken(), 400, "InvalidRequest"},
		{"parameter bad decryption flag", "GET", "/systemsmanager/parameters/get?name=app&withDecryption=1", withToken(), 400, "InvalidRequest"},
		{"parameter unknown parameter ignored", "GET", "/systemsmanager/parameters/get?name=app&secretId=x", withToken(), 200, ""},
		{"parameter Name", "GET", "/systemsmanager/parameters/get?Name=app", withToken(), 400, "InvalidRequest"},
		{"parameter withdecryption", "GET", "/systemsmanager/parameters/get?name=app&withdecryption=true", withToken(), 400, "InvalidRequest"},
		{"parameter duplicate name", "GET", "/systemsmanager/parameters/get?name=app&name=app", withToken(), 400, "InvalidRequest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, logs := newTestHandler(t, newFake(), token)
			a := do(t, h, tc.method, tc.target, tc.hdr)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d (body %d bytes)", a.status, tc.status, len(a.body))
			}
			if tc.code != "" {
				var e struct{ Type, Message string }
				if tc.method != "HEAD" {
					if err := json.Unmarshal([]byte(a.body), &struct {
						Type    *string `json:"__type"`
						Message *string `json:"message"`
					}{&e.Type, &e.Message}); err != nil || e.Type != tc.code || e.Message == "" {
						t.Fatalf("error body: __type %q message %q (%v), want __type %q and a message", e.Type, e.Message, err, tc.code)
					}
				}
				if a.header.Get("Content-Type") != "application/json" || a.header.Get("X-Amzn-Errortype") != tc.code {
					t.Fatalf("error headers: %v", a.header)
				}
				noSecrets(t, "error body", a.body)
			}
			if tc.status == 405 && a.header.Get("Allow") != "GET" {
				t.Fatalf("405 without Allow: GET: %v", a.header)
			}
			noSecrets(t, "log", logs.String())
		})
	}
}

func TestFailClosedWithoutExpectedToken(t *testing.T) {
	h, _ := newTestHandler(t, newFake(), "")
	for _, hdr := range []map[string]string{nil, {TokenHeader: ""}, {TokenHeader: "anything"}} {
		a := do(t, h, "GET", "/secretsmanager/get?secretId=app", hdr)
		if a.status != 401 || !strings.Contains(a.body, "AWS_SESSION_TOKEN") {
			t.Fatalf("with no expected token: %d (body %d bytes), want 401 naming AWS_SESSION_TOKEN", a.status, len(a.body))
		}
	}
	if a := do(t, h, "GET", "/ping", nil); a.status != 200 || a.body != "healthy" {
		t.Fatalf("ping = %d %q", a.status, shown(a.body))
	}
}

func TestRepeatedTokenHeaderIsRefused(t *testing.T) {
	h, _ := newTestHandler(t, newFake(), token)
	req := httptest.NewRequestWithContext(t.Context(), "GET", "/secretsmanager/get?secretId=app", nil)
	req.Header.Add(TokenHeader, token)
	req.Header.Add(TokenHeader, token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Fatalf("status %d, want 401", rec.Code)
	}
}

func TestSecretAnswer(t *testing.T) {
	f := newFake()
	h, _ := newTestHandler(t, f, token)
	a := do(t, h, "GET", "/secretsmanager/get?secretId=app", withToken())
	if a.status != 200 || a.header.Get("Content-Type") != "application/json" || a.header.Get("Cache-Status") != "kinko; hit; ttl=287" {
		t.Fatalf("answer %d %v", a.status, a.header)
	}
	if a.body != string(f.values["app"].Body) {
		t.Fatal("body is not the cached document")
	}
	if got := f.requests[0]; got != (kinko.Request{Kind: kinko.SecretsManager, ID: "app", Stage: "AWSCURRENT"}) {
		t.Fatalf("no version must mean AWSCURRENT: %+v", got)
	}
}

func TestVersionsReachTheCacheKey(t *testing.T) {
	f := newFake()
	h, _ := newTestHandler(t, f, token)
	do(t, h, "GET", "/secretsmanager/get?secretId=app&versionId=v1", withToken())
	do(t, h, "GET", "/secretsmanager/get?secretId=app&versionStage=AWSPREVIOUS&refreshNow=true", withToken())
	do(t, h, "GET", "/systemsmanager/parameters/get?name=app&version=3&withDecryption=true", withToken())
	do(t, h, "GET", "/systemsmanager/parameters/get?name=app&label=prod", withToken())
	want := []kinko.Request{
		{Kind: kinko.SecretsManager, ID: "app", VersionID: "v1"},
		{Kind: kinko.SecretsManager, ID: "app", Stage: "AWSPREVIOUS"},
		{Kind: kinko.SSM, ID: "app", VersionID: "3", Decrypt: true},
		{Kind: kinko.SSM, ID: "app", Stage: "prod"},
	}
	for i, w := range want {
		if f.requests[i] != w {
			t.Errorf("request %d = %+v, want %+v", i, f.requests[i], w)
		}
	}
	if f.refresh[0] || !f.refresh[1] {
		t.Errorf("refreshNow not passed through: %v", f.refresh)
	}
}

func TestJSONKeyValues(t *testing.T) {
	h, _ := newTestHandler(t, newFake(), token)
	for key, want := range map[string]string{"OPENAI_API_KEY": "sk-test-0123456789abcdef", "port": "5432", "nested": `{"a":1}`} {
		a := do(t, h, "GET", "/secretsmanager/get?secretId=app&jsonKey="+key, withToken())
		if a.status != 200 || a.body != want || a.header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("jsonKey=%s: status %d, content type %q, body matches: %t", key, a.status, a.header.Get("Content-Type"), a.body == want)
		}
	}
}

func TestUpstreamErrorsPassThrough(t *testing.T) {
	for _, tc := range []struct {
		e      *kinko.Error
		status int
		typ    string
	}{
		{&kinko.Error{Code: kinko.NotFound, AWSStatus: 400, AWSCode: "ResourceNotFoundException", Message: "not found"}, 400, "ResourceNotFoundException"},
		{&kinko.Error{Code: kinko.AccessDenied, AWSStatus: 400, AWSCode: "AccessDeniedException", Message: "denied"}, 400, "AccessDeniedException"},
		{&kinko.Error{Code: kinko.Rejected, AWSStatus: 400, AWSCode: "DecryptionFailure", Message: "kms"}, 400, "DecryptionFailure"},
		{&kinko.Error{Code: kinko.Throttled, AWSStatus: 400, AWSCode: "ThrottlingException", Message: "slow down"}, 400, "ThrottlingException"},
		{&kinko.Error{Code: kinko.Timeout, Message: "late"}, 504, "UpstreamTimeout"},
		{&kinko.Error{Code: kinko.Unreachable, Message: "refused"}, 502, "UpstreamUnreachable"},
		{&kinko.Error{Code: kinko.Internal, Message: "odd"}, 500, "InternalFailure"},
	} {
		e := tc.e
		f := newFake()
		f.err, f.status = e, cache.Status{Outcome: cache.Miss}
		h, _ := newTestHandler(t, f, token)
		a := do(t, h, "GET", "/secretsmanager/get?secretId=app", withToken())
		var body struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal([]byte(a.body), &body)
		if a.status != tc.status || body.Type != tc.typ || body.Message != e.Message {
			t.Errorf("%s: got %d %+v", tc.typ, a.status, body)
		}
		wantStatus := "kinko; fwd=miss"
		if e.FromAWS() {
			wantStatus += "; fwd-status=400"
		}
		if got := a.header.Get("Cache-Status"); got != wantStatus {
			t.Errorf("%s: Cache-Status %q, want %q", tc.typ, got, wantStatus)
		}
	}
}

func TestHTTPServerLimits(t *testing.T) {
	s := NewHTTPServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if s.ReadHeaderTimeout == 0 || s.ReadTimeout == 0 || s.WriteTimeout == 0 || s.IdleTimeout == 0 || s.MaxHeaderBytes != MaxHeaderBytes {
		t.Fatalf("server lacks a limit: %+v", s)
	}
}

// The agent's path style: the id is the rest of the path, slashes included, percent-decoded,
// and the same cache entry as the query form.
func TestAgentPathReachesTheCacheAsTheQueryForm(t *testing.T) {
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
	for target, want := range map[string]kinko.Request{
		"/v1/app":                                {Kind: kinko.SecretsManager, ID: "app", Stage: "AWSCURRENT"},
		"/v1/prod/db":                            {Kind: kinko.SecretsManager, ID: "prod/db", Stage: "AWSCURRENT"},
		"/v1/prod%2Fdb":                          {Kind: kinko.SecretsManager, ID: "prod/db", Stage: "AWSCURRENT"},
		"/v1/a%2F%2Fb%2F..%2Fc":                  {Kind: kinko.SecretsManager, ID: "a//b/../c", Stage: "AWSCURRENT"},
		"/v1/my%20secret":                        {Kind: kinko.SecretsManager, ID: "my secret", Stage: "AWSCURRENT"},
		"/v1/" + arn:                             {Kind: kinko.SecretsManager, ID: arn, Stage: "AWSCURRENT"},
		"/v1/app?versionStage=AWSPENDING":        {Kind: kinko.SecretsManager, ID: "app", Stage: "AWSPENDING"},
		"/v1/app?versionId=v1":                   {Kind: kinko.SecretsManager, ID: "app", VersionID: "v1"},
		"/secretsmanager/get?secretId=prod%2Fdb": {Kind: kinko.SecretsManager, ID: "prod/db", Stage: "AWSCURRENT"},
	} {
		f := newFake()
		h, _ := newTestHandler(t, f, token)
		do(t, h, "GET", target, withToken())
		if len(f.requests) != 1 || f.requests[0] != want {
			t.Errorf("%s reached the cache as %+v, want %+v", target, f.requests, want)
		}
	}
}

func TestRefreshNowSpellings(t *testing.T) {
	for value, want := range map[string]bool{"true": true, "TRUE": true, "True": true, "1": true, "false": false, "FALSE": false, "0": false} {
		for _, target := range []string{"/secretsmanager/get?secretId=app&refreshNow=" + value, "/v1/app?refreshNow=" + value} {
			f := newFake()
			h, _ := newTestHandler(t, f, token)
			if a := do(t, h, "GET", target, withToken()); a.status != 200 || len(f.refresh) != 1 || f.refresh[0] != want {
				t.Errorf("%s: status %d, refresh %v, want %v", target, a.status, f.refresh, want)
			}
		}
	}
	h, _ := newTestHandler(t, newFake(), token)
	if a := do(t, h, "GET", "/secretsmanager/get?secretId=app&refreshNow=yes", withToken()); a.status != 400 || !strings.Contains(a.body, "true, false, 1 or 0") {
		t.Errorf("refreshNow=yes: %d %s, want 400 listing what is accepted", a.status, shown(a.body))
	}
}

// A known name in another case is refused with the right spelling: ignoring versionstage would
// serve AWSCURRENT to a caller who asked for another version.
func TestKnownNameInAnotherCaseNamesTheSpelling(t *testing.T) {
	h, _ := newTestHandler(t, newFake(), token)
	for target, right := range map[string]string{
		"/secretsmanager/get?secretId=app&versionstage=AWSPREVIOUS":  "versionStage",
		"/secretsmanager/get?secretID=app":                           "secretId",
		"/secretsmanager/get?secretId=app&RefreshNow=true":           "refreshNow",
		"/v1/app?versionid=v1":                                       "versionId",
		"/systemsmanager/parameters/get?Name=/p":                     "name",
		"/systemsmanager/parameters/get?name=/p&WithDecryption=true": "withDecryption",
	} {
		a := do(t, h, "GET", target, withToken())
		if a.status != 400 || !strings.Contains(a.body, "is spelled "+right) {
			t.Errorf("%s: %d %s, want 400 naming %s", target, a.status, a.body, right)
		}
	}
}

// Unknown names are logged once each at WARN, never with their values, and a caller sending
// endless new names cannot grow what kinko remembers or writes.
func TestUnknownParametersLoggedOncePerNameAndBounded(t *testing.T) {
	f := newFake()
	h, logs := newTestHandler(t, f, token)
	for range 3 {
		if a := do(t, h, "GET", "/secretsmanager/get?secretId=app&withDecryption=true&token="+plainValue, withToken()); a.status != 200 {
			t.Fatalf("status %d, want 200: unknown parameters are ignored", a.status)
		}
	}
	if n := strings.Count(logs.String(), `"parameter":"withDecryption"`); n != 1 {
		t.Fatalf("withDecryption logged %d times over 3 requests, want once", n)
	}
	if !strings.Contains(logs.String(), `"level":"WARN"`) {
		t.Fatal("unknown parameters are not logged at WARN")
	}
	noSecrets(t, "log", logs.String())

	for i := range 3 * maxUnknownNames {
		do(t, h, "GET", fmt.Sprintf("/secretsmanager/get?secretId=app&p%d=%s", i, plainValue), withToken())
	}
	lines := strings.Count(logs.String(), "unknown query parameter ignored")
	if lines != maxUnknownNames || strings.Count(logs.String(), "no longer logging new names") != 1 {
		t.Fatalf("%d names logged and %d cap notices after %d distinct names, want %d and 1",
			lines, strings.Count(logs.String(), "no longer logging new names"), 3*maxUnknownNames+2, maxUnknownNames)
	}
	if len(h.unknown.seen) > maxUnknownNames {
		t.Fatalf("%d names remembered, over the bound of %d", len(h.unknown.seen), maxUnknownNames)
	}
	noSecrets(t, "log", logs.String())
}

// Issue 18, point 11: a key whose value is JSON null holds no value. It answered 200 with an
// empty body, which a caller takes for an empty password.
func TestJSONKeyNullIsNotFound(t *testing.T) {
	f := newFake()
	f.values["nulls"] = textValue("nulls", `{"password":null,"literal":"null"}`)
	h, logs := newTestHandler(t, f, token)
	a := do(t, h, "GET", "/secretsmanager/get?secretId=nulls&jsonKey=password", withToken())
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal([]byte(a.body), &e)
	if a.status != 404 || e.Type != "JsonKeyNotFound" || !strings.Contains(e.Message, "null") {
		t.Fatalf("jsonKey on a null: %d %q, want 404 JsonKeyNotFound saying the key is null", a.status, shown(a.body))
	}
	// The string "null" is a value like any other.
	if a := do(t, h, "GET", "/secretsmanager/get?secretId=nulls&jsonKey=literal", withToken()); a.status != 200 || a.body != "null" {
		t.Fatalf("jsonKey on the string \"null\": %d %q, want 200 null", a.status, shown(a.body))
	}
	noSecrets(t, "log", logs.String())
}

func TestUncleanPathSaysHowToSendTheID(t *testing.T) {
	h, _ := newTestHandler(t, newFake(), token)
	for _, target := range []string{"/v1/a//b", "/v1/a/../b", "/v1/a/", "//secretsmanager/get?secretId=a"} {
		a := do(t, h, "GET", target, withToken())
		if a.status != 404 || !strings.Contains(a.body, "percent-encoded") {
			t.Errorf("%s: %d %s, want 404 saying how to send such an id", target, a.status, shown(a.body))
		}
	}
}

// ServeHTTP routes exact GETs of the secret and parameter paths itself, without the mux; the
// answers must be the mux's, for those paths and for spellings the mux alone resolves.
func TestFastRoutesAnswerAsTheMux(t *testing.T) {
	h := NewHandler(newFake(), token, slog.New(slog.DiscardHandler))
	viaMux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr["Cache-Control"], hdr["Cache-Status"] = h.hv.noStore, h.hv.bypass
		h.mux.ServeHTTP(w, r)
	})
	for _, target := range []string{
		"/secretsmanager/get?secretId=app", "/secretsmanager/get/?secretId=app&jsonKey=user",
		"/secretsmanager/g%65t?secretId=app", "/secretsmanager%2Fget?secretId=app", "/secretsmanager/get?secretId=nope",
		"/systemsmanager/parameters/get?name=app", "/systemsmanager/parameters/get/?name=app&withDecryption=true",
		"/systemsmanager/parameters/get?name=app&version=x", "/systemsmanager/parameters/get?Name=app",
	} {
		for _, method := range []string{"GET", "HEAD", "POST"} {
			for _, hdr := range []map[string]string{withToken(), nil} {
				got, want := do(t, h, method, target, hdr), do(t, viaMux, method, target, hdr)
				if got.status != want.status || got.body != want.body || !reflect.DeepEqual(got.header, want.header) {
					t.Errorf("%s %s (token %v): %d %v, the mux %d %v", method, target, hdr != nil, got.status, got.header, want.status, want.header)
				}
			}
		}
	}
}
