package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// statuses is the HTTP status of each kinko.Code: the one place where kinko's failures meet
// HTTP. An error AWS answered keeps AWS's own status and code instead (CONTRACT.md section 3);
// the codes only AWS answers with have a status here for an error that carries none of AWS's.
var statuses = [...]int{
	kinko.Internal:               http.StatusInternalServerError,
	kinko.BadRequest:             http.StatusBadRequest,
	kinko.AccessDenied:           http.StatusUnauthorized, // kinko's own refusal: the token check
	kinko.NotFound:               http.StatusNotFound,     // kinko's own: no such endpoint
	kinko.KeyNotFound:            http.StatusNotFound,
	kinko.Throttled:              http.StatusTooManyRequests,
	kinko.CredentialsExpired:     http.StatusForbidden,
	kinko.Unavailable:            http.StatusServiceUnavailable,
	kinko.Rejected:               http.StatusBadRequest,
	kinko.Timeout:                http.StatusGatewayTimeout,
	kinko.Unreachable:            http.StatusBadGateway,
	kinko.Malformed:              http.StatusBadGateway,
	kinko.CredentialsTimeout:     http.StatusGatewayTimeout,
	kinko.CredentialsUnreachable: http.StatusBadGateway,
	kinko.CredentialsUnavailable: http.StatusInternalServerError,
	kinko.ShuttingDown:           http.StatusServiceUnavailable,
	kinko.CallerGone:             http.StatusServiceUnavailable,
	kinko.SnapStartInit:          http.StatusServiceUnavailable,
	kinko.Forbidden:              http.StatusForbidden,
	kinko.LoopDetected:           http.StatusLoopDetected, // 508, as AWS Cloud Extensions' LoopDetectedException
	kinko.TooManyRoles:           http.StatusTooManyRequests,
}

// statusOf is the HTTP status kinko answers e with.
func statusOf(e *kinko.Error) int {
	switch {
	case e.FromAWS() && e.AWSStatus != 0:
		return e.AWSStatus
	case int(e.Code) < len(statuses) && statuses[e.Code] != 0:
		return statuses[e.Code]
	}
	return http.StatusInternalServerError
}

// Status is the HTTP status kinko answers e with, for the SDK endpoint (package sdkapi), which
// writes its answers in the services' own wire format but takes its statuses from here.
func Status(e *kinko.Error) int { return statusOf(e) }

// Failure is failure, for the SDK endpoint.
func Failure(req kinko.Request, err error) (*kinko.Error, bool) { return failure(req, err) }

// failure is err, as the cache returned it for req, in kinko's words: the domain's errors as
// they are, the cache's own (a caller's budget run out, a cache closed at SHUTDOWN) as what they
// mean for req's service. ok is false for an error nobody classified: a bug.
func failure(req kinko.Request, err error) (e *kinko.Error, ok bool) {
	var gaveUp *cache.GaveUpError
	switch {
	case errors.As(err, &e):
		return e, true
	case errors.As(err, &gaveUp):
		return kinko.TimeoutError(req.Kind, gaveUp.Waited, err), true
	case errors.Is(err, cache.ErrClosed):
		return kinko.ShuttingDownError(err), true
	}
	return nil, false
}

// fail answers a failure of kinko's own: code's status, its type, and message.
func fail(w http.ResponseWriter, code kinko.Code, message string) {
	writeFailure(w, &kinko.Error{Code: code, Message: message})
}

// writeFailure answers e: its status (statusOf), its type (AWS's code when AWS answered) and
// its message, in AWS's error shape.
func writeFailure(w http.ResponseWriter, e *kinko.Error) {
	writeError(w, statusOf(e), e.Type(), e.Message)
}

// refuseBrowser answers a request package admission finds a browser's: 403.
func refuseBrowser(w http.ResponseWriter, problem string) {
	refuse(w, http.StatusForbidden, problem)
}

// refuseBusy answers a request refused for a while (the connection bound, the throttle on failed
// token checks): 429, and when to come back in Retry-After (seconds).
func refuseBusy(w http.ResponseWriter, retryAfter int, problem string) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	refuse(w, http.StatusTooManyRequests, problem)
}

// refuse answers a refusal of admission, which is about the request, not about a value.
func refuse(w http.ResponseWriter, status int, message string) {
	writeError(w, status, "RequestRefused", message)
}

type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// writeError writes an error in AWS's shape: {"__type","message"}, and the type in
// X-Amzn-Errortype.
func writeError(w http.ResponseWriter, status int, typ, message string) {
	body, _ := json.Marshal(errorBody{Type: typ, Message: message})
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Amzn-Errortype", typ)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
