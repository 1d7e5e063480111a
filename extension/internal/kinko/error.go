package kinko

import "time"

// Code says what went wrong, in kinko's terms and free of HTTP: the server maps each code to a
// status (in one table), and the cache's view of a failure (Transient, NotFound, Throttled)
// follows from it. Its String is the error type callers see (the body's __type), unless AWS
// answered: then they see AWS's own code.
type Code uint8

const (
	// Internal is an unexpected failure: a bug, or an error nobody classified. It is the zero
	// Code, so an Error built without one claims nothing.
	Internal     Code = iota
	BadRequest        // the request is malformed or asks for something kinko does not do
	AccessDenied      // the caller may not read it: kinko's token check, or AWS's answer
	NotFound          // the value does not exist (AWS: ResourceNotFoundException, ParameterNotFound, ...)
	KeyNotFound       // the JSON value has no such top-level key, or it is null

	// What AWS answered; Error.AWSCode and AWSStatus say how.
	Throttled          // the account is over its request rate
	CredentialsExpired // the call was signed with credentials that lapsed
	Unavailable        // AWS failed (a 5xx)
	Rejected           // any other refusal (DecryptionFailure, InvalidParameterException, ...)

	// kinko's own failures on the way to AWS.
	Timeout     // AWS did not answer in time
	Unreachable // no connection to AWS (DNS, refused, reset)
	Malformed   // AWS's answer was truncated or malformed
	// The container credentials endpoint gave kinko no credentials to sign with (AWS was never
	// asked): it did not answer in time, could not be reached, or failed otherwise.
	CredentialsTimeout
	CredentialsUnreachable
	CredentialsUnavailable
	ShuttingDown  // kinko is shutting down: the wait was cut short
	CallerGone    // the caller went away first: nobody is left to answer
	SnapStartInit // a read during a SnapStart init, refused so that no value is saved in the snapshot
	// The SDK endpoint's own refusals (package sdkapi).
	Forbidden    // signed, but not in a way kinko accepts: other credentials, a bad or replayed signature
	LoopDetected // the request came through a kinko: serving it could call kinko again, forever
	TooManyRoles // every role kinko holds a cache for (roleArn) is in use: a new one must wait
)

var codeNames = [...]string{
	Internal:               "InternalFailure",
	BadRequest:             "InvalidRequest",
	AccessDenied:           "AccessDeniedException",
	NotFound:               "NotFound",
	KeyNotFound:            "JsonKeyNotFound",
	Throttled:              "ThrottlingException",
	CredentialsExpired:     "ExpiredTokenException",
	Unavailable:            "ServiceUnavailable",
	Rejected:               "Rejected",
	Timeout:                "UpstreamTimeout",
	Unreachable:            "UpstreamUnreachable",
	Malformed:              "UpstreamMalformedResponse",
	CredentialsTimeout:     "CredentialsUnavailable",
	CredentialsUnreachable: "CredentialsUnavailable",
	CredentialsUnavailable: "CredentialsUnavailable",
	ShuttingDown:           "ExtensionShuttingDown",
	CallerGone:             "CallerGone",
	SnapStartInit:          "SnapStartInitRead",
	Forbidden:              "InvalidSignatureException",
	LoopDetected:           "LoopDetectedException",
	TooManyRoles:           "TooManyRoles",
}

// String is the error type a caller sees for an Error of this code that AWS did not answer.
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return codeNames[Internal]
}

// Transient reports whether a failure of this code may pass: a cached value may stand in for it
// (stale-if-error) and the cache retries after a backoff. What says something about the value
// itself (it does not exist, access is refused, the request is wrong) never is.
func (c Code) Transient() bool {
	switch c {
	case Throttled, CredentialsExpired, Unavailable, Timeout, Unreachable, Malformed,
		CredentialsTimeout, CredentialsUnreachable, CredentialsUnavailable, ShuttingDown, CallerGone:
		return true
	}
	return false
}

// Error is a failure as kinko answers it.
type Error struct {
	Code Code
	// AWSCode and AWSStatus are AWS's own error code and HTTP status when AWS answered with
	// this failure ("ResourceNotFoundException", 400); the server passes them on as they are.
	// Empty and 0 when kinko failed on its own (a timeout, a refused connection).
	AWSCode   string
	AWSStatus int
	// Message says what went wrong and what to do. It is safe to show and to log: AWS's own
	// message or kinko's words, naming the id asked for, never a value or raw response bytes.
	Message string
	// Err is the cause, for errors.Is and errors.As; Error() never prints it (a malformed
	// answer's cause can hold response bytes).
	Err error
}

// Error is the error type a caller sees, then the message.
func (e *Error) Error() string { return e.Type() + ": " + e.Message }

func (e *Error) Unwrap() error { return e.Err }

// Type is the error type a caller sees: AWS's code when AWS answered, else the Code's name.
func (e *Error) Type() string {
	if e.AWSCode != "" {
		return e.AWSCode
	}
	return e.Code.String()
}

// FromAWS reports whether AWS answered with this failure, as opposed to kinko failing on the way
// or refusing on its own.
func (e *Error) FromAWS() bool { return e.AWSCode != "" }

// Transient reports whether the failure may pass (Code.Transient). The cache asks it.
func (e *Error) Transient() bool { return e.Code.Transient() }

// NotFound reports whether the value does not exist: the cache remembers such an answer briefly.
func (e *Error) NotFound() bool { return e.Code == NotFound }

// Throttled reports whether AWS said the account is over its rate: the cache's pacer waits longer.
func (e *Error) Throttled() bool { return e.Code == Throttled }

// TimeoutError is the failure of a wait for kind's service that ended after waited (0: by a
// deadline of unknown length): one attempt's timeout, or a caller's whole budget.
func TimeoutError(kind Kind, waited time.Duration, cause error) *Error {
	msg := kind.Service() + " did not answer in time; try again"
	if waited > 0 {
		msg = kind.Service() + " did not answer within " + waited.String() + " (" + kind.TimeoutVariable() + "); try again, or raise the timeout"
	}
	return &Error{Code: Timeout, Message: msg, Err: cause}
}

// ShuttingDownError is the failure of a wait cut short because kinko is shutting down.
func ShuttingDownError(cause error) *Error {
	return &Error{Code: ShuttingDown, Message: "kinko is shutting down; the request was cancelled", Err: cause}
}
