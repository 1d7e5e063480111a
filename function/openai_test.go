package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		hdr  map[string]string
		want time.Duration
		ok   bool
	}{
		{nil, 0, false},
		{map[string]string{"Retry-After": "2"}, 2 * time.Second, true},
		{map[string]string{"Retry-After": "0"}, 0, true},
		{map[string]string{"Retry-After": now.Add(3 * time.Second).Format(http.TimeFormat)}, 3 * time.Second, true},
		{map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0, true},
		{map[string]string{"Retry-After": "soon"}, 0, false},
		{map[string]string{"Retry-After-Ms": "150", "Retry-After": "9"}, 150 * time.Millisecond, true},
		{map[string]string{"Retry-After": "99999999999999"}, 24 * time.Hour, true},
	}
	for _, tc := range cases {
		h := http.Header{}
		for k, v := range tc.hdr {
			h.Set(k, v)
		}
		got, ok := retryAfter(h, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%v) = %v, %v; want %v, %v", tc.hdr, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	d := &retryDoer{baseDelay: 100 * time.Millisecond, maxWait: 5 * time.Second}
	for attempt, lo := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond} {
		w, ok := d.backoff(attempt, http.Header{}, time.Now())
		if !ok || w < lo || w >= lo*3/2 {
			t.Errorf("attempt %d: backoff %v, want in [%v, %v)", attempt, w, lo, lo*3/2)
		}
	}
	h := http.Header{"Retry-After": {"60"}}
	if _, ok := d.backoff(1, h, time.Now()); ok {
		t.Error("a Retry-After beyond maxWait should not be waited for")
	}
}

// retryServer answers with status for the first failures requests, then 200.
func retryServer(t *testing.T, status, failures int, hdr map[string]string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if string(body) != "payload" {
			t.Errorf("attempt %d got body %q", n.Load()+1, body)
		}
		if int(n.Add(1)) <= failures {
			for k, v := range hdr {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			io.WriteString(w, `{"error":{"message":"try later","type":"x"}}`)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func post(ctx context.Context, t *testing.T, d *retryDoer, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := d.Do(req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestRetryDoer(t *testing.T) {
	fast := func() *retryDoer {
		d := newRetryDoer(&http.Client{})
		d.baseDelay = time.Millisecond
		return d
	}
	t.Run("503 then success, body replayed", func(t *testing.T) {
		srv, n := retryServer(t, 503, 2, nil)
		resp := post(t.Context(), t, fast(), srv.URL)
		if resp.StatusCode != 200 || n.Load() != 3 {
			t.Errorf("status %d after %d attempts", resp.StatusCode, n.Load())
		}
	})
	t.Run("gives up after 3 attempts with the last answer", func(t *testing.T) {
		srv, n := retryServer(t, 502, 10, nil)
		resp := post(t.Context(), t, fast(), srv.URL)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 502 || n.Load() != 3 || !strings.Contains(string(b), "try later") {
			t.Errorf("status %d after %d attempts, body %q", resp.StatusCode, n.Load(), b)
		}
	})
	t.Run("4xx is not retried", func(t *testing.T) {
		srv, n := retryServer(t, 400, 10, nil)
		if resp := post(t.Context(), t, fast(), srv.URL); resp.StatusCode != 400 || n.Load() != 1 {
			t.Errorf("status %d after %d attempts", resp.StatusCode, n.Load())
		}
	})
	t.Run("Retry-After beyond maxWait is not waited for", func(t *testing.T) {
		srv, n := retryServer(t, 429, 10, map[string]string{"Retry-After": "60"})
		start := time.Now()
		if resp := post(t.Context(), t, fast(), srv.URL); resp.StatusCode != 429 || n.Load() != 1 {
			t.Errorf("status %d after %d attempts", resp.StatusCode, n.Load())
		}
		if time.Since(start) > time.Second {
			t.Error("waited")
		}
	})
	t.Run("a wait that does not fit the deadline is skipped", func(t *testing.T) {
		srv, n := retryServer(t, 429, 10, map[string]string{"Retry-After": "2"})
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if resp := post(ctx, t, fast(), srv.URL); resp.StatusCode != 429 || n.Load() != 1 {
			t.Errorf("status %d after %d attempts", resp.StatusCode, n.Load())
		}
	})
}
