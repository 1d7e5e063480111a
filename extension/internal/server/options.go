package server

import (
	"log/slog"
	"net/http"
)

// Options tune the HTTP API for a lifecycle outside Lambda (package daemon); the zero value is
// the API as it runs in Lambda, where the function is the only caller, on loopback.
type Options struct {
	// TokenHeaders are the request headers the token may come in (canonical names); empty:
	// TokenHeader only. AWS Secrets Manager Agent takes X-Vault-Token too (its ssrf_headers).
	TokenHeaders []string
	// TokenName says, in the token check's messages, what callers must send ("the function's
	// AWS_SESSION_TOKEN" in Lambda); NoToken says why there is no token to check against.
	TokenName, NoToken string
	// Owner names, in messages, whose credentials and role kinko acts with: "the function" in
	// Lambda; "kinko" outside it, where kinko and its callers share a task or instance role.
	Owner string
	// PathPrefix is the agent's path style, GET <prefix><secret id> (its path_prefix); it
	// starts and ends with a slash. Empty: AgentPrefix.
	PathPrefix string
	// Conns bounds the open client connections (admission.NewConnLimit: the agent's max_conn);
	// nil: no bound.
	Conns ConnLimit
	// Gate refuses a remote address for a while after repeated failed token checks
	// (admission.NewThrottle); nil: none.
	Gate TokenGate
	// Roles serves roleArn (a cache per role, package roles); nil: a request naming roleArn is
	// refused with a 400, never read with the sandbox's own role.
	Roles Roles
}

// ConnLimit bounds the open client connections of a server (admission.ConnLimit).
type ConnLimit interface {
	// Install makes srv count its open connections.
	Install(srv *http.Server)
	// Over says why r is refused, its connection having been opened beyond the bound, or "" if
	// it was not.
	Over(r *http.Request) string
}

// TokenGate watches the token checks of each remote address and may refuse one for a while
// (admission.Throttle).
type TokenGate interface {
	// Refused says why r's address may not have its token checked now, and in how many
	// seconds to come back (Retry-After); "" while it may.
	Refused(r *http.Request) (why string, retryAfter int)
	Failed(r *http.Request)
	Succeeded(r *http.Request)
}

// WithDefaults is o with Lambda's values where o leaves a field empty. It never writes to o's
// TokenHeaders: the canonical names are a copy, so options shared between handlers stay as given.
func (o Options) WithDefaults() Options {
	if len(o.TokenHeaders) == 0 {
		o.TokenHeaders = []string{TokenHeader}
	}
	names := make([]string, len(o.TokenHeaders))
	for i, n := range o.TokenHeaders {
		names[i] = http.CanonicalHeaderKey(n)
	}
	o.TokenHeaders = names
	o.TokenName, o.NoToken = o.tokenWords()
	if o.Owner == "" {
		o.Owner = "the function"
	}
	if o.PathPrefix == "" {
		o.PathPrefix = AgentPrefix
	}
	return o
}

// tokenWords are TokenName and NoToken, Lambda's where o leaves them empty: what the token
// check's messages say, without the rest of WithDefaults' work.
func (o Options) tokenWords() (name, noToken string) {
	name, noToken = o.TokenName, o.NoToken
	if name == "" {
		name = "the function's AWS_SESSION_TOKEN"
	}
	if noToken == "" {
		noToken = "neither AWS_SESSION_TOKEN nor AWS_CONTAINER_AUTHORIZATION_TOKEN is set in the function's environment"
	}
	return name, noToken
}

// NewHTTPServerWith is NewHTTPServer with o's connection bound.
func NewHTTPServerWith(h http.Handler, logger *slog.Logger, o Options) *http.Server {
	srv := NewHTTPServer(h, logger)
	if o.Conns != nil {
		o.Conns.Install(srv)
	}
	return srv
}
