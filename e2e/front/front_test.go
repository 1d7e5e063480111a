package front

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// invokerFunc is an Invoker from a func.
type invokerFunc func(ctx context.Context, payload []byte) ([]byte, error)

func (f invokerFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

func respond(t *testing.T, v any) invokerFunc {
	return func(context.Context, []byte) ([]byte, error) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b, nil
	}
}

func newFront(inv Invoker) (*Handler, *strings.Builder) {
	var logs strings.Builder
	return New(inv, slog.New(slog.NewJSONHandler(&logs, nil))), &logs
}

func TestEventIsPayload20(t *testing.T) {
	var got events.APIGatewayV2HTTPRequest
	h, logs := newFront(invokerFunc(func(_ context.Context, payload []byte) ([]byte, error) {
		if err := json.Unmarshal(payload, &got); err != nil {
			t.Fatalf("the event is not JSON: %v", err)
		}
		return []byte(`{"statusCode":204}`), nil
	}))
	req := httptest.NewRequest("POST", "http://127.0.0.1:3000/invoke-openai?a=1&a=2&b=x%20y", strings.NewReader(`{"prompt":"hi"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")
	req.Header.Set("Cookie", "s=1; t=2")
	req.RemoteAddr = "127.0.0.1:54321"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	if rec.Code != 204 {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	if got.Version != "2.0" || got.RouteKey != "$default" || got.RawPath != "/invoke-openai" || got.RawQueryString != "a=1&a=2&b=x%20y" {
		t.Errorf("version/route/path/query = %q %q %q %q", got.Version, got.RouteKey, got.RawPath, got.RawQueryString)
	}
	if got.Body != `{"prompt":"hi"}` || got.IsBase64Encoded {
		t.Errorf("body = %q (base64 %v), want the text as is", got.Body, got.IsBase64Encoded)
	}
	if got.Headers["content-type"] != "application/json" || got.Headers["x-multi"] != "one,two" || got.Headers["host"] != "127.0.0.1:3000" {
		t.Errorf("headers = %v, want lower-case names and comma-joined values", got.Headers)
	}
	if _, ok := got.Headers["cookie"]; ok || strings.Join(got.Cookies, "|") != "s=1|t=2" {
		t.Errorf("cookies = %q, header cookie present %v: want them in cookies only", got.Cookies, ok)
	}
	if got.QueryStringParameters["a"] != "1,2" || got.QueryStringParameters["b"] != "x y" {
		t.Errorf("query = %v", got.QueryStringParameters)
	}
	rc := got.RequestContext
	if rc.Stage != "$default" || rc.HTTP.Method != "POST" || rc.HTTP.Path != "/invoke-openai" || rc.HTTP.SourceIP != "127.0.0.1" ||
		rc.RequestID == "" || rc.TimeEpoch == 0 || rc.DomainName != "127.0.0.1:3000" {
		t.Errorf("requestContext = %+v", rc)
	}
	if !strings.Contains(logs.String(), `"path":"/invoke-openai","status":204`) || strings.Contains(logs.String(), "prompt") {
		t.Errorf("log = %s, want method, path and status and no body", logs.String())
	}
}

func TestBinaryBodyIsBase64(t *testing.T) {
	body := []byte{0xff, 0x00, 0xfe}
	r := httptest.NewRequest("POST", "/x", strings.NewReader(string(body)))
	ev := Event(r, body, "id", time.Unix(0, 0))
	if !ev.IsBase64Encoded || ev.Body != base64.StdEncoding.EncodeToString(body) {
		t.Errorf("binary body: %q base64 %v", ev.Body, ev.IsBase64Encoded)
	}
}

func TestResponseMapping(t *testing.T) {
	cases := []struct {
		name       string
		payload    string
		status     int
		body       string
		header     map[string]string
		setCookies []string
	}{
		{
			name:    "response object",
			payload: `{"statusCode":503,"headers":{"Content-Type":"application/json","X-Kinko-Cache-Status":"kinko; hit; ttl=5"},"body":"{\"error\":\"x\"}"}`,
			status:  503, body: `{"error":"x"}`,
			header: map[string]string{"X-Kinko-Cache-Status": "kinko; hit; ttl=5"},
		},
		{
			name:    "base64 body, cookies, multi-value headers",
			payload: `{"statusCode":200,"isBase64Encoded":true,"body":"aGk=","cookies":["a=1","b=2"],"multiValueHeaders":{"X-M":["1","2"]},"headers":{"Content-Type":"text/plain"}}`,
			status:  200, body: "hi", header: map[string]string{"Content-Type": "text/plain"}, setCookies: []string{"a=1", "b=2"},
		},
		{name: "plain JSON means 200", payload: `{"hello":"world"}`, status: 200, body: `{"hello":"world"}`},
		{name: "function error", payload: `{"errorMessage":"boom","errorType":"Panic"}`, status: 500, body: "Internal Server Error"},
		{name: "emulator timeout", payload: `Task timed out after 30.00 seconds`, status: 504, body: "timed out"},
		{name: "not JSON", payload: `garbage`, status: 502, body: "not JSON"},
		{name: "bad status", payload: `{"statusCode":42}`, status: 502, body: "payload 2.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newFront(invokerFunc(func(context.Context, []byte) ([]byte, error) { return []byte(tc.payload), nil }))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("got %d %q, want %d containing %q", rec.Code, rec.Body, tc.status, tc.body)
			}
			for k, v := range tc.header {
				if rec.Header().Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, rec.Header().Get(k), v)
				}
			}
			if tc.setCookies != nil && strings.Join(rec.Header().Values("Set-Cookie"), "|") != strings.Join(tc.setCookies, "|") {
				t.Errorf("Set-Cookie = %q", rec.Header().Values("Set-Cookie"))
			}
		})
	}
	h, _ := newFront(respond(t, events.APIGatewayV2HTTPResponse{StatusCode: 200, MultiValueHeaders: map[string][]string{"X-M": {"1", "2"}}}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Header().Values("X-M"); len(got) != 2 {
		t.Errorf("multi-value header = %q", got)
	}
}

func TestInvokeFailures(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{errors.New("connection refused"), 502},
		{fmt.Errorf("waited: %w", context.DeadlineExceeded), 504},
	} {
		h, _ := newFront(invokerFunc(func(context.Context, []byte) ([]byte, error) { return nil, tc.err }))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		var body struct{ Message string }
		if rec.Code != tc.status || json.Unmarshal(rec.Body.Bytes(), &body) != nil || !strings.Contains(body.Message, tc.err.Error()) {
			t.Errorf("%v: got %d %s, want %d with the cause", tc.err, rec.Code, rec.Body, tc.status)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	called := false
	h, _ := newFront(invokerFunc(func(context.Context, []byte) ([]byte, error) { called = true; return nil, nil }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", io.LimitReader(zeros{}, maxBody+1)))
	if rec.Code != http.StatusRequestEntityTooLarge || called {
		t.Errorf("oversized body: %d, invoked %v", rec.Code, called)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
