package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

type hangingSecrets struct{ attempts int }

func (h *hangingSecrets) GetSecretValue(ctx context.Context, _ *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	h.attempts++
	<-ctx.Done()
	return nil, ctx.Err()
}

// Every attempt is bounded, even with no *_TIMEOUT_MILLIS.
func TestFetchIsBoundedWithoutAConfiguredTimeout(t *testing.T) {
	h := &hangingSecrets{}
	c := &Client{secrets: h, timeout: func(kinko.Kind) time.Duration { return 0 }}
	start := time.Now()
	_, err := c.Fetch(t.Context(), kinko.Request{Kind: kinko.SecretsManager, ID: "x"})
	var ue *kinko.Error
	if !errors.As(err, &ue) || ue.Code != kinko.Timeout || !ue.Transient() {
		t.Fatalf("hung attempt: %v, want 504 UpstreamTimeout", err)
	}
	if took := time.Since(start); took < DefaultAttemptTimeout {
		t.Fatalf("gave up after %s, before the attempt timeout", took)
	}
}

// The SDK tries once per Fetch unless AWS_MAX_ATTEMPTS set a number (aws.Config.RetryMaxAttempts):
// then the user's number wins. Against a loopback server that always answers 500.
func TestOneSDKAttemptUnlessAWSMaxAttemptsIsSet(t *testing.T) {
	for set, want := range map[int]int{0: 1, 3: 3} {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			hits.Add(1)
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`{"__type":"InternalFailure","message":"x"}`))
		}))
		cfg := aws.Config{Region: "us-east-1", RetryMaxAttempts: set,
			Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")}
		sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(srv.URL) })
		c := &Client{secrets: sm, timeout: func(kinko.Kind) time.Duration { return 5 * time.Second }}
		_, err := c.Fetch(t.Context(), kinko.Request{Kind: kinko.SecretsManager, ID: "x"})
		srv.Close()
		if !transient(err) || int(hits.Load()) != want {
			t.Errorf("RetryMaxAttempts %d: %d attempts (%v), want %d", set, hits.Load(), err, want)
		}
	}
}
