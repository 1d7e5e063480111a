package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/internal/faultproxy"
)

// The fault suite drives the whole process (run() against moto behind a fault proxy) through
// every fault AWS can show, and records for each what a caller gets without a cached value,
// with a fresh one, with an expired one inside and past the stale-if-error window, and with
// refreshNow, and how many calls reached AWS. Run with -v to print the rows RELIABILITY.md holds.
//
// Each fault runs in parallel with its own proxy and extension in front of one shared moto,
// so the suite takes as long as its slowest fault (throttling, whose retries back off ~1-3 s).

// faultTTL is the secrets TTL every fault case runs with: short, so expiry comes quickly.
const faultTTL = time.Second

// faultSpec is one fault and what kinko must answer while it lasts.
type faultSpec struct {
	name    string
	fault   faultproxy.Fault
	timeout time.Duration // SECRETS_MANAGER_TIMEOUT_MILLIS: the whole call, retries included
	window  time.Duration // KINKO_STALE_IF_ERROR: longer than one failing call takes
	status  int           // what a caller without a usable cached value gets
	code    string        // and its __type
	// attempts is the most upstream calls a caller without a value may cause: the SDK tries
	// once, and kinko retries a transient failure after its jittered backoff within the budget.
	attempts  int
	transient bool   // a stale value may stand in for the error
	stale     string // the Cache-Status of an expired value served in the window
}

// observation is one request's outcome.
type observation struct {
	status      int
	code        string // __type of an error body
	cacheStatus string
	attempts    int // GetSecretValue calls that reached the proxy during the request
	took        time.Duration
	hasValue    bool // the secret's value is in the body
}

func (o observation) String() string {
	what := strconv.Itoa(o.status)
	if o.code != "" {
		what += " " + o.code
	}
	return fmt.Sprintf("%s, `%s`, %d attempt(s), %s", what, o.cacheStatus, o.attempts, o.took.Round(10*time.Millisecond))
}

// observe asks for path and counts the upstream calls it caused. It never prints the value.
func observe(t *testing.T, x *extension, a *awsStack, path, value string) observation {
	t.Helper()
	before := a.proxy.Calls("GetSecretValue")
	start := time.Now()
	r := x.get(path)
	o := observation{status: r.status, cacheStatus: r.cacheStatus, took: time.Since(start),
		attempts: a.proxy.Calls("GetSecretValue") - before, hasValue: strings.Contains(r.body, value)}
	if r.status != 200 {
		var e struct {
			Type string `json:"__type"`
		}
		if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Type == "" {
			t.Errorf("GET %s: %d with a body that is not the JSON error shape (%d bytes)", path, r.status, len(r.body))
		}
		o.code = e.Type
		if o.hasValue {
			t.Errorf("GET %s: secret appears in a %d answer", path, r.status)
		}
	}
	return o
}

func sleepUntil(when time.Time) { time.Sleep(time.Until(when)) }

