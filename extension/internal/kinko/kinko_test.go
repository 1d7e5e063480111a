package kinko

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every per-kind fact is in the table, once: the variables the contract names, the service's
// name in ARNs and references, and the words messages use.
func TestKindsTable(t *testing.T) {
	cases := []struct {
		k                                        Kind
		name, service, noun, ttl, timeout, endpt string
	}{
		{SecretsManager, "secretsmanager", "Secrets Manager", "secret", "SECRETS_MANAGER_TTL", "SECRETS_MANAGER_TIMEOUT_MILLIS", "AWS_ENDPOINT_URL_SECRETS_MANAGER"},
		{SSM, "ssm", "SSM Parameter Store", "parameter", "SSM_PARAMETER_STORE_TTL", "SSM_PARAMETER_STORE_TIMEOUT_MILLIS", "AWS_ENDPOINT_URL_SSM"},
	}
	for _, tc := range cases {
		k := tc.k
		if k.String() != tc.name || k.Service() != tc.service || k.Noun() != tc.noun || k.TTLVariable() != tc.ttl ||
			k.TimeoutVariable() != tc.timeout || k.EndpointVariable() != tc.endpt {
			t.Errorf("%d: %s %q %s %s %s %s", k, k, k.Service(), k.Noun(), k.TTLVariable(), k.TimeoutVariable(), k.EndpointVariable())
		}
		if got, ok := ParseKind(tc.name); !ok || got != k {
			t.Errorf("ParseKind(%q) = %v %t", tc.name, got, ok)
		}
	}
	if Kinds() != [...]Kind{SecretsManager, SSM} {
		t.Errorf("Kinds() = %v", Kinds())
	}
	if _, ok := ParseKind("SSM"); ok {
		t.Error("ParseKind accepts another case")
	}
	if Kind(0).String() != "unknown" || Kind(9).String() != "unknown" {
		t.Error("an unknown kind must read as unknown, not panic or pass for a service")
	}
	for _, c := range []byte("+=@") {
		if !SecretsManager.AllowedInID(c) || SSM.AllowedInID(c) {
			t.Errorf("%q: allowed in secret names only", c)
		}
	}
	for _, c := range []byte("aZ09/_.-:") {
		if !SecretsManager.AllowedInID(c) || !SSM.AllowedInID(c) {
			t.Errorf("%q: allowed in both", c)
		}
	}
	for _, c := range []byte(" #\x00\x7f\xc3") {
		if SecretsManager.AllowedInID(c) || SSM.AllowedInID(c) {
			t.Errorf("%q: allowed in neither", c)
		}
	}
}

// The AWSCURRENT default is applied in one place: a secret asked for without a version or
// stage is the AWSCURRENT entry; a parameter is left as asked.
func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want Request }{
		{Request{Kind: SecretsManager, ID: "a"}, Request{Kind: SecretsManager, ID: "a", Stage: CurrentStage}},
		{Request{Kind: SecretsManager, ID: "a", Stage: "AWSPENDING"}, Request{Kind: SecretsManager, ID: "a", Stage: "AWSPENDING"}},
		{Request{Kind: SecretsManager, ID: "a", VersionID: "v1"}, Request{Kind: SecretsManager, ID: "a", VersionID: "v1"}},
		{Request{Kind: SecretsManager, ID: "a", Decrypt: true}, Request{Kind: SecretsManager, ID: "a", Stage: CurrentStage}},
		{Request{Kind: SSM, ID: "/p"}, Request{Kind: SSM, ID: "/p"}},
		{Request{Kind: SSM, ID: "/p", Decrypt: true}, Request{Kind: SSM, ID: "/p", Decrypt: true}},
		{Request{Kind: SSM, ID: "/p/", Path: PathRecursive}, Request{Kind: SSM, ID: "/p/", Path: PathRecursive}},
		{Request{Kind: SSM, ID: "/p/", Path: PathChildren, Stage: "x"}, Request{Kind: SSM, ID: "/p/", Path: PathChildren}},
		{Request{Kind: SecretsManager, ID: "a", Path: PathRecursive}, Request{Kind: SecretsManager, ID: "a", Stage: CurrentStage}},
	} {
		if got := tc.in.Normalize(); got != tc.want || got.Normalize() != got {
			t.Errorf("%+v.Normalize() = %+v, want %+v (and stable)", tc.in, got, tc.want)
		}
	}
}

