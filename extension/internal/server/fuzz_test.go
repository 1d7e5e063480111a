package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// The fuzz targets check the contract (CONTRACT.md section 3) on arbitrary input. `go test`
// runs the committed seeds in testdata/fuzz; `go test -fuzz '^FuzzHandler$'` explores.

const (
	fuzzToken = "fuzz-session-token-0123"
	// fuzzKeyValue is the value of key "api" in fuzzSecret: jsonKey answers it alone.
	fuzzKeyValue = "sk-fuzz-4c1e9a7b"
	fuzzSecret   = `{"api":"` + fuzzKeyValue + `","n":1}`
)

// allowedStatus is every status the contract lets kinko answer with (403: a browser's request,
// refused by the guards; CONTRACT.md section 11).
var allowedStatus = []int{200, 400, 401, 403, 404, 405, 500, 502, 503, 504}

// fuzzCache answers every id with the secret, except ids that name an upstream failure. It
// records what reached it.
type fuzzCache struct {
	mu  sync.Mutex
	ids []string
}

func (f *fuzzCache) Get(_ context.Context, r kinko.Request) (document.Value, cache.Status, error) {
	return f.answer(r, cache.Hit)
}

func (f *fuzzCache) Refresh(_ context.Context, r kinko.Request) (document.Value, cache.Status, error) {
	return f.answer(r, cache.Refreshed)
}

func (f *fuzzCache) answer(r kinko.Request, o cache.Outcome) (document.Value, cache.Status, error) {
	f.mu.Lock()
	f.ids = append(f.ids, r.ID)
	f.mu.Unlock()
	fail := map[string]*kinko.Error{
		"gone":     {Code: kinko.NotFound, AWSStatus: 400, AWSCode: "ResourceNotFoundException", Message: "Secrets Manager can't find the specified secret."},
		"denied":   {Code: kinko.AccessDenied, AWSStatus: 400, AWSCode: "AccessDeniedException", Message: "not authorized"},
		"throttle": {Code: kinko.Throttled, AWSStatus: 400, AWSCode: "ThrottlingException", Message: "Rate exceeded"},
		"late":     {Code: kinko.Timeout, Message: "Secrets Manager did not answer in time"},
		"down":     {Code: kinko.Unreachable, Message: "could not reach Secrets Manager"},
		"broken":   {Code: kinko.Unavailable, AWSStatus: 503, AWSCode: "ServiceUnavailable", Message: "unavailable"},
	}
	if e, ok := fail[r.ID]; ok {
		return document.Value{}, cache.Status{Outcome: o}, e
	}
	if r.ID == "binary" {
		return document.Value{Body: []byte(`{"Name":"binary","SecretBinary":"c2stZnV6eg=="}`), Name: r.ID}, cache.Status{Outcome: o}, nil
	}
	return textValue(r.ID, fuzzSecret), cache.Status{Outcome: o, TTL: 100e9}, nil
}

func (f *fuzzCache) Recount(kinko.Request) {}

// FuzzHandler sends arbitrary requests, parsed as net/http's server parses them, to the handler.
// tokens is how many token headers to send (0-2), each with token's bytes.
func FuzzHandler(f *testing.F) {
	f.Fuzz(func(t *testing.T, method, target string, token []byte, tokens uint8, forwarded bool) {
		var raw bytes.Buffer
		raw.WriteString(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:2773\r\n")
		for range tokens % 3 {
			raw.WriteString(TokenHeader + ": ")
			raw.Write(token)
			raw.WriteString("\r\n")
		}
		if forwarded {
			raw.WriteString("X-Forwarded-For: 10.0.0.1\r\n")
		}
		raw.WriteString("\r\n")
		req, err := http.ReadRequest(bufio.NewReader(&raw))
		if err != nil {
			return // net/http answers 400 itself; the handler never sees it
		}
		fc, roles := &fuzzCache{}, &fuzzRoles{}
		var logs bytes.Buffer
		h := NewHandlerWith(fc, fuzzToken, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Options{Roles: roles})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, req, rec, fc, logs.String())
		checkRoles(t, req, fc, roles)
	})
}

// authorized reports whether req carries exactly one token header equal to the token, and no proxy.
func authorized(req *http.Request) bool {
	got := req.Header.Values(TokenHeader)
	_, proxied := req.Header["X-Forwarded-For"]
	return len(got) == 1 && got[0] == fuzzToken && !proxied
}

