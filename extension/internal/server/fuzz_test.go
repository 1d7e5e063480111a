package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
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

// allowedStatus is every status the contract lets kinko answer with.
var allowedStatus = []int{200, 400, 401, 404, 405, 500, 502, 503, 504}

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
		fc := &fuzzCache{}
		var logs bytes.Buffer
		h := NewHandler(fc, fuzzToken, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, req, rec, fc, logs.String())
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
	if p := req.URL.EscapedPath(); len(fc.ids) > 0 && p != path.Clean(p) && !slashRoute(p) {
		t.Fatalf("a request for the unclean path %q reached the cache", clip(p))
	}
	if len(fc.ids) > 0 && strings.HasPrefix(req.URL.Path, AgentPrefix) && fc.ids[0] != strings.TrimPrefix(req.URL.Path, AgentPrefix) {
		t.Fatal("the agent path's id is not the rest of the decoded path")
	}
	for _, id := range fc.ids {
		if err := kinko.CheckID(id); err != nil {
			t.Fatalf("an invalid id reached the cache: %v", err)
		}
	}
}

// referenceQuery is how parseQuery read a query before it stopped building url.ParseQuery's map,
// with the bound on the number of parameters it has since.
func referenceQuery(raw string, allowed []string) (map[string]string, []string, error) {
	if n := len(strings.Split(raw, "&")); n > maxQueryParams {
		return nil, nil, fmt.Errorf("the query string has %d parameters, over the limit of %d; send only the ones the endpoint takes (%s)",
			n, maxQueryParams, strings.Join(allowed, ", "))
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("the query string is malformed (%v); URL-encode each value", err)
	}
	names := slices.Sorted(maps.Keys(vals))
	values := map[string]string{}
	var unknown []string
	for _, k := range names {
		vs := vals[k]
		if !slices.Contains(allowed, k) {
			if right := respelling(allowed, k); right != "" {
				return nil, nil, fmt.Errorf("query parameter %q is spelled %s: parameter names are case-sensitive", clip(k), right)
			}
			unknown = append(unknown, k)
			continue
		}
		if len(vs) > 1 {
			return nil, nil, fmt.Errorf("query parameter %s is given %d times; give it once", k, len(vs))
		}
		values[k] = vs[0]
	}
	return values, unknown, nil
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

// FuzzQuery checks the query parser alone: it accepts only known parameters, each once, with
// exactly url.ParseQuery's values, and its messages stay short whatever the input. It answers
// as the parser over url.ParseQuery's map it replaced (referenceQuery) does, errors included.
func FuzzQuery(f *testing.F) {
	allowed := []string{"secretId", "versionId", "versionStage", "refreshNow", "jsonKey"}
	for _, seed := range []string{"secretId=a;b", "secretId=%zz&x=%", "secretId=a&secret%49d=b&jsonKey=1&jsonKey=2",
		"versionstage=x&SecretId=y", "=x&&b&b=+%20", "z=1&y=2&y=3&secretId=a", strings.Repeat("a=1&", 150) + "secretId=a"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseQuery(raw, allowed...)
		refValues, refUnknown, refErr := referenceQuery(raw, allowed)
		switch {
		case (err == nil) != (refErr == nil) || err != nil && err.Error() != refErr.Error():
			t.Fatalf("error %v, the reference's %v", err, refErr)
		case !slices.Equal(q.unknown, refUnknown):
			t.Fatalf("ignored names %q, the reference's %q", q.unknown, refUnknown)
		}
		for k, v := range refValues {
			if got, given := q.get(k); !given || got != v {
				t.Fatalf("parameter %q: %q, %v; the reference has %q", k, got, given, v)
			}
		}
		if err != nil {
			if len(err.Error()) > 1024 {
				t.Fatalf("error message of %d bytes", len(err.Error()))
			}
			return
		}
		want, perr := url.ParseQuery(raw)
		if perr != nil {
			t.Fatalf("accepted a query url.ParseQuery refuses: %v", perr)
		}
		values := map[string]string{}
		for i, k := range allowed {
			if v, given := q.get(k); given {
				values[k] = v
			} else if q.given[i] || q.value[i] != "" {
				t.Fatalf("parameter %q not given but holds a value", k)
			}
		}
		if len(want) != len(values)+len(q.unknown) {
			t.Fatalf("%d parameters kept and %d ignored of %d", len(values), len(q.unknown), len(want))
		}
		if !slices.IsSorted(q.unknown) {
			t.Fatal("ignored names not sorted")
		}
		for k, v := range values {
			if !slices.Contains(allowed, k) || len(want[k]) != 1 || want[k][0] != v {
				t.Fatalf("parameter %q kept though unknown or repeated, or its value changed", k)
			}
		}
		// Ignored only when no known name matches it in another case: that one is an error.
		for _, k := range q.unknown {
			if respelling(allowed, k) != "" {
				t.Fatalf("parameter %q ignored though it is a known name in another case", clip(k))
			}
		}
		if id, err := q.id("secretId", "example"); err == nil {
			if kinko.CheckID(id) != nil || id != values["secretId"] {
				t.Fatal("q.id accepted an id CheckID refuses")
			}
		} else if len(err.Error()) > 1024 {
			t.Fatalf("error message of %d bytes", len(err.Error()))
		}
		if a, b, err := q.exclusive("versionId", "versionStage"); err == nil {
			if a != "" && b != "" || len(a) > kinko.MaxIDBytes || len(b) > kinko.MaxIDBytes {
				t.Fatal("exclusive accepted both, or an over-long value")
			}
		}
		if v, err := q.bool("refreshNow", true); err == nil && v != (strings.EqualFold(values["refreshNow"], "true") || values["refreshNow"] == "1") {
			t.Fatal("refreshNow read wrong")
		}
	})
}
