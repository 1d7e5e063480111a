package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

var jsonSecret = map[string]string{"OPENAI_API_KEY": `{"OPENAI_API_KEY":"` + fakeKey + `","OTHER":"x"}`}

func TestInvokeOpenAI(t *testing.T) {
	f := newFixture(t, jsonSecret, chatOK("  こんにちは！\n"))
	ctx := lambdacontext.NewContext(t.Context(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1"})
	resp := f.do(ctx, request("POST", "/invoke-openai", prompt("元気？")))

	if resp.StatusCode != 200 || resp.Headers["Content-Type"] != "application/json" {
		t.Fatalf("got %d %v: %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	if got := resp.Headers[CacheStatusHeader]; got != "kinko; hit; ttl=287" {
		t.Errorf("%s = %q, want kinko's Cache-Status for the key's read", CacheStatusHeader, got)
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil || out["message"] != "こんにちは！" || len(out) != 1 {
		t.Errorf("body = %s, want {\"message\":\"こんにちは！\"}", resp.Body)
	}

	calls := f.openai.seen()
	if len(calls) != 1 {
		t.Fatalf("OpenAI got %d calls, want 1", len(calls))
	}
	c := calls[0]
	if c.auth != "Bearer "+fakeKey {
		t.Error("OpenAI did not get the key from the secret as a Bearer token")
	}
	if c.path != "/v1/chat/completions" || c.body.Model != "gpt-4o-mini" || c.body.MaxTokens != 150 {
		t.Errorf("OpenAI got %s model %q max_tokens %d", c.path, c.body.Model, c.body.MaxTokens)
	}
	msgs := c.body.Messages
	if len(msgs) != 2 ||
		msgs[0].Role != "system" || msgs[0].Content != "プロンプトの内容を元に返信してください。" ||
		msgs[1].Role != "user" || msgs[1].Content != "プロンプト: 元気？" {
		t.Errorf("messages = %+v", msgs)
	}

	queries, bad := f.kinko.seen()
	if bad != 0 {
		t.Errorf("kinko got %d requests without the session token", bad)
	}
	if len(queries) != 1 || queries[0] != "jsonKey=OPENAI_API_KEY&secretId=OPENAI_API_KEY" {
		t.Errorf("kinko queries = %q, want one jsonKey request", queries)
	}
	if logs := f.logs.String(); !strings.Contains(logs, `"request_id":"lambda-req-1"`) ||
		!strings.Contains(logs, `"route":"POST /invoke-openai"`) || !strings.Contains(logs, `"status":200`) {
		t.Errorf("log line = %s", logs)
	}
}

func TestInvokeOpenAIConfiguredNamesAndBase64Body(t *testing.T) {
	secrets := map[string]string{"prod/openai": `{"key":"` + fakeKey + `"}`}
	f := newFixture(t, secrets, chatOK("ok"), "SECRET_NAME", "prod/openai", "SECRET_JSON_KEY", "key", "OPENAI_MODEL", "gpt-4.1-nano")
	req := request("POST", "/invoke-openai", base64.StdEncoding.EncodeToString([]byte(prompt("hi"))))
	req.IsBase64Encoded = true
	resp := f.do(t.Context(), req)
	if resp.StatusCode != 200 || resp.Body != `{"message":"ok"}` {
		t.Fatalf("got %d %s", resp.StatusCode, resp.Body)
	}
	if c := f.openai.seen(); len(c) != 1 || c[0].body.Model != "gpt-4.1-nano" || c[0].auth != "Bearer "+fakeKey {
		t.Errorf("OpenAI calls = %+v", c)
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name, body string
		base64     bool
		want       string
	}{
		{"not JSON", `prompt=hi`, false, "not valid JSON"},
		{"empty body", ``, false, "empty body"},
		{"array", `["hi"]`, false, "JSON object"},
		{"trailing garbage", `{"prompt":"hi"} x`, false, "not valid JSON"},
		{"prompt not a string", `{"prompt": 42}`, false, "must be a JSON string"},
		{"no prompt", `{"question":"hi"}`, false, `no "prompt"`},
		{"null", `null`, false, `no "prompt"`},
		{"empty prompt", prompt(""), false, "empty"},
		{"blank prompt", prompt(" \n\t "), false, "empty"},
		{"over-long prompt", prompt(strings.Repeat("あ", 4001)), false, "4001 characters; the limit is 4000"},
		{"huge body", prompt(strings.Repeat("a", 70000)), false, "limit"},
		{"bad base64", `{not base64}`, true, "base64"},
	}
	f := newFixture(t, jsonSecret, chatOK("unused"))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := request("POST", "/invoke-openai", tc.body)
			req.IsBase64Encoded = tc.base64
			msg := errorOf(t, f.do(t.Context(), req), 400)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not mention %q", msg, tc.want)
			}
		})
	}
	if n := len(f.openai.seen()); n != 0 {
		t.Errorf("bad input reached OpenAI %d times", n)
	}
	if q, _ := f.kinko.seen(); len(q) != 0 {
		t.Errorf("bad input read the secret %d times", len(q))
	}
}

