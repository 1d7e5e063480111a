package upstream

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/extension/internal/config"
)

const (
	localARN   = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
	foreignARN = "arn:aws:secretsmanager:us-east-1:999999999999:secret:prod/db-XyZwVu"
	otherRegn  = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-QqQqQq"
	ssmARN     = "arn:aws:ssm:us-east-1:123456789012:parameter/p"
)

func ids(rs []Request) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// #18 points 1 and 2: aliases only where the identity is certain.
func TestAliasesOnlyWhereIdentityIsCertain(t *testing.T) {
	home := NewHome("us-east-1")
	sm := func(id string) Request { return Request{Kind: config.SecretsManager, ID: id, Stage: CurrentStage} }
	ps := func(id string) Request { return Request{Kind: config.SSM, ID: id, Decrypt: true} }
	cases := []struct {
		name    string
		account string
		r       Request
		v       Value
		want    []string
	}{
		{"by name: the full ARN", "", sm("prod/db"), Value{ARN: localARN, Name: "prod/db"}, []string{localARN}},
		{"by local ARN, account unknown: nothing", "", sm(localARN), Value{ARN: localARN, Name: "prod/db"}, nil},
		{"by local ARN, account known: the name", "123456789012", sm(localARN), Value{ARN: localARN, Name: "prod/db"}, []string{"prod/db"}},
		{"by partial local ARN: the full ARN and the name", "123456789012", sm("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db"),
			Value{ARN: localARN, Name: "prod/db"}, []string{localARN, "prod/db"}},
		{"by another account's ARN: never the name", "123456789012", sm(foreignARN), Value{ARN: foreignARN, Name: "prod/db"}, nil},
		{"by another region's ARN: never the name", "123456789012", sm(otherRegn), Value{ARN: otherRegn, Name: "prod/db"}, nil},
		{"SSM by name: the ARN", "123456789012", ps("/p"), Value{ARN: ssmARN, Name: "/p"}, []string{ssmARN}},
		{"SSM by ARN: the name", "123456789012", ps(ssmARN), Value{ARN: ssmARN, Name: "/p"}, []string{"/p"}},
		{"SSM selector by version: nothing", "123456789012", ps("/p:1"), Value{ARN: ssmARN, Name: "/p"}, nil},
		{"SSM selector by label: nothing", "123456789012", ps("/p:prod"), Value{ARN: ssmARN, Name: "/p"}, nil},
		{"SSM selector in an ARN: nothing", "123456789012", ps(ssmARN + ":1"), Value{ARN: ssmARN, Name: "/p"}, nil},
		{"SSM reference to a secret: not an SSM ARN, nothing", "123456789012", ps("/aws/reference/secretsmanager/prod/db"),
			Value{ARN: localARN, Name: "/aws/reference/secretsmanager/prod/db"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.account != "" {
				home.SetAccount(tc.account)
			} else {
				home.SetAccount("")
			}
			got := home.Aliases(tc.r, tc.v)
			if !slices.Equal(ids(got), tc.want) {
				t.Fatalf("aliases %q, want %q", ids(got), tc.want)
			}
			for _, a := range got {
				if a.Kind != tc.r.Kind || a.Version != tc.r.Version || a.Stage != tc.r.Stage || a.Decrypt != tc.r.Decrypt {
					t.Fatalf("alias %+v differs from the request %+v beyond its id", a, tc.r)
				}
			}
		})
	}
}

type hangingSecrets struct{ attempts int }

func (h *hangingSecrets) GetSecretValue(ctx context.Context, _ *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	h.attempts++
	<-ctx.Done()
	return nil, ctx.Err()
}

// Every attempt is bounded, even with no *_TIMEOUT_MILLIS.
func TestFetchIsBoundedWithoutAConfiguredTimeout(t *testing.T) {
	h := &hangingSecrets{}
	c := &Client{secrets: h, timeout: func(config.Kind) time.Duration { return 0 }}
	start := time.Now()
	_, err := c.Fetch(t.Context(), Request{Kind: config.SecretsManager, ID: "x"})
	var ue *Error
	if !errors.As(err, &ue) || ue.Status != 504 || ue.Code != CodeTimeout || !ue.Transient {
		t.Fatalf("hung attempt: %v, want 504 UpstreamTimeout", err)
	}
	if took := time.Since(start); took < DefaultAttemptTimeout {
		t.Fatalf("gave up after %s, before the attempt timeout", took)
	}
}

// The SDK tries once per Fetch unless AWS_MAX_ATTEMPTS set a number (aws.Config.RetryMaxAttempts).
func TestOneSDKAttemptUnlessAWSMaxAttemptsIsSet(t *testing.T) {
	for set, want := range map[int]int{0: 1, 5: 5} {
		cfg := aws.Config{Region: "us-east-1", RetryMaxAttempts: set}
		o := secretsmanager.Options{RetryMaxAttempts: cfg.RetryMaxAttempts}
		oneAttempt(&o)
		if o.RetryMaxAttempts != want {
			t.Errorf("RetryMaxAttempts %d: per-call %d, want %d", set, o.RetryMaxAttempts, want)
		}
	}
}
