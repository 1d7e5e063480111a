package client

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// benchAnswer is a jsonKey answer as kinko sends it: the extension's side of a read is
// measured by extension/internal/server's benchmarks; these measure the function's side.
func benchServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain; charset=utf-8"}
		h["Cache-Control"] = []string{"no-store"}
		h["Cache-Status"] = []string{"kinko; hit; ttl=287"}
		io.WriteString(w, "sk-bench-0123456789abcdef0123456789abcdef")
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchRead(b *testing.B, opts ...Option) {
	srv := benchServer(b)
	c, err := New(sessionEnv(), append([]Option{WithBaseURL(srv.URL)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	if _, err := c.SecretJSONKey(ctx, "bench", "OPENAI_API_KEY"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		v, err := c.SecretJSONKey(ctx, "bench", "OPENAI_API_KEY")
		if err != nil || len(v) == 0 {
			b.Fatalf("read: %d bytes, %v", len(v), err)
		}
	}
}

// BenchmarkClientCacheHit is a warm read the client answers from its memory.
func BenchmarkClientCacheHit(b *testing.B) { benchRead(b) }

// BenchmarkClientLoopback is the same read with the client's cache off: a keep-alive loopback
// HTTP round trip to a server answering what kinko answers.
func BenchmarkClientLoopback(b *testing.B) { benchRead(b, WithoutCache()) }

// BenchmarkClientCacheHitSecret is a whole-secret read from memory: a copy of the value is
// handed out, so a caller wiping it cannot reach the kept one.
func BenchmarkClientCacheHitSecret(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Status", "kinko; hit; ttl=287")
		writeJSON(w, 200, map[string]any{"Name": "bench", "SecretString": testSecret, "VersionStages": []string{"AWSCURRENT"}})
	}))
	b.Cleanup(srv.Close)
	c, err := New(sessionEnv(), WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if s, err := c.Secret(ctx, "bench"); err != nil || s.SecretString == "" {
			b.Fatalf("read: %v", err)
		}
	}
}