func TestFaultsFromAWS(t *testing.T) {
	a := startAWS(t)
	baseline := runtime.NumGoroutine()
	specs := []faultSpec{
		{"500 InternalFailure", faultproxy.Status500, 2 * time.Second, 2 * time.Second, 500, "InternalFailure", 12, true, sie},
		{"503 ServiceUnavailable", faultproxy.Status503, 2 * time.Second, 2 * time.Second, 503, "ServiceUnavailable", 12, true, sie},
		{"400 ThrottlingException", faultproxy.Throttle, 5 * time.Second, 5 * time.Second, 400, "ThrottlingException", 20, true, sie},
		// Attempts that outlast KINKO_MAX_WAIT_MS (250 ms): the value at hand is served meanwhile.
		{"hang past the timeout", faultproxy.Hang, 500 * time.Millisecond, 2 * time.Second, 504, "UpstreamTimeout", 1, true, swr},
		{"connection reset", faultproxy.Reset, 2 * time.Second, 2 * time.Second, 502, "UpstreamUnreachable", 12, true, sie},
		{"truncated body", faultproxy.Truncate, 2 * time.Second, 2 * time.Second, 502, "UpstreamMalformedResponse", 12, true, sie},
		{"malformed body", faultproxy.Malformed, 2 * time.Second, 2 * time.Second, 502, "UpstreamMalformedResponse", 12, true, sie},
		{"slow trickle past the timeout", faultproxy.Trickle, 500 * time.Millisecond, 2 * time.Second, 504, "UpstreamTimeout", 1, true, swr},
		{"400 AccessDeniedException", faultproxy.AccessDenied, 2 * time.Second, 2 * time.Second, 400, "AccessDeniedException", 1, false, ""},
	}
	// The cases wait on timers, not on the CPU: run them all at once rather than GOMAXPROCS at
	// a time as t.Parallel would (t.Run may be called from several goroutines).
	var wg sync.WaitGroup
	for i, fs := range specs {
		wg.Go(func() { t.Run(fs.name, func(t *testing.T) { runFault(t, a.withOwnProxy(t), i, fs) }) })
	}
	wg.Go(func() { t.Run("connect refused", func(t *testing.T) { runConnectRefused(t, a.withOwnProxy(t)) }) })
	wg.Go(func() { t.Run("DNS failure", runDNSFailure) })
	wg.Go(func() { t.Run("deleted secret", func(t *testing.T) { runDeleted(t, a.withOwnProxy(t)) }) })
	wg.Go(func() { t.Run("rotation", func(t *testing.T) { runRotation(t, a.withOwnProxy(t)) }) })
	wg.Wait()
	// Every extension has stopped and every proxy and fake Lambda has closed: nothing they
	// started may still run.
	settleStart := time.Now()
	n := settleGoroutines(t, baseline, 10*time.Second)
	t.Logf("goroutines: %d before, %d after (settled in %s)", baseline, n, time.Since(settleStart).Round(time.Millisecond))
}

const (
	sie = "kinko; hit; detail=stale-if-error"
	swr = "kinko; hit; detail=stale-while-revalidate"
)

func faultEnv(fs faultSpec) map[string]string {
	return map[string]string{
		"SECRETS_MANAGER_TTL":            strconv.Itoa(int(faultTTL / time.Second)),
		"KINKO_STALE_IF_ERROR":           strconv.Itoa(int(fs.window / time.Second)),
		"KINKO_REFRESH_AHEAD":            "1", // no background refresh: every upstream call is a request's
		"SECRETS_MANAGER_TIMEOUT_MILLIS": strconv.Itoa(int(fs.timeout / time.Millisecond)),
	}
}

