package server

import (
	"crypto/subtle"
	"net/http"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// The token check: guard puts it in front of every read route (not /ping), with the throttle on
// failed checks outside Lambda; the SDK endpoint (package sdkapi) checks the same token for its
// cached reads (CheckToken).

// guard refuses proxied requests and requests without the right token; with a throttle
// (outside Lambda), also a caller that failed the token check too often lately.
func (h *Handler) guard(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, proxied := r.Header["X-Forwarded-For"]; proxied {
			fail(w, kinko.BadRequest,
				"X-Forwarded-For is not accepted: kinko answers only callers inside the sandbox, never through a proxy")
			return
		}
		g := h.opts.Gate
		if g != nil {
			if why, retryAfter := g.Refused(r); why != "" {
				refuseBusy(w, retryAfter, why)
				return
			}
		}
		if problem := h.checkToken(r); problem != "" {
			if g != nil {
				g.Failed(r)
			}
			fail(w, kinko.AccessDenied, problem)
			return
		}
		if g != nil {
			g.Succeeded(r)
		}
		next(w, r)
	}
}

// checkToken says what is wrong with r's token, or "". The token may come in any of the token
// headers (one, outside Lambda, unless configured: options.go); each one present must be given
// once, and one of them must hold the token.
func (h *Handler) checkToken(r *http.Request) string {
	if len(h.token) == 0 {
		return h.noToken
	}
	present, ok := 0, false
	for _, name := range h.opts.TokenHeaders {
		// The names are canonical (Options.withDefaults), as net/http stores a request's header
		// keys: indexing the map skips the canonicalisation Header.Values does on every request.
		got := r.Header[name]
		switch {
		case len(got) == 0:
			continue
		case len(got) > 1:
			return "header " + name + " given more than once; send it once"
		}
		present++
		if equalToken(got[0], h.token) { // every header present is compared: no early exit
			ok = true
		}
	}
	switch {
	case present == 0:
		return h.missingToken
	case !ok:
		return h.badToken
	}
	return ""
}

// CheckToken says what is wrong with r's X-Aws-Parameters-Secrets-Token against token, or ""
// when it matches; an empty token refuses every request. o's TokenName and NoToken (Lambda's
// when empty) name the token in the messages. The SDK endpoint (package sdkapi) checks it too,
// for its cached reads.
func CheckToken(r *http.Request, token []byte, o Options) string {
	name, noToken := o.tokenWords()
	if len(token) == 0 {
		return "kinko has no token to check against: " + noToken
	}
	got := r.Header[TokenHeader] // canonical: as net/http stores it
	switch {
	case len(got) == 0:
		return "missing header " + TokenHeader + "; send " + name + " in it"
	case len(got) > 1:
		return "header " + TokenHeader + " given more than once; send it once"
	case !equalToken(got[0], token):
		return "bad session token or header key: " + TokenHeader + " must equal " + name
	}
	return ""
}

// equalToken compares guess with token in constant time.
func equalToken(guess string, token []byte) bool {
	// A guess of another length is compared with itself, so the time depends on the guess's
	// length only, never on the token's content or length; hashing the guess did the same for
	// ~1 KiB session tokens at several times the cost, on every request.
	g, want := []byte(guess), token
	if len(g) != len(want) {
		want = g
	}
	return subtle.ConstantTimeCompare(g, want)&subtle.ConstantTimeEq(int32(len(g)), int32(len(token))) == 1
}