func TestPromptAtLimitCountsCharactersNotBytes(t *testing.T) {
	f := newFixture(t, jsonSecret, chatOK("ok"))
	resp := f.do(t.Context(), request("POST", "/invoke-openai", prompt(strings.Repeat("あ", 4000))))
	if resp.StatusCode != 200 {
		t.Fatalf("4000 characters (12000 bytes): got %d %s", resp.StatusCode, resp.Body)
	}
}

func TestRouting(t *testing.T) {
	f := newFixture(t, jsonSecret, chatOK("ok"))
	ctx := t.Context()

	msg := errorOf(t, f.do(ctx, request("GET", "/nope", "")), 404)
	if !strings.Contains(msg, "GET /nope") {
		t.Errorf("404 message %q should name the route", msg)
	}
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", "/invoke-openai", "POST"},
		{"POST", "/", "GET"},
		{"DELETE", "/get-secret", "GET"},
	} {
		resp := f.do(ctx, request(tc.method, tc.path, ""))
		errorOf(t, resp, 405)
		if resp.Headers["Allow"] != tc.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tc.method, tc.path, resp.Headers["Allow"], tc.allow)
		}
	}

	// A named stage keeps its name in rawPath.
	req := request("GET", "/dev/get-secret", "")
	req.RequestContext.Stage = "dev"
	if resp := f.do(ctx, req); resp.StatusCode != 200 {
		t.Errorf("GET /dev/get-secret on stage dev: %d %s", resp.StatusCode, resp.Body)
	}
	// Only the route key, as in hand-written test events.
	req = events.APIGatewayV2HTTPRequest{RouteKey: "POST /invoke-openai", Body: prompt("hi")}
	if resp := f.do(ctx, req); resp.StatusCode != 200 {
		t.Errorf("route key only: %d %s", resp.StatusCode, resp.Body)
	}
}

// The 502 a public caller gets says only that OpenAI failed and the status class: OpenAI's
// own text (its 401 quotes part of the key) and the configuration stay in the function's log,
// which has OpenAI's status, type and code but never its message.
func TestOpenAIErrorTextStaysOutOfPublicAnswers(t *testing.T) {
	// What OpenAI answers to a wrong key: its message quotes the key's start and end.
	masked := "Incorrect API key provided: sk-proj-********************************wxyz. You can find your API key at https://platform.openai.com/account/api-keys."
	f := newFixture(t, jsonSecret, openAIErr(401, "invalid_request_error", "invalid_api_key", masked))
	msg := errorOf(t, f.do(t.Context(), request("POST", "/invoke-openai", prompt("hi"))), 502)
	if msg != "OpenAI request failed (upstream 4xx); the function's log has the details" {
		t.Errorf("public error %q, want only that OpenAI failed with a 4xx", msg)
	}
	rec := lastLog(t, f)
	if rec["upstream_status"] != 401.0 || rec["upstream_type"] != "invalid_request_error" || rec["upstream_code"] != "invalid_api_key" ||
		!strings.Contains(fmt.Sprint(rec["hint"]), `check the key stored in secret "OPENAI_API_KEY"`) {
		t.Errorf("log line %v, want OpenAI's status, type and code and what to check", rec)
	}
	for _, leak := range []string{"Incorrect API key", "wxyz", "****"} {
		if strings.Contains(f.logs.String(), leak) {
			t.Errorf("the log holds OpenAI's message (%q)", leak)
		}
	}
	if n := len(f.openai.seen()); n != 1 {
		t.Errorf("a 401 was tried %d times, want once", n)
	}
}

