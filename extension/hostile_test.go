package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The hostile suite speaks raw HTTP/1.x to the whole process over real loopback connections:
// bad and near-miss tokens, proxies, methods, odd paths and queries, ids at and past the limits,
// oversized and unfinished headers, idle connections, HTTP/1.0, pipelining and clients that
// leave. A prober asks for a secret throughout and must never fail. Run with -v for the rows
// RELIABILITY.md holds.

const hostileValue = "hostile-secret-value-5e0b7a"

// readHeaderTimeout is server.NewHTTPServer's ReadHeaderTimeout: what frees a stalled client.
const readHeaderTimeout = 5 * time.Second

// rawAnswer is one response read off a raw connection.
type rawAnswer struct {
	status int
	header http.Header
	body   string
}

// code is the __type of a JSON error body (X-Amzn-Errortype for a HEAD, which has no body), or "".
func (r rawAnswer) code() string {
	var e struct {
		Type string `json:"__type"`
	}
	if json.Unmarshal([]byte(r.body), &e) != nil || e.Type == "" {
		return r.header.Get("X-Amzn-Errortype")
	}
	return e.Type
}

// ours reports whether kinko's handler wrote the answer (rather than net/http refusing the
// request before it reached the handler).
func (r rawAnswer) ours() bool {
	return r.header.Get("Cache-Control") == "no-store" && strings.HasPrefix(r.header.Get("Cache-Status"), "kinko")
}

func (x *extension) dialRaw(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", x.port), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	return c
}

// readAnswer reads one response to a request of method from br.
func readAnswer(br *bufio.Reader, method string) (rawAnswer, error) {
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return rawAnswer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return rawAnswer{resp.StatusCode, resp.Header, string(body)}, err
}

// exchange sends raw on a new connection and reads one answer.
func (x *extension) exchange(t *testing.T, raw string) rawAnswer {
	t.Helper()
	c := x.dialRaw(t)
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	method, _, _ := strings.Cut(raw, " ")
	a, err := readAnswer(bufio.NewReader(c), method)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return a
}

// rawGET is a request with target and extra header lines (each ending in \r\n).
func rawGET(target string, headers ...string) string {
	return rawRequest("GET", target, headers...)
}

func rawRequest(method, target string, headers ...string) string {
	return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + strings.Join(headers, "") + "\r\n"
}

func tokenHeader(v string) string { return "X-Aws-Parameters-Secrets-Token: " + v + "\r\n" }

// prober asks for a cached secret over a keep-alive client until stopped, and counts answers.
type prober struct {
	ok, failed atomic.Int64
	firstFail  atomic.Value // string: the first failure, without any body
	stop       chan struct{}
	done       chan struct{}
}

func startProber(x *extension, path string) *prober {
	p := &prober{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d%s", x.port, path)
	go func() {
		defer close(p.done)
		defer client.CloseIdleConnections()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("X-Aws-Parameters-Secrets-Token", testToken)
			resp, err := client.Do(req)
			if err != nil {
				p.fail(err.Error())
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), hostileValue) {
				p.fail(fmt.Sprintf("status %d", resp.StatusCode))
				continue
			}
			p.ok.Add(1)
		}
	}()
	return p
}

func (p *prober) fail(what string) {
	p.failed.Add(1)
	p.firstFail.CompareAndSwap(nil, what)
}

func (p *prober) finish(t *testing.T) {
	t.Helper()
	close(p.stop)
	<-p.done
	if p.failed.Load() != 0 || p.ok.Load() == 0 {
		t.Errorf("good requests during the hostile traffic: %d ok, %d failed (first: %v)", p.ok.Load(), p.failed.Load(), p.firstFail.Load())
	}
	t.Logf("hostile-prober | %d good requests answered 200 during the suite, %d failed", p.ok.Load(), p.failed.Load())
}

