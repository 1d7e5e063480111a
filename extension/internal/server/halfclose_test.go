package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// A client that half-closes its connection after the request (shutdown(SHUT_WR)) makes net/http
// cancel the request's context: the cache answers ErrCallerGone and there is no document. The
// answer must then never be a 200 (an empty 200 looks like an empty secret): kinko answers an
// error saying why (a client that still reads learns what to change). Over a real loopback TCP connection, with the real cache, on
// both of its paths: bypassed (TTL 0, as during a SnapStart init) and stored.
func TestHalfClosedClientNeverGetsAnEmpty200(t *testing.T) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{
		{"caching off", 0},
		{"cached", time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			loads := make(chan struct{}, 8)
			c := cache.New[kinko.Request, document.Value](cache.LoadFunc[kinko.Request, document.Value](func(ctx context.Context, r kinko.Request) (document.Value, error) {
				loads <- struct{}{}
				select {
				case <-ctx.Done(): // the bypassed fetch ends with its caller
					return document.Value{}, ctx.Err()
				case <-release: // the stored one goes on and answers later
					return textValue(r.ID, plainValue), nil
				}
			}), cache.Options[kinko.Request]{
				TTL:    func(kinko.Request) time.Duration { return tc.ttl },
				Logger: slog.New(slog.DiscardHandler),
			})
			defer c.Close()
			defer close(release)
			h, _ := newTestHandler(t, c, token)
			srv := httptest.NewServer(h)
			defer srv.Close()

			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			req := "GET /secretsmanager/get?secretId=plain HTTP/1.1\r\nHost: localhost\r\n" + TokenHeader + ": " + token + "\r\n\r\n"
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			<-loads // the request reached the cache: now hang up the sending side
			if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer to read (%v); want a CallerGone error", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Fatalf("half-closed client got 200 (Cache-Status %q) with a %d-byte body; want an error",
					resp.Header.Get("Cache-Status"), len(body))
			}
			if !strings.Contains(string(body), `"__type":"CallerGone"`) || !strings.Contains(string(body), "half-closed") {
				t.Fatalf("answer %d %s, want a CallerGone error saying the connection was half-closed", resp.StatusCode, shown(string(body)))
			}
			noSecrets(t, "the answer", string(body))
		})
	}
}