// A compatible server that echoes the whole key: neither the answer nor the log holds it (the
// fixture checks both), and the log still tells what happened.
func TestOpenAIEchoingTheKeyIsNotRepeated(t *testing.T) {
	f := newFixture(t, jsonSecret, openAIErr(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided: "+fakeKey))
	errorOf(t, f.do(t.Context(), request("POST", "/invoke-openai", prompt("hi"))), 502)
	if rec := lastLog(t, f); rec["upstream_status"] != 401.0 {
		t.Errorf("log line %v", rec)
	}
}

// lastLog is the fixture's last log line, decoded.
func lastLog(t *testing.T, f *fixture) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(f.logs.String()), "\n")
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil {
		t.Fatalf("last log line: %v", err)
	}
	return rec
}

func TestOpenAIRateLimitThenSuccess(t *testing.T) {
	f := newFixture(t, jsonSecret, func(w http.ResponseWriter, r *http.Request, attempt int) {
		if attempt == 1 {
			w.Header().Set("Retry-After", "0")
			openAIErr(429, "requests", "rate_limit_exceeded", "Rate limit reached")(w, r, attempt)
			return
		}
		chatOK("after retry")(w, r, attempt)
	})
	resp := f.do(t.Context(), request("POST", "/invoke-openai", prompt("hi")))
	if resp.StatusCode != 200 || resp.Body != `{"message":"after retry"}` {
		t.Fatalf("got %d %s", resp.StatusCode, resp.Body)
	}
	calls := f.openai.seen()
	if len(calls) != 2 {
		t.Fatalf("OpenAI got %d calls, want 2", len(calls))
	}
	if calls[1].auth != "Bearer "+fakeKey || len(calls[1].body.Messages) != 2 {
		t.Error("the retry lost its headers or body")
	}
}

func TestOpenAIServerErrorPersistent(t *testing.T) {
	f := newFixture(t, jsonSecret, openAIErr(500, "server_error", "", "The server had an error"))
	resp := f.do(t.Context(), request("POST", "/invoke-openai", prompt("hi")))
	msg := errorOf(t, resp, 502)
	if msg != "OpenAI request failed (upstream 5xx); try again later" {
		t.Errorf("public error %q, want only the status class", msg)
	}
	if rec := lastLog(t, f); rec["upstream_status"] != 500.0 || rec["upstream_type"] != "server_error" ||
		strings.Contains(f.logs.String(), "The server had an error") {
		t.Errorf("log line %v, want OpenAI's status and type, not its message", rec)
	}
	// The key was read, so its Cache-Status is shown even though OpenAI failed.
	if got := resp.Headers[CacheStatusHeader]; got != "kinko; hit; ttl=287" {
		t.Errorf("%s = %q", CacheStatusHeader, got)
	}
	if n := len(f.openai.seen()); n != 3 {
		t.Errorf("OpenAI got %d calls, want 3 (bounded retries)", n)
	}
}

func TestOpenAIQuotaExhaustedNotRetried(t *testing.T) {
	f := newFixture(t, jsonSecret, openAIErr(429, "insufficient_quota", "insufficient_quota", "You exceeded your current quota"))
	msg := errorOf(t, f.do(t.Context(), request("POST", "/invoke-openai", prompt("hi"))), 502)
	if msg != "OpenAI request failed (upstream 4xx); try again later" {
		t.Errorf("public error %q", msg)
	}
	if rec := lastLog(t, f); rec["upstream_status"] != 429.0 || rec["upstream_code"] != "insufficient_quota" ||
		!strings.Contains(fmt.Sprint(rec["hint"]), "billing") {
		t.Errorf("log line %v, want the 429, its code and a hint at billing", rec)
	}
	if n := len(f.openai.seen()); n != 1 {
		t.Errorf("OpenAI got %d calls, want 1", n)
	}
}

func TestOpenAINotOpenAICompatible(t *testing.T) {
	f := newFixture(t, jsonSecret, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.WriteHeader(404)
		w.Write([]byte("<html>not here</html>"))
	})
	msg := errorOf(t, f.do(t.Context(), request("POST", "/invoke-openai", prompt("hi"))), 502)
	if msg != "OpenAI request failed (upstream 4xx); the function's log has the details" {
		t.Errorf("public error %q, want no address and no upstream text", msg)
	}
	if rec := lastLog(t, f); rec["upstream_status"] != 404.0 || !strings.Contains(fmt.Sprint(rec["hint"]), "OPENAI_BASE_URL ("+f.openai.srv.URL) {
		t.Errorf("log line %v, want the 404 and OPENAI_BASE_URL", rec)
	}
}

