package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/extension/internal/lambda"
	"github.com/kinko-dev/kinko/internal/extensionsapitest"
	"github.com/kinko-dev/kinko/internal/faultproxy"
	"github.com/kinko-dev/kinko/internal/moto"
)

const testToken = "test-session-token"

// testAccountID is the account the fake Lambda reports to an extension that asks for it.
const testAccountID = extensionsapitest.AccountID

// startLambda is the Extensions API side of Lambda (internal/extensionsapitest): it records
// what the extension sends and hands out the events the test sends.
func startLambda(t *testing.T) *extensionsapitest.Server {
	t.Helper()
	api := extensionsapitest.NewServer()
	t.Cleanup(api.Close)
	return api
}

// syncBuffer collects the extension's stdout.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// keep bounds how many bytes are retained (0: all), so a long soak does not hold every log
	// line in memory; onWrite, when set, sees every write, retained or not.
	keep    int
	onWrite func(p []byte)
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.onWrite != nil {
		b.onWrite(p)
	}
	if b.keep > 0 && b.buf.Len()+len(p) > b.keep {
		return len(p), nil
	}
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// extension is one run() of kinko under test.
type extension struct {
	t      *testing.T
	lambda *extensionsapitest.Server
	port   int
	logs   *syncBuffer
	done   chan error
	client *http.Client
	signal context.CancelFunc // what SIGTERM does: ends run's context
}

// aws is moto behind a fault proxy, with an SDK client for the test's own setup calls.
type awsStack struct {
	moto  *moto.Server
	proxy *faultproxy.Proxy
	sm    *secretsmanager.Client
}

