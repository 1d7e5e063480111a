// Package server is kinko's HTTP API on localhost:2773, the same API as AWS's Parameters and
// Secrets extension: the routes, the token check, request validation (the query string through
// package query), the answer's headers (Cache-Control; Cache-Status through package
// cachestatus) and AWS-shaped JSON errors, whose HTTP statuses are mapped from kinko's error
// codes here only, in one table (errors.go). Who is let in at all (a browser's request, a
// connection beyond the bound, an address that keeps failing the token check) package admission
// decides, before any route; server answers its refusals. It reads through a cache and knows no
// AWS SDK.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/admission"
	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
	"github.com/kinko-dev/kinko/extension/internal/query"
)

// TokenHeader carries the caller's proof that it runs in this sandbox.
const TokenHeader = "X-Aws-Parameters-Secrets-Token"

// MaxHeaderBytes bounds request headers; a session token is about 1 KiB.
const MaxHeaderBytes = 16 << 10

// AgentPrefix is AWS Secrets Manager Agent's path style: GET /v1/<secret id>.
const AgentPrefix = "/v1/"

// SecretPrefix is AWS Cloud Extensions' path route: GET /secretsmanager/<secret id>. Its
// /secretsmanager/get is the query route, so a secret named get is read through that.
const SecretPrefix = "/secretsmanager/"

// ByPathRoute reads every parameter under an SSM path (GetParametersByPath, all pages, one
// answer): a kinko extra, which kinko-exec's kinko:ssm-path: references read through.
const ByPathRoute = "/systemsmanager/parameters/getbypath"

// maxUnknownNames bounds the unknown query parameter names remembered for logging once each,
// so a caller sending endless new names cannot grow kinko's memory or its log.
const maxUnknownNames = 64

// The query parameters each endpoint takes. Any other name is ignored (real code sends
// withDecryption=true to /secretsmanager/get, and AWS's extension answers it), except one of
// these in another case: ignoring versionstage would silently answer another version.
var (
	secretParams    = []string{"secretId", "versionId", "versionStage", "refreshNow", "jsonKey", roleArn}
	parameterParams = []string{"name", "withDecryption", "version", "label", "refreshNow", "jsonKey", roleArn}
	// The path routes take the id from the path; secretId is named so that giving it too is an
	// error rather than a second id quietly ignored.
	pathParams   = []string{"secretId", "versionId", "versionStage", "refreshNow", "jsonKey", roleArn}
	byPathParams = []string{"path", "withDecryption", "recursive", "refreshNow", roleArn}
)

// roleArn reads with another role's credentials (CONTRACT.md section 3): through that role's
// own cache (Roles), never the sandbox's, so a value read under one identity never answers another.
const roleArn = "roleArn"

// Cache is what the server reads through.
type Cache interface {
	Get(ctx context.Context, r kinko.Request) (document.Value, cache.Status, error)
	Refresh(ctx context.Context, r kinko.Request) (document.Value, cache.Status, error)
	// Recount tells the cache that r's value grew (its jsonKey index was built), so its byte
	// budget counts what it holds.
	Recount(r kinko.Request)
}

// Roles gives the caches that read with a role's credentials (roleArn): one per role.
type Roles interface {
	// For returns the cache of the role roleArn names, and release, to call once the read is
	// done. Its error is a *kinko.Error saying what is wrong (a malformed ARN, every role in use).
	For(roleArn string) (c Cache, release func(), err error)
}

// Handler answers kinko's HTTP API.
type Handler struct {
	hv     *headerValues // rendered header values, shared by every answer
	cache  Cache
	token  []byte // the expected token; empty: refuse every guarded request
	logger *slog.Logger
	mux    *http.ServeMux
	opts   Options // filled in: TokenHeaders, PathPrefix and the messages are never empty
	// The token check's messages, built once: a check costs the same whatever its verdict.
	noToken, missingToken, badToken string
	// The two routes a hit takes, guarded, for ServeHTTP's fast path.
	secretRoute, parameterRoute http.HandlerFunc
	unknown                     unknownNames
}

