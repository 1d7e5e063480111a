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

	"github.com/kinko-dev/kinko/extension/internal/awsconfig"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// AWS's error codes that kinko reads: beyond them an answer is Unavailable (a 5xx) or Rejected.
var (
	// expiredCredentialCodes are AWS's answers to a call signed with credentials that lapsed.
	// They say nothing about the secret: the credentials are fetched again and a cached value
	// may stand in.
	expiredCredentialCodes = map[string]bool{"ExpiredToken": true, "ExpiredTokenException": true, "RequestExpired": true}
	// notFoundCodes say the value does not exist: Secrets Manager's answer for a deleted or
	// never created secret (and for an unknown version), SSM's for a parameter or version.
	notFoundCodes = map[string]bool{"ResourceNotFoundException": true, "ParameterNotFound": true, "ParameterVersionNotFound": true}
)

// isExpiredCredentials reports whether err is AWS refusing lapsed credentials.
func isExpiredCredentials(err error) bool {
	var e *kinko.Error
	return errors.As(err, &e) && e.Code == kinko.CredentialsExpired
}

var errMalformed = errors.New("malformed answer")

// classify says what err, from a call to kind's service that had timeout, means, in kinko's
// vocabulary: an answer from AWS keeps AWS's code and status, and kinko's own failures say what
// to do. The message never holds response bytes.
func classify(kind kinko.Kind, err error, timeout time.Duration) *kinko.Error {
	svc := kind.Service()
	// Already in kinko's words: said by whoever knew what failed (a role's AssumeRole, a path
	// read over its bound).
	var ke *kinko.Error
	if errors.As(err, &ke) {
		return ke
	}
	var ce *awsconfig.CredentialsError
	if errors.As(err, &ce) && !errors.Is(err, context.Canceled) {
		return credentialsUnavailable(kind, ce)
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		status := http.StatusInternalServerError
		var resp *awshttp.ResponseError
		if errors.As(err, &resp) && resp.HTTPStatusCode() != 0 {
			status = resp.HTTPStatusCode()
		}
		code := api.ErrorCode()
		if code == "" {
			code = "UnknownError" // AWS answered, but said no code: still AWS's answer, with its status
		}
		msg := api.ErrorMessage()
		if msg == "" {
			msg = svc + " answered " + code
		}
		return &kinko.Error{Code: awsCode(code, status), AWSCode: code, AWSStatus: status, Message: msg, Err: err}
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return kinko.TimeoutError(kind, timeout, err)
	case errors.Is(err, context.Canceled):
		return kinko.ShuttingDownError(err)
	case isConnectionFailure(err):
		return &kinko.Error{Code: kinko.Unreachable,
			Message: fmt.Sprintf("could not reach %s (%s); check the network path from kinko to AWS (a VPC endpoint or NAT) or %s",
				svc, connectionProblem(err), kind.EndpointVariable()),
			Err: err}
	case isMalformed(err):
		return &kinko.Error{Code: kinko.Malformed, Message: fmt.Sprintf("%s sent a truncated or malformed answer; try again", svc), Err: err}
	}
	return &kinko.Error{Code: kinko.Internal,
		Message: fmt.Sprintf("unexpected failure calling %s (%T); see kinko's log and try again", svc, errors.Unwrap(err)), Err: err}
}

// AWSCode is what an answer of AWS's, code with status, means to kinko: for AWS calls made
// outside this package (package roles' AssumeRole), so they read as these do.
func AWSCode(code string, status int) kinko.Code { return awsCode(code, status) }

// awsCode is what AWS's answer code with status means to kinko. Throttling and lapsed
// credentials first, whatever the status: they pass; then any 5xx: AWS failed, which passes
// too; then what the 4xx says of the value.
func awsCode(code string, status int) kinko.Code {
	_, throttled := retry.DefaultThrottleErrorCodes[code]
	switch {
	case code == "LoopDetectedException":
		// The endpoint led back to a kinko (its answer, 508): retrying goes round the loop again.
		return kinko.LoopDetected
	case throttled:
		return kinko.Throttled
	case expiredCredentialCodes[code]:
		return kinko.CredentialsExpired
	case status >= 500:
		return kinko.Unavailable
	case notFoundCodes[code]:
		return kinko.NotFound
	case code == "AccessDeniedException", code == "AccessDenied": // STS says the latter
		return kinko.AccessDenied
	}
	return kinko.Rejected
}

// credentialsUnavailable reports a failure at the container credentials endpoint as what it is,
// with what to check, and never the endpoint's own answer (it could hold anything). It is
// transient: it says nothing about the secret, and a cached value may stand in for it.
func credentialsUnavailable(kind kinko.Kind, ce *awsconfig.CredentialsError) *kinko.Error {
	err := ce.Err
	code, problem := kinko.CredentialsUnavailable, fmt.Sprintf("it failed (%T)", errors.Unwrap(err))
	var netErr net.Error
	var httpStatus interface{ HTTPStatusCode() int }
	var pathErr *fs.PathError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		code, problem = kinko.CredentialsTimeout, "it did not answer in time"
	case errors.As(err, &httpStatus) && httpStatus.HTTPStatusCode() != 0:
		problem = fmt.Sprintf("it answered HTTP %d", httpStatus.HTTPStatusCode())
	case errors.As(err, &pathErr):
		problem = "its authorization token could not be read from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
	case isConnectionFailure(err):
		code, problem = kinko.CredentialsUnreachable, connectionProblem(err)
	case isMalformed(err):
		problem = "its answer was not credentials"
	}
	if ce.Source != "" { // outside Lambda: the SDK's default chain, whichever source it tried
		if pathErr != nil {
			problem = "a file it needs could not be read (" + pathErr.Op + " " + pathErr.Path + ")"
		}
		return &kinko.Error{Code: code,
			Message: fmt.Sprintf("could not get AWS credentials to call %s from %s: %s; kinko asks again on the next call",
				kind.Service(), ce.Source, problem),
			Err: err}
	}
	return &kinko.Error{Code: code,
		Message: fmt.Sprintf("could not get AWS credentials to call %s from the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI): %s; "+
			"check that the sandbox sets AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN as Lambda does; kinko asks again on the next call",
			kind.Service(), problem),
		Err: err}
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

// about names the id r asked for at the head of an error AWS answered: AWS's own messages say
// "the specified secret" (SSM's often nothing), and the caller, who may have asked for several,
// should not need kinko's log to know which one failed. A message that already holds the id
// (AccessDenied names the resource) and kinko's own errors are left as they are; codes, status
// and cause never change, so callers that switch on them see AWS's answer.
func about(e *kinko.Error, r kinko.Request) *kinko.Error {
	if !e.FromAWS() || r.ID == "" || strings.Contains(e.Message, r.ID) {
		return e
	}
	named := *e
	named.Message = r.Describe() + ": " + e.Message
	return &named
}