type hostileCase struct {
	name     string
	request  string
	status   int
	code     string // __type of the JSON error body; "" for a success or net/http's own answer
	ours     bool   // kinko's handler answers (Cache-Control: no-store, Cache-Status)
	upstream int    // GetSecretValue calls the request may cause
}

func hostileCases(x *extension) []hostileCase {
	secret := "/secretsmanager/get?secretId=hostile"
	tok := tokenHeader(testToken)
	near := func(v string) string { return rawGET(secret, tokenHeader(v)) }
	id := func(s string) string { return rawGET("/secretsmanager/get?secretId="+s, tok) }
	long := strings.Repeat("a", 2049)
	cases := []hostileCase{
		{"right token", rawGET(secret, tok), 200, "", true, 0},
		{"no token", rawGET(secret), 401, "AccessDeniedException", true, 0},
		{"empty token", near(""), 401, "AccessDeniedException", true, 0},
		{"wrong token", near("nope"), 401, "AccessDeniedException", true, 0},
		{"near miss: last byte", near(testToken[:len(testToken)-1] + "X"), 401, "AccessDeniedException", true, 0},
		{"near miss: first byte", near("X" + testToken[1:]), 401, "AccessDeniedException", true, 0},
		{"near miss: one byte short", near(testToken[:len(testToken)-1]), 401, "AccessDeniedException", true, 0},
		{"near miss: one byte more", near(testToken + "x"), 401, "AccessDeniedException", true, 0},
		{"near miss: upper case", near(strings.ToUpper(testToken)), 401, "AccessDeniedException", true, 0},
		{"over-long token (8 KiB)", near(testToken + strings.Repeat("x", 8<<10)), 401, "AccessDeniedException", true, 0},
		{"token header twice", rawGET(secret, tok, tok), 401, "AccessDeniedException", true, 0},
		{"token under another header name", rawGET(secret, "X-Aws-Parameters-Secrets-Tokens: "+testToken+"\r\n"), 401, "AccessDeniedException", true, 0},
		{"token as a query parameter", rawGET(secret + "&X-Aws-Parameters-Secrets-Token=" + testToken), 401, "AccessDeniedException", true, 0},
		// Header names are case-insensitive and optional whitespace is not part of a value (RFC 9110).
		{"token header name in lower case", rawGET(secret, "x-aws-parameters-secrets-token: "+testToken+"\r\n"), 200, "", true, 0},
		{"token with surrounding spaces", near("  " + testToken + "  "), 200, "", true, 0},
		{"token with a NUL byte", near(testToken + "\x00"), 400, "", false, 0},
		{"X-Forwarded-For with the token", rawGET(secret, tok, "X-Forwarded-For: 10.0.0.1\r\n"), 400, "InvalidRequest", true, 0},
		{"X-Forwarded-For empty", rawGET(secret, tok, "X-Forwarded-For: \r\n"), 400, "InvalidRequest", true, 0},
		{"x-forwarded-for in lower case", rawGET(secret, tok, "x-forwarded-for: 127.0.0.1\r\n"), 400, "InvalidRequest", true, 0},
		{"X-Forwarded-For without the token", rawGET(secret, "X-Forwarded-For: 10.0.0.1\r\n"), 400, "InvalidRequest", true, 0},
		// Under /secretsmanager/ a path is AWS Cloud Extensions' path route: an unclean one is a bad
		// secret id (400), and the path route takes no secretId (400); neither reaches AWS.
		{"path with ..", rawGET("/secretsmanager/../secretsmanager/get?secretId=hostile", tok), 400, "InvalidRequest", true, 0},
		{"path with encoded ..", rawGET("/secretsmanager/%2e%2e/secretsmanager/get?secretId=hostile", tok), 400, "InvalidRequest", true, 0},
		{"path with //", rawGET("//secretsmanager/get?secretId=hostile", tok), 404, "NotFound", true, 0},
		{"path with /./", rawGET("/secretsmanager/./get?secretId=hostile", tok), 400, "InvalidRequest", true, 0},
		{"path with an encoded slash", rawGET("/secretsmanager%2Fget?secretId=hostile", tok), 404, "NotFound", true, 0},
		// AWS's Parameter Store documentation builds its URLs with this slash (CONTRACT.md section 3).
		{"path with a trailing slash", rawGET("/secretsmanager/get/?secretId=hostile", tok), 200, "", true, 1},
		{"path with two trailing slashes", rawGET("/secretsmanager/get//?secretId=hostile", tok), 400, "InvalidRequest", true, 0},
		{"path route", rawGET("/secretsmanager/hostile", tok), 200, "", true, 1},
		{"path route with ..", rawGET("/secretsmanager/x/../hostile", tok), 400, "InvalidRequest", true, 0},
		{"path route with //", rawGET("/secretsmanager/hos//tile", tok), 400, "InvalidRequest", true, 0},
		{"path route with a trailing slash", rawGET("/secretsmanager/hostile/", tok), 400, "InvalidRequest", true, 0},
		{"path route with LF", rawGET("/secretsmanager/hos%0Atile", tok), 400, "InvalidRequest", true, 0},
		{"path route, id of 2049 bytes", rawGET("/secretsmanager/"+long, tok), 400, "InvalidRequest", true, 0},
		{"path route without the token", rawGET("/secretsmanager/hostile"), 401, "AccessDeniedException", true, 0},
		{"roleArn malformed", id("hostile&roleArn=arn:aws:iam::1:role/x"), 400, "InvalidRequest", true, 0},
		{"roleArn in another case", id("hostile&rolearn=arn:aws:iam::210987654321:role/x"), 400, "InvalidRequest", true, 0},
		{"agent path with //", rawGET("/v1/hos//tile", tok), 404, "NotFound", true, 0},
		{"agent path with ..", rawGET("/v1/x/../hostile", tok), 404, "NotFound", true, 0},
		{"agent path without an id", rawGET("/v1/", tok), 400, "InvalidRequest", true, 0},
		{"ping with a trailing slash", rawGET("/ping/"), 404, "NotFound", true, 0},
		{"path in upper case", rawGET("/SECRETSMANAGER/GET?secretId=hostile", tok), 404, "NotFound", true, 0},
		{"path with a ;parameter", rawGET("/secretsmanager/get;x=1?secretId=hostile", tok), 400, "InvalidRequest", true, 0},
		{"absolute-form target", rawGET(fmt.Sprintf("http://127.0.0.1:%d%s", x.port, secret), tok), 200, "", true, 0},
		{"OPTIONS *", rawRequest("OPTIONS", "*"), 404, "NotFound", true, 0},
		{"CONNECT host:port", rawRequest("CONNECT", fmt.Sprintf("127.0.0.1:%d", x.port)), 404, "NotFound", true, 0},
		{"duplicate parameter", id("hostile&secretId=hostile"), 400, "InvalidRequest", true, 0},
		{"duplicate parameter, second empty", id("hostile&secretId="), 400, "InvalidRequest", true, 0},
		// Ignored (and its name logged once), as AWS's extension does: real code sends withDecryption=true.
		{"unknown parameter", id("hostile&debug=1"), 200, "", true, 1},
		{"parameter name in the wrong case", rawGET("/secretsmanager/get?secretid=hostile", tok), 400, "InvalidRequest", true, 0},
		{"semicolon separator", id("hostile;versionStage=AWSCURRENT"), 400, "InvalidRequest", true, 0},
		{"malformed escape", id("%zz"), 400, "InvalidRequest", true, 0},
		{"parameter without =", rawGET("/secretsmanager/get?secretId", tok), 400, "InvalidRequest", true, 0},
		{"id of 0 bytes", id(""), 400, "InvalidRequest", true, 0},
		{"id of 1 byte", id("k"), 200, "", true, 1},
		{"id of 2049 bytes", id(long), 400, "InvalidRequest", true, 0},
		{"id with NUL", id("hos%00tile"), 400, "InvalidRequest", true, 0},
		{"id with \\x01", id("%01"), 400, "InvalidRequest", true, 0},
		{"id with tab", id("hos%09tile"), 400, "InvalidRequest", true, 0},
		{"id with LF", id("hos%0Atile"), 400, "InvalidRequest", true, 0},
		{"id with CR LF", id("hostile%0D%0AX-Injected:%201"), 400, "InvalidRequest", true, 0},
		{"id with DEL", id("hostile%7F"), 400, "InvalidRequest", true, 0},
		{"raw control byte in the request line", id("hos\x01tile"), 400, "", false, 0},
		{"header over the limit (21 KiB)", rawGET(secret, tok, "X-Pad: "+strings.Repeat("p", 21<<10)+"\r\n"), 431, "", false, 0},
		{"no Host header", "GET /ping HTTP/1.1\r\n\r\n", 400, "", false, 0},
		{"HTTP/0.9 request line", "GET /ping\r\n\r\n", 400, "", false, 0},
		{"HTTP/2 preface over HTTP/1", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 404, "NotFound", true, 0},
		{"Content-Length and Transfer-Encoding", rawGET("/ping", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\n", 200, "", true, 0},
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "FOO"} {
		cases = append(cases, hostileCase{"method " + m, rawRequest(m, secret, tok), 405, "MethodNotAllowed", true, 0})
	}
	return cases
}

func TestHostileInputOverLoopback(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "hostile", hostileValue)
	a.createSecret(t, "k", hostileValue)
	a.createSecret(t, "hostile/held", hostileValue)
	baseline := runtime.NumGoroutine()
	x := startExtension(t, a, map[string]string{"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL": "INFO"})
	x.waitLog(`"msg":"ready"`)
	if r := x.get("/secretsmanager/get?secretId=hostile"); r.status != 200 {
		t.Fatalf("priming: %d", r.status)
	}
	p := startProber(x, "/secretsmanager/get?secretId=hostile")

	// The slow cases wait on the server's read-header timeout: start them first, check them last.
	var slow sync.WaitGroup
	slow.Go(func() {
		t.Run("request that never finishes its headers", func(t *testing.T) { unfinishedHeaders(t, x) })
	})
	slow.Go(func() { t.Run("many idle connections", func(t *testing.T) { idleConnections(t, x) }) })

	for _, tc := range hostileCases(x) {
		t.Run(tc.name, func(t *testing.T) {
			before := a.proxy.Calls("GetSecretValue")
			got := x.exchange(t, tc.request)
			calls := a.proxy.Calls("GetSecretValue") - before
			if got.status != tc.status || got.code() != tc.code || got.ours() != tc.ours || calls > tc.upstream {
				t.Errorf("got %d %q ours=%t after %d upstream call(s); want %d %q ours=%t, at most %d call(s)",
					got.status, got.code(), got.ours(), calls, tc.status, tc.code, tc.ours, tc.upstream)
			}
			if got.status == 405 && got.header.Get("Allow") != "GET" {
				t.Errorf("405 without Allow: GET")
			}
			// A secret request: the query route's secretId, or the path route's id.
			secretRequest := strings.Contains(tc.request, "secretId=") || strings.HasPrefix(tc.request, "GET /secretsmanager/hostile ")
			if strings.Contains(got.body, hostileValue) != (got.status == 200 && secretRequest) {
				t.Errorf("secret appears in the answer: %t, want it exactly in a 200 to a secret request", strings.Contains(got.body, hostileValue))
			}
			t.Logf("hostile-row | %s | %d %s | %s | %d |", tc.name, got.status, got.code(), map[bool]string{true: "kinko", false: "net/http"}[got.ours()], calls)
		})
	}
	// An id of 2048 bytes passes kinko's check and is AWS's to judge.
	t.Run("id of 2048 bytes", func(t *testing.T) {
		before := a.proxy.Calls("GetSecretValue")
		got := x.exchange(t, rawGET("/secretsmanager/get?secretId="+strings.Repeat("a", 2048), tokenHeader(testToken)))
		calls := a.proxy.Calls("GetSecretValue") - before
		if got.status/100 != 4 || got.code() == "" || got.code() == "InvalidRequest" || calls != 1 || !strings.Contains(got.header.Get("Cache-Status"), "fwd-status=") {
			t.Errorf("got %d %q after %d call(s), want AWS's own 4xx after 1 call", got.status, got.code(), calls)
		}
		t.Logf("hostile-row | id of 2048 bytes | %d %s | kinko (AWS's answer passed on) | %d |", got.status, got.code(), calls)
	})
	t.Run("HTTP/1.0", func(t *testing.T) { http10(t, x) })
	t.Run("pipelined requests", func(t *testing.T) { pipelined(t, x) })
	t.Run("client leaves while its fetch is in flight", func(t *testing.T) { leavesMidFetch(t, x, a) })
	t.Run("client leaves without reading its answers", func(t *testing.T) { leavesUnread(t, x) })
	slow.Wait()
	p.finish(t)

	stopClean(t, x, a, hostileValue)
	a.proxy.Close()
	x.lambda.Close()
	settleGoroutines(t, baseline, 10*time.Second)
}

// unfinishedHeaders sends half a request and waits: the read-header timeout must close it.
func unfinishedHeaders(t *testing.T, x *extension) {
	c := x.dialRaw(t)
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, "GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	n, err := c.Read(make([]byte, 512))
	took := time.Since(start)
	if n != 0 || !errors.Is(err, io.EOF) || took < readHeaderTimeout-500*time.Millisecond || took > readHeaderTimeout+3*time.Second {
		t.Errorf("unfinished headers: read %d bytes, %v after %s; want the server to close it after about %s", n, err, took, readHeaderTimeout)
	}
	t.Logf("hostile-row | request that never finishes its headers | connection closed after %s, no answer | net/http (ReadHeaderTimeout) | 0 |", took.Round(100*time.Millisecond))
}

// idleConnections opens connections that send nothing and keep-alive connections left idle
// after one request; good requests go on meanwhile (the prober), and the silent ones are closed
// by the read-header timeout.
func idleConnections(t *testing.T, x *extension) {
	const silent, kept = 256, 256
	conns := make([]net.Conn, 0, silent)
	for range silent {
		conns = append(conns, x.dialRaw(t))
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: kept}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range kept {
		wg.Go(func() {
			resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/ping", x.port))
			if err != nil {
				failed.Add(1)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d pings failed beside %d silent connections", failed.Load(), kept, silent)
	}
	start := time.Now()
	closed := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(start.Add(readHeaderTimeout + 3*time.Second))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) {
			closed++
		}
	}
	if closed != silent {
		t.Errorf("%d of %d silent connections closed by the server within the read-header timeout", closed, silent)
	}
	t.Logf("hostile-row | %d connections that send nothing, %d idle keep-alive connections | good requests served throughout; the silent ones closed after ~%s | net/http (ReadHeaderTimeout, IdleTimeout 60 s) | 0 |",
		silent, kept, readHeaderTimeout)
}

func http10(t *testing.T, x *extension) {
	c := x.dialRaw(t)
	defer c.Close()
	_, _ = io.WriteString(c, "GET /secretsmanager/get?secretId=hostile HTTP/1.0\r\n"+tokenHeader(testToken)+"\r\n")
	br := bufio.NewReader(c)
	got, err := readAnswer(br, "GET")
	if err != nil || got.status != 200 || !strings.Contains(got.body, hostileValue) {
		t.Fatalf("HTTP/1.0: %d %v", got.status, err)
	}
	if n, err := br.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("HTTP/1.0 without keep-alive: connection left open (%d, %v)", n, err)
	}
	t.Logf("hostile-row | HTTP/1.0 | 200, then the connection is closed | kinko | 0 |")
}

func pipelined(t *testing.T, x *extension) {
	c := x.dialRaw(t)
	defer c.Close()
	reqs := []struct {
		raw, method string
		status      int
	}{
		{rawGET("/ping"), "GET", 200},
		{rawGET("/secretsmanager/get?secretId=hostile", tokenHeader(testToken)), "GET", 200},
		{rawGET("/secretsmanager/get?secretId=hostile"), "GET", 401},
		{rawRequest("HEAD", "/ping"), "HEAD", 405},
		{rawGET("/ping", "Content-Length: 5\r\n") + "hello", "GET", 200}, // a body the handler ignores
		{rawGET("/secretsmanager/get?secretId=hostile", tokenHeader(testToken)), "GET", 200},
	}
	var all strings.Builder
	for _, r := range reqs {
		all.WriteString(r.raw)
	}
	if _, err := io.WriteString(c, all.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var got []int
	for i, r := range reqs {
		a, err := readAnswer(br, r.method)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		got = append(got, a.status)
		if a.status != r.status {
			t.Errorf("answer %d: %d, want %d", i, a.status, r.status)
		}
	}
	t.Logf("hostile-row | %d pipelined requests in one write | %v, in order | kinko | 0 |", len(reqs), got)
}

// leavesMidFetch sends a request whose fetch is held at AWS, then resets the connection. The
// fetch goes on for everyone else: once AWS answers, the value is cached.
func leavesMidFetch(t *testing.T, x *extension, a *awsStack) {
	a.proxy.Hold()
	released := false
	defer func() {
		if !released {
			a.proxy.Release()
		}
	}()
	c := x.dialRaw(t)
	_, _ = io.WriteString(c, rawGET("/secretsmanager/get?secretId=hostile/held", tokenHeader(testToken)))
	waitFor(t, "the fetch to reach AWS", 10*time.Second, func() bool { return a.proxy.InFlight() == 1 })
	_ = c.(*net.TCPConn).SetLinger(0) // RST: the client is gone, not politely closing
	c.Close()
	a.proxy.Release()
	released = true
	waitFor(t, "the fetch to finish", 10*time.Second, func() bool { return a.proxy.InFlight() == 0 })
	// kinko stores the answer a moment after the proxy has passed it on: on a loaded machine a
	// request in between joins that fetch (collapsed). Ask until the value is cached; what
	// matters is that the fetch the departed caller started was the only one.
	var r response
	waitFor(t, "the fetched value to be cached", 10*time.Second, func() bool {
		r = x.get("/secretsmanager/get?secretId=hostile/held")
		return r.status != 200 || strings.HasPrefix(r.cacheStatus, "kinko; hit")
	})
	fetches := 0
	for _, ar := range a.proxy.Arrivals("GetSecretValue") {
		if ar.ID == "hostile/held" {
			fetches++
		}
	}
	if r.status != 200 || !strings.HasPrefix(r.cacheStatus, "kinko; hit") || fetches != 1 {
		t.Errorf("after the caller left: %d %q after %d fetches, want the one fetch it started cached", r.status, r.cacheStatus, fetches)
	}
	t.Logf("hostile-row | client resets the connection while its fetch is in flight | the fetch completes and is cached; next request `%s` | kinko | 1 |", r.cacheStatus)
}

// leavesUnread pipelines many requests and resets the connection without reading an answer.
func leavesUnread(t *testing.T, x *extension) {
	const n = 200
	c := x.dialRaw(t)
	_, _ = io.WriteString(c, strings.Repeat(rawGET("/secretsmanager/get?secretId=hostile", tokenHeader(testToken)), n))
	_ = c.(*net.TCPConn).SetLinger(0)
	c.Close()
	if r := x.get("/secretsmanager/get?secretId=hostile"); r.status != 200 {
		t.Errorf("after a client left %d answers unread: %d", n, r.status)
	}
	t.Logf("hostile-row | client sends %d pipelined requests and resets without reading | the server drops the answers and keeps serving | kinko | 0 |", n)
}