// runFault walks one fault through every cache state. Rows are logged as `fault-row | ...`.
func runFault(t *testing.T, a *awsStack, i int, fs faultSpec) {
	value := fmt.Sprintf("fault-secret-%d-7d1c9e", i)
	prefix := fmt.Sprintf("fault%d/", i)
	for _, id := range []string{"cached", "refreshed", "uncached"} {
		a.createSecret(t, prefix+id, value)
	}
	x := startExtension(t, a, faultEnv(fs))
	x.waitLog(`"msg":"ready"`)
	get := func(id string) observation { return observe(t, x, a, "/secretsmanager/get?secretId="+prefix+id, value) }

	if o := get("refreshed"); o.status != 200 {
		t.Fatalf("priming: %v", o)
	}
	primeStart := time.Now()
	if o := get("cached"); o.status != 200 || !isFresh(o.cacheStatus, "kinko; fwd=miss; stored") || o.attempts != 1 {
		t.Fatalf("priming: %v", o)
	}
	primed := time.Now() // the entry was stored between primeStart and primed

	a.proxy.SetFault(fs.fault)
	fresh := get("cached")
	if fresh.status != 200 || !strings.HasPrefix(fresh.cacheStatus, "kinko; hit; ttl=") || fresh.attempts != 0 || !fresh.hasValue {
		t.Errorf("fresh cached value during the fault: %v, want a hit without an upstream call", fresh)
	}

	sleepUntil(primed.Add(faultTTL))
	stale := get("cached")
	if fs.transient {
		if stale.status != 200 || stale.cacheStatus != fs.stale || !stale.hasValue || stale.attempts != 1 {
			t.Errorf("expired value in the stale window: %v, want 200 %q after 1 attempt", stale, fs.stale)
		}
		if time.Since(primeStart) >= faultTTL+fs.window {
			t.Fatalf("the stale request ended %s after priming, past the window: the case cannot show stale-if-error", time.Since(primeStart))
		}
	} else {
		checkError(t, "expired value", stale, fs)
	}

	uncached := get("uncached")
	checkError(t, "no cached value", uncached, fs)
	refresh := observe(t, x, a, "/secretsmanager/get?secretId="+prefix+"refreshed&refreshNow=true", value)
	checkError(t, "refreshNow", refresh, fs)
	if !strings.HasPrefix(refresh.cacheStatus, "kinko; fwd=request") {
		t.Errorf("refreshNow error: Cache-Status %q, want kinko; fwd=request", refresh.cacheStatus)
	}

	sleepUntil(primed.Add(faultTTL + fs.window))
	after := get("cached")
	checkError(t, "expired value past the window", after, fs)

	a.proxy.SetFault(faultproxy.None)
	// The key may still be backing off after its last failure: at most as long as the
	// failures had lasted (a few seconds here).
	var recovered observation
	waitFor(t, "a fresh value after the fault", 15*time.Second, func() bool {
		recovered = get("cached")
		return recovered.status == 200
	})
	// Stored, or collapsed into or stored by an attempt that an earlier poll started just
	// before its budget ended: any fresh answer.
	if !isFresh(recovered.cacheStatus, "kinko; fwd=miss; stored") && !isFresh(recovered.cacheStatus, "kinko; fwd=miss; collapsed") &&
		!strings.HasPrefix(recovered.cacheStatus, "kinko; hit; ttl=") || !recovered.hasValue {
		t.Errorf("after the fault: %v, want a fresh value", recovered)
	}
	t.Logf("fault-row | %s | %s | %s | %s | %s | %s | %s | %s | %s |", fs.name, fs.timeout, fs.window,
		uncached, fresh, stale, after, refresh, recovered)
	stopClean(t, x, a, value)
}

func checkError(t *testing.T, what string, o observation, fs faultSpec) {
	t.Helper()
	// During a backoff that outlasts the budget the last failure is answered at once (0 attempts).
	if o.status != fs.status || o.code != fs.code || o.attempts > fs.attempts || !fs.transient && o.attempts != 1 || o.hasValue {
		t.Errorf("%s: %v, want %d %s after at most %d attempt(s), without the value", what, o, fs.status, fs.code, fs.attempts)
	}
	if fs.code != "" && strings.HasPrefix(fs.code, "Upstream") == strings.Contains(o.cacheStatus, "fwd-status=") {
		t.Errorf("%s: Cache-Status %q: fwd-status must be there exactly when AWS answered", what, o.cacheStatus)
	}
}

// stopClean shuts the extension down and checks it exited cleanly, logged no panic and leaked no value.
func stopClean(t *testing.T, x *extension, a *awsStack, values ...string) {
	t.Helper()
	x.client.CloseIdleConnections()
	if err := x.stop(); err != nil {
		t.Errorf("run returned %v after SHUTDOWN", err)
	}
	if strings.Contains(x.logs.String(), "panic") {
		t.Error("the extension's log mentions a panic")
	}
	x.assertNoSecrets(a, values...)
}

