// Package front is a local stand-in for an API Gateway HTTP API with a Lambda proxy
// integration: it turns each HTTP request into a payload format 2.0 event, invokes the
// function, and turns the function's answer back into an HTTP response.
//
// It covers what the sample function and its page use ($default stage and route, headers,
// query, cookies, text and binary bodies); it has no authorizers, CORS or custom domains.
package front

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

const (
	// API Gateway's limits: a 10 MB request payload and a 30 s integration timeout.
	maxBody            = 10 << 20
	IntegrationTimeout = 30 * time.Second
)

// Invoker runs the function once with an event and returns its response payload. It must
// run invokes one at a time when its backend needs that (emulator.Client does): the front
// sends every request to it as it arrives and lets it queue them.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Handler serves every request through the function.
type Handler struct {
	inv     Invoker
	log     *slog.Logger
	timeout time.Duration
}

// New returns a Handler; logger gets one line per request (no bodies, no header values).
func New(inv Invoker, logger *slog.Logger) *Handler {
	return &Handler{inv: inv, log: logger, timeout: IntegrationTimeout}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status := h.serve(w, r, start)
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
	)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, now time.Time) int {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return gatewayError(w, http.StatusBadRequest, "could not read the request body: "+err.Error())
	}
	if len(body) > maxBody {
		return gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
	}
	payload, err := json.Marshal(Event(r, body, requestID(), now))
	if err != nil {
		return gatewayError(w, http.StatusInternalServerError, "could not encode the event: "+err.Error())
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	out, err := h.inv.Invoke(ctx, payload)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return gatewayError(w, http.StatusGatewayTimeout, "Gateway Timeout: "+err.Error())
		}
		return gatewayError(w, http.StatusBadGateway, "Bad Gateway: "+err.Error())
	}
	return writeResponse(w, out)
}

// Event is the payload 2.0 event API Gateway would send for r with this body.
func Event(r *http.Request, body []byte, requestID string, now time.Time) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	var cookies []string
	for k, vs := range r.Header {
		k = strings.ToLower(k)
		if k == "cookie" {
			for _, v := range vs {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[k] = strings.Join(vs, ",")
	}
	host := r.Host
	headers["host"] = host
	var query map[string]string
	if q := r.URL.Query(); len(q) > 0 {
		query = map[string]string{}
		for k, vs := range q {
			query[k] = strings.Join(vs, ",")
		}
	}
	sourceIP, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		sourceIP = r.RemoteAddr
	}
	domainPrefix, _, _ := strings.Cut(host, ".")
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              "$default",
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     "$default",
			AccountID:    "123456789012",
			Stage:        "$default",
			RequestID:    requestID,
			APIID:        "local",
			DomainName:   host,
			DomainPrefix: domainPrefix,
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	// API Gateway sends text as is and anything else base64-encoded.
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// writeResponse maps the function's answer as API Gateway does for payload 2.0: a response
// object as given; a function error as 500; other JSON as a 200 JSON body.
func writeResponse(w http.ResponseWriter, payload []byte) int {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(payload, &probe); err != nil {
		// Not JSON: the emulator's "Task timed out after N.00 seconds", for one.
		if strings.HasPrefix(string(payload), "Task timed out") {
			return gatewayError(w, http.StatusGatewayTimeout, "the function timed out: "+snippet(payload))
		}
		return gatewayError(w, http.StatusBadGateway, "the function's answer is not JSON: "+snippet(payload))
	}
	if _, ok := probe["errorMessage"]; ok {
		// The function returned an error (or panicked): API Gateway hides it behind a 500.
		return gatewayError(w, http.StatusInternalServerError, "Internal Server Error (the function failed; see its log)")
	}
	if _, ok := probe["statusCode"]; !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(payload)
		return http.StatusOK
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(payload, &resp); err != nil || resp.StatusCode < 100 || resp.StatusCode > 599 {
		return gatewayError(w, http.StatusBadGateway, "the function's answer is not a valid payload 2.0 response")
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			return gatewayError(w, http.StatusBadGateway, "the function's body is marked base64 but is not")
		}
		body = b
	}
	hdr := w.Header()
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			hdr.Add(k, v)
		}
	}
	for k, v := range resp.Headers {
		hdr.Set(k, v)
	}
	for _, c := range resp.Cookies {
		hdr.Add("Set-Cookie", c)
	}
	if hdr.Get("Content-Type") == "" && len(body) > 0 {
		hdr.Set("Content-Type", "application/json")
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	return resp.StatusCode
}

// gatewayError answers in API Gateway's own shape, {"message": "..."}.
func gatewayError(w http.ResponseWriter, status int, msg string) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	_, _ = w.Write(b)
	return status
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

func snippet(b []byte) string {
	const max = 200
	if len(b) > max {
		return fmt.Sprintf("%s... (%d bytes)", b[:max], len(b))
	}
	return string(b)
}