// unknownNames remembers which ignored query parameter names have been logged.
type unknownNames struct {
	mu   sync.Mutex
	seen map[string]struct{}
	full bool // the cap was reached and said so once
}

// NewHandler returns the API handler as it runs in Lambda. token is the expected
// X-Aws-Parameters-Secrets-Token; when it is empty every guarded request is refused.
func NewHandler(c Cache, token string, logger *slog.Logger) *Handler {
	return NewHandlerWith(c, token, logger, Options{})
}

// NewHandlerWith is NewHandler with the options of a lifecycle outside Lambda (options.go).
func NewHandlerWith(c Cache, token string, logger *slog.Logger, o Options) *Handler {
	h := &Handler{cache: c, logger: logger, token: []byte(token), hv: newHeaderValues(), opts: o.WithDefaults()}
	names := h.opts.TokenHeaders
	h.noToken = "kinko has no token to check against: " + h.opts.NoToken
	h.missingToken = "missing header " + strings.Join(names, " or ") + "; send " + h.opts.TokenName + " in it"
	h.badToken = "bad session token or header key: " + names[0] + " must equal " + h.opts.TokenName
	h.secretRoute, h.parameterRoute = h.guard(h.secret), h.guard(h.parameter)
	mux := http.NewServeMux()
	route := func(p string, handler http.HandlerFunc) {
		mux.HandleFunc("GET "+p, handler)
		// A GET pattern also matches HEAD; AWS's API is GET only, so HEAD gets 405 like the rest.
		mux.HandleFunc("HEAD "+p, methodNotAllowed)
		mux.HandleFunc(p, methodNotAllowed)
	}
	route("/ping", h.ping)
	// The trailing-slash forms are how AWS's Parameter Store documentation builds the URL;
	// {$} makes each one exact, not a subtree.
	for _, p := range []string{"/secretsmanager/get", "/secretsmanager/get/{$}"} {
		route(p, h.secretRoute)
	}
	for _, p := range []string{"/systemsmanager/parameters/get", "/systemsmanager/parameters/get/{$}"} {
		route(p, h.parameterRoute)
	}
	route(ByPathRoute, h.guard(h.parametersByPath))
	route(h.opts.PathPrefix+"{id...}", h.guard(h.pathSecret(h.opts.PathPrefix)))
	prefixes := []string{h.opts.PathPrefix}
	if h.opts.PathPrefix != SecretPrefix {
		// The path route takes every method, so that /secretsmanager/get's patterns (above), each
		// more specific in path, stay the query route's; it answers GET only.
		mux.HandleFunc(SecretPrefix+"{id...}", getOnly(h.guard(h.pathSecret(SecretPrefix))))
		prefixes = append(prefixes, SecretPrefix)
	}
	// Without these, ServeMux would redirect /v1 to /v1/; a local API has no reason to.
	for _, prefix := range prefixes {
		mux.HandleFunc(strings.TrimSuffix(prefix, "/"), h.notFound)
	}
	mux.HandleFunc("/", h.notFound)
	h.mux = mux
	return h
}

