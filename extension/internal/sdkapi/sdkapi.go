// Package sdkapi is kinko's SDK endpoint: Secrets Manager's and SSM's own API (AWS JSON 1.1,
// routed by X-Amz-Target) on kinko's port, so an unchanged AWS SDK reads through kinko's cache
// once the function sets AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL_SSM to kinko
// (CONTRACT.md section 3a).
//
//   - The read operations are answered from the cache the GET routes use, in the services' own
//     wire format, so every SDK parses them as AWS's: secretsmanager.GetSecretValue,
//     secretsmanager.BatchGetSecretValue by SecretIdList, AmazonSSM.GetParameter,
//     AmazonSSM.GetParameters and AmazonSSM.GetParametersByPath (a path is cached whole and
//     paged here; each parameter in it answers a GetParameter too).
//   - Every other operation of the two services is forwarded to AWS as it came, signed again
//     with kinko's credentials (package upstream), and a write drops what the cache holds for
//     the ids it names, every spelling and stage (kinko.Touches).
//   - A caller proves it runs in the sandbox with a SigV4 signature made with the sandbox's own
//     credentials (package sigv4). X-Aws-Parameters-Secrets-Token alone is enough for the
//     cached reads only: forwarding acts with the function's role, and needs a signature.
//   - A request that came through a kinko (upstream.HopHeader) is refused: serving it could
//     make kinko call itself.
//
// It costs nothing until its first request: core mounts it through Lazy.
package sdkapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
	"github.com/kinko-dev/kinko/extension/internal/server"
	"github.com/kinko-dev/kinko/extension/internal/sigv4"
	"github.com/kinko-dev/kinko/extension/internal/upstream"
)

// MaxBody bounds a request's body: a secret is at most 64 KiB (its base64 and JSON escapes
// included, well under this), a parameter 8 KiB.
const MaxBody = 1 << 20

// MaxBatch is the most ids BatchGetSecretValue takes in SecretIdList (AWS's own limit), and so
// the most cache reads one request fans out to.
const MaxBatch = 20

// MaxNames is the most names GetParameters takes (AWS's own limit).
const MaxNames = 10

// Reader reads through kinko's cache (the GET routes' own).
type Reader interface {
	Get(ctx context.Context, r kinko.Request) (document.Value, cache.Status, error)
}

// Dropper forgets cached values (cache.Cache.Drop).
type Dropper interface {
	Drop(match func(kinko.Request) bool) int
}

// Verifier checks a request's SigV4 signature, and keeps a signature from being forwarded
// twice (sigv4.Verifier).
type Verifier interface {
	Verify(ctx context.Context, r *http.Request, body []byte, service string) (sigv4.Signature, error)
	Once(sigv4.Signature) error
}

// Deps is what the endpoint works with.
type Deps struct {
	Reads   Reader
	Cache   Dropper
	Forward upstream.Forwarder
	Verify  Verifier
	Token   []byte // the expected X-Aws-Parameters-Secrets-Token; empty refuses token-only requests
	// HTTP names, in messages, the token and whose credentials kinko acts with (its TokenName,
	// NoToken and Owner); the zero value names Lambda's.
	HTTP   server.Options
	Logger *slog.Logger
}

// Handler answers the SDK endpoint.
type Handler struct{ d Deps }

// New returns the endpoint's handler.
func New(d Deps) *Handler {
	d.HTTP = d.HTTP.WithDefaults()
	return &Handler{d: d}
}

// Lazy is a handler built by build on its first request: until then the endpoint costs a
// closure.
func Lazy(build func() http.Handler) http.Handler {
	h := sync.OnceValue(build)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h().ServeHTTP(w, r) })
}