// OpenAI's client never follows a redirect: the request carries the key, which goes to
// OPENAI_BASE_URL only (Go keeps Authorization on a redirect to the same host, any port).
func TestOpenAIRedirectIsNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		chatOK("from elsewhere")(w, r, 1)
	}))
	defer other.Close()
	f := newFixture(t, jsonSecret, func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	msg := errorOf(t, f.do(t.Context(), request("POST", "/invoke-openai", prompt("hi"))), 502)
	if msg != "OpenAI request failed (upstream 3xx); the function's log has the details" {
		t.Errorf("public error %q", msg)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect's target got %d requests; want none", n)
	}
	if rec := lastLog(t, f); rec["upstream_status"] != 307.0 ||
		!strings.Contains(fmt.Sprint(rec["hint"]), "redirect to "+other.URL+"/v1/chat/completions not followed") {
		t.Errorf("log line %v, want the 307 and where it pointed", rec)
	}
}

func TestKinkoDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	f := newFixture(t, jsonSecret, chatOK("unused"), "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", port)
	msg := errorOf(t, f.do(t.Context(), request("POST", "/invoke-openai", prompt("hi"))), 503)
	for _, want := range []string{"unreachable", "localhost:" + port, "layer"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if n := len(f.openai.seen()); n != 0 {
		t.Errorf("OpenAI called %d times without a key", n)
	}
}

func TestSecretMissing(t *testing.T) {
	f := newFixture(t, jsonSecret, chatOK("unused"), "SECRET_NAME", "nope")
	for _, req := range []events.APIGatewayV2HTTPRequest{
		request("POST", "/invoke-openai", prompt("hi")),
		request("GET", "/get-secret", ""),
	} {
		resp := f.do(t.Context(), req)
		msg := errorOf(t, resp, 503)
		if !strings.Contains(msg, `secret "nope" not found (ResourceNotFoundException)`) || !strings.Contains(msg, "SECRET_NAME") {
			t.Errorf("error %q", msg)
		}
		if got, ok := resp.Headers[CacheStatusHeader]; ok {
			t.Errorf("%s = %q on a failed read; want none", CacheStatusHeader, got)
		}
	}
}

func TestSecretWithoutTheJSONKey(t *testing.T) {
	f := newFixture(t, map[string]string{"OPENAI_API_KEY": `{"other":"` + fakeKey + `"}`}, chatOK("unused"))
	for _, req := range []events.APIGatewayV2HTTPRequest{
		request("POST", "/invoke-openai", prompt("hi")),
		request("GET", "/get-secret", ""),
	} {
		msg := errorOf(t, f.do(t.Context(), req), 503)
		if !strings.Contains(msg, "SECRET_JSON_KEY") {
			t.Errorf("error %q should point at SECRET_JSON_KEY", msg)
		}
	}
}

func TestPlainSecretFallsBackToWholeString(t *testing.T) {
	f := newFixture(t, map[string]string{"OPENAI_API_KEY": fakeKey + "\n"}, chatOK("ok"))
	resp := f.do(t.Context(), request("POST", "/invoke-openai", prompt("hi")))
	if resp.StatusCode != 200 {
		t.Fatalf("got %d %s", resp.StatusCode, resp.Body)
	}
	if c := f.openai.seen(); len(c) != 1 || c[0].auth != "Bearer "+fakeKey {
		t.Error("OpenAI did not get the whole (trimmed) secret as the key")
	}
	if got := resp.Headers[CacheStatusHeader]; got != "kinko; hit; ttl=287" {
		t.Errorf("%s = %q, want the Cache-Status of the whole-secret read", CacheStatusHeader, got)
	}
	q, _ := f.kinko.seen()
	if len(q) != 2 || !strings.Contains(q[0], "jsonKey=") || strings.Contains(q[1], "jsonKey=") {
		t.Errorf("kinko queries = %q, want jsonKey then the whole secret", q)
	}
}

func TestNoSessionToken(t *testing.T) {
	f := newFixture(t, jsonSecret, chatOK("unused"), "AWS_SESSION_TOKEN", "")
	msg := errorOf(t, f.do(t.Context(), request("POST", "/invoke-openai", prompt("hi"))), 503)
	if !strings.Contains(msg, "AWS_SESSION_TOKEN") {
		t.Errorf("error %q", msg)
	}
	if q, _ := f.kinko.seen(); len(q) != 0 {
		t.Errorf("kinko was asked %d times without a token", len(q))
	}
}