func TestRequestLogsReadably(t *testing.T) {
	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "key", Request{Kind: SSM, ID: "/app/db", Stage: "prod", Decrypt: true})
	want := `"key":{"service":"ssm","id":"/app/db","stage":"prod","decrypt":true}`
	if !strings.Contains(buf.String(), want) {
		t.Fatalf("log line %s, want %s", buf.String(), want)
	}
}

func TestDescribe(t *testing.T) {
	for r, want := range map[Request]string{
		{Kind: SecretsManager, ID: "prod/db", Stage: CurrentStage}:       `secret "prod/db"`,
		{Kind: SecretsManager, ID: "prod/db", Stage: "AWSPENDING"}:       `secret "prod/db" stage "AWSPENDING"`,
		{Kind: SecretsManager, ID: "prod/db", VersionID: "v-1"}:          `secret "prod/db" version "v-1"`,
		{Kind: SSM, ID: "/app/flag", VersionID: "3", Decrypt: true}:      `parameter "/app/flag" version 3`,
		{Kind: SSM, ID: "/app/flag", Stage: "prod"}:                      `parameter "/app/flag" label "prod"`,
		{Kind: SSM, ID: "/app/prod/", Path: PathChildren, Decrypt: true}: `parameters under "/app/prod/"`,
		{Kind: SSM, ID: "/app", Path: PathRecursive}:                     `parameters under "/app" (recursive)`,
	} {
		if got := r.Describe(); got != want {
			t.Errorf("%+v: %s, want %s", r, got, want)
		}
	}
	if got := (Request{Kind: SecretsManager, ID: strings.Repeat("x", 3000)}).Describe(); len(got) > 300 {
		t.Errorf("a long id is not clipped: %d bytes", len(got))
	}
}

func TestCheckID(t *testing.T) {
	for id, ok := range map[string]bool{
		"":                            false,
		"a":                           true,
		strings.Repeat("x", 2048):     true,
		strings.Repeat("x", 2049):     false,
		"bad\nname":                   false,
		"del\x7f":                     false,
		"/app/db/password":            true,
		"arn:aws:ssm:us-east-1:1:p/x": true,
	} {
		if err := CheckID(id); (err == nil) != ok {
			t.Errorf("CheckID(%.20q) = %v, want ok=%v", id, err, ok)
		}
	}
}

// What the cache and the server learn from an Error follows from its code: transient failures
// may be masked by a stale value, a not-found is remembered, throttling slows the pacer; AWS's
// own code and status are what a caller sees when AWS answered.
func TestErrorVocabulary(t *testing.T) {
	transient := []Code{Throttled, CredentialsExpired, Unavailable, Timeout, Unreachable, Malformed,
		CredentialsTimeout, CredentialsUnreachable, CredentialsUnavailable, ShuttingDown, CallerGone}
	for c := Internal; c <= LoopDetected; c++ {
		if got := c.Transient(); got != slices.Contains(transient, c) {
			t.Errorf("%v.Transient() = %t", c, got)
		}
		if c.String() == "" {
			t.Errorf("code %d has no name", c)
		}
	}
	cause := errors.New("cause with s3cr3t bytes")
	aws := &Error{Code: NotFound, AWSCode: "ResourceNotFoundException", AWSStatus: 400, Message: "gone", Err: cause}
	if !aws.FromAWS() || !aws.NotFound() || aws.Transient() || aws.Throttled() || aws.Type() != "ResourceNotFoundException" ||
		aws.Error() != "ResourceNotFoundException: gone" || !errors.Is(fmt.Errorf("wrapped: %w", aws), cause) {
		t.Errorf("AWS's not-found: %v from AWS %t", aws, aws.FromAWS())
	}
	own := TimeoutError(SSM, 2*time.Second, cause)
	if own.FromAWS() || !own.Transient() || own.Type() != "UpstreamTimeout" || strings.Contains(own.Error(), "s3cr3t") ||
		!strings.Contains(own.Message, "within 2s (SSM_PARAMETER_STORE_TIMEOUT_MILLIS)") {
		t.Errorf("kinko's timeout: %v", own)
	}
	if e := (&Error{Code: Throttled, AWSCode: "ThrottlingException", AWSStatus: 400}); !e.Throttled() || !e.Transient() {
		t.Error("throttling must be transient and throttled")
	}
	if (&Error{}).Type() != "InternalFailure" || Code(200).String() != "InternalFailure" {
		t.Error("an Error without a code is an internal failure")
	}
}
