package upstream

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

type failingSecrets struct{ err error }

func (f failingSecrets) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return nil, f.err
}

type failingParameters struct{ err error }

func (f failingParameters) GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return nil, f.err
}

// AWS's messages say "the specified secret" and SSM's often nothing: an answer that reaches the
// caller (an error body, kinko-exec's line, the Go client's error) must say which id it is about,
// or the caller is back to searching kinko's log (issue 28). Status and code stay AWS's.
func TestAWSErrorsNameTheIDAsked(t *testing.T) {
	cases := []struct {
		name string
		req  kinko.Request
		err  error
		want string // in the message
	}{
		{"not found", kinko.Request{Kind: kinko.SecretsManager, ID: "prod/openai", Stage: kinko.CurrentStage}, apiError(400, "ResourceNotFoundException"), `secret "prod/openai"`},
		{"access denied", kinko.Request{Kind: kinko.SecretsManager, ID: "prod/db", Stage: kinko.CurrentStage}, apiError(400, "AccessDeniedException"), `secret "prod/db"`},
		{"a version asked", kinko.Request{Kind: kinko.SecretsManager, ID: "prod/db", VersionID: "v-1"}, apiError(400, "ResourceNotFoundException"), `secret "prod/db" version "v-1"`},
		{"a stage asked", kinko.Request{Kind: kinko.SecretsManager, ID: "prod/db", Stage: "AWSPENDING"}, apiError(400, "ResourceNotFoundException"), `secret "prod/db" stage "AWSPENDING"`},
		{"throttled", kinko.Request{Kind: kinko.SecretsManager, ID: "prod/db", Stage: kinko.CurrentStage}, apiError(400, "ThrottlingException"), `secret "prod/db"`},
		{"parameter not found", kinko.Request{Kind: kinko.SSM, ID: "/app/db/password", Decrypt: true}, apiError(400, "ParameterNotFound"), `parameter "/app/db/password"`},
		{"parameter version", kinko.Request{Kind: kinko.SSM, ID: "/app/flag", VersionID: "3"}, apiError(400, "ParameterVersionNotFound"), `parameter "/app/flag" version 3`},
		{"parameter label", kinko.Request{Kind: kinko.SSM, ID: "/app/flag", Stage: "prod"}, apiError(400, "ParameterVersionLabelNotFound"), `parameter "/app/flag" label "prod"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{secrets: failingSecrets{tc.err}, parameters: func() parametersAPI { return failingParameters{tc.err} },
				timeout: func(kinko.Kind) time.Duration { return 0 }}
			_, err := c.Fetch(t.Context(), tc.req)
			want := classify(tc.req.Kind, tc.err, 0)
			e, ok := err.(*kinko.Error)
			if !ok || e.AWSStatus != want.AWSStatus || e.AWSCode != want.AWSCode || e.Code != want.Code || !e.FromAWS() {
				t.Fatalf("Fetch = %#v, want status %d code %s as before", err, want.AWSStatus, want.AWSCode)
			}
			if !strings.Contains(e.Message, tc.want) || !strings.Contains(e.Message, want.Message) {
				t.Fatalf("message %q, want AWS's %q naming %s", e.Message, want.Message, tc.want)
			}
		})
	}
}

// A message that already names the id (AWS's AccessDenied names the resource) is left as AWS
// wrote it, and kinko's own errors (a timeout) keep their messages.
func TestErrorNamingLeavesTheRestAlone(t *testing.T) {
	r := kinko.Request{Kind: kinko.SecretsManager, ID: "prod/db", Stage: kinko.CurrentStage}
	denied := classify(r.Kind, apiError(400, "AccessDeniedException"), 0)
	denied.Message = "User: arn:aws:sts::1:assumed-role/r/f is not authorized to perform: secretsmanager:GetSecretValue on resource: prod/db"
	if got := about(denied, r).Message; got != denied.Message {
		t.Errorf("a message naming the id became %q", got)
	}
	timeout := classify(r.Kind, context.DeadlineExceeded, time.Second)
	if got := about(timeout, r).Message; got != timeout.Message {
		t.Errorf("kinko's timeout message became %q", got)
	}
}

// A not-found (remembered briefly by the cache) is only AWS saying so: ResourceNotFoundException
// (Secrets Manager's, also for an unknown version), ParameterNotFound, ParameterVersionNotFound;
// never access refused, throttling, kinko's own timeout, or a plain error.
func TestNotFoundIsOnlyAWSSayingSo(t *testing.T) {
	for code, want := range map[string]bool{
		"ResourceNotFoundException": true, "ParameterNotFound": true, "ParameterVersionNotFound": true,
		"AccessDeniedException": false, "ThrottlingException": false, "UpstreamTimeout": false,
	} {
		if got := classify(kinko.SecretsManager, apiError(400, code), 0).NotFound(); got != want {
			t.Errorf("%s: NotFound = %v, want %v", code, got, want)
		}
	}
	if classify(kinko.SecretsManager, context.DeadlineExceeded, time.Second).NotFound() {
		t.Error("kinko's own timeout is not a not-found")
	}
	var nf interface{ NotFound() bool }
	if errors.As(errors.New("ResourceNotFoundException"), &nf) {
		t.Error("a plain error is not AWS's answer")
	}
}
