package main

import (
	"strings"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/internal/faultproxy"
)

const credentialsRawBody = "raw-credentials-endpoint-body-9d2e internal detail"

// A failure at the container credentials endpoint is kinko's to report (CredentialsUnavailable,
// what failed and what to check), never AWS's answer: no fwd-status, no raw body. It is
// transient, so a cached value stands in for it. Credentials lasting exactly the SDK default
// chain's 5-minute window are never kept (the endpoint writes their expiry in whole seconds, so
// it falls at or before the fetch), so every signed call asks the endpoint again. With a second
// more they were kept for up to a second, and a refetch that the TTL's jitter brought forward
// went out signed with them: the test then counted two calls at AWS.
func TestCredentialsEndpointFailureThroughTheWholeProcess(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "mi/db", secretJSON())
	creds := startContainerCreds(t, 5*time.Minute)
	x := startExtension(t, a, creds.env("lambda-managed-instances",
		"SECRETS_MANAGER_TTL", "1", "KINKO_REFRESH_AHEAD", "1", "KINKO_STALE_IF_ERROR", "60"))
	x.waitLog(`"msg":"ready"`)
	if r := x.get("/secretsmanager/get?secretId=mi/db"); r.status != 200 || !strings.HasPrefix(r.cacheStatus, "kinko; fwd=miss; stored") {
		t.Fatalf("first request: %d %q", r.status, r.cacheStatus)
	}
	creds.fail(500, credentialsRawBody)

	// The value expires, its refetch needs credentials (those kept expire within the window),
	// the endpoint fails: the cached value is served, stale.
	var r response
	waitFor(t, "stale-if-error while the credentials endpoint fails", 15*time.Second, func() bool {
		r = x.get("/secretsmanager/get?secretId=mi/db")
		return r.cacheStatus == "kinko; hit; detail=stale-if-error"
	})
	if r.status != 200 || !strings.Contains(r.body, openAIKey) {
		t.Fatalf("stale answer: %d", r.status)
	}
	if c := creds.count(); c < 2 {
		t.Fatalf("the credentials endpoint was asked %d times, want it asked again before the credentials' expiry", c)
	}

	// With nothing cached, the caller gets kinko's error.
	missing := x.get("/secretsmanager/get?secretId=mi/other")
	if missing.status != 500 || !strings.Contains(missing.body, `"__type":"CredentialsUnavailable"`) {
		t.Fatalf("no value to fall back on: %d %s, want 500 CredentialsUnavailable", missing.status, redact(missing.body))
	}
	for _, want := range []string{"container credentials endpoint", "it answered HTTP 500", "AWS_CONTAINER_AUTHORIZATION_TOKEN"} {
		if !strings.Contains(missing.body, want) {
			t.Errorf("error body %s lacks %q", redact(missing.body), want)
		}
	}
	if strings.Contains(missing.body, "raw-credentials-endpoint-body") || strings.Contains(x.logs.String(), "raw-credentials-endpoint-body") {
		t.Error("the endpoint's raw answer reached the caller or the log")
	}
	if strings.Contains(missing.cacheStatus, "fwd-status") {
		t.Errorf("Cache-Status %q: fwd-status claims AWS answered", missing.cacheStatus)
	}
	if n := a.proxy.Calls("GetSecretValue"); n != 1 {
		t.Errorf("%d calls reached AWS, want only the first: the others had no credentials to sign with", n)
	}
	x.assertNoSecrets(a, openAIKey)
}

// ExpiredTokenException means the credentials lapsed, not that the secret is gone: the cached
// value stands in, and the credentials are fetched again for the next attempt.
func TestExpiredTokenServesStaleAndFetchesCredentialsAgain(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "mi/expiring", secretJSON())
	creds := startContainerCreds(t, time.Hour)
	x := startExtension(t, a, creds.env("lambda-managed-instances",
		"SECRETS_MANAGER_TTL", "1", "KINKO_REFRESH_AHEAD", "1", "KINKO_STALE_IF_ERROR", "60", "AWS_MAX_ATTEMPTS", "1"))
	x.waitLog(`"msg":"ready"`)
	if r := x.get("/secretsmanager/get?secretId=mi/expiring"); r.status != 200 {
		t.Fatalf("first request: %d", r.status)
	}
	if c := creds.count(); c != 1 {
		t.Fatalf("credentials endpoint asked %d times for one call, want 1", c)
	}
	a.proxy.SetFault(faultproxy.ExpiredToken)
	var r response
	waitFor(t, "stale-if-error on ExpiredTokenException", 15*time.Second, func() bool {
		r = x.get("/secretsmanager/get?secretId=mi/expiring")
		return r.cacheStatus == "kinko; hit; detail=stale-if-error" || r.status != 200
	})
	if r.status != 200 || !strings.Contains(r.body, openAIKey) {
		t.Fatalf("after ExpiredTokenException: %d %q, want the cached value, stale", r.status, r.cacheStatus)
	}
	a.proxy.SetFault(faultproxy.None)
	waitFor(t, "a fresh fetch once AWS accepts the credentials", 15*time.Second, func() bool {
		r = x.get("/secretsmanager/get?secretId=mi/expiring")
		return strings.Contains(r.cacheStatus, "; stored")
	})
	// The lapsed credentials were dropped: the attempt after the error fetched new ones,
	// although those kept would have lasted an hour.
	if c := creds.count(); c < 2 {
		t.Fatalf("credentials endpoint asked %d times, want again after ExpiredTokenException", c)
	}
	x.assertNoSecrets(a, openAIKey)
}
