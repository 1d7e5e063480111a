// Package e2e_test runs kinko's whole stack (package stack) and checks it end to end: the
// extension under AWS's Lambda emulator, the function, moto, a local model, the HTTP API and a
// real browser. Each test starts its own stack; they run one after another, since the machine
// has two cores and the emulator is driven one invoke at a time anyway.
package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/e2e/emulator"
	"github.com/kinko-dev/kinko/e2e/stack"
	"github.com/kinko-dev/kinko/internal/moto"
)

// buildDir holds this test process's binaries: its own, so two runs never overwrite each
// other's, and removed by TestMain.
func buildDir() string { return filepath.Join(os.TempDir(), fmt.Sprintf("kinko-e2e-%d", os.Getpid())) }

// binaries builds the extension, the function and the emulator once for the whole run (the
// Go build cache makes that quick after the first time).
var binaries = sync.OnceValues(func() (stack.Binaries, error) {
	root, err := stack.FindRoot()
	if err != nil {
		return stack.Binaries{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return stack.Build(ctx, root, buildDir(), "", io.Discard)
})

func TestMain(m *testing.M) {
	code := m.Run()
	_ = os.RemoveAll(buildDir())
	os.Exit(code)
}

// startStack starts a stack for one test and stops it when the test ends; then it checks that
// nothing is left running, that no log holds the key, and, if the test failed, prints the logs.
func startStack(t *testing.T, o stack.Options) *stack.Stack {
	t.Helper()
	if _, err := moto.Command(); err != nil {
		t.Fatalf("%v (make test installs what it can; moto comes from pip)", err)
	}
	// The first caller builds the binaries (the emulator's first build alone takes about a
	// minute on a loaded machine): that is not part of the stack's start budget below.
	bin, err := binaries()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := emulator.Supported(ctx); err != nil {
		t.Skipf("this machine cannot run the Lambda emulator with a private /opt: %v", err)
	}
	mountsBefore := optMounts(t)
	o.Bin = bin
	st, err := stack.Start(ctx, o)
	if err != nil {
		t.Fatalf("start the stack: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("stopping the stack: %v", err)
		}
		assertStopped(t, st, mountsBefore)
		assertNoKeyInLogs(t, st, st.Key)
		if t.Failed() {
			for _, l := range st.Logs() {
				t.Logf("---- %s log ----\n%s", l.Name, tail(l.Text, 6000))
			}
		}
	})
	return st
}

// assertStopped checks what a stopped stack must not leave: kinko listening (the emulator's
// PID namespace took it down) or a mount at /opt in our namespace.
func assertStopped(t *testing.T, st *stack.Stack, mountsBefore int) {
	t.Helper()
	select {
	case <-st.Emulator.Done():
	default:
		t.Error("the emulator is still running after Close")
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(st.KinkoURL, "http://"), time.Second); err == nil {
		c.Close()
		t.Errorf("kinko still accepts connections on %s after the stack stopped", st.KinkoURL)
	}
	if n := optMounts(t); n != mountsBefore {
		t.Errorf("mounts at /opt in the test's namespace: %d before the stack, %d after", mountsBefore, n)
	}
}

func assertNoKeyInLogs(t *testing.T, st *stack.Stack, keys ...string) {
	t.Helper()
	for _, l := range st.Logs() {
		for _, k := range keys {
			if k != "" && strings.Contains(l.Text, k) {
				t.Errorf("the %s log contains the key", l.Name)
			}
		}
	}
}

func optMounts(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("read /proc/self/mountinfo: %v", err)
	}
	n := 0
	for l := range strings.Lines(string(b)) {
		if f := strings.Fields(l); len(f) > 4 && f[4] == "/opt" {
			n++
		}
	}
	return n
}

type answer struct {
	status      int
	cacheStatus string
	message     string
	err         string
	latency     time.Duration
}

