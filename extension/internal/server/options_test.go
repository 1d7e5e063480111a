package server

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

// The token may come in any of Options.TokenHeaders (the agent's X-Vault-Token too); a header
// given twice is still refused, and a missing token names every header.
func TestTokenHeadersOption(t *testing.T) {
	h := NewHandlerWith(newFake(), token, slog.New(slog.DiscardHandler), Options{
		TokenHeaders: []string{TokenHeader, "x-vault-token"}, TokenName: "the token of AWS_TOKEN"})
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
		msg  string
	}{
		{"first header", map[string]string{TokenHeader: token}, 200, ""},
		{"second header", map[string]string{"X-Vault-Token": token}, 200, ""},
		{"wrong in the first, right in the second", map[string]string{TokenHeader: "nope", "X-Vault-Token": token}, 200, ""},
		{"wrong", map[string]string{"X-Vault-Token": "nope"}, 401, "must equal the token of AWS_TOKEN"},
		{"none", nil, 401, "missing header X-Aws-Parameters-Secrets-Token or X-Vault-Token"},
	} {
		a := do(t, h, "GET", "/secretsmanager/get?secretId=app", tc.hdr)
		if a.status != tc.want || !strings.Contains(a.body, tc.msg) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, a.status, shown(a.body), tc.want, tc.msg)
		}
	}
	req := httptest.NewRequestWithContext(t.Context(), "GET", "/secretsmanager/get?secretId=app", nil)
	req.Header.Add("X-Vault-Token", token)
	req.Header.Add("X-Vault-Token", token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), "X-Vault-Token given more than once") {
		t.Errorf("a repeated token header: %d %s", rec.Code, shown(rec.Body.String()))
	}
}

// The agent's path_prefix replaces /v1/: the id is still the rest of the path, and /v1/ is no
// longer a route.
func TestPathPrefixOption(t *testing.T) {
	f := newFake()
	h := NewHandlerWith(f, token, slog.New(slog.DiscardHandler), Options{PathPrefix: "/secrets/"})
	if a := do(t, h, "GET", "/secrets/app?versionStage=AWSPENDING", withToken()); a.status != 200 || len(f.requests) != 1 ||
		f.requests[0].ID != "app" || f.requests[0].Stage != "AWSPENDING" {
		t.Errorf("/secrets/app: %d, reached the cache as %+v", a.status, f.requests)
	}
	if a := do(t, h, "GET", "/v1/app", withToken()); a.status != 404 || len(f.requests) != 1 {
		t.Errorf("/v1/app with prefix /secrets/: %d, cache got %+v", a.status, f.requests)
	}
	if a := do(t, h, "GET", "/secrets", withToken()); a.status != 404 || !strings.Contains(a.body, `/secrets/\u003csecret id\u003e`) {
		t.Errorf("/secrets: %d %s", a.status, a.body)
	}
}
