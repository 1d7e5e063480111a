package server

import (
	"strings"
	"testing"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// AWS Cloud Extensions' path route, GET /secretsmanager/<secret id>: the id is the rest of the
// path, slashes kept, percent-decoded, and the request is the query route's, so both share one
// cache entry. /secretsmanager/get stays the query route, however it is spelled.
func TestPathRouteReachesTheCacheAsTheQueryForm(t *testing.T) {
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
	current := func(id string) kinko.Request {
		return kinko.Request{Kind: kinko.SecretsManager, ID: id, Stage: kinko.CurrentStage}
	}
	for target, want := range map[string]kinko.Request{
		"/secretsmanager/app":                             current("app"),
		"/secretsmanager/prod/db":                         current("prod/db"),
		"/secretsmanager/prod%2Fdb":                       current("prod/db"),
		"/secretsmanager/prod%2fdb":                       current("prod/db"),
		"/secretsmanager/a%2F%2Fb%2F..%2Fc":               current("a//b/../c"),
		"/secretsmanager/my%20secret":                     current("my secret"),
		"/secretsmanager/" + arn:                          current(arn),
		"/secretsmanager/get/x":                           current("get/x"),
		"/secretsmanager/GET":                             current("GET"),
		"/secretsmanager/app?versionStage=AWSPENDING":     {Kind: kinko.SecretsManager, ID: "app", Stage: "AWSPENDING"},
		"/secretsmanager/app?versionId=v1":                {Kind: kinko.SecretsManager, ID: "app", VersionID: "v1"},
		"/secretsmanager/app?versionStage=AWSCURRENT":     current("app"),
		"/secretsmanager/get?secretId=prod%2Fdb":          current("prod/db"),
		"/secretsmanager/get/?secretId=prod%2Fdb":         current("prod/db"),
		"/secretsmanager/g%65t?secretId=prod%2Fdb":        current("prod/db"), // still the query route
		"/secretsmanager/app?withDecryption=true&abc=1":   current("app"),
		"/secretsmanager/app?refreshNow=1&jsonKey=port":   current("app"),
		"/secretsmanager/prod/db?versionStage=AWSCURRENT": current("prod/db"),
	} {
		f := newFake()
		h, _ := newTestHandler(t, f, token)
		do(t, h, "GET", target, withToken())
		if len(f.requests) != 1 || f.requests[0] != want {
			t.Errorf("%s reached the cache as %+v, want %+v", target, f.requests, want)
		}
	}
}

// The path route answers what the query route answers, byte for byte, hit or error.
func TestPathRouteAnswersAsTheQueryRoute(t *testing.T) {
	for _, pair := range [][2]string{
		{"/secretsmanager/app", "/secretsmanager/get?secretId=app"},
		{"/secretsmanager/app?jsonKey=OPENAI_API_KEY", "/secretsmanager/get?secretId=app&jsonKey=OPENAI_API_KEY"},
		{"/secretsmanager/app?jsonKey=nope", "/secretsmanager/get?secretId=app&jsonKey=nope"},
		{"/secretsmanager/gone", "/secretsmanager/get?secretId=gone"},
		{"/secretsmanager/app?refreshNow=true", "/secretsmanager/get?secretId=app&refreshNow=true"},
		{"/secretsmanager/app?versionId=a&versionStage=b", "/secretsmanager/get?secretId=app&versionId=a&versionStage=b"},
	} {
		h, _ := newTestHandler(t, newFake(), token)
		got, want := do(t, h, "GET", pair[0], withToken()), do(t, h, "GET", pair[1], withToken())
		if got.status != want.status || got.body != want.body || got.header.Get("Content-Type") != want.header.Get("Content-Type") ||
			got.header.Get("Cache-Status") != want.header.Get("Cache-Status") {
			t.Errorf("%s: %d (%d bytes), the query route %d (%d bytes)", pair[0], got.status, len(got.body), want.status, len(want.body))
		}
	}
}

// A path that is not already clean (an empty segment, a dot segment, a trailing slash) and an id
// the query route would refuse are refused with a 400 saying how to send such an id, and never
// reach the cache: ServeMux would have redirected them, or read another secret's name.
func TestPathRouteRefusesHostilePaths(t *testing.T) {
	long := strings.Repeat("x", kinko.MaxIDBytes+1)
	for target, want := range map[string]string{
		"/secretsmanager/":                                  "secret id is missing",
		"/secretsmanager/a//b":                              "percent-encoded",
		"/secretsmanager//a":                                "percent-encoded",
		"/secretsmanager/a/../b":                            "percent-encoded",
		"/secretsmanager/../get?secretId=a":                 "percent-encoded",
		"/secretsmanager/./a":                               "percent-encoded",
		"/secretsmanager/a/.":                               "percent-encoded",
		"/secretsmanager/a/":                                "percent-encoded",
		"/secretsmanager/get//":                             "percent-encoded",
		"/secretsmanager/" + long:                           "over the limit",
		"/secretsmanager/a%0Ab":                             "control character",
		"/secretsmanager/app?secretId=app":                  "secretId is not taken",
		"/secretsmanager/app?versionstage=x":                "is spelled versionStage",
		"/secretsmanager/app?versionStage=":                 "versionStage is empty",
		"/secretsmanager/app?versionStage=a&versionStage=b": "given 2 times",
	} {
		f := newFake()
		h, logs := newTestHandler(t, f, token)
		a := do(t, h, "GET", target, withToken())
		if a.status != 400 || a.header.Get("X-Amzn-Errortype") != "InvalidRequest" || !strings.Contains(a.body, want) {
			t.Errorf("%s: %d %s, want 400 InvalidRequest saying %q", kinko.Clip(target), a.status, shown(a.body), want)
		}
		if len(f.requests) != 0 {
			t.Errorf("%s reached the cache as %+v", kinko.Clip(target), f.requests)
		}
		noSecrets(t, "log", logs.String())
	}
}

// The path route is guarded as every read is, takes GET only, and leaves the other paths as
// they were.
func TestPathRouteContract(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		hdr            map[string]string
		status         int
		code           string
	}{
		{"GET", "/secretsmanager/app", withToken(), 200, ""},
		{"GET", "/secretsmanager/app", nil, 401, "AccessDeniedException"},
		{"GET", "/secretsmanager/app", map[string]string{TokenHeader: "nope"}, 401, "AccessDeniedException"},
		{"GET", "/secretsmanager/app", map[string]string{TokenHeader: token, "X-Forwarded-For": "10.0.0.1"}, 400, "InvalidRequest"},
		{"POST", "/secretsmanager/app", withToken(), 405, "MethodNotAllowed"},
		{"HEAD", "/secretsmanager/app", withToken(), 405, "MethodNotAllowed"},
		{"GET", "/secretsmanager", withToken(), 404, "NotFound"},
		{"GET", "/secretsmanager/gone", withToken(), 400, "ResourceNotFoundException"},
		{"GET", "/secretsmanagerx/app", withToken(), 404, "NotFound"},
		{"GET", "/v1/app/", withToken(), 404, "NotFound"}, // the agent's rules as they were
	} {
		h, _ := newTestHandler(t, newFake(), token)
		a := do(t, h, tc.method, tc.target, tc.hdr)
		if a.status != tc.status || a.header.Get("X-Amzn-Errortype") != tc.code {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.target, a.status, a.header.Get("X-Amzn-Errortype"), tc.status, tc.code)
		}
		if tc.status == 405 && a.header.Get("Allow") != "GET" {
			t.Errorf("%s %s: 405 without Allow: GET", tc.method, tc.target)
		}
		if a.header.Get("Cache-Control") != "no-store" || a.header.Get("Cache-Status") == "" {
			t.Errorf("%s %s: no cache headers", tc.method, tc.target)
		}
	}
}