// invoke sends POST /invoke-openai through the front.
func invoke(t *testing.T, st *stack.Stack, prompt string) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	r, err := st.Do(ctx, "POST", "/invoke-openai", stack.Prompt(prompt))
	if err != nil {
		t.Fatal(err)
	}
	noKeyIn(t, st, "POST /invoke-openai's answer", r.Body)
	var body struct{ Message, Error string }
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("POST /invoke-openai: %d with a body that is not JSON: %q", r.Status, r.Body)
	}
	return answer{r.Status, r.Header.Get("X-Kinko-Cache-Status"), body.Message, body.Error, r.Latency}
}

// eventually retries check every interval until it returns true or limit passes.
func eventually(t *testing.T, limit, interval time.Duration, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(interval)
	}
}

// logLine finds the first JSON line from source whose msg is msg.
func logLine(st *stack.Stack, source, msg string) (map[string]any, bool) {
	for _, l := range st.Lines(source) {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			return m, true
		}
	}
	return nil, false
}

func tail(s string, n int) string {
	if len(s) > n {
		return "...\n" + s[len(s)-n:]
	}
	return s
}

// Test 1: the cold request is served from the prefetch (cache or joined fetch), warm ones are
// hits, and Secrets Manager sees one GetSecretValue for the whole run.
func TestColdStartPrefetchAndWarmHits(t *testing.T) {
	st := startStack(t, stack.Options{})
	want := stack.ExpectedAnswer("hello kinko")

	cold := invoke(t, st, "hello kinko")
	if cold.status != 200 || cold.message != want {
		t.Fatalf("cold: %d %q %q, want 200 %q", cold.status, cold.message, cold.err, want)
	}
	// The prefetch starts when main runs; the runtime starts earlier, once kinko has registered
	// during package initialisation, and its first request waits in the listen backlog. So that
	// request finds the prefetch's result stored, joins it in flight, or is the fetch the prefetch
	// joins (a miss, with Collapsed 1 in the metrics): one GetSecretValue in every case, checked below.
	if !strings.HasPrefix(cold.cacheStatus, "kinko; hit;") && !strings.HasPrefix(cold.cacheStatus, "kinko; fwd=miss; ") {
		t.Errorf("cold Cache-Status = %q, want a hit, or a miss that the prefetch or this request fetched", cold.cacheStatus)
	}
	for i := range 2 {
		warm := invoke(t, st, "hello kinko")
		// A hit in kinko, or in the kinko client's memory (it keeps a value for half of kinko's ttl).
		if warm.status != 200 || warm.message != want || !stack.IsHit(warm.cacheStatus) {
			t.Errorf("warm %d: %d %q Cache-Status %q, want 200 and a hit", i+1, warm.status, warm.message, warm.cacheStatus)
		}
		t.Logf("warm %d: %v %s", i+1, warm.latency, warm.cacheStatus)
	}
	t.Logf("cold: %v %s", cold.latency, cold.cacheStatus)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := st.Do(ctx, "GET", "/get-secret", "")
	if err != nil {
		t.Fatal(err)
	}
	noKeyIn(t, st, "GET /get-secret's answer", r.Body)
	var info struct{ Name, Preview, CacheStatus string }
	// The preview is the key's last 4 characters only (the demo key has 48).
	if json.Unmarshal(r.Body, &info) != nil || r.Status != 200 || info.Name != st.SecretName ||
		info.Preview != "..."+st.Key[len(st.Key)-4:] || !strings.HasPrefix(info.CacheStatus, "kinko; hit;") {
		t.Errorf("GET /get-secret: %d (%d bytes; not printed: a regression could put the key in it)", r.Status, len(r.Body))
	}

	if !strings.Contains(st.EmulatorLog(), "External agent kinko") ||
		!strings.Contains(st.EmulatorLog(), "registered, subscribed to [SHUTDOWN]") {
		t.Error("the emulator's log does not show kinko registering for SHUTDOWN only")
	}
	ready, ok := logLine(st, stack.FromExtension, "ready")
	if !ok || ready["prefetch"] != 1.0 || ready["prefetch_failed"] != 0.0 || ready["init_type"] != "on-demand" {
		t.Errorf("the extension's ready line = %v, want one prefetch, none failed, on-demand", ready)
	}
	// kinko registered and sent its first /event/next during package initialisation (README
	// "How kinko starts"), and main took the sockets over.
	if ready["early_start"] != true {
		t.Errorf("the extension's ready line = %v, want early_start=true: kinko registered from main", ready)
	}
	if n := st.OpenAI.Calls(); n != 3 {
		t.Errorf("the model got %d calls, want 3", n)
	}
	if n := st.Proxy.Calls("GetSecretValue"); n != 1 {
		t.Errorf("moto saw %d GetSecretValue calls, want 1 for the whole run", n)
	}
}

