package server

import (
	"strings"
	"testing"

	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// GET /systemsmanager/parameters/getbypath reads a path as one cache entry: its key says by
// path, decrypted or not, recursive or not.
func TestByPathReachesTheCacheAsOnePathRead(t *testing.T) {
	path := func(id string, decrypt, recursive bool) kinko.Request {
		r := kinko.Request{Kind: kinko.SSM, ID: id, Decrypt: decrypt, Path: kinko.PathChildren}
		if recursive {
			r.Path = kinko.PathRecursive
		}
		return r
	}
	for target, want := range map[string]kinko.Request{
		ByPathRoute + "?path=/app/prod/&withDecryption=true":                 path("/app/prod/", true, false),
		ByPathRoute + "?path=%2Fapp%2Fprod&withDecryption=false":             path("/app/prod", false, false),
		ByPathRoute + "?path=/app/prod/":                                     path("/app/prod/", false, false),
		ByPathRoute + "?path=/&recursive=true":                               path("/", false, true),
		ByPathRoute + "?withDecryption=TRUE&recursive=false&path=/app/prod/": path("/app/prod/", true, false),
	} {
		f := newFake()
		f.values[want.ID] = document.Value{Body: []byte(`[]`)}
		h, _ := newTestHandler(t, f, token)
		a := do(t, h, "GET", target, withToken())
		if a.status != 200 || len(f.requests) != 1 || f.requests[0] != want {
			t.Errorf("%s: %d, reached the cache as %+v, want %+v", target, a.status, f.requests, want)
		}
	}
}

// The answer is GetParametersByPath's output around the cached list of parameters.
func TestByPathAnswersGetParametersByPathOutput(t *testing.T) {
	f := newFake()
	f.values["/app/"] = document.Value{Body: []byte(`[{"Name":"/app/A","Value":"s3cr3t"},{"Name":"/app/B","Value":"x"}]`)}
	h, _ := newTestHandler(t, f, token)
	a := do(t, h, "GET", ByPathRoute+"?path=/app/&withDecryption=true", withToken())
	want := `{"NextToken":null,"Parameters":[{"Name":"/app/A","Value":"s3cr3t"},{"Name":"/app/B","Value":"x"}],"ResultMetadata":{}}`
	if a.status != 200 || a.body != want || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q (%d bytes), want 200 application/json, the parameters inside GetParametersByPath's output", a.status, a.header.Get("Content-Type"), len(a.body))
	}
}

func TestByPathMistakesAreRefused(t *testing.T) {
	for target, says := range map[string]string{
		ByPathRoute:                                         "path is missing",
		ByPathRoute + "?path=":                              "path is empty",
		ByPathRoute + "?path=app/prod":                      "does not start with /",
		ByPathRoute + "?path=/a&path=/b":                    "given 2 times",
		ByPathRoute + "?path=/a&withDecryption=1":           "not true or false",
		ByPathRoute + "?path=/a&recursive=yes":              "not true or false",
		ByPathRoute + "?Path=/a":                            "is spelled path",
		ByPathRoute + "?path=/a&refreshNow=maybe":           "true, false, 1 or 0",
		ByPathRoute + "?path=/" + strings.Repeat("a", 2048): "over the limit",
	} {
		f := newFake()
		h, _ := newTestHandler(t, f, token)
		a := do(t, h, "GET", target, withToken())
		if a.status != 400 || !strings.Contains(a.body, says) || len(f.requests) != 0 {
			t.Errorf("%s: %d %s (cache asked %d times), want 400 saying %q", kinko.Clip(target), a.status, shown(a.body), len(f.requests), says)
		}
	}
	for _, tc := range []struct {
		method string
		hdr    map[string]string
		status int
	}{{"GET", nil, 401}, {"POST", withToken(), 405}, {"HEAD", withToken(), 405}} {
		h, _ := newTestHandler(t, newFake(), token)
		if a := do(t, h, tc.method, ByPathRoute+"?path=/a", tc.hdr); a.status != tc.status {
			t.Errorf("%s (token %t): %d, want %d", tc.method, tc.hdr != nil, a.status, tc.status)
		}
	}
}
