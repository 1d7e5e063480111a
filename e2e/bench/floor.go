package bench

import (
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/kinko-dev/kinko/e2e/loopback"
)

// TokenHeader is the header both kinko and the floor check.
const TokenHeader = "X-Aws-Parameters-Secrets-Token"

// Answer is one HTTP answer, recorded from kinko so the floor can repeat it byte for byte.
type Answer struct {
	Status int
	Header http.Header // Content-Type, Cache-Control, Cache-Status...; Date and Content-Length are the server's own
	Body   []byte
}

// FloorHandler answers a with the same token check kinko makes (constant-time, 401 without
// it) and nothing else: no query parsing, no cache, no logging. It is what any server on
// this machine needs at least to answer kinko's bytes, so kinko/floor is kinko's own cost.
func FloorHandler(token string, a Answer) http.Handler {
	want := []byte(token)
	header := a.Header.Clone()
	header.Del("Date")
	header.Del("Content-Length")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get(TokenHeader)
		if len(want) == 0 || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("X-Amzn-Errortype", "AccessDeniedException")
			http.Error(w, `{"__type":"AccessDeniedException","message":"bad session token or header key"}`, http.StatusUnauthorized)
			return
		}
		h := w.Header()
		for k, v := range header {
			h[k] = v
		}
		w.WriteHeader(a.Status)
		_, _ = w.Write(a.Body)
	})
}

// Floor is FloorHandler on a loopback port.
type Floor struct {
	URL string // http://127.0.0.1:PORT
	srv *loopback.Server
}

// StartFloor serves FloorHandler(token, a) on a free loopback port until Close, with the same
// kind of limits as kinko's own server.
func StartFloor(token string, a Answer) (*Floor, error) {
	srv, err := loopback.Serve("127.0.0.1:0", FloorHandler(token, a))
	if err != nil {
		return nil, err
	}
	return &Floor{URL: srv.URL, srv: srv}, nil
}

// Close stops the floor and waits for it.
func (f *Floor) Close() error { return f.srv.Close(5 * time.Second) }
