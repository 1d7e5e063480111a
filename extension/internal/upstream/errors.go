package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/kinko-dev/kinko/extension/internal/config"
)

// Codes kinko uses where AWS gave none.
const (
	CodeTimeout     = "UpstreamTimeout"
	CodeUnreachable = "UpstreamUnreachable"
	CodeMalformed   = "UpstreamMalformedResponse"
	CodeShutdown    = "ExtensionShuttingDown"
	CodeCallerGone  = "CallerGone" // never answered: the caller is gone
	CodeInternal    = "InternalFailure"
)

var errMalformed = errors.New("malformed answer")

// Error is an upstream failure as kinko answers it. Message is safe to show and log: it is
// AWS's own message or one of ours, never raw response bytes.
type Error struct {
	Status    int    // HTTP status to answer
	Code      string // AWS's error code, or one of the Code* constants
	Message   string
	Transient bool // may pass: a stale value may stand in for it
	cause     error
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap keeps errors.Is working (context.DeadlineExceeded and the like). Error() never prints
// the cause, which for a malformed answer can hold response bytes.
func (e *Error) Unwrap() error { return e.cause }

// IsTransient reports whether err may pass, so a cached value may be served in its place:
// timeouts, connection failures and resets, malformed or truncated answers, 5xx, throttling.
// A 4xx that is not throttling (deleted secret, revoked access) is never transient.
func IsTransient(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Transient
	}
	return false
}

func classify(kind config.Kind, err error, timeout time.Duration) *Error {
	svc := serviceName(kind)
	var api smithy.APIError
	if errors.As(err, &api) {
		status := http.StatusInternalServerError
		var resp *awshttp.ResponseError
		if errors.As(err, &resp) && resp.HTTPStatusCode() != 0 {
			status = resp.HTTPStatusCode()
		}
		code := api.ErrorCode()
		_, throttled := retry.DefaultThrottleErrorCodes[code]
		msg := api.ErrorMessage()
		if msg == "" {
			msg = svc + " answered " + code
		}
		return &Error{Status: status, Code: code, Message: msg, Transient: throttled || status >= 500, cause: err}
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		msg := fmt.Sprintf("%s did not answer in time; try again", svc)
		if timeout > 0 {
			msg = fmt.Sprintf("%s did not answer within %s (%s); try again, or raise the timeout", svc, timeout, timeoutVariable(kind))
		}
		return &Error{Status: http.StatusGatewayTimeout, Code: CodeTimeout, Message: msg, Transient: true, cause: err}
	case errors.Is(err, context.Canceled):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeShutdown,
			Message: "kinko is shutting down; the request was cancelled", Transient: true, cause: err}
	case isConnectionFailure(err):
		return &Error{Status: http.StatusBadGateway, Code: CodeUnreachable,
			Message: fmt.Sprintf("could not reach %s (%s); check the function's network path to AWS (VPC endpoint or NAT) or %s",
				svc, connectionProblem(err), endpointVariable(kind)),
			Transient: true, cause: err}
	case isMalformed(err):
		return &Error{Status: http.StatusBadGateway, Code: CodeMalformed,
			Message:   fmt.Sprintf("%s sent a truncated or malformed answer; try again", svc),
			Transient: true, cause: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
		Message: fmt.Sprintf("unexpected failure calling %s (%T); see kinko's log and try again", svc, errors.Unwrap(err)), cause: err}
}

func isConnectionFailure(err error) bool {
	var dns *net.DNSError
	var op *net.OpError
	return errors.As(err, &dns) || errors.As(err, &op) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// connectionProblem describes a connection failure without any response content.
func connectionProblem(err error) string {
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.As(err, &dns):
		return "DNS lookup of " + dns.Name + " failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.As(err, &op):
		return op.Op + " " + op.Net + " failed"
	}
	return "connection failed"
}

func isMalformed(err error) bool {
	var de *smithy.DeserializationError
	return errors.As(err, &de) || errors.Is(err, errMalformed) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// FromAWS reports whether AWS answered with this error (as opposed to kinko giving up on it).
// An AWS answer is known by its cause first: AWS's own codes include "InternalFailure", which
// is also the code kinko uses for its own unexpected failures.
func (e *Error) FromAWS() bool {
	var api smithy.APIError
	if errors.As(e.cause, &api) {
		return true
	}
	switch e.Code {
	case CodeTimeout, CodeUnreachable, CodeMalformed, CodeShutdown, CodeInternal, CodeCallerGone:
		return false
	}
	return true
}
