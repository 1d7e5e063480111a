package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/internal/faultproxy"
)

const openAIKey = "sk-kinko-test-4f2a9c1e7b3d"

func secretJSON() string { return fmt.Sprintf(`{"OPENAI_API_KEY":%q}`, openAIKey) }

func TestLifecycleRegisterServeShutdown(t *testing.T) {
	a := startAWS(t)
	created := a.createSecret(t, "app/openai", secretJSON())
	x := startExtension(t, a, map[string]string{"KINKO_PREFETCH": "app/openai"})

	ready := x.waitLog(`"msg":"ready"`, `"prefetch":1`, `"prefetch_failed":0`)
	last := x.lambda.LastRegistration()
	name, regBody := last.Header.Get("Lambda-Extension-Name"), last.Body
	if name != "kinko" {
		t.Errorf("Lambda-Extension-Name = %q, want the basename of argv[0], kinko", name)
	}
	var reg struct{ Events []string }
	if err := json.Unmarshal([]byte(regBody), &reg); err != nil || strings.Join(reg.Events, ",") != "SHUTDOWN" {
		t.Errorf("register body = %s, want events SHUTDOWN only", regBody)
	}
	if !strings.Contains(ready, fmt.Sprintf(`"port":%d`, x.port)) {
		t.Errorf("ready line lacks the port: %s", ready)
	}

	// Prefetched: the first request is already a hit, and no new upstream call is made.
	r := x.get("/secretsmanager/get?secretId=app/openai")
	if r.status != 200 || !strings.HasPrefix(r.cacheStatus, "kinko; hit; ttl=") {
		t.Fatalf("first request: %d %q, want a hit from the prefetch", r.status, r.cacheStatus)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
		t.Fatal("answer is not JSON")
	}
	for _, k := range []string{"ARN", "Name", "VersionId", "SecretString", "SecretBinary", "VersionStages", "CreatedDate"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("answer lacks %s", k)
		}
	}
	if doc["ARN"] != aws.ToString(created.ARN) || doc["SecretString"] != secretJSON() || doc["SecretBinary"] != nil {
		t.Errorf("answer does not carry the secret's ARN and string")
	}
	if _, err := time.Parse(time.RFC3339, doc["CreatedDate"].(string)); err != nil {
		t.Errorf("CreatedDate not RFC 3339: %v", err)
	}
	if k := x.get("/secretsmanager/get?secretId=app/openai&jsonKey=OPENAI_API_KEY"); k.status != 200 || k.body != openAIKey {
		t.Errorf("jsonKey: status %d, value matches %t", k.status, k.body == openAIKey)
	}
	if n := a.proxy.Calls("GetSecretValue"); n != 1 {
		t.Errorf("upstream calls = %d, want 1 (the prefetch)", n)
	}

	x.lambda.Send(eventInvoke())
	start := time.Now()
	if err := x.stop(); err != nil {
		t.Fatalf("run returned %v after SHUTDOWN, want nil", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("exit took %s, past the 2 s shutdown budget", took)
	}
	x.waitLog(`"msg":"shutdown complete"`, `"reason":"spindown"`)
	// By default the counters are a plain log line: EMF (billed custom metrics) only when asked.
	m := x.waitLog(`"msg":"metrics"`)
	if !strings.Contains(m, `"Hits":2`) || !strings.Contains(m, `"UpstreamCalls":1`) || strings.Contains(x.logs.String(), `"_aws"`) {
		t.Errorf("metrics line wrong (want plain JSON, no EMF): %s", m)
	}
	x.assertNoSecrets(a, openAIKey, secretJSON())
}

