package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// benchHandler is the real handler over the real cache, warmed with one secret and one parameter.
func benchHandler(b *testing.B) http.Handler { return benchHandlerWith(b, token) }

// benchHandlerWith is benchHandler expecting tok.
func benchHandlerWith(b *testing.B, tok string) http.Handler {
	b.Helper()
	values := map[kinko.Kind]document.Value{
		kinko.SecretsManager: textValue("bench", secretValue),
		kinko.SSM:            parameterValue("/bench", "v"),
	}
	c := cache.New[kinko.Request, document.Value](cache.LoadFunc[kinko.Request, document.Value](func(_ context.Context, r kinko.Request) (document.Value, error) { return values[r.Kind], nil }), cache.Options[kinko.Request]{
		TTL:          func(kinko.Request) time.Duration { return time.Hour },
		Size:         1000,
		RefreshAhead: 1,
	})
	b.Cleanup(c.Close)
	h := NewHandler(c, tok, slog.New(slog.DiscardHandler))
	for _, target := range []string{"/secretsmanager/get?secretId=bench", "/systemsmanager/parameters/get?name=%2Fbench&withDecryption=true"} {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set(TokenHeader, tok)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	return h
}

const (
	benchSecretPath    = "/secretsmanager/get?secretId=bench"
	benchParameterPath = "/systemsmanager/parameters/get?name=%2Fbench&withDecryption=true"
)

func benchmarkHandler(b *testing.B, target, tok string) {
	h := benchHandlerWith(b, tok)
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set(TokenHeader, tok)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkHitHandler is a secret cache hit through the handler, without a network.
func BenchmarkHitHandler(b *testing.B) { benchmarkHandler(b, benchSecretPath, token) }

// discardWriter is a ResponseWriter that keeps the status and the headers, and drops the body.
// Reused across iterations (reset clears its map, keeping the map's memory), it lets a benchmark
// see the handler's own cost, which httptest.ResponseRecorder's allocations and copies (about
// half of BenchmarkHitHandler) drown.
type discardWriter struct {
	header http.Header
	code   int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) reset()                      { clear(w.header); w.code = http.StatusOK }

func benchmarkHandlerOwn(b *testing.B, target string) {
	h := benchHandler(b)
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Host = "localhost:2773" // as a function's SDK or HTTP client sends it
	req.Header.Set(TokenHeader, token)
	w := &discardWriter{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// BenchmarkHitHandlerOwn is BenchmarkHitHandler without the recorder: the handler's own cost,
// for the Host a function sends.
func BenchmarkHitHandlerOwn(b *testing.B) { benchmarkHandlerOwn(b, benchSecretPath) }

// BenchmarkParameterHitHandlerOwn is the same for a parameter.
func BenchmarkParameterHitHandlerOwn(b *testing.B) { benchmarkHandlerOwn(b, benchParameterPath) }

// BenchmarkHitHandlerSessionToken is the same with a token as long as a real AWS_SESSION_TOKEN
// (about 1 KiB; the tests' token is 23 bytes).
func BenchmarkHitHandlerSessionToken(b *testing.B) {
	benchmarkHandler(b, benchSecretPath, strings.Repeat("IQoJb3JpZ2luX2VjE", 60))
}

// BenchmarkParameterHitHandler is the same for a parameter.
func BenchmarkParameterHitHandler(b *testing.B) { benchmarkHandler(b, benchParameterPath, token) }

func benchmarkLoopback(b *testing.B, target string) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := NewHTTPServer(benchHandler(b), slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	b.Cleanup(func() { _ = srv.Close(); <-done })

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	url := "http://" + l.Addr().String() + target
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set(TokenHeader, token)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkHitLoopback is a secret cache hit over a real keep-alive loopback connection.
func BenchmarkHitLoopback(b *testing.B) { benchmarkLoopback(b, benchSecretPath) }

// BenchmarkParameterHitLoopback is the same for a parameter.
func BenchmarkParameterHitLoopback(b *testing.B) { benchmarkLoopback(b, benchParameterPath) }

// BenchmarkJSONKeyHit is a jsonKey hit on a secret of 3,500 keys, through the handler.
func BenchmarkJSONKeyHit(b *testing.B) {
	h := NewHandler(&fakeCache{status: cache.Status{Outcome: cache.Hit, TTL: time.Minute},
		values: map[string]document.Value{"many": textValue("many", manyKeys(3500))}}, token, slog.New(slog.DiscardHandler))
	req := httptest.NewRequest(http.MethodGet, "/secretsmanager/get?secretId=many&jsonKey=k3499", nil)
	req.Header.Set(TokenHeader, token)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// benchmarkUnknownParams is a hit whose query adds n unknown parameter names.
func benchmarkUnknownParams(b *testing.B, n int) {
	h := benchHandler(b)
	var q strings.Builder
	for i := range n {
		fmt.Fprintf(&q, "&u%d=1", i)
	}
	req := httptest.NewRequest(http.MethodGet, benchSecretPath+q.String(), nil)
	req.Header.Set(TokenHeader, token)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

// BenchmarkManyUnknownParams is a request with 3,000 unknown query parameter names.
func BenchmarkManyUnknownParams(b *testing.B) { benchmarkUnknownParams(b, 3000) }

// BenchmarkUnknownParamsAtLimit is a request with as many unknown names as kinko still answers.
func BenchmarkUnknownParamsAtLimit(b *testing.B) { benchmarkUnknownParams(b, 62) }

// parameterValue is the rendered answer for SecureString parameter name holding value.
func parameterValue(name, value string) document.Value {
	v, err := document.RenderParameter(&ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{
		ARN: aws.String("arn:aws:ssm:us-east-1:123456789012:parameter" + name), DataType: aws.String("text"),
		Name: aws.String(name), Type: ssmtypes.ParameterTypeSecureString, Value: aws.String(value), Version: 1,
	}})
	if err != nil {
		panic(err)
	}
	return v
}