// call is one request, read.
type call struct {
	kind   kinko.Kind
	op     string // the operation, e.g. GetSecretValue
	target string // as sent, trimmed
	body   []byte
	signed bool // a valid signature; false: the token header alone
	sig    sigv4.Signature
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c, e := h.read(w, r)
	if e != nil {
		if e.Code == kinko.AccessDenied || e.Code == kinko.Forbidden || e.Code == kinko.LoopDetected {
			h.d.Logger.Warn("SDK endpoint request refused", "target", kinko.Clip(c.target), "code", e.Type(), "message", e.Message)
		}
		writeError(w, e)
		return
	}
	h.serve(w, r, c)
	if h.d.Logger.Enabled(r.Context(), slog.LevelDebug) {
		h.d.Logger.Debug("SDK endpoint request", "target", c.target, "signed", c.signed, "took_us", time.Since(start).Microseconds())
	}
}

// read checks r and reads its operation and body; an error is the answer.
func (h *Handler) read(w http.ResponseWriter, r *http.Request) (call, *kinko.Error) {
	var c call
	// The loop first: one through a proxy carries X-Forwarded-For too, and the loop is the news.
	if _, looped := r.Header[upstream.HopHeader]; looped {
		return c, &kinko.Error{Code: kinko.LoopDetected, Message: "this request came through kinko (it carries " + upstream.HopHeader +
			"): an AWS endpoint variable kinko uses (AWS_ENDPOINT_URL...) leads back to kinko; point it at AWS or unset it"}
	}
	if _, proxied := r.Header["X-Forwarded-For"]; proxied {
		return c, bad("X-Forwarded-For is not accepted: kinko answers only callers inside the sandbox, never through a proxy")
	}
	targets := r.Header.Values("X-Amz-Target")
	if len(targets) != 1 {
		return c, bad("want one X-Amz-Target header naming the operation (secretsmanager.GetSecretValue, AmazonSSM.GetParameter, ...): " +
			"kinko's POST endpoint speaks the AWS JSON 1.1 API of Secrets Manager and SSM")
	}
	c.target = strings.TrimSpace(targets[0])
	prefix, op, _ := strings.Cut(c.target, ".")
	switch prefix {
	case "secretsmanager":
		c.kind = kinko.SecretsManager
	case "AmazonSSM":
		c.kind = kinko.SSM
	default:
		return c, bad("X-Amz-Target " + kinko.Clip(c.target) + " is not an operation of Secrets Manager (secretsmanager.*) or SSM (AmazonSSM.*), the two services kinko serves")
	}
	c.op = op
	// Cloud Extensions' base paths each serve one service.
	switch base, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/"); {
	case base == "secretsmanager" && c.kind != kinko.SecretsManager:
		return c, bad("/secretsmanager serves Secrets Manager only; send " + kinko.Clip(c.target) + " to / or /parameterstore")
	case base == "parameterstore" && c.kind != kinko.SSM:
		return c, bad("/parameterstore serves SSM only; send " + kinko.Clip(c.target) + " to / or /secretsmanager")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return c, bad("the request body is over 1 MiB; no call of these services needs that much")
		}
		return c, bad("the request body could not be read: " + err.Error())
	}
	c.body = body
	return c, h.authenticate(r, &c)
}

// authenticate checks r's signature, or its token when it carries no signature: the token is
// enough only for the cached reads, which serve says.
func (h *Handler) authenticate(r *http.Request, c *call) *kinko.Error {
	if _, signed := r.Header["Authorization"]; signed || sigv4.InQuery(r.URL.RawQuery) {
		sig, err := h.d.Verify.Verify(r.Context(), r, c.body, serviceOf(c.kind))
		if err != nil {
			return refusal(err)
		}
		c.signed, c.sig = true, sig
		return nil
	}
	if _, ok := r.Header[server.TokenHeader]; ok {
		if problem := server.CheckToken(r, h.d.Token, h.d.HTTP); problem != "" {
			return &kinko.Error{Code: kinko.AccessDenied, Message: problem}
		}
		return nil
	}
	return &kinko.Error{Code: kinko.AccessDenied, Message: "the request is not signed: sign it with SigV4 and " + h.d.HTTP.Owner + "'s own credentials " +
		"(an AWS SDK does, once AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL_SSM points at kinko), or, for the cached reads only, " +
		"send " + h.d.HTTP.TokenName + " in " + server.TokenHeader}
}

