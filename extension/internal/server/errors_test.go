package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// The one table of statuses: kinko's own failures answer as the contract says (504 for a
// timeout, 502 for a connection failure or a malformed answer, 503 shutting down, 500 anything
// else), an error AWS answered keeps AWS's status and code, and the cache's own errors answer as
// what they mean for the request's service.
func TestErrorStatuses(t *testing.T) {
	ssm := kinko.Request{Kind: kinko.SSM, ID: "/p"}
	for _, tc := range []struct {
		name   string
		err    error
		status int
		typ    string
		msg    string // in the message
	}{
		{"aws", &kinko.Error{Code: kinko.NotFound, AWSCode: "ParameterNotFound", AWSStatus: 400, Message: "gone"}, 400, "ParameterNotFound", "gone"},
		{"aws 500 with kinko's code name", &kinko.Error{Code: kinko.Unavailable, AWSCode: "InternalFailure", AWSStatus: 500, Message: "x"}, 500, "InternalFailure", "x"},
		{"timeout", kinko.TimeoutError(kinko.SSM, time.Second, nil), 504, "UpstreamTimeout", "SSM_PARAMETER_STORE_TIMEOUT_MILLIS"},
		{"unreachable", &kinko.Error{Code: kinko.Unreachable, Message: "refused"}, 502, "UpstreamUnreachable", "refused"},
		{"malformed", &kinko.Error{Code: kinko.Malformed, Message: "bad"}, 502, "UpstreamMalformedResponse", "bad"},
		{"credentials timeout", &kinko.Error{Code: kinko.CredentialsTimeout, Message: "c"}, 504, "CredentialsUnavailable", "c"},
		{"credentials unreachable", &kinko.Error{Code: kinko.CredentialsUnreachable, Message: "c"}, 502, "CredentialsUnavailable", "c"},
		{"credentials failed", &kinko.Error{Code: kinko.CredentialsUnavailable, Message: "c"}, 500, "CredentialsUnavailable", "c"},
		{"shutting down", kinko.ShuttingDownError(nil), 503, "ExtensionShuttingDown", "shutting down"},
		{"snapstart", &kinko.Error{Code: kinko.SnapStartInit, Message: "s"}, 503, "SnapStartInitRead", "s"},
		{"forbidden", &kinko.Error{Code: kinko.Forbidden, Message: "f"}, 403, "InvalidSignatureException", "f"},
		{"loop", &kinko.Error{Code: kinko.LoopDetected, Message: "l"}, 508, "LoopDetectedException", "l"},
		{"too many roles", &kinko.Error{Code: kinko.TooManyRoles, Message: "r"}, 429, "TooManyRoles", "r"},
		{"internal", &kinko.Error{Code: kinko.Internal, Message: "odd"}, 500, "InternalFailure", "odd"},
		{"wrapped", fmt.Errorf("load: %w", &kinko.Error{Code: kinko.Timeout, Message: "late"}), 504, "UpstreamTimeout", "late"},
		{"cache gave up", &cache.GaveUpError{Waited: 4 * time.Second}, 504, "UpstreamTimeout", "within 4s (SSM_PARAMETER_STORE_TIMEOUT_MILLIS)"},
		{"cache closed", cache.ErrClosed, 503, "ExtensionShuttingDown", "kinko is shutting down; the request was cancelled"},
		{"unclassified", errors.New("s3cr3t bug"), 500, "InternalFailure", "unexpected failure; see kinko's log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.err = tc.err
			h, _ := newTestHandler(t, f, token)
			a := do(t, h, "GET", "/systemsmanager/parameters/get?name=/p", withToken())
			var body struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			_ = json.Unmarshal([]byte(a.body), &body)
			if a.status != tc.status || body.Type != tc.typ || a.header.Get("X-Amzn-Errortype") != tc.typ || !strings.Contains(body.Message, tc.msg) {
				t.Fatalf("got %d %+v, want %d %s with %q", a.status, body, tc.status, tc.typ, tc.msg)
			}
			if strings.Contains(a.body, "s3cr3t") {
				t.Fatal("an unclassified error's text reached the caller")
			}
		})
	}
	if e, ok := failure(ssm, &cache.GaveUpError{Waited: time.Second}); !ok || e.Code != kinko.Timeout || !errors.As(e, new(*cache.GaveUpError)) {
		t.Errorf("gave up: %v %t, want a timeout keeping the cache's error as its cause", e, ok)
	}
	for c := kinko.Internal; c <= kinko.TooManyRoles; c++ {
		if statusOf(&kinko.Error{Code: c}) == 0 || int(c) >= len(statuses) || statuses[c] == 0 {
			t.Errorf("%v has no status", c)
		}
	}
	if got := statusOf(&kinko.Error{Code: kinko.AccessDenied}); got != http.StatusUnauthorized {
		t.Errorf("kinko's own access denied (the token): %d, want 401", got)
	}
}