// Test 2a: after a rotation, the model refuses the cached old key; the function reads the key
// again with refreshNow and tries once more, so the caller gets an answer with the new key.
func TestRotationWithRefreshNow(t *testing.T) {
	st := startStack(t, stack.Options{})
	newKey := rotate(t, st)

	stale := invoke(t, st, "cached old key")
	if stale.status != 200 || stale.message != stack.ExpectedAnswer("cached old key") || !strings.HasPrefix(stale.cacheStatus, "kinko; fwd=request; stored") {
		t.Errorf("with the old key still cached: %d %q %q (Cache-Status %q), want 200 after the function's own refreshNow",
			stale.status, stale.message, stale.err, stale.cacheStatus)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, cs, err := st.RefreshNow(ctx)
	if err != nil || status != 200 || !strings.HasPrefix(cs, "kinko; fwd=request; stored; ttl=") {
		t.Fatalf("refreshNow: %d %q %v, want 200 kinko; fwd=request; stored; ttl=N", status, cs, err)
	}
	after := invoke(t, st, "after")
	if after.status != 200 || after.message != stack.ExpectedAnswer("after") || !stack.IsHit(after.cacheStatus) {
		t.Errorf("after refreshNow: %d %q %q (Cache-Status %q), want 200 from the cache", after.status, after.message, after.err, after.cacheStatus)
	}
	if n := st.Proxy.Calls("GetSecretValue"); n != 3 {
		t.Errorf("moto saw %d GetSecretValue calls, want 3 (prefetch, the function's refreshNow, the test's)", n)
	}
	closeAndScan(t, st, newKey)
}

// closeAndScan stops the stack now, so the shutdown's lines are in, and looks for key in every log.
func closeAndScan(t *testing.T, st *stack.Stack, key string) {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	assertNoKeyInLogs(t, st, key)
}

// Test 2b: with a short TTL the new key arrives by itself.
func TestRotationByTTL(t *testing.T) {
	st := startStack(t, stack.Options{Env: map[string]string{"SECRETS_MANAGER_TTL": "1"}})
	newKey := rotate(t, st)

	start := time.Now()
	var last answer
	eventually(t, 15*time.Second, 200*time.Millisecond, "the function using the rotated key", func() bool {
		last = invoke(t, st, "after")
		return last.status == 200
	})
	if last.message != stack.ExpectedAnswer("after") {
		t.Errorf("after the TTL: %q", last.message)
	}
	t.Logf("the new key was in use %v after the rotation (TTL 1 s), Cache-Status %q", time.Since(start).Round(time.Millisecond), last.cacheStatus)
	if n := st.Proxy.Calls("GetSecretValue"); n < 2 {
		t.Errorf("moto saw %d GetSecretValue calls; a TTL of 1 s needs at least 2", n)
	}
	closeAndScan(t, st, newKey)
}

// Test 3a: no secret: the function answers 503 and says what to do.
func TestSecretMissing(t *testing.T) {
	st := startStack(t, stack.Options{NoSecret: true})
	a := invoke(t, st, "hi")
	if a.status != 503 || !strings.Contains(a.err, `secret "OPENAI_API_KEY" not found`) || !strings.Contains(a.err, "create it") {
		t.Errorf("missing secret: %d %q, want 503 saying the secret was not found and to create it", a.status, a.err)
	}
	if n := st.OpenAI.Calls(); n != 0 {
		t.Errorf("the model was called %d times without a key", n)
	}
	warn, ok := logLine(st, stack.FromExtension, "prefetch failed; requests will fetch it on demand")
	if !ok || warn["level"] != "WARN" {
		t.Errorf("the extension did not log the failed prefetch: %v", warn)
	}
}

// Test 3b: the model failing: 502 with the status class only (the model's own text stays out of
// public answers), OpenAI's status and type in the function's log; the next call works again.
func TestOpenAIFailing(t *testing.T) {
	st := startStack(t, stack.Options{})
	st.OpenAI.SetFailure(500)
	a := invoke(t, st, "hi")
	if a.status != 502 || a.err != "OpenAI request failed (upstream 5xx); try again later" {
		t.Errorf("model failing: %d %q, want 502 with the status class only", a.status, a.err)
	}
	line, ok := logLine(st, stack.FromFunction, "request")
	if !ok || line["status"] != 502.0 || line["upstream_status"] != 500.0 || line["upstream_type"] != "server_error" {
		t.Errorf("the function's request line = %v, want status 502 with upstream_status 500 and upstream_type server_error", line)
	}
	for _, l := range st.Lines(stack.FromFunction) {
		if strings.Contains(l, "injected failure") {
			t.Errorf("the function logged the model's message: %s", l)
		}
	}
	if n := st.OpenAI.Calls(); n != 3 {
		t.Errorf("the model got %d calls, want 3 (the function retries 5xx twice)", n)
	}
	st.OpenAI.SetFailure(0)
	if a := invoke(t, st, "hi"); a.status != 200 {
		t.Errorf("after the model recovered: %d %q", a.status, a.err)
	}
}

// Test 3c: Secrets Manager gone after the first fetch: answers keep coming from the cache,
// past the TTL, marked stale-if-error.
func TestMotoStoppedServesStale(t *testing.T) {
	st := startStack(t, stack.Options{Env: map[string]string{
		"SECRETS_MANAGER_TTL": "1",
		// Bound each upstream attempt, so a refresh against the dead endpoint fails fast.
		"SECRETS_MANAGER_TIMEOUT_MILLIS": "2000",
	}})
	if a := invoke(t, st, "before"); a.status != 200 {
		t.Fatalf("first request: %d %s", a.status, a.err)
	}
	callsBefore := st.Proxy.Calls("GetSecretValue")
	st.StopMoto()

	var last answer
	eventually(t, 20*time.Second, 100*time.Millisecond, "an answer served stale-if-error", func() bool {
		last = invoke(t, st, "during the outage")
		if last.status != 200 {
			t.Fatalf("with moto stopped: %d %q (Cache-Status %q), want 200 from the cache", last.status, last.err, last.cacheStatus)
		}
		return last.cacheStatus == "kinko; hit; detail=stale-if-error"
	})
	if last.message != stack.ExpectedAnswer("during the outage") {
		t.Errorf("stale answer: %q", last.message)
	}
	if n := st.Proxy.Calls("GetSecretValue"); n <= callsBefore {
		t.Errorf("kinko did not try moto again after the TTL (%d calls before the stop, %d after)", callsBefore, n)
	}
}

// Test 4: stopping the emulator sends SHUTDOWN; kinko drains, writes its metrics and exits in
// time (Lambda gives extensions 2 s in all).
func TestShutdown(t *testing.T) {
	st := startStack(t, stack.Options{})
	if a := invoke(t, st, "hi"); a.status != 200 {
		t.Fatalf("request: %d %s", a.status, a.err)
	}
	signalled := time.Now()
	took, err := st.StopEmulator()
	if err != nil {
		t.Fatal(err)
	}
	if took > 2*time.Second {
		t.Errorf("the emulator took %v to exit after SIGTERM, want under 2 s", took)
	}
	done, ok := logLine(st, stack.FromExtension, "shutdown complete")
	if !ok {
		t.Fatal("no \"shutdown complete\" line from the extension")
	}
	if done["reason"] != "SandboxTerminated" {
		t.Errorf("shutdown reason = %v, want SandboxTerminated (the emulator's SHUTDOWN event)", done["reason"])
	}
	at, err := time.Parse(time.RFC3339Nano, done["time"].(string))
	if err != nil || at.Before(signalled) || at.Sub(signalled) > 2*time.Second {
		t.Errorf("shutdown complete at %v, %v after SIGTERM; want within 2 s", at, at.Sub(signalled))
	}
	// The default metrics line: plain JSON, no EMF (custom metrics only with KINKO_METRICS=emf).
	var lines int
	for _, l := range st.Lines(stack.FromExtension) {
		var m struct {
			Msg           string
			UpstreamCalls int
			AWS           json.RawMessage `json:"_aws"`
		}
		if json.Unmarshal([]byte(l), &m) == nil && m.Msg == "metrics" {
			lines++
			if m.UpstreamCalls != 1 || m.AWS != nil {
				t.Errorf("metrics line %s: want UpstreamCalls 1 and no EMF", l)
			}
		}
	}
	if lines != 1 {
		t.Errorf("%d metrics lines (msg \"metrics\") at shutdown, want 1", lines)
	}
	t.Logf("emulator exited %v after SIGTERM; kinko's drain took %v ms", took, done["drain_ms"])
}

// Test 6: every log of a busy run (all routes, an error, a rotation, shutdown), at DEBUG, is
// free of the key and of the secret document.
func TestNoSecretInAnyLog(t *testing.T) {
	st := startStack(t, stack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/", ""},
		{"GET", "/get-secret", ""},
		{"POST", "/invoke-openai", stack.Prompt("one")},
		{"POST", "/invoke-openai", `{"prompt": 42}`},
		{"POST", "/invoke-openai", stack.Prompt("two")},
	} {
		if _, err := st.Do(ctx, req.method, req.path, req.body); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := st.RefreshNow(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	secretDoc, _ := json.Marshal(map[string]string{stack.DefaultJSONKey: st.Key})
	keyTail := st.Key[len(st.Key)-12:]
	for _, l := range st.Logs() {
		if strings.TrimSpace(l.Text) == "" {
			t.Errorf("the %s log is empty: the scan would prove nothing", l.Name)
		}
		for _, s := range []string{st.Key, string(secretDoc), keyTail} {
			if strings.Contains(l.Text, s) {
				t.Errorf("the %s log contains the key or the secret", l.Name)
			}
		}
	}
	for _, src := range []string{stack.FromEmulator, stack.FromExtension, stack.FromFunction} {
		if len(st.Lines(src)) == 0 {
			t.Errorf("no %s lines in the emulator's output", src)
		}
	}
	if _, ok := logLine(st, stack.FromExtension, "upstream call"); !ok {
		t.Error("no DEBUG upstream call line: the scan did not cover DEBUG logging")
	}
}

// noKeyIn stops the test, without printing anything of it, when an answer carries the key: the
// failure messages that follow print answers, and they must never print the key.
func noKeyIn(t *testing.T, st *stack.Stack, what string, body []byte) {
	t.Helper()
	if st.Key != "" && strings.Contains(string(body), st.Key) {
		t.Fatalf("%s carries the OpenAI key (%d bytes; not printed)", what, len(body))
	}
}

// rotate checks the function works with the current key, then rotates it: a new value in
// Secrets Manager, and the model (the provider) accepts only the new key from now on.
func rotate(t *testing.T, st *stack.Stack) string {
	t.Helper()
	if a := invoke(t, st, "before"); a.status != 200 {
		t.Fatalf("before the rotation: %d %s", a.status, a.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	newKey := "sk-demo-rotated-" + strings.TrimPrefix(st.Key, "sk-demo-")
	if err := st.PutKey(ctx, newKey); err != nil {
		t.Fatal(err)
	}
	st.OpenAI.SetKey(newKey)
	return newKey
}