// refusal is a signature check's failure as kinko answers it.
func refusal(err error) *kinko.Error {
	var se *sigv4.Error
	if !errors.As(err, &se) {
		return &kinko.Error{Code: kinko.Internal, Message: "the signature could not be checked; see kinko's log", Err: err}
	}
	code := kinko.Forbidden
	switch se.Reason {
	case sigv4.Unsigned:
		code = kinko.AccessDenied
	case sigv4.Busy, sigv4.Replayed:
		// Retried by every SDK, signed anew: botocore repeats a signature within one second.
		code = kinko.Throttled
	case sigv4.NoCredentials:
		if se.Err != nil {
			code = kinko.CredentialsUnavailable
		}
	}
	return &kinko.Error{Code: code, Message: se.Message, Err: err}
}

func serviceOf(k kinko.Kind) string {
	if k == kinko.SSM {
		return "ssm"
	}
	return "secretsmanager"
}

// serve answers c: a cached read, or a forward.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, c call) {
	var e *kinko.Error
	switch {
	case c.kind == kinko.SecretsManager && c.op == "GetSecretValue":
		e = h.getSecretValue(w, r, c)
	case c.kind == kinko.SecretsManager && c.op == "BatchGetSecretValue":
		e = h.batchGetSecretValue(w, r, c)
	case c.kind == kinko.SSM && c.op == "GetParameter":
		e = h.getParameter(w, r, c)
	case c.kind == kinko.SSM && c.op == "GetParameters":
		e = h.getParameters(w, r, c)
	case c.kind == kinko.SSM && c.op == "GetParametersByPath":
		e = h.getParametersByPath(w, r, c)
	default:
		h.forward(w, r, c)
		return
	}
	if e != nil {
		h.d.Logger.Warn("SDK endpoint error", "target", c.target, "status", server.Status(e), "code", e.Type(), "message", e.Message)
		writeError(w, e)
	}
}

// bad is a request kinko cannot serve as sent.
func bad(msg string) *kinko.Error { return &kinko.Error{Code: kinko.BadRequest, Message: msg} }

// invalid is a request AWS itself would refuse as invalid, answered with the code AWS gives, so
// that the caller's SDK raises the exception it raises for AWS's answer.
func invalid(k kinko.Kind, msg string) *kinko.Error {
	code := "InvalidParameterException"
	if k == kinko.SSM {
		code = "ValidationException"
	}
	return &kinko.Error{Code: kinko.BadRequest, AWSCode: code, AWSStatus: http.StatusBadRequest, Message: msg}
}

// decode reads c's JSON body into in.
func decode(c call, in any) *kinko.Error {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return invalid(c.kind, "the request body is empty; want the operation's JSON input")
	}
	if err := json.Unmarshal(c.body, in); err != nil {
		return &kinko.Error{Code: kinko.BadRequest, AWSCode: "SerializationException", AWSStatus: http.StatusBadRequest,
			Message: "the request body is not the JSON input of " + c.op}
	}
	return nil
}

// cacheError is a cache read's failure for req as kinko answers it.
func cacheError(req kinko.Request, err error) *kinko.Error {
	if errors.Is(err, cache.ErrCallerGone) {
		return &kinko.Error{Code: kinko.CallerGone, Message: "the caller went away before the answer was ready"}
	}
	if e, ok := server.Failure(req, err); ok {
		return e
	}
	return &kinko.Error{Code: kinko.Internal, Message: "unexpected failure; see kinko's log", Err: err}
}

// writeError answers e as the services do: its status, {"__type","message"} and the type in
// X-Amzn-Errortype. Its message never holds a value.
func writeError(w http.ResponseWriter, e *kinko.Error) {
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Type(), e.Message})
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("X-Amzn-Errortype", e.Type())
	w.WriteHeader(server.Status(e))
	_, _ = w.Write(body)
}

const contentType = "application/x-amz-json-1.1"

// writeJSON answers 200 with body, a document already in the service's wire format.
func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write(body)
}
