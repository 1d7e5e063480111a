package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// Codes kinko uses where AWS gave none.
const (
	CodeTimeout     = "UpstreamTimeout"
	CodeUnreachable = "UpstreamUnreachable"
	CodeMalformed   = "UpstreamMalformedResponse"
	CodeShutdown    = "ExtensionShuttingDown"
	CodeCallerGone  = "CallerGone" // never answered: the caller is gone
	CodeInternal    = "InternalFailure"
	// CodeCredentials: the container credentials endpoint (SnapStart, Managed Instances) gave
	// kinko no credentials to sign the call with; AWS was never asked.
	CodeCredentials = "CredentialsUnavailable"
	// CodeSnapStartInit: a read during a SnapStart init, refused so that no value is saved in
	// the snapshot; AWS was never asked.
	CodeSnapStartInit = "SnapStartInitRead"
)

// expiredCredentialCodes are AWS's answers to a call signed with credentials that lapsed. They
// say nothing about the secret: the credentials are fetched again and a cached value may stand in.
var expiredCredentialCodes = map[string]bool{"ExpiredToken": true, "ExpiredTokenException": true, "RequestExpired": true}

// isExpiredCredentials reports whether err is AWS refusing lapsed credentials.
func isExpiredCredentials(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.FromAWS() && expiredCredentialCodes[e.Code]
}

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

func classify(kind kinko.Kind, err error, timeout time.Duration) *Error {
	svc := kind.Service()
	var ce *credentialsError
	if errors.As(err, &ce) && !errors.Is(err, context.Canceled) {
		return credentialsUnavailable(kind, ce, timeout)
	}
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
		transient := throttled || expiredCredentialCodes[code] || status >= 500
		return &Error{Status: status, Code: code, Message: msg, Transient: transient, cause: err}
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		msg := fmt.Sprintf("%s did not answer in time; try again", svc)
		if timeout > 0 {
			msg = fmt.Sprintf("%s did not answer within %s (%s); try again, or raise the timeout", svc, timeout, kind.TimeoutVariable())
		}
		return &Error{Status: http.StatusGatewayTimeout, Code: CodeTimeout, Message: msg, Transient: true, cause: err}
	case errors.Is(err, context.Canceled):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeShutdown,
			Message: "kinko is shutting down; the request was cancelled", Transient: true, cause: err}
	case isConnectionFailure(err):
		return &Error{Status: http.StatusBadGateway, Code: CodeUnreachable,
			Message: fmt.Sprintf("could not reach %s (%s); check the function's network path to AWS (VPC endpoint or NAT) or %s",
				svc, connectionProblem(err), kind.EndpointVariable()),
			Transient: true, cause: err}
	case isMalformed(err):
		return &Error{Status: http.StatusBadGateway, Code: CodeMalformed,
			Message:   fmt.Sprintf("%s sent a truncated or malformed answer; try again", svc),
			Transient: true, cause: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
		Message: fmt.Sprintf("unexpected failure calling %s (%T); see kinko's log and try again", svc, errors.Unwrap(err)), cause: err}
}

// credentialsUnavailable reports a failure at the container credentials endpoint as what it is,
// with what to check, and never the endpoint's own answer (it could hold anything). It is
// transient: it says nothing about the secret, and a cached value may stand in for it.
func credentialsUnavailable(kind kinko.Kind, ce *credentialsError, timeout time.Duration) *Error {
	err := ce.err
	status, problem := http.StatusInternalServerError, fmt.Sprintf("it failed (%T)", errors.Unwrap(err))
	var netErr net.Error
	var httpStatus interface{ HTTPStatusCode() int }
	var pathErr *fs.PathError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		status, problem = http.StatusGatewayTimeout, "it did not answer in time"
	case errors.As(err, &httpStatus) && httpStatus.HTTPStatusCode() != 0:
		problem = fmt.Sprintf("it answered HTTP %d", httpStatus.HTTPStatusCode())
	case errors.As(err, &pathErr):
		problem = "its authorization token could not be read from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
	case isConnectionFailure(err):
		status, problem = http.StatusBadGateway, connectionProblem(err)
	case isMalformed(err):
		problem = "its answer was not credentials"
	}
	return &Error{Status: status, Code: CodeCredentials,
		Message: fmt.Sprintf("could not get AWS credentials to call %s from the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI): %s; "+
			"check that the sandbox sets AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN as Lambda does; kinko asks again on the next call",
			kind.Service(), problem),
		Transient: true, cause: err}
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
	if e.Code == CodeCredentials {
		return false // the endpoint's failure may carry an APIError of its own: it is not AWS's answer
	}
	var api smithy.APIError
	if errors.As(e.cause, &api) {
		return true
	}
	switch e.Code {
	case CodeTimeout, CodeUnreachable, CodeMalformed, CodeShutdown, CodeInternal, CodeCallerGone, CodeCredentials, CodeSnapStartInit:
		return false
	}
	return true
}

// about names the id r asked for at the head of an error AWS answered: AWS's own messages say
// "the specified secret" (SSM's often nothing), and the caller, who may have asked for several,
// should not need kinko's log to know which one failed. A message that already holds the id
// (AccessDenied names the resource) and kinko's own errors are left as they are; status, code
// and cause never change, so callers that switch on them see AWS's answer.
func (e *Error) about(r kinko.Request) *Error {
	if !e.FromAWS() || r.ID == "" || strings.Contains(e.Message, r.ID) {
		return e
	}
	named := *e
	named.Message = r.Describe() + ": " + e.Message
	return &named
}
