package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// containerCreds stands in for the container credentials endpoint SnapStart and Managed
// Instances give (AWS_CONTAINER_CREDENTIALS_FULL_URI): it answers the right token only, each
// time with a new access key whose credentials last ttl, or fails as told.
type containerCreds struct {
	url string

	mu         sync.Mutex
	calls      int
	ttl        time.Duration
	failStatus int
	failBody   string
}

func startContainerCreds(t *testing.T, ttl time.Duration) *containerCreds {
	t.Helper()
	c := &containerCreds{ttl: ttl}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.url = "http://" + l.Addr().String() + "/2018-06-01/credentials"
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 64 << 10,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.calls++
			switch {
			case r.Header.Get("Authorization") != testToken:
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `{"code":"AccessDenied","message":"wrong token"}`)
			case c.failStatus != 0:
				w.WriteHeader(c.failStatus)
				fmt.Fprint(w, c.failBody)
			default:
				fmt.Fprintf(w, `{"AccessKeyId":"ASIA-%d","SecretAccessKey":"container-secret","Token":"container-session","Expiration":%q}`,
					c.calls, time.Now().Add(c.ttl).UTC().Format(time.RFC3339))
			}
		})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return c
}

func (c *containerCreds) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.calls }

func (c *containerCreds) fail(status int, body string) {
	c.mu.Lock()
	c.failStatus, c.failBody = status, body
	c.mu.Unlock()
}

// env is a sandbox with credentials from this endpoint only, as SnapStart and Managed Instances
// have them: no AWS_SESSION_TOKEN, the caller's token in AWS_CONTAINER_AUTHORIZATION_TOKEN.
func (c *containerCreds) env(initType string, more ...string) map[string]string {
	env := map[string]string{
		"AWS_LAMBDA_INITIALIZATION_TYPE":     initType,
		"AWS_ACCESS_KEY_ID":                  "",
		"AWS_SECRET_ACCESS_KEY":              "",
		"AWS_SESSION_TOKEN":                  "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": c.url,
		"AWS_CONTAINER_AUTHORIZATION_TOKEN":  testToken,
	}
	for i := 0; i+1 < len(more); i += 2 {
		env[more[i]] = more[i+1]
	}
	return env
}

const (
	beforeSnapshot = "value-from-before-the-snapshot-3b9e"
	afterRestore   = "value-rotated-after-the-snapshot-51c7"
)