func checkAnswer(t *testing.T, req *http.Request, rec *httptest.ResponseRecorder, fc *fuzzCache, logs string) {
	t.Helper()
	status, hdr, body := rec.Code, rec.Header(), rec.Body.String()
	if !slices.Contains(allowedStatus, status) {
		t.Fatalf("status %d is not one the contract allows", status)
	}
	if hdr.Get("Cache-Control") != "no-store" || !strings.HasPrefix(hdr.Get("Cache-Status"), "kinko") {
		t.Fatalf("answer %d lacks Cache-Control: no-store or Cache-Status", status)
	}
	if status == 405 && hdr.Get("Allow") != "GET" {
		t.Fatal("405 without Allow: GET")
	}
	if status != 200 && req.Method != http.MethodHead {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Type == "" || e.Message == "" || hdr.Get("X-Amzn-Errortype") != e.Type {
			t.Fatalf("%d answer is not the JSON error shape (%d bytes)", status, len(body))
		}
		if len(body) > 2048 {
			t.Fatalf("error body of %d bytes: caller text is not clipped", len(body))
		}
	}
	// The secret (whole, its key's value, or base64 of the binary) appears only in a 200 to an authorized GET.
	leaked := false
	for _, s := range []string{fuzzSecret, fuzzKeyValue, "c2stZnV6eg=="} {
		if strings.Contains(body, s) || strings.Contains(strings.Join(flatten(hdr), "\n"), s) {
			leaked = true
		}
		if strings.Contains(logs, s) {
			t.Fatal("secret appears in the log")
		}
	}
	if leaked && (status != 200 || !authorized(req) || req.Method != http.MethodGet) {
		t.Fatalf("secret appears in a %d answer to a %s request (authorized %t)", status, req.Method, authorized(req))
	}
	if status == 200 && !leaked && body != "healthy" && req.Method == http.MethodGet {
		// A 200 is the ping, or a value: jsonKey answers other keys' values too ("n" is 1).
		if !authorized(req) {
			t.Fatalf("200 to an unauthorized request that is not the ping")
		}
	}
	if status == 200 && body == "healthy" && req.URL.Path != "/ping" {
		t.Fatalf("ping's answer on %q", req.URL.Path)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.ids) > 0 && !authorized(req) {
		t.Fatal("an unauthorized request reached the cache")
	}
	// A path with an empty or dot segment, or a trailing slash other than the routes', is
	// refused before any route: an id with those travels percent-encoded.
	if p := req.URL.EscapedPath(); len(fc.ids) > 0 && p != path.Clean(p) && !lambdaHandler.slashRoute(p) {
		t.Fatalf("a request for the unclean path %q reached the cache", kinko.Clip(p))
	}
	if len(fc.ids) > 0 && strings.HasPrefix(req.URL.Path, AgentPrefix) && fc.ids[0] != strings.TrimPrefix(req.URL.Path, AgentPrefix) {
		t.Fatal("the agent path's id is not the rest of the decoded path")
	}
	// The path route's id is the rest of the decoded path, unless the path is the query
	// route's (/secretsmanager/get, in any spelling ServeMux decodes to it).
	if p := req.URL.Path; len(fc.ids) > 0 && strings.HasPrefix(p, SecretPrefix) && p != "/secretsmanager/get" && p != "/secretsmanager/get/" &&
		fc.ids[0] != strings.TrimPrefix(p, SecretPrefix) {
		t.Fatal("the path route's id is not the rest of the decoded path")
	}
	for _, id := range fc.ids {
		if err := kinko.CheckID(id); err != nil {
			t.Fatalf("an invalid id reached the cache: %v", err)
		}
	}
}

// fuzzRoles answers every role with a cache of its own, recording what reached it.
type fuzzRoles struct {
	mu    sync.Mutex
	arns  []string
	cache fuzzCache
}

func (f *fuzzRoles) For(arn string) (Cache, func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.arns = append(f.arns, arn)
	return &f.cache, func() {}, nil
}

// checkRoles holds roleArn's promise: a request naming it is read through that role's cache
// only, never the sandbox's, and a request without it never reaches a role.
func checkRoles(t *testing.T, req *http.Request, own *fuzzCache, roles *fuzzRoles) {
	t.Helper()
	q, err := url.ParseQuery(req.URL.RawQuery)
	named := err == nil && q.Has(roleArn)
	own.mu.Lock()
	defer own.mu.Unlock()
	roles.mu.Lock()
	defer roles.mu.Unlock()
	roles.cache.mu.Lock()
	defer roles.cache.mu.Unlock()
	switch {
	case named && len(own.ids) > 0:
		t.Fatal("a request naming roleArn reached the sandbox's own cache")
	case !named && (len(roles.arns) > 0 || len(roles.cache.ids) > 0):
		t.Fatal("a request without roleArn reached a role's cache")
	case len(roles.arns) > 0 && (len(q[roleArn]) != 1 || roles.arns[0] != q.Get(roleArn) || roles.arns[0] == ""):
		t.Fatal("a role was asked for by another ARN than the one roleArn gave")
	case len(roles.cache.ids) > 0 && !authorized(req):
		t.Fatal("an unauthorized request reached a role's cache")
	}
}

func flatten(h http.Header) []string {
	var out []string
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, k+": "+v)
		}
	}
	return out
}

// lambdaHandler is a handler with Lambda's options, for what the checks ask of the routes.
var lambdaHandler = &Handler{opts: Options{}.WithDefaults()}