// runConnectRefused closes the proxy after priming: nothing listens on its port any more.
func runConnectRefused(t *testing.T, a *awsStack) {
	const value = "fault-secret-refused-3b8f"
	fs := faultSpec{name: "connect refused", timeout: 2 * time.Second, window: 2 * time.Second,
		status: 502, code: "UpstreamUnreachable", transient: true}
	for _, id := range []string{"refused/cached", "refused/refreshed", "refused/uncached"} {
		a.createSecret(t, id, value)
	}
	x := startExtension(t, a, faultEnv(fs))
	x.waitLog(`"msg":"ready"`)
	get := func(id string) observation {
		return observe(t, x, a, "/secretsmanager/get?secretId=refused/"+id, value)
	}
	get("refreshed")
	if o := get("cached"); o.status != 200 {
		t.Fatalf("priming: %v", o)
	}
	primed := time.Now()
	a.proxy.Close()

	fresh := get("cached")
	sleepUntil(primed.Add(faultTTL))
	stale := get("cached")
	if stale.status != 200 || stale.cacheStatus != "kinko; hit; detail=stale-if-error" || !stale.hasValue {
		t.Errorf("expired value while AWS is unreachable: %v, want 200 stale-if-error", stale)
	}
	uncached := get("uncached")
	refresh := observe(t, x, a, "/secretsmanager/get?secretId=refused/refreshed&refreshNow=true", value)
	sleepUntil(primed.Add(faultTTL + fs.window))
	after := get("cached")
	for what, o := range map[string]observation{"no cached value": uncached, "refreshNow": refresh, "past the window": after} {
		if o.status != 502 || o.code != "UpstreamUnreachable" || o.hasValue {
			t.Errorf("%s: %v, want 502 UpstreamUnreachable", what, o)
		}
	}
	// Attempts cannot be counted: nothing listens. The SDK retries a refused connection.
	t.Logf("fault-row | %s | %s | %s | %s | %s | %s | %s | %s | %s |", fs.name, fs.timeout, fs.window,
		uncached, fresh, stale, after, refresh, "n/a (the endpoint stays closed)")
	stopClean(t, x, a, value)
}

// runDNSFailure points kinko at a host name that cannot resolve. A label over 63 bytes is not a
// valid DNS name, so the resolver fails without sending a query anywhere.
func runDNSFailure(t *testing.T) {
	host := strings.Repeat("k", 64) + ".invalid"
	x := startExtension(t, nil, map[string]string{"AWS_ENDPOINT_URL": "http://" + host, "SECRETS_MANAGER_TIMEOUT_MILLIS": "2000"})
	x.waitLog(`"msg":"ready"`)
	start := time.Now()
	r := x.get("/secretsmanager/get?secretId=anything")
	took := time.Since(start)
	if r.status != 502 || !strings.Contains(r.body, `"__type":"UpstreamUnreachable"`) || !strings.Contains(r.body, "DNS lookup") {
		t.Errorf("DNS failure: %d %s, want 502 UpstreamUnreachable naming the DNS lookup", r.status, redact(r.body))
	}
	t.Logf("fault-row | DNS failure | 2s | - | %d UpstreamUnreachable, `%s`, attempts n/a, %s | - | - | - | - | - |",
		r.status, r.cacheStatus, took.Round(10*time.Millisecond))
	stopClean(t, x, nil)
}