// CONTRACT.md section 2 point 5: under SnapStart no secret value crosses the snapshot.
func TestSnapStart(t *testing.T) {
	a := startAWS(t)

	// No prefetch in init, a request in init answered and not kept; at the restore (the first
	// INVOKE) the credentials are fetched again and the prefetch runs; it then answers hits.
	t.Run("with KINKO_PREFETCH", func(t *testing.T) {
		a := a.withOwnProxy(t)
		a.createSecret(t, "snap/prefetched", beforeSnapshot)
		creds := startContainerCreds(t, time.Hour)
		x := startExtension(t, a, creds.env("snap-start", "KINKO_PREFETCH", "snap/prefetched"))
		x.waitLog(`"msg":"ready"`, `"init_type":"snap-start"`, `"prefetch":0`, `"prefetch_after_restore":1`)
		waitFor(t, "the first /event/next", 10*time.Second, func() bool { return x.lambda.next() == 1 })
		if n, c := a.proxy.Calls("GetSecretValue"), creds.count(); n != 0 || c != 0 {
			t.Fatalf("during SnapStart init with no request: %d calls to AWS, %d to the credentials endpoint; want none", n, c)
		}

		// Asked during init: answered, from AWS, and not stored (so not in the snapshot).
		for i := range 2 {
			r := x.get("/secretsmanager/get?secretId=snap/prefetched")
			if r.status != 200 || r.cacheStatus != "kinko; fwd=bypass" || !strings.Contains(r.body, beforeSnapshot) {
				t.Fatalf("request %d during init: %d %q, want 200 fetched, not stored (body %s)", i, r.status, r.cacheStatus, redact(r.body))
			}
		}
		if n := a.proxy.Calls("GetSecretValue"); n != 2 {
			t.Fatalf("%d calls to AWS for two requests during init, want 2: nothing is kept before the restore", n)
		}
		rotate(t, a, "snap/prefetched", afterRestore)
		credsBefore := creds.count()

		x.lambda.events <- eventInvoke() // the restore
		x.waitLog(`"msg":"prefetched after the restore"`, `"prefetch_failed":0`)
		if n := a.proxy.Calls("GetSecretValue"); n != 3 {
			t.Fatalf("%d calls to AWS after the restore's prefetch, want 3", n)
		}
		if c := creds.count(); c <= credsBefore {
			t.Fatalf("the credentials endpoint was not asked again after the restore (%d calls before, %d after)", credsBefore, c)
		}
		for i := range 2 {
			r := x.get("/secretsmanager/get?secretId=snap/prefetched")
			if r.status != 200 || !strings.HasPrefix(r.cacheStatus, "kinko; hit; ttl=") || !strings.Contains(r.body, afterRestore) {
				t.Fatalf("request %d after the restore: %d %q, want a hit on the value fetched after it (body %s)", i, r.status, r.cacheStatus, redact(r.body))
			}
		}
		if n := a.proxy.Calls("GetSecretValue"); n != 3 {
			t.Fatalf("%d calls to AWS, want still 3", n)
		}
		if err := x.stop(); err != nil {
			t.Fatal(err)
		}
		x.assertNoSecrets(a, beforeSnapshot, afterRestore)
	})

	// Without a prefetch: after the restore the next request makes a new upstream call (not a
	// hit, not the value from before), the one after is a hit.
	t.Run("on demand", func(t *testing.T) {
		a := a.withOwnProxy(t)
		a.createSecret(t, "snap/demand", beforeSnapshot)
		creds := startContainerCreds(t, time.Hour)
		x := startExtension(t, a, creds.env("snap-start"))
		x.waitLog(`"msg":"ready"`)
		if r := x.get("/secretsmanager/get?secretId=snap/demand"); r.status != 200 || !strings.Contains(r.body, beforeSnapshot) {
			t.Fatalf("request during init: %d %q", r.status, r.cacheStatus)
		}
		if n, c := a.proxy.Calls("GetSecretValue"), creds.count(); n != 1 || c != 1 {
			t.Fatalf("after one request during init: %d calls to AWS, %d to the credentials endpoint; want 1 and 1", n, c)
		}
		rotate(t, a, "snap/demand", afterRestore)

		x.lambda.events <- eventInvoke() // the restore
		x.waitLog(`"msg":"restored from a SnapStart snapshot`)
		first := x.get("/secretsmanager/get?secretId=snap/demand")
		if first.status != 200 || !strings.HasPrefix(first.cacheStatus, "kinko; fwd=miss; stored; ttl=") || !strings.Contains(first.body, afterRestore) {
			t.Fatalf("first request after the restore: %d %q, want a new upstream call with the rotated value (body %s)",
				first.status, first.cacheStatus, redact(first.body))
		}
		if n, c := a.proxy.Calls("GetSecretValue"), creds.count(); n != 2 || c != 2 {
			t.Fatalf("after the restore's first request: %d calls to AWS, %d to the credentials endpoint; want 2 and 2 (fresh credentials)", n, c)
		}
		second := x.get("/secretsmanager/get?secretId=snap/demand")
		if second.status != 200 || !strings.HasPrefix(second.cacheStatus, "kinko; hit; ttl=") || second.body != first.body {
			t.Fatalf("second request after the restore: %d %q, want a hit", second.status, second.cacheStatus)
		}
		// Only the first INVOKE is a restore: a later one forgets nothing.
		x.lambda.events <- eventInvoke()
		waitFor(t, "the second INVOKE to be taken", 10*time.Second, func() bool { return x.lambda.next() == 3 })
		if r := x.get("/secretsmanager/get?secretId=snap/demand"); !strings.HasPrefix(r.cacheStatus, "kinko; hit; ttl=") {
			t.Fatalf("after a second INVOKE: %q, want still a hit", r.cacheStatus)
		}
		if n := a.proxy.Calls("GetSecretValue"); n != 2 {
			t.Fatalf("%d calls to AWS, want still 2", n)
		}
		if err := x.stop(); err != nil {
			t.Fatal(err)
		}
		x.assertNoSecrets(a, beforeSnapshot, afterRestore)
	})
}

func rotate(t *testing.T, a *awsStack, id, value string) {
	t.Helper()
	if _, err := a.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(value)}); err != nil {
		t.Fatalf("rotate %s: %v", id, err)
	}
}