func TestKinkoRefusesToken(t *testing.T) {
	f := newFixture(t, jsonSecret, chatOK("unused"), "AWS_SESSION_TOKEN", "some-other-token")
	msg := errorOf(t, f.do(t.Context(), request("GET", "/get-secret", "")), 503)
	if !strings.Contains(msg, "refused the session token") || !strings.Contains(msg, "401") {
		t.Errorf("error %q", msg)
	}
}

func TestDeadlineIs504(t *testing.T) {
	stop := make(chan struct{})
	f := newFixture(t, jsonSecret, func(w http.ResponseWriter, r *http.Request, _ int) {
		select { // hold the answer until the function gives up
		case <-r.Context().Done():
		case <-stop:
		}
	})
	t.Cleanup(func() { close(stop) }) // runs before the stub server closes
	f.h.margin = 100 * time.Millisecond

	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	deadline, _ := ctx.Deadline()
	msg := errorOf(t, f.do(ctx, request("POST", "/invoke-openai", prompt("hi"))), 504)
	if !strings.Contains(msg, "deadline") {
		t.Errorf("error %q", msg)
	}
	if !time.Now().Before(deadline) {
		t.Error("the handler answered after the Lambda deadline; it must keep a margin")
	}
}

func TestDeadlineAlreadyTooClose(t *testing.T) {
	f := newFixture(t, jsonSecret, chatOK("unused"))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond) // less than the 500 ms margin
	defer cancel()
	errorOf(t, f.do(ctx, request("POST", "/invoke-openai", prompt("hi"))), 504)
}