func startAWS(t *testing.T) *awsStack {
	t.Helper()
	m := moto.ForTest(t)
	p, err := faultproxy.Start(m.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	sm := secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(m.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
	return &awsStack{moto: m, proxy: p, sm: sm}
}

// withOwnProxy is a's moto behind a new fault proxy of its own, so tests running in parallel
// can each fault their own upstream while sharing one moto.
func (a *awsStack) withOwnProxy(t *testing.T) *awsStack {
	t.Helper()
	p, err := faultproxy.Start(a.moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &awsStack{moto: a.moto, proxy: p, sm: a.sm}
}

func (a *awsStack) createSecret(t *testing.T, name, value string) *secretsmanager.CreateSecretOutput {
	t.Helper()
	out, err := a.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("create secret %s: %v", name, err)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startExtension runs kinko with env on top of a test environment pointing at a's proxy.
func startExtension(t *testing.T, a *awsStack, env map[string]string) *extension {
	t.Helper()
	return startExtensionLogging(t, a, env, &syncBuffer{})
}

// startExtensionLogging is startExtension with the extension's stdout going to logs.
func startExtensionLogging(t *testing.T, a *awsStack, env map[string]string, logs *syncBuffer) *extension {
	t.Helper()
	return startExtensionOn(t, startLambda(t), a, env, logs)
}

// startExtensionOn is startExtensionLogging against a fake Lambda the test set up itself.
func startExtensionOn(t *testing.T, api *extensionsapitest.Server, a *awsStack, env map[string]string, logs *syncBuffer) *extension {
	t.Helper()
	return startExtensionClocked(t, api, a, env, logs, lambda.SystemClocks())
}

// startExtensionClocked is startExtensionOn with the clocks the extension reads a SnapStart
// restore from.
func startExtensionClocked(t *testing.T, api *extensionsapitest.Server, a *awsStack, env map[string]string, logs *syncBuffer, clk lambda.Clocks) *extension {
	t.Helper()
	port := freePort(t)
	full := map[string]string{
		"AWS_LAMBDA_RUNTIME_API":                 api.Addr,
		"AWS_SESSION_TOKEN":                      testToken,
		"AWS_ACCESS_KEY_ID":                      "testing",
		"AWS_SECRET_ACCESS_KEY":                  "testing",
		"AWS_REGION":                             "us-east-1",
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_LAMBDA_FUNCTION_NAME":               "fn",
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": strconv.Itoa(port),
		"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL": "DEBUG",
	}
	if a != nil {
		full["AWS_ENDPOINT_URL"] = a.proxy.URL
	}
	for k, v := range env {
		full[k] = v
	}
	x := &extension{t: t, lambda: api, port: port, logs: logs, done: make(chan error, 1),
		client: &http.Client{Timeout: 30 * time.Second}}
	ctx, cancel := context.WithCancel(context.Background())
	x.signal = cancel
	environ := make([]string, 0, len(full))
	for k, v := range full {
		environ = append(environ, k+"="+v)
	}
	go func() {
		x.done <- runWith(ctx, []string{"/opt/extensions/kinko"}, func(k string) string { return full[k] }, environ, x.logs, nil, clk)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-x.done:
		case <-time.After(10 * time.Second):
			t.Error("extension did not stop within 10s of its context ending")
		}
	})
	return x
}

// waitLog polls the log for a line containing every fragment.
func (x *extension) waitLog(fragments ...string) string {
	x.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(x.logs.String(), "\n") {
			if containsAll(line, fragments) {
				return line
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	x.t.Fatalf("no log line with %q within 15s", fragments)
	return ""
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

type response struct {
	status      int
	cacheStatus string
	body        string
}

func (x *extension) get(path string) response {
	x.t.Helper()
	return x.getWith(path, map[string]string{"X-Aws-Parameters-Secrets-Token": testToken})
}

func (x *extension) getWith(path string, hdr map[string]string) response {
	x.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", x.port, path), nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := x.client.Do(req)
	if err != nil {
		x.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header.Get("Cache-Status"), string(body)}
}

// waitReachable polls until the extension's port accepts connections.
func (x *extension) waitReachable() {
	x.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", x.port))
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	x.t.Fatal("extension port not reachable within 15s")
}

// stop sends SHUTDOWN and waits for run to return.
func (x *extension) stop() error {
	x.t.Helper()
	x.lambda.Send(extensionsapitest.Shutdown(2 * time.Second))
	select {
	case err := <-x.done:
		x.done <- err // for the cleanup
		return err
	case <-time.After(5 * time.Second):
		x.t.Fatal("extension did not exit within 5s of SHUTDOWN")
		return nil
	}
}

// assertNoSecrets fails if any of values appears in the extension's or moto's output.
// It never prints the output or the value.
func (x *extension) assertNoSecrets(a *awsStack, values ...string) {
	x.t.Helper()
	for i, v := range values {
		if strings.Contains(x.logs.String(), v) {
			x.t.Errorf("secret value #%d appears in the extension's log", i)
		}
		if a != nil && strings.Contains(a.moto.Logs(), v) {
			x.t.Errorf("secret value #%d appears in moto's log", i)
		}
	}
}

// waitFlights polls until n requests of this process wait on an upstream attempt with no
// value to fall back on: the one that started it plus the requests that joined it.
func waitFlights(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d requests on the in-flight fetch", n), 15*time.Second, func() bool {
		return goroutinesIn("cache.(*Cache[...]).await", "server.(*Handler)") >= n
	})
}

// freshStatus matches the Cache-Status of a fresh answer: its kind, then the ttl every fresh
// answer carries.
var freshStatus = regexp.MustCompile(`^(kinko; [a-z=; -]+); ttl=[0-9]+$`)

// isFresh reports whether Cache-Status cs is want followed by "; ttl=N".
func isFresh(cs, want string) bool {
	m := freshStatus.FindStringSubmatch(cs)
	return m != nil && m[1] == want
}

// goroutinesIn counts this process's goroutines whose stack holds every fragment.
func goroutinesIn(fragments ...string) int {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
	n := 0
	for _, g := range strings.Split(buf.String(), "\n\n") {
		if containsAll(g, fragments) {
			n++
		}
	}
	return n
}

func eventInvoke() extensionsapitest.Event { return extensionsapitest.Invoke() }

// settleGoroutines polls until the process runs at most baseline goroutines, and fails the test
// with a grouped dump of what is left if it does not within limit. Idle keep-alive connections
// of http.DefaultTransport (the fault proxy's) are closed first:
// each holds two goroutines until its peer or its idle timeout ends it.
func settleGoroutines(t *testing.T, baseline int, limit time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		n := runtime.NumGoroutine()
		if n <= baseline {
			return n
		}
		if time.Now().After(deadline) {
			var buf bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
			t.Fatalf("%d goroutines, baseline %d: still more after %s; what is left:\n%s", n, baseline, limit, buf.String())
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// raceFirstRequests sends 64 concurrent first requests for path while AWS is held, releases AWS
// only once all 64 are parked on the one fetch, and checks the contract: exactly one upstream
// call of operation op, identical answers, and 63 of them marked collapsed.
func (x *extension) raceFirstRequests(a *awsStack, path, op string) {
	x.t.Helper()
	const n = 64
	a.proxy.Hold()
	answers := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i] = x.get(path) })
	}
	waitFlights(x.t, n)
	a.proxy.Release()
	wg.Wait()

	if got := a.proxy.Calls(op); got != 1 {
		x.t.Fatalf("upstream %s calls = %d, want 1", op, got)
	}
	collapsed := 0
	for _, r := range answers {
		if r.status != 200 || r.body != answers[0].body {
			x.t.Fatalf("answers differ or failed: status %d", r.status)
		}
		if isFresh(r.cacheStatus, "kinko; fwd=miss; collapsed") {
			collapsed++
		}
	}
	if collapsed != n-1 {
		x.t.Fatalf("collapsed answers = %d, want %d", collapsed, n-1)
	}
}

// redact replaces every secret value these tests create with a marker, so a failure message
// may show an answer's body without ever showing a secret, even when a regression put one there.
func redact(body string) string {
	for _, v := range []string{openAIKey, dbPassword, dbPassword2, hostileValue, beforeSnapshot, afterRestore} {
		body = strings.ReplaceAll(body, v, "<secret>")
	}
	if i := strings.Index(body, soakMarker); i >= 0 {
		return body[:i] + "<secret and the rest of the body>"
	}
	return body
}
