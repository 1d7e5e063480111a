package main

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/sashabaranov/go-openai"

	"github.com/kinko-dev/kinko/client"
)

//go:embed index.html
var indexHTML string

// CacheStatusHeader carries, on POST /invoke-openai answers, the Cache-Status of the read
// that gave the OpenAI key (kinko's, e.g. "kinko; hit; ttl=287", or the kinko client's own
// "client; hit; ttl=120" when it answered from memory): how it was served, not what it is.
const CacheStatusHeader = "X-Kinko-Cache-Status"

const (
	maxPromptRunes = 4000
	maxBodyBytes   = 64 << 10 // 4000 runes, even \u-escaped, fit with room to spare

	// API Gateway HTTP APIs give up on an integration after 30 s; answer before that.
	defaultBudget = 28 * time.Second
	// Kept free before the Lambda deadline so the function answers 504 itself instead of timing out.
	defaultMargin = 500 * time.Millisecond
)

// secretSource is what the handler needs from the kinko client.
type secretSource interface {
	Secret(ctx context.Context, id string, opts ...client.SecretOption) (*client.SecretValue, error)
	SecretJSONKey(ctx context.Context, id, key string, opts ...client.SecretOption) (string, error)
}

type handler struct {
	cfg     config
	secrets secretSource
	openai  openai.HTTPDoer
	log     *slog.Logger
	budget  time.Duration // longest time one request may take
	margin  time.Duration // reserved before the Lambda deadline

	refreshMu   sync.Mutex
	lastRefresh time.Time // the last read with refreshNow after OpenAI refused a cached key
}

// refreshEvery bounds the reads with refreshNow that a refused key causes: a key that is
// simply wrong must not turn every invoke into a call to Secrets Manager.
const refreshEvery = time.Minute

// mayRefresh says whether a refused key may be read again with refreshNow now, and if so
// counts this as the read.
func (h *handler) mayRefresh(now time.Time) bool {
	h.refreshMu.Lock()
	defer h.refreshMu.Unlock()
	if !h.lastRefresh.IsZero() && now.Sub(h.lastRefresh) < refreshEvery {
		return false
	}
	h.lastRefresh = now
	return true
}

func newHandler(cfg config, secrets secretSource, oa openai.HTTPDoer, log *slog.Logger) *handler {
	return &handler{cfg: cfg, secrets: secrets, openai: oa, log: log, budget: defaultBudget, margin: defaultMargin}
}

// httpError is a failure with the status and message the caller gets. Messages
// never hold the key: they are built from names, statuses and kinko's messages, never from
// OpenAI's text (see openAIError).
type httpError struct {
	status      int
	msg         string
	allow       string      // Allow header for 405
	keyRejected bool        // OpenAI refused the key (401/403): it may have been rotated
	logAttrs    []slog.Attr // for the function's log only (upstream status, type, what to check); never the key
}

func (e *httpError) Error() string { return e.msg }

func fail(status int, format string, args ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// Handle answers one API Gateway HTTP API (payload 2.0) request. It never returns
// an error: every failure is an HTTP answer, so API Gateway never shows a bare 500.
func (h *handler) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := time.Now()
	method, path := routeOf(req)
	ctx, cancel := h.workContext(ctx, start)
	defer cancel()

	resp, err := h.serve(ctx, method, path, req)
	attrs := []slog.Attr{
		slog.String("route", method+" "+path),
		slog.Int("status", resp.StatusCode),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.String("request_id", requestID(ctx, req)),
	}
	level := slog.LevelInfo
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
		var herr *httpError
		if errors.As(err, &herr) {
			attrs = append(attrs, herr.logAttrs...)
		}
		if resp.StatusCode >= 500 {
			level = slog.LevelWarn
		}
	}
	h.log.LogAttrs(ctx, level, "request", attrs...)
	return resp, nil
}

// workContext ends at the sooner of the API Gateway budget and the Lambda deadline
// minus the margin.
func (h *handler) workContext(ctx context.Context, start time.Time) (context.Context, context.CancelFunc) {
	deadline := start.Add(h.budget)
	if d, ok := ctx.Deadline(); ok && d.Add(-h.margin).Before(deadline) {
		deadline = d.Add(-h.margin)
	}
	return context.WithDeadline(ctx, deadline)
}

func (h *handler) serve(ctx context.Context, method, path string, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	var allow string
	switch path {
	case "/":
		if method == http.MethodGet {
			return htmlResponse(), nil
		}
		allow = http.MethodGet
	case "/get-secret":
		if method == http.MethodGet {
			return answer(h.getSecret(ctx))
		}
		allow = http.MethodGet
	case "/invoke-openai":
		if method == http.MethodPost {
			v, cacheStatus, herr := h.invokeOpenAI(ctx, req)
			resp, err := answer(v, herr)
			if cacheStatus != "" {
				resp.Headers[CacheStatusHeader] = cacheStatus
			}
			return resp, err
		}
		allow = http.MethodPost
	default:
		return answer(nil, fail(http.StatusNotFound, "no route for %s %s: try GET /, GET /get-secret or POST /invoke-openai", method, path))
	}
	e := fail(http.StatusMethodNotAllowed, "%s %s is not allowed: use %s", method, path, allow)
	e.allow = allow
	return answer(nil, e)
}