func TestGetSecretMasks(t *testing.T) {
	f := newFixture(t, jsonSecret, chatOK("unused"))
	resp := f.do(t.Context(), request("GET", "/get-secret", ""))
	if resp.StatusCode != 200 || resp.Headers["Content-Type"] != "application/json" || resp.Headers["Cache-Control"] != "no-store" {
		t.Fatalf("got %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"name":        "OPENAI_API_KEY",
		"versionId":   "a1b2c3d4-0000-0000-0000-000000000001",
		"cacheStatus": "kinko; hit; ttl=287",
		"preview":     "...wxyz",
	}
	if len(got) != len(want) {
		t.Errorf("fields = %v, want exactly %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestGetSecretShortValueRevealsNothing(t *testing.T) {
	f := newFixture(t, map[string]string{"OPENAI_API_KEY": "short-key"}, chatOK("unused"))
	resp := f.do(t.Context(), request("GET", "/get-secret", ""))
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"preview":"..."`) || strings.Contains(resp.Body, "short") {
		t.Errorf("got %d %s", resp.StatusCode, resp.Body)
	}
}

// The preview shows the last 4 characters only, and only of a value of 20 or more: 4 of 20
// leave 16 unknown, and a short value shows nothing. The start is never shown ("sk-proj-"
// says which kind of key it is, and a short key's start is a large part of it).
func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "...",
		"abc":                   "...",
		"123456789012":          "...",
		"sk-proj-abcdefg-wxyz":  "...wxyz",
		"sk-proj-abcdefgh-wxyz": "...wxyz",
		"sk-proj-abcdefgwxyz":   "...",
		fakeKey:                 "...wxyz",
		"鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵金庫": "...鍵鍵金庫",
		"鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵金庫":  "...",
	} {
		if got := mask(in); got != want {
			t.Errorf("mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIndexPage(t *testing.T) {
	f := newFixture(t, jsonSecret, chatOK("unused"))
	resp := f.do(t.Context(), request("GET", "/", ""))
	if resp.StatusCode != 200 || resp.Headers["Content-Type"] != "text/html; charset=utf-8" {
		t.Fatalf("got %d %v", resp.StatusCode, resp.Headers)
	}
	for _, want := range []string{
		`<textarea id="prompt"`, `placeholder="Enter your prompt here..."`, `id="submit"`, `Loading...`,
		`Response:`, `id="response"`, `id="error"`, `fetch('invoke-openai'`,
		`status === 429`, `status === 401 || status === 403`,
	} {
		if !strings.Contains(resp.Body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if q, _ := f.kinko.seen(); len(q) != 0 {
		t.Error("serving the page read the secret")
	}
}

// Warm, the key comes from the kinko client's memory: one read reaches kinko.
func TestWarmInvokeReadsTheKeyFromTheClientCache(t *testing.T) {
	f := newFixture(t, jsonSecret, chatOK("ok"))
	for i, want := range []string{"kinko; hit; ttl=287", "client; hit; ttl=143"} {
		resp := f.do(t.Context(), request("POST", "/invoke-openai", prompt("hi")))
		if resp.StatusCode != 200 || resp.Headers[CacheStatusHeader] != want {
			t.Errorf("invoke %d: %d, %s = %q, want 200 and %q", i+1, resp.StatusCode, CacheStatusHeader, resp.Headers[CacheStatusHeader], want)
		}
	}
	if q, _ := f.kinko.seen(); len(q) != 1 {
		t.Errorf("kinko queries = %q, want one: the second key came from memory", q)
	}
	if c := f.openai.seen(); len(c) != 2 || c[1].auth != "Bearer "+fakeKey {
		t.Errorf("OpenAI got %d calls, or the second without the key", len(c))
	}
}

// After a rotation, the key kept in memory is refused: the function reads it again with
// refreshNow and tries once more, so the caller never sees the old key fail.
func TestRefusedCachedKeyIsReadAgainWithRefreshNow(t *testing.T) {
	newKey := fakeKey + "-rotated" // contains fakeKey: the fixture's leak checks cover it
	var rotated atomic.Bool
	secrets := map[string]string{"OPENAI_API_KEY": jsonSecret["OPENAI_API_KEY"]} // rotated below: not the shared map
	f := newFixture(t, secrets, func(w http.ResponseWriter, r *http.Request, attempt int) {
		want := "Bearer " + fakeKey
		if rotated.Load() {
			want = "Bearer " + newKey
		}
		if r.Header.Get("Authorization") != want {
			openAIErr(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided")(w, r, attempt)
			return
		}
		chatOK("ok")(w, r, attempt)
	})
	if resp := f.do(t.Context(), request("POST", "/invoke-openai", prompt("before"))); resp.StatusCode != 200 {
		t.Fatalf("before the rotation: %d %s", resp.StatusCode, resp.Body)
	}
	f.kinko.setSecret("OPENAI_API_KEY", `{"OPENAI_API_KEY":"`+newKey+`"}`)
	rotated.Store(true)

	resp := f.do(t.Context(), request("POST", "/invoke-openai", prompt("after")))
	if resp.StatusCode != 200 || resp.Headers[CacheStatusHeader] != "kinko; hit; ttl=287" {
		t.Fatalf("after the rotation: %d %s (Cache-Status %q), want 200 with the key read again from kinko",
			resp.StatusCode, resp.Body, resp.Headers[CacheStatusHeader])
	}
	q, _ := f.kinko.seen()
	if len(q) != 2 || !strings.Contains(q[1], "refreshNow=true") {
		t.Errorf("kinko queries = %q, want the first read and one with refreshNow", q)
	}
	calls := f.openai.seen()
	if len(calls) != 3 || calls[1].auth != "Bearer "+fakeKey || calls[2].auth != "Bearer "+newKey {
		t.Errorf("OpenAI got %d calls; want the first, the old key refused, the new key", len(calls))
	}
	// The refreshed key is what the client keeps now.
	if resp := f.do(t.Context(), request("POST", "/invoke-openai", prompt("later"))); resp.StatusCode != 200 ||
		!strings.HasPrefix(resp.Headers[CacheStatusHeader], "client; hit;") {
		t.Errorf("later: %d (Cache-Status %q), want 200 from the client's memory", resp.StatusCode, resp.Headers[CacheStatusHeader])
	}
}

// A key that is simply wrong costs at most one refreshNow a minute, not one per invoke.
func TestWrongKeyIsNotRefreshedOnEveryInvoke(t *testing.T) {
	f := newFixture(t, jsonSecret, openAIErr(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided"))
	for i := range 3 {
		errorOf(t, f.do(t.Context(), request("POST", "/invoke-openai", prompt("hi"))), 502)
		if rec := lastLog(t, f); rec["upstream_status"] != 401.0 {
			t.Errorf("invoke %d: log line %v, want OpenAI's 401", i+1, rec)
		}
	}
	q, _ := f.kinko.seen()
	if len(q) != 2 || !strings.Contains(q[1], "refreshNow=true") {
		t.Errorf("kinko queries = %q, want the first read and a single refreshNow", q)
	}
	if n := len(f.openai.seen()); n != 3 {
		t.Errorf("OpenAI got %d calls, want 3: the same key is not tried twice", n)
	}
}
