package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

const secretText = `{"k":"s3cr3t-value-upstream-test"}`

func apiError(status int, code string) error {
	return &smithy.OperationError{ServiceID: "Secrets Manager", OperationName: "GetSecretValue",
		Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
				Err: &smithy.GenericAPIError{Code: code, Message: code + " message"}},
		}}
}

func TestClassify(t *testing.T) {
	// status and typ: what AWS answered, passed on; else kinko's type, the server answering
	// 504 for a timeout, 503 shutting down, 502 unreachable or malformed, 500 internal
	// (server's TestErrorStatuses).
	cases := []struct {
		name      string
		err       error
		status    int
		typ       string
		code      kinko.Code
		transient bool
	}{
		{"not found", apiError(400, "ResourceNotFoundException"), 400, "ResourceNotFoundException", kinko.NotFound, false},
		{"access denied", apiError(400, "AccessDeniedException"), 400, "AccessDeniedException", kinko.AccessDenied, false},
		{"decryption", apiError(400, "DecryptionFailure"), 400, "DecryptionFailure", kinko.Rejected, false},
		{"throttled", apiError(400, "ThrottlingException"), 400, "ThrottlingException", kinko.Throttled, true},
		{"internal", apiError(500, "InternalServiceError"), 500, "InternalServiceError", kinko.Unavailable, true},
		{"unavailable", apiError(503, "ServiceUnavailable"), 503, "ServiceUnavailable", kinko.Unavailable, true},
		{"loop", apiError(508, "LoopDetectedException"), 508, "LoopDetectedException", kinko.LoopDetected, false},
		{"deadline", fmt.Errorf("op: %w", context.DeadlineExceeded), 0, "UpstreamTimeout", kinko.Timeout, true},
		{"cancelled", fmt.Errorf("op: %w", context.Canceled), 0, "ExtensionShuttingDown", kinko.ShuttingDown, true},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, 0, "UpstreamUnreachable", kinko.Unreachable, true},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, 0, "UpstreamUnreachable", kinko.Unreachable, true},
		{"dns", &net.DNSError{Name: "secretsmanager.example", Err: "no such host"}, 0, "UpstreamUnreachable", kinko.Unreachable, true},
		{"truncated", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), 0, "UpstreamMalformedResponse", kinko.Malformed, true},
		{"malformed", &smithy.DeserializationError{Err: errors.New("bad json"), Snapshot: []byte(secretText)}, 0, "UpstreamMalformedResponse", kinko.Malformed, true},
		{"odd", errors.New("something else"), 0, "InternalFailure", kinko.Internal, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := classify(kinko.SecretsManager, tc.err, 2*time.Second)
			if e.AWSStatus != tc.status || e.Type() != tc.typ || e.Code != tc.code || e.Transient() != tc.transient || transient(e) != tc.transient {
				t.Fatalf("got %d %s %v transient=%t, want %d %s %v transient=%t", e.AWSStatus, e.Type(), e.Code, e.Transient(), tc.status, tc.typ, tc.code, tc.transient)
			}
			if e.Message == "" || strings.Contains(e.Error(), "s3cr3t") {
				t.Fatal("message is empty or carries response bytes")
			}
			if !errors.Is(e, tc.err) {
				t.Fatal("the cause is not kept for errors.Is")
			}
		})
	}
	if e := classify(kinko.SSM, context.DeadlineExceeded, time.Second); !strings.Contains(e.Message, "SSM_PARAMETER_STORE_TIMEOUT_MILLIS") {
		t.Errorf("SSM timeout message %q must name its variable", e.Message)
	}
}

type fakeSecrets struct {
	in  *secretsmanager.GetSecretValueInput
	out *secretsmanager.GetSecretValueOutput
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.in = in
	return f.out, nil
}

type fakeParameters struct {
	in  *ssm.GetParameterInput
	out *ssm.GetParameterOutput
}

func (f *fakeParameters) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	f.in = in
	return f.out, nil
}