// routeOf gives method and path without the stage prefix, which HTTP APIs keep in
// rawPath for named stages ("/dev/get-secret").
func routeOf(req events.APIGatewayV2HTTPRequest) (method, path string) {
	method, path = req.RequestContext.HTTP.Method, req.RawPath
	if method == "" || path == "" {
		if m, p, ok := strings.Cut(req.RouteKey, " "); ok {
			method, path = m, p
		}
	}
	if st := req.RequestContext.Stage; st != "" && st != "$default" {
		if path == "/"+st {
			path = "/"
		} else {
			path = strings.TrimPrefix(path, "/"+st+"/")
			if !strings.HasPrefix(path, "/") {
				path = "/" + path
			}
		}
	}
	if path == "" {
		path = "/"
	}
	return strings.ToUpper(method), path
}

func requestID(ctx context.Context, req events.APIGatewayV2HTTPRequest) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	return req.RequestContext.RequestID
}

func answer(v any, err *httpError) (events.APIGatewayV2HTTPResponse, error) {
	if err != nil {
		r := jsonResponse(err.status, map[string]string{"error": err.msg})
		if err.allow != "" {
			r.Headers["Allow"] = err.allow
		}
		return r, err
	}
	return jsonResponse(http.StatusOK, v), nil
}

func jsonResponse(status int, v any) events.APIGatewayV2HTTPResponse {
	b, err := json.Marshal(v)
	if err != nil { // only our own plain structs get here
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error: encoding the answer failed"}`)
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers: map[string]string{
			"Content-Type":           "application/json",
			"Cache-Control":          "no-store",
			"X-Content-Type-Options": "nosniff",
		},
		Body: string(b),
	}
}

func htmlResponse() events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusOK,
		Headers: map[string]string{
			"Content-Type":           "text/html; charset=utf-8",
			"Cache-Control":          "no-cache",
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
			// The page talks only to its own origin and has no external resources.
			"Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " +
				"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		},
		Body: indexHTML,
	}
}

type secretInfo struct {
	Name        string `json:"name"`
	VersionID   string `json:"versionId"`
	CacheStatus string `json:"cacheStatus"`
	Preview     string `json:"preview"`
}

// getSecret proves the wiring: it reads the secret through kinko and shows a mask of the key.
func (h *handler) getSecret(ctx context.Context) (any, *httpError) {
	s, err := h.secrets.Secret(ctx, h.cfg.secretName)
	if err != nil {
		return nil, h.secretError(ctx, err)
	}
	key, herr := h.keyFromSecret(s)
	if herr != nil {
		return nil, herr
	}
	name := s.Name
	if name == "" {
		name = h.cfg.secretName
	}
	return secretInfo{Name: name, VersionID: s.VersionId, CacheStatus: s.CacheStatus, Preview: mask(key)}, nil
}

// mask shows the last 4 characters ("...wxyz") of a value of at least maskMinRunes, else
// "...": enough to tell which key is stored, with 16 or more characters left unknown. The
// start is never shown: it names the kind of key, and of a short key it is a large part.
func mask(s string) string {
	r := []rune(s)
	if len(r) < maskMinRunes {
		return "..."
	}
	return "..." + string(r[len(r)-4:])
}

const maskMinRunes = 20

// invokeOpenAI also gives the Cache-Status of the key's read (kinko's, or the client's own
// hit), once the key was read.
func (h *handler) invokeOpenAI(ctx context.Context, req events.APIGatewayV2HTTPRequest) (any, string, *httpError) {
	prompt, herr := parsePrompt(req)
	if herr != nil {
		return nil, "", herr
	}
	key, cacheStatus, herr := h.openAIKey(ctx)
	if herr != nil {
		return nil, "", herr
	}
	msg, herr := h.complete(ctx, key, prompt)
	if herr != nil && herr.keyRejected && strings.Contains(cacheStatus, "hit") && h.mayRefresh(time.Now()) {
		// A key from a cache (the client's or kinko's) was refused: it may have been rotated.
		// Read it again past both caches and, if it changed, try once more with the new one.
		newKey, newStatus, rerr := h.openAIKey(ctx, client.RefreshNow())
		if rerr == nil && newKey != key {
			cacheStatus = newStatus
			msg, herr = h.complete(ctx, newKey, prompt)
		}
	}
	if herr != nil {
		return nil, cacheStatus, herr
	}
	return map[string]string{"message": msg}, cacheStatus, nil
}

func parsePrompt(req events.APIGatewayV2HTTPRequest) (string, *httpError) {
	body := req.Body
	if req.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return "", fail(http.StatusBadRequest, "the body is marked base64-encoded but is not valid base64")
		}
		body = string(b)
	}
	if len(body) > maxBodyBytes {
		return "", fail(http.StatusBadRequest, "the body is %d bytes; the limit is %d", len(body), maxBodyBytes)
	}
	if strings.TrimSpace(body) == "" {
		return "", fail(http.StatusBadRequest, `empty body: send {"prompt": "..."}`)
	}
	var in struct {
		Prompt *string `json:"prompt"`
	}
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field == "prompt":
			return "", fail(http.StatusBadRequest, "prompt must be a JSON string, not %s", te.Value)
		case errors.As(err, &se):
			return "", fail(http.StatusBadRequest, `the body is not valid JSON (error at byte %d): send {"prompt": "..."}`, se.Offset)
		default:
			return "", fail(http.StatusBadRequest, `the body must be a JSON object like {"prompt": "..."}`)
		}
	}
	if in.Prompt == nil {
		return "", fail(http.StatusBadRequest, `no "prompt" in the body: send {"prompt": "..."}`)
	}
	p := *in.Prompt
	if strings.TrimSpace(p) == "" {
		return "", fail(http.StatusBadRequest, "prompt is empty: write something to ask")
	}
	if n := utf8.RuneCountInString(p); n > maxPromptRunes {
		return "", fail(http.StatusBadRequest, "prompt is %d characters; the limit is %d", n, maxPromptRunes)
	}
	return p, nil
}