// runDeleted deletes a cached secret: after its TTL the deletion shows, however long the stale window.
func runDeleted(t *testing.T, a *awsStack) {
	const value = "fault-secret-deleted-9a4e"
	a.createSecret(t, "gone/cached", value)
	x := startExtension(t, a, map[string]string{"SECRETS_MANAGER_TTL": "1", "KINKO_STALE_IF_ERROR": "3600", "KINKO_REFRESH_AHEAD": "1"})
	x.waitLog(`"msg":"ready"`)
	path := "/secretsmanager/get?secretId=gone/cached"
	if o := observe(t, x, a, path, value); o.status != 200 {
		t.Fatalf("priming: %v", o)
	}
	primed := time.Now()
	if _, err := a.sm.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("gone/cached"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	fresh := observe(t, x, a, path, value)
	sleepUntil(primed.Add(time.Second))
	expired := observe(t, x, a, path, value)
	again := observe(t, x, a, path, value)
	if o := expired; !notFoundStatus(o.status) || o.code != "ResourceNotFoundException" || o.hasValue || o.attempts != 1 ||
		!strings.Contains(o.cacheStatus, "fwd-status=") {
		t.Errorf("expired after deletion: %v, want ResourceNotFoundException passed through after 1 attempt", o)
	}
	// Within KINKO_NOT_FOUND_TTL (default 5 s) the not-found is remembered: no call to AWS.
	if o := again; o.status != expired.status || o.code != "ResourceNotFoundException" || o.hasValue || o.attempts != 0 ||
		o.cacheStatus != "kinko; hit; detail=remembered-error" {
		t.Errorf("again after deletion: %v, want the remembered ResourceNotFoundException without a call", o)
	}
	t.Logf("fault-row | ResourceNotFound after deletion | SDK default | 3600s | %s | %s | %s | %s | - | - |", again, fresh, expired, again)
	stopClean(t, x, a, value)
}

// runRotation moves stages: AWSCURRENT to a new version, and a custom stage off its version.
// The new value shows after the TTL; the stage that is gone is ResourceNotFound, not the old value.
func runRotation(t *testing.T, a *awsStack) {
	const v1, v2, blue = "fault-secret-rot-v1-11aa", "fault-secret-rot-v2-22bb", "fault-secret-rot-blue-33cc"
	a.createSecret(t, "rot", v1)
	blueOut, err := a.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("rot"), SecretString: aws.String(blue), VersionStages: []string{"BLUE"}})
	if err != nil {
		t.Fatal(err)
	}
	x := startExtension(t, a, map[string]string{"SECRETS_MANAGER_TTL": "1", "KINKO_STALE_IF_ERROR": "3600", "KINKO_REFRESH_AHEAD": "1"})
	x.waitLog(`"msg":"ready"`)
	current, bluePath := "/secretsmanager/get?secretId=rot", "/secretsmanager/get?secretId=rot&versionStage=BLUE"
	if o := observe(t, x, a, current, v1); o.status != 200 || !o.hasValue {
		t.Fatalf("priming AWSCURRENT: %v", o)
	}
	if o := observe(t, x, a, bluePath, blue); o.status != 200 || !o.hasValue {
		t.Fatalf("priming BLUE: %v", o)
	}
	primed := time.Now()
	if _, err := a.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("rot"), SecretString: aws.String(v2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.sm.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String("rot"), VersionStage: aws.String("BLUE"), RemoveFromVersionId: blueOut.VersionId}); err != nil {
		t.Fatal(err)
	}
	sleepUntil(primed.Add(time.Second))
	rotated := observe(t, x, a, current, v2)
	if rotated.status != 200 || !rotated.hasValue || !isFresh(rotated.cacheStatus, "kinko; fwd=stale; stored") {
		t.Errorf("AWSCURRENT after rotation: %v, want the new value fetched", rotated)
	}
	gone := observe(t, x, a, bluePath, blue)
	if !notFoundStatus(gone.status) || gone.code != "ResourceNotFoundException" || gone.hasValue || gone.attempts != 1 {
		t.Errorf("stage removed by the rotation: %v, want ResourceNotFoundException passed through", gone)
	}
	t.Logf("fault-row | rotation: AWSCURRENT moved | SDK default | 3600s | - | - | %s (new value) | - | - | - |", rotated)
	t.Logf("fault-row | ResourceNotFound after rotation (stage removed) | SDK default | 3600s | - | - | %s | - | - | - |", gone)
	stopClean(t, x, a, v1, v2, blue)
}