func TestSecretDocumentKeepsNulls(t *testing.T) {
	created := time.Date(2026, 11, 1, 12, 0, 0, 500_000_000, time.FixedZone("JST", 9*3600))
	f := &fakeSecrets{out: &secretsmanager.GetSecretValueOutput{
		ARN: aws.String("arn:aws:secretsmanager:us-east-1:1:secret:a-AbCdEf"), Name: aws.String("a"),
		SecretString: aws.String(secretText), VersionId: aws.String("v1"), VersionStages: []string{"AWSCURRENT"}, CreatedDate: &created,
	}}
	c := &Client{secrets: f, timeout: func(kinko.Kind) time.Duration { return 0 }}
	v, err := c.Fetch(t.Context(), kinko.Request{Kind: kinko.SecretsManager, ID: "a", Stage: "AWSPREVIOUS"})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(f.in.VersionStage) != "AWSPREVIOUS" || f.in.VersionId != nil {
		t.Fatalf("input %+v", f.in)
	}
	var doc map[string]any
	_ = json.Unmarshal(v.Body, &doc)
	if doc["SecretBinary"] != nil || doc["CreatedDate"] != "2026-11-01T03:00:00.500Z" || doc["SecretString"] != secretText || len(doc) != 8 {
		t.Fatalf("document %v", doc)
	}
	if text, ok := v.Text(); !ok || text != secretText || v.ARN == "" || v.Name != "a" || v.Version != "v1" {
		t.Fatalf("value fields wrong")
	}
	aliases := kinko.NewHome("us-east-1").Aliases(kinko.Request{Kind: kinko.SecretsManager, ID: "a", Stage: "AWSPREVIOUS"}, v.ARN, v.Name)
	if len(aliases) != 1 || aliases[0].ID != v.ARN || aliases[0].Stage != "AWSPREVIOUS" {
		t.Fatalf("aliases %+v, want the ARN with the same stage", aliases)
	}
}

func TestBinarySecretIsBase64(t *testing.T) {
	f := &fakeSecrets{out: &secretsmanager.GetSecretValueOutput{Name: aws.String("b"), SecretBinary: []byte{0, 1, 2}}}
	c := &Client{secrets: f, timeout: func(kinko.Kind) time.Duration { return 0 }}
	v, _ := c.Fetch(t.Context(), kinko.Request{Kind: kinko.SecretsManager, ID: "b"})
	if !strings.Contains(string(v.Body), `"SecretBinary":"AAEC"`) || !strings.Contains(string(v.Body), `"SecretString":null`) || v.HasText() {
		t.Fatalf("binary document %s", v.Body)
	}
}

func TestParameterSelectors(t *testing.T) {
	f := &fakeParameters{out: &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{
		Name: aws.String("/p"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeSecureString, Version: 3,
	}}}
	c := &Client{parameters: func() parametersAPI { return f }, timeout: func(kinko.Kind) time.Duration { return 0 }}
	for req, want := range map[kinko.Request]string{
		{Kind: kinko.SSM, ID: "/p", VersionID: "3", Decrypt: true}: "/p:3",
		{Kind: kinko.SSM, ID: "/p", Stage: "prod"}:                 "/p:prod",
		{Kind: kinko.SSM, ID: "/p"}:                                "/p",
	} {
		v, err := c.Fetch(t.Context(), req)
		if err != nil || aws.ToString(f.in.Name) != want || aws.ToBool(f.in.WithDecryption) != req.Decrypt {
			t.Errorf("%+v: asked %q decrypt=%v (%v), want %q", req, aws.ToString(f.in.Name), aws.ToBool(f.in.WithDecryption), err, want)
		}
		if !strings.Contains(string(v.Body), `"Version":3`) || !strings.Contains(string(v.Body), `"Selector":null`) {
			t.Errorf("document %s", v.Body)
		}
	}
}

func TestPendingWaitsThenFetches(t *testing.T) {
	p := NewPending()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Fetch(ctx, kinko.Request{}); !transient(err) {
		t.Fatalf("a caller that gives up while the clients are built gets %v, want a transient error", err)
	}
	f := &fakeSecrets{out: &secretsmanager.GetSecretValueOutput{Name: aws.String("n"), SecretString: aws.String("v")}}
	p.Resolve(&Client{secrets: f, timeout: func(kinko.Kind) time.Duration { return 0 }})
	if v, err := p.Fetch(t.Context(), kinko.Request{Kind: kinko.SecretsManager, ID: "n"}); err != nil || v.Name != "n" {
		t.Fatalf("after Resolve: %+v %v", v.Name, err)
	}
}

// transient reports whether err may pass, as the cache asks it (through the method).
func transient(err error) bool {
	var e interface{ Transient() bool }
	return errors.As(err, &e) && e.Transient()
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