// NewHTTPServer wraps h in a server with read, write and idle timeouts and a header limit.
func NewHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// Long enough for an upstream call with the SDK's retries, short enough to free a
		// connection whose client stopped reading.
		WriteTimeout:   2 * time.Minute,
		IdleTimeout:    time.Minute,
		MaxHeaderBytes: MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		// Otherwise net/http answers "OPTIONS *" itself: 200, without the contract's headers.
		DisableGeneralOptionsHandler: true,
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr["Cache-Control"], hdr["Cache-Status"] = h.hv.noStore, h.hv.bypass
	// What a browser sends is refused before anything else, /ping included.
	if problem := admission.BrowserRequest(r); problem != "" {
		refuseBrowser(w, problem)
		return
	}
	if h.opts.Conns != nil {
		if problem := h.opts.Conns.Over(r); problem != "" {
			h.overBound(w, r, problem)
			return
		}
	}
	// A GET of one of these paths, spelled exactly so, is what the mux would route to the same
	// handler (it matches the path's unescaped segments); skipping its pattern match and
	// read lock (shared by every connection) saves a hit a few percent of its handler time.
	// Anything else, HEAD and other spellings included, goes through the mux.
	if r.Method == http.MethodGet && r.URL.RawPath == "" { // RawPath set: the path had escapes
		switch r.URL.Path {
		case "/secretsmanager/get", "/secretsmanager/get/":
			h.secretRoute(w, r)
			return
		case "/systemsmanager/parameters/get", "/systemsmanager/parameters/get/":
			h.parameterRoute(w, r)
			return
		}
	}
	// ServeMux would redirect /a//b and /a/../b to their clean form; a local API has no
	// reason to, so a path that is not already clean is simply not one of ours (a secret id
	// holding "//" or a dot segment is sent percent-encoded). Nor is a target without a path
	// ("*", CONNECT's host:port), which ServeMux answers with a bare 400. The trailing slashes
	// of the routes are the exceptions.
	switch p := r.URL.EscapedPath(); {
	case !strings.HasPrefix(p, "/"):
		h.notFound(w, r)
		return
	case p != path.Clean(p) && !h.slashRoute(p):
		if strings.HasPrefix(p, SecretPrefix) && r.Method == http.MethodGet {
			// The path route's id: a request the caller meant, refused as a bad id is.
			h.guard(badSecretPath)(w, r)
			return
		}
		h.notClean(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// overBound answers a request on a connection beyond the bound (Options.Conns) and closes the
// connection. /ping is answered anyway, so a health check does not fail a kinko that is busy,
// not sick.
func (h *Handler) overBound(w http.ResponseWriter, r *http.Request, problem string) {
	w.Header().Set("Connection", "close")
	if r.URL.Path == "/ping" {
		h.mux.ServeHTTP(w, r)
		return
	}
	refuseBusy(w, 1, problem)
}

// slashRoute reports whether p is one of the routes that end in a slash.
func (h *Handler) slashRoute(p string) bool {
	switch p {
	case "/secretsmanager/get/", "/systemsmanager/parameters/get/", h.opts.PathPrefix,
		SecretPrefix, "/parameterstore/": // the path route's bare prefix, also the SDK endpoint's base paths (HandleSDK)
		return true
	}
	return false
}

func (h *Handler) ping(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("healthy"))
}

func (h *Handler) secret(w http.ResponseWriter, r *http.Request) {
	q, err := h.readQuery(r, secretParams)
	if err != nil {
		fail(w, kinko.BadRequest, err.Error())
		return
	}
	id, err := q.ID("secretId", "/secretsmanager/get?secretId=NAME-or-ARN")
	h.secretVersion(w, r, q, id, err)
}

// secretVersion finishes a secret request for id (or its problem, idErr) with its version.
func (h *Handler) secretVersion(w http.ResponseWriter, r *http.Request, q query.Query, id string, idErr error) {
	req := kinko.Request{Kind: kinko.SecretsManager, ID: id}
	err := idErr
	if err == nil {
		req.VersionID, req.Stage, err = q.Exclusive("versionId", "versionStage")
	}
	if err != nil {
		fail(w, kinko.BadRequest, err.Error())
		return
	}
	h.answer(w, r, q, req.Normalize()) // one entry with ?versionStage=AWSCURRENT
}

// readQuery parses r's query for an endpoint that takes allowed, and logs the ignored names.
func (h *Handler) readQuery(r *http.Request, allowed []string) (query.Query, error) {
	q, err := query.Parse(r.URL.RawQuery, allowed...)
	if err == nil && len(q.Unknown()) > 0 {
		h.logUnknown(r, q.Unknown())
	}
	return q, err
}

// logUnknown writes one WARN line per ignored query parameter name, the first time it is seen:
// enough to find a typo, without a line per request. Never the value: it may be a secret.
func (h *Handler) logUnknown(r *http.Request, names []string) {
	if !h.logger.Enabled(r.Context(), slog.LevelWarn) {
		return
	}
	u := &h.unknown
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, n := range names {
		n = kinko.Clip(n)
		if _, seen := u.seen[n]; seen || u.full {
			continue
		}
		if len(u.seen) == maxUnknownNames {
			u.full = true
			h.logger.Warn("unknown query parameters: no longer logging new names", "names_logged", maxUnknownNames)
			return
		}
		if u.seen == nil {
			u.seen = make(map[string]struct{})
		}
		u.seen[n] = struct{}{}
		h.logger.Warn("unknown query parameter ignored; logged once per name", "parameter", n, "path", kinko.Clip(r.URL.Path))
	}
}

func (h *Handler) parameter(w http.ResponseWriter, r *http.Request) {
	q, err := h.readQuery(r, parameterParams)
	if err != nil {
		fail(w, kinko.BadRequest, err.Error())
		return
	}
	req := kinko.Request{Kind: kinko.SSM}
	if req.ID, err = q.ID("name", "/systemsmanager/parameters/get?name=NAME-or-ARN"); err == nil {
		if req.VersionID, req.Stage, err = q.Exclusive("version", "label"); err == nil {
			req.Decrypt, err = q.Bool("withDecryption", false)
		}
	}
	if err == nil && req.VersionID != "" {
		if n, perr := strconv.ParseInt(req.VersionID, 10, 64); perr != nil || n < 1 {
			err = fmt.Errorf("version %q is not a parameter version; give a whole number from 1", kinko.Clip(req.VersionID))
		}
	}
	if err != nil {
		fail(w, kinko.BadRequest, err.Error())
		return
	}
	h.answer(w, r, q, req.Normalize())
}

// pathHead and pathTail wrap a path read's parameters as GetParametersByPath's output, as AWS's
// extension writes an SDK output: its keys in order, NextToken null (every page is in it), an
// empty ResultMetadata.
var pathHead, pathTail = []byte(`{"NextToken":null,"Parameters":`), []byte(`,"ResultMetadata":{}}`)

// parametersByPath answers GET /systemsmanager/parameters/getbypath?path=P: every parameter
// under P as one GetParametersByPath output, all pages joined, cached as one entry per path
// (and withDecryption, recursive).
func (h *Handler) parametersByPath(w http.ResponseWriter, r *http.Request) {
	q, err := h.readQuery(r, byPathParams)
	if err != nil {
		fail(w, kinko.BadRequest, err.Error())
		return
	}
	req := kinko.Request{Kind: kinko.SSM, Path: kinko.PathChildren}
	var recursive bool
	if req.ID, err = q.ID("path", ByPathRoute+"?path=/app/prod/"); err == nil {
		if !strings.HasPrefix(req.ID, "/") {
			err = fmt.Errorf("path %q does not start with /: a parameter hierarchy does (/app/prod/)", kinko.Clip(req.ID))
		} else if req.Decrypt, err = q.Bool("withDecryption", false); err == nil {
			recursive, err = q.Bool("recursive", false)
		}
	}
	if recursive {
		req.Path = kinko.PathRecursive
	}
	if err != nil {
		fail(w, kinko.BadRequest, err.Error())
		return
	}
	h.answer(w, r, q, req.Normalize())
}

// getOnly answers any method but GET with 405, as the routes' own patterns do.
func getOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r)
			return
		}
		next(w, r)
	}
}

// methodNotAllowed is HTTP's own answer, not one of kinko's failures: 405, naming the method
// that is allowed.
func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodGet)
	writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method+" is not allowed; use GET")
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	fail(w, kinko.NotFound, fmt.Sprintf("no such endpoint %q; use /secretsmanager/get, %s<secret id>, %s<secret id>, "+
		"/systemsmanager/parameters/get, %s or /ping", kinko.Clip(r.URL.Path), SecretPrefix, h.opts.PathPrefix, ByPathRoute))
}

// notClean refuses a path with an empty segment, a dot segment or a trailing slash.
func (h *Handler) notClean(w http.ResponseWriter, r *http.Request) {
	fail(w, kinko.NotFound, fmt.Sprintf("no such endpoint %q: the path has an empty, . or .. segment, or a trailing slash; "+
		"a secret id holding those goes percent-encoded (%sa%%2F%%2Fb) or as /secretsmanager/get?secretId=", kinko.Clip(r.URL.EscapedPath()), h.opts.PathPrefix))
}