func TestBadVariableIsAnInitError(t *testing.T) {
	x := startExtension(t, nil, map[string]string{"SECRETS_MANAGER_TTL": "five minutes"})
	select {
	case err := <-x.done:
		x.done <- err
		if err == nil || !strings.Contains(err.Error(), "SECRETS_MANAGER_TTL") {
			t.Fatalf("run = %v, want an error naming SECRETS_MANAGER_TTL", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not fail")
	}
	initErrors := x.lambda.InitErrors()
	if len(initErrors) != 1 || initErrors[0].ErrorType != "Extension.ConfigInvalid" ||
		!strings.Contains(initErrors[0].Body, "SECRETS_MANAGER_TTL") {
		t.Fatalf("init/error reports = %+v, want one Extension.ConfigInvalid naming the variable", initErrors)
	}
	if x.lambda.NextCalls() != 0 {
		t.Fatal("an extension that failed init must not call /event/next")
	}
}

func TestPortInUseIsAnInitError(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	x := startExtension(t, nil, map[string]string{"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": fmt.Sprint(port)})
	select {
	case err := <-x.done:
		x.done <- err
		if err == nil {
			t.Fatal("run succeeded on a taken port")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not fail")
	}
	initErrors := x.lambda.InitErrors()
	if len(initErrors) != 1 || initErrors[0].ErrorType != "Extension.PortUnavailable" ||
		!strings.Contains(initErrors[0].Body, fmt.Sprint(port)) {
		t.Fatalf("init/error reports = %+v, want Extension.PortUnavailable naming port %d", initErrors, port)
	}
}

func TestConcurrentFirstRequestsMakeOneCall(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "race", secretJSON())
	x := startExtension(t, a, nil)
	x.waitLog(`"msg":"ready"`)

	x.raceFirstRequests(a, "/secretsmanager/get?secretId=race", "GetSecretValue")
	x.assertNoSecrets(a, openAIKey)
}

func TestNameThenARNIsOneCall(t *testing.T) {
	a := startAWS(t)
	created := a.createSecret(t, "aliased", secretJSON())
	x := startExtension(t, a, nil)
	x.waitLog(`"msg":"ready"`)

	if r := x.get("/secretsmanager/get?secretId=aliased"); r.status != 200 || !isFresh(r.cacheStatus, "kinko; fwd=miss; stored") {
		t.Fatalf("by name: %d %q", r.status, r.cacheStatus)
	}
	r := x.get("/secretsmanager/get?secretId=" + aws.ToString(created.ARN))
	if r.status != 200 || !strings.HasPrefix(r.cacheStatus, "kinko; hit") {
		t.Fatalf("by ARN: %d %q, want a hit", r.status, r.cacheStatus)
	}
	if r := x.get("/secretsmanager/get?secretId=aliased&versionStage=AWSCURRENT"); !strings.HasPrefix(r.cacheStatus, "kinko; hit") {
		t.Fatalf("explicit AWSCURRENT: %q, want the same entry", r.cacheStatus)
	}
	if got := a.proxy.Calls("GetSecretValue"); got != 1 {
		t.Fatalf("upstream calls = %d, want 1", got)
	}
	x.assertNoSecrets(a, openAIKey)
}

// waitFor polls f until it is true.
func waitFor(t *testing.T, what string, limit time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStaleIfErrorServesWithinItsBound(t *testing.T) {
	for _, fault := range []faultproxy.Fault{faultproxy.Status500, faultproxy.Hang} {
		t.Run(fault.String(), func(t *testing.T) {
			a := startAWS(t)
			a.createSecret(t, "flaky", secretJSON())
			x := startExtension(t, a, map[string]string{
				"SECRETS_MANAGER_TTL":            "1",
				"KINKO_STALE_IF_ERROR":           "2",
				"KINKO_REFRESH_AHEAD":            "1",
				"SECRETS_MANAGER_TIMEOUT_MILLIS": "300",
			})
			x.waitLog(`"msg":"ready"`)
			if r := x.get("/secretsmanager/get?secretId=flaky"); r.status != 200 {
				t.Fatalf("first: %d", r.status)
			}
			fetched := time.Now()
			a.proxy.SetFault(fault)

			var stale response
			waitFor(t, "stale-if-error after expiry", 5*time.Second, func() bool {
				stale = x.get("/secretsmanager/get?secretId=flaky")
				return stale.cacheStatus == "kinko; hit; detail=stale-if-error"
			})
			if stale.status != 200 || !strings.Contains(stale.body, `"SecretString"`) {
				t.Fatalf("stale answer: %d", stale.status)
			}
			var last response
			waitFor(t, "error once the stale window is over", 8*time.Second, func() bool {
				last = x.get("/secretsmanager/get?secretId=flaky")
				return last.status != 200
			})
			// A value lives a random 90-100 % of its TTL (jitter), so the window ends 2.9-3 s after the fetch.
			if since := time.Since(fetched); since < 2900*time.Millisecond {
				t.Fatalf("stale value stopped after %s, before 90 %% of the TTL + the window (2.9 s)", since)
			}
			want := map[faultproxy.Fault]int{faultproxy.Status500: 500, faultproxy.Hang: 504}[fault]
			if last.status != want || strings.Contains(last.body, openAIKey) {
				t.Fatalf("after the window: status %d, want %d and no value", last.status, want)
			}
			x.assertNoSecrets(a, openAIKey)
		})
	}
}

func TestDeletedSecretIsNeverMasked(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "doomed", secretJSON())
	x := startExtension(t, a, map[string]string{"SECRETS_MANAGER_TTL": "1", "KINKO_REFRESH_AHEAD": "1"})
	x.waitLog(`"msg":"ready"`)
	if r := x.get("/secretsmanager/get?secretId=doomed"); r.status != 200 {
		t.Fatalf("first: %d", r.status)
	}
	if _, err := a.sm.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("doomed"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	var r response
	waitFor(t, "the deletion to show after the TTL", 5*time.Second, func() bool {
		r = x.get("/secretsmanager/get?secretId=doomed")
		return r.status != 200
	})
	// AWS answers ResourceNotFoundException with 400, moto with 404: kinko passes on either.
	if !notFoundStatus(r.status) || !strings.Contains(r.body, `"__type":"ResourceNotFoundException"`) || strings.Contains(r.body, openAIKey) {
		t.Fatalf("deleted secret: %d, want ResourceNotFoundException with the upstream's status and without the value", r.status)
	}
	if !strings.Contains(r.cacheStatus, fmt.Sprintf("fwd-status=%d", r.status)) {
		t.Errorf("Cache-Status %q lacks fwd-status", r.cacheStatus)
	}
	x.assertNoSecrets(a, openAIKey)
}

func TestUpstreamErrorsThroughTheWholeProcess(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "present", secretJSON())
	x := startExtension(t, a, map[string]string{"SECRETS_MANAGER_TIMEOUT_MILLIS": "500"})
	x.waitLog(`"msg":"ready"`)

	if r := x.get("/secretsmanager/get?secretId=missing"); !notFoundStatus(r.status) || !strings.Contains(r.body, "ResourceNotFoundException") {
		t.Errorf("missing secret: %d %s", r.status, redact(r.body))
	}
	cases := []struct {
		fault  faultproxy.Fault
		status int
		code   string
	}{
		{faultproxy.Status503, 503, "ServiceUnavailable"},
		// The SDK tries once; kinko retries within the 500 ms budget and answers AWS's error.
		{faultproxy.Throttle, 400, "ThrottlingException"},
		{faultproxy.AccessDenied, 400, "AccessDeniedException"},
		{faultproxy.Hang, 504, "UpstreamTimeout"},
		{faultproxy.Reset, 502, "UpstreamUnreachable"},
		{faultproxy.Malformed, 502, "UpstreamMalformedResponse"},
	}
	for i, tc := range cases {
		a.proxy.SetFault(tc.fault)
		// One id per fault: after a failure kinko backs off per key, and would answer the
		// next request for the same id with that failure at once.
		r := x.get(fmt.Sprintf("/secretsmanager/get?secretId=present-%d&refreshNow=true", i))
		ok := r.status == tc.status && strings.Contains(r.body, `"__type":"`+tc.code+`"`)
		if !ok {
			t.Errorf("%s: %d %s, want %d %s", tc.fault, r.status, redact(r.body), tc.status, tc.code)
		}
		if !strings.HasPrefix(r.cacheStatus, "kinko; fwd=request") {
			t.Errorf("%s: Cache-Status %q", tc.fault, r.cacheStatus)
		}
	}
	a.proxy.SetFault(faultproxy.None)
	// An unreachable endpoint: nothing listens on the port.
	dead := startExtension(t, nil, map[string]string{"AWS_ENDPOINT_URL": fmt.Sprintf("http://127.0.0.1:%d", freePort(t))})
	dead.waitLog(`"msg":"ready"`)
	if r := dead.get("/secretsmanager/get?secretId=present"); r.status != 502 || !strings.Contains(r.body, "UpstreamUnreachable") {
		t.Errorf("connection refused: %d %s", r.status, redact(r.body))
	}
	x.assertNoSecrets(a, openAIKey)
}

func TestRequestDuringPrefetchJoinsIt(t *testing.T) {
	for _, initType := range []string{"on-demand", "provisioned-concurrency"} {
		t.Run(initType, func(t *testing.T) {
			a := startAWS(t)
			a.createSecret(t, "early", secretJSON())
			a.proxy.Hold()
			x := startExtension(t, a, map[string]string{"KINKO_PREFETCH": "early", "AWS_LAMBDA_INITIALIZATION_TYPE": initType})
			waitFor(t, "the prefetch to reach AWS", 10*time.Second, func() bool { return a.proxy.InFlight() == 1 })

			if initType == "provisioned-concurrency" {
				// Init is on no one's clock here: the prefetch finishes before /event/next.
				if x.lambda.NextCalls() != 0 {
					t.Fatal("/event/next called before the prefetch finished")
				}
				a.proxy.Release()
				waitFor(t, "/event/next after the prefetch", 10*time.Second, func() bool { return x.lambda.NextCalls() == 1 })
				if r := x.get("/secretsmanager/get?secretId=early"); !strings.HasPrefix(r.cacheStatus, "kinko; hit") {
					t.Fatalf("after prefetch: %q, want a hit", r.cacheStatus)
				}
				return
			}
			// On demand, /event/next comes at once; the prefetch goes on beside the runtime's init.
			waitFor(t, "/event/next while the prefetch is in flight", 10*time.Second, func() bool { return x.lambda.NextCalls() == 1 })
			got := make(chan response, 1)
			go func() { got <- x.get("/secretsmanager/get?secretId=early") }()
			waitFlights(t, 1)
			a.proxy.Release()
			if r := <-got; r.status != 200 || !isFresh(r.cacheStatus, "kinko; fwd=miss; collapsed") {
				t.Fatalf("request during prefetch: %d %q, want it to join the prefetch", r.status, r.cacheStatus)
			}
			if n := a.proxy.Calls("GetSecretValue"); n != 1 {
				t.Fatalf("upstream calls = %d, want 1", n)
			}
		})
	}
}

func TestManagedInstancesRegisterForShutdownOnly(t *testing.T) {
	x := startExtension(t, nil, map[string]string{"AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances"})
	waitFor(t, "registration", 10*time.Second, func() bool { return x.lambda.NextCalls() == 1 })
	body := x.lambda.LastRegistration().Body
	if body != `{"events":["SHUTDOWN"]}` {
		t.Fatalf("register body %s, want SHUTDOWN only", body)
	}
}

func TestSignalShutsDownCleanly(t *testing.T) {
	x := startExtension(t, nil, nil)
	x.waitReachable()
	waitFor(t, "/event/next", 10*time.Second, func() bool { return x.lambda.NextCalls() == 1 })
	x.signal()
	select {
	case err := <-x.done:
		x.done <- err
		if err != nil {
			t.Fatalf("run after a signal = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return within 5s of the signal")
	}
	x.waitLog(`"msg":"shutdown complete"`, `"reason":"signal"`)
}

func TestInFlightRequestFinishesOnShutdown(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "slow", secretJSON())
	x := startExtension(t, a, nil)
	x.waitLog(`"msg":"ready"`)
	a.proxy.SetDelay(300 * time.Millisecond)
	got := make(chan response, 1)
	go func() { got <- x.get("/secretsmanager/get?secretId=slow") }()
	waitFor(t, "the request to reach AWS", 10*time.Second, func() bool { return a.proxy.InFlight() == 1 })
	if err := x.stop(); err != nil {
		t.Fatal(err)
	}
	if r := <-got; r.status != 200 {
		t.Fatalf("request in flight at SHUTDOWN: %d, want it to finish", r.status)
	}
	if _, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/ping", x.port)); err == nil {
		t.Fatal("still accepting after shutdown")
	}
	x.assertNoSecrets(a, openAIKey)
}

// notFoundStatus is the status AWS (400) or moto (404) gives ResourceNotFoundException.
func notFoundStatus(s int) bool { return s == 400 || s == 404 }

func TestMetricsEveryNInvokesCountEachIntervalOnce(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "counted", secretJSON())
	x := startExtension(t, a, map[string]string{"KINKO_METRICS_INVOKES": "2", "KINKO_METRICS": "emf"})
	x.waitLog(`"msg":"ready"`)
	x.get("/secretsmanager/get?secretId=counted") // a miss
	x.get("/secretsmanager/get?secretId=counted") // a hit

	x.lambda.Send(eventInvoke())
	waitFor(t, "the first INVOKE to be taken", 10*time.Second, func() bool { return x.lambda.NextCalls() == 2 })
	if strings.Contains(x.logs.String(), `"_aws"`) {
		t.Fatal("a metrics line after 1 invoke; want one every 2")
	}
	x.lambda.Send(eventInvoke())
	first := x.waitLog(`"_aws"`)
	if !strings.Contains(first, `"Hits":1`) || !strings.Contains(first, `"Misses":1`) || !strings.Contains(first, `"UpstreamCalls":1`) {
		t.Fatalf("metrics after 2 invokes: %s", first)
	}
	x.get("/secretsmanager/get?secretId=counted") // a hit in the next interval
	if err := x.stop(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(x.logs.String(), "\n") {
		if strings.Contains(l, `"_aws"`) {
			lines = append(lines, l)
		}
	}
	// The SHUTDOWN line holds only what came after the first: CloudWatch sums them.
	if len(lines) != 2 || !strings.Contains(lines[1], `"Hits":1`) || !strings.Contains(lines[1], `"Misses":0`) || !strings.Contains(lines[1], `"UpstreamCalls":0`) {
		t.Fatalf("metrics lines %q, want the SHUTDOWN one to count only its own interval", lines)
	}
	x.assertNoSecrets(a, openAIKey)
}

func TestMissingAWSEnvironmentIsAnInitError(t *testing.T) {
	// Checked with the rest of the configuration, before /register's follow-up /event/next, so
	// Lambda fails the init with the reason instead of the extension dying later.
	x := startExtension(t, nil, map[string]string{"AWS_REGION": ""})
	select {
	case err := <-x.done:
		x.done <- err
		if err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
			t.Fatalf("run = %v, want an error naming AWS_REGION", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not fail")
	}
	initErrors, exitErrors, nextCalls := x.lambda.InitErrors(), x.lambda.ExitErrors(), x.lambda.NextCalls()
	if len(initErrors) != 1 || initErrors[0].ErrorType != "Extension.ConfigInvalid" ||
		!strings.Contains(initErrors[0].Body, "AWS_REGION") || nextCalls != 0 || len(exitErrors) != 0 {
		t.Fatalf("init errors %+v, exit errors %d, /event/next calls %d: want one ConfigInvalid naming AWS_REGION and nothing else",
			initErrors, len(exitErrors), nextCalls)
	}
}

func TestEventLoopFailureIsAnExitError(t *testing.T) {
	x := startExtension(t, nil, nil)
	waitFor(t, "the first /event/next", 10*time.Second, func() bool { return x.lambda.NextCalls() == 1 })
	x.lambda.FailNext()
	x.lambda.Send(eventInvoke()) // the next /event/next then fails
	select {
	case err := <-x.done:
		x.done <- err
		if err == nil || !strings.Contains(err.Error(), "500") {
			t.Fatalf("run = %v, want the event loop's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop when /event/next failed")
	}
	exitErrors, initErrors := x.lambda.ExitErrors(), x.lambda.InitErrors()
	if len(exitErrors) != 1 || exitErrors[0].ErrorType != "Extension.EventLoop" || len(initErrors) != 0 {
		t.Fatalf("exit errors %+v, init errors %d: want one Extension.EventLoop after init", exitErrors, len(initErrors))
	}
	x.waitLog(`"msg":"shutdown complete"`)
}

func TestMaxConnectionsBoundsUpstreamCalls(t *testing.T) {
	a := startAWS(t)
	const n = 5
	for i := range n {
		a.createSecret(t, fmt.Sprintf("conn-%d", i), secretJSON())
	}
	x := startExtension(t, a, map[string]string{"PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS": "2"})
	x.waitLog(`"msg":"ready"`)
	a.proxy.Hold()
	answers := make(chan response, n)
	for i := range n {
		go func() { answers <- x.get(fmt.Sprintf("/secretsmanager/get?secretId=conn-%d", i)) }()
	}
	// Two calls at AWS, three waiting in the SDK's transport for a connection. Without the cap
	// all five reach AWS and this state never comes.
	waitFor(t, "2 calls at AWS and 3 waiting for a connection", 15*time.Second, func() bool {
		return a.proxy.InFlight() == 2 && goroutinesIn("net/http.(*Transport).getConn", "upstream.(*Client).Fetch") == 3
	})
	a.proxy.Release()
	for range n {
		if r := <-answers; r.status != 200 {
			t.Fatalf("status %d, want every request answered once connections free up", r.status)
		}
	}
	if got := a.proxy.Calls("GetSecretValue"); got != n {
		t.Fatalf("upstream calls = %d, want %d", got, n)
	}
	x.assertNoSecrets(a, openAIKey)
}

func TestCacheDisabledGoesUpstreamEveryTime(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "uncached", secretJSON())
	x := startExtension(t, a, map[string]string{"PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "false"})
	x.waitLog(`"msg":"ready"`, `"cache_enabled":false`)
	for range 3 {
		if r := x.get("/secretsmanager/get?secretId=uncached"); r.status != 200 || r.cacheStatus != "kinko; fwd=bypass" {
			t.Fatalf("%d %q, want 200 kinko; fwd=bypass", r.status, r.cacheStatus)
		}
	}
	if got := a.proxy.Calls("GetSecretValue"); got != 3 {
		t.Fatalf("upstream calls = %d, want 3: no cache", got)
	}
	x.assertNoSecrets(a, openAIKey)
}

func TestServesOnIPv6LoopbackToo(t *testing.T) {
	if l, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skip("this machine has no IPv6 loopback:", err)
	} else {
		l.Close()
	}
	x := startExtension(t, nil, nil)
	x.waitLog(`"msg":"ready"`, `"ipv6":true`)
	// On Lambda "localhost" can resolve to ::1 first.
	resp, err := http.Get(fmt.Sprintf("http://[::1]:%d/ping", x.port))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("[::1] ping: %d", resp.StatusCode)
	}
}

func TestLogLevelNoneIsSilent(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "quiet", secretJSON())
	x := startExtension(t, a, map[string]string{"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL": "NONE", "KINKO_PREFETCH": "quiet,missing"})
	waitFor(t, "the prefetch", 10*time.Second, func() bool { return a.proxy.Calls("GetSecretValue") == 2 })
	if r := x.get("/secretsmanager/get?secretId=missing"); r.status == 200 {
		t.Fatal("a missing secret answered 200")
	}
	if err := x.stop(); err != nil {
		t.Fatal(err)
	}
	if out := x.logs.String(); out != "" {
		t.Fatalf("NONE wrote %d bytes (warnings, ready, metrics?); want nothing", len(out))
	}
}

// kinko prefetches every kinko: reference in its environment (CONTRACT.md section 10), beside
// KINKO_PREFETCH and without repeating it, so the exec wrapper's reads find them cached or in
// flight: one GetSecretValue for a secret read whole, by #KEY and by prefetch.
func TestPrefetchesReferencesInTheEnvironment(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "app/db", `{"user":"admin","password":"p=w\nd é"}`)
	a.createSecret(t, "listed", secretJSON())
	x := startExtension(t, a, map[string]string{
		"KINKO_PREFETCH": "listed",
		"DB_USER":        "kinko:secretsmanager:app/db#user",
		"DB_PASSWORD":    "kinko:secretsmanager:app/db#password",
		"LISTED_TOO":     "kinko:secretsmanager:listed#OPENAI_API_KEY",
		"MALFORMED":      "kinko:ssm:/p#k",
	})
	ready := x.waitLog(`"msg":"ready"`)
	if !strings.Contains(ready, `"prefetch":2,`) || !strings.Contains(ready, `"prefetch_failed":0,`) {
		t.Errorf("ready line %s, want 2 prefetched (app/db, listed), none failed", ready)
	}
	if r := x.get("/secretsmanager/get?secretId=app/db&jsonKey=password"); r.status != 200 || r.body != "p=w\nd é" || !strings.HasPrefix(r.cacheStatus, "kinko; hit") {
		t.Errorf("the wrapper's read: %d %q, want the value from the prefetched entry", r.status, r.cacheStatus)
	}
	if n := a.proxy.Calls("GetSecretValue"); n != 2 {
		t.Errorf("GetSecretValue calls = %d, want 2 (one per secret)", n)
	}
}
