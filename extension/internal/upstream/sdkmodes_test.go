package upstream

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/extension/internal/awsconfig"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// recorder is an HTTP client that sends nothing: it notes each request's host and answers 500.
type recorder struct {
	mu    sync.Mutex
	hosts []string
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.hosts = append(r.hosts, req.URL.Host)
	r.mu.Unlock()
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{StatusCode: 500, Status: "500 Internal Server Error", Request: req,
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
		Body:   io.NopCloser(strings.NewReader(`{"__type":"InternalFailure","message":"recorded, not sent"}`))}, nil
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.hosts...)
}

func staticEnv(extra ...string) func(string) string {
	m := map[string]string{"AWS_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET"}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return envOf(m)
}

// AWS_USE_FIPS_ENDPOINT and AWS_USE_DUALSTACK_ENDPOINT choose the endpoint the calls go to, as
// config.LoadDefaultConfig would. The requests are recorded, never sent.
func TestFIPSAndDualStackEndpoints(t *testing.T) {
	// Hosts as AWS's endpoint rules give them. Secrets Manager's public endpoints in the aws
	// partition are dual-stack already (its rules answer the same host); SSM's move to api.aws,
	// and in the China partition Secrets Manager's FIPS dual-stack host differs too.
	for _, tc := range []struct {
		region      string
		env         []string
		secrets, ps string
	}{
		{"eu-central-1", nil, "secretsmanager.eu-central-1.amazonaws.com", "ssm.eu-central-1.amazonaws.com"},
		{"eu-central-1", []string{"AWS_USE_FIPS_ENDPOINT", "true"}, "secretsmanager-fips.eu-central-1.amazonaws.com", "ssm-fips.eu-central-1.amazonaws.com"},
		{"eu-central-1", []string{"AWS_USE_DUALSTACK_ENDPOINT", "TRUE"}, "secretsmanager.eu-central-1.amazonaws.com", "ssm.eu-central-1.api.aws"},
		{"eu-central-1", []string{"AWS_USE_FIPS_ENDPOINT", "True", "AWS_USE_DUALSTACK_ENDPOINT", "true"}, "secretsmanager-fips.eu-central-1.amazonaws.com", "ssm-fips.eu-central-1.api.aws"},
		{"eu-central-1", []string{"AWS_USE_FIPS_ENDPOINT", "false", "AWS_USE_DUALSTACK_ENDPOINT", "false"}, "secretsmanager.eu-central-1.amazonaws.com", "ssm.eu-central-1.amazonaws.com"},
		{"cn-north-1", []string{"AWS_USE_FIPS_ENDPOINT", "true", "AWS_USE_DUALSTACK_ENDPOINT", "true"},
			"secretsmanager-fips.cn-north-1.api.amazonwebservices.com.cn", "ssm-fips.cn-north-1.api.amazonwebservices.com.cn"},
	} {
		t.Run(tc.region+" "+strings.Join(tc.env, "="), func(t *testing.T) {
			cfg, err := awsconfig.Load(staticEnv(append(tc.env, "AWS_REGION", tc.region, "AWS_MAX_ATTEMPTS", "1")...))
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			c := New(cfg, Options{MaxConnections: 1, Timeout: func(kinko.Kind) time.Duration { return 5 * time.Second }, HTTPClient: rec})
			_, _ = c.Fetch(t.Context(), kinko.Request{Kind: kinko.SecretsManager, ID: "s"})
			_, _ = c.Fetch(t.Context(), kinko.Request{Kind: kinko.SSM, ID: "/p"})
			if got := rec.seen(); strings.Join(got, ",") != tc.secrets+","+tc.ps {
				t.Fatalf("calls went to %q, want %s then %s", got, tc.secrets, tc.ps)
			}
		})
	}
}

// AWS_MAX_ATTEMPTS sets the SDK's attempts per call, over kinko's default of one; AWS_RETRY_MODE
// picks its retryer.
func TestMaxAttemptsAndRetryMode(t *testing.T) {
	for _, tc := range []struct {
		env      []string
		attempts int
	}{
		{nil, 1}, // kinko's default: its cache retries per key, with backoff (oneAttempt)
		{[]string{"AWS_MAX_ATTEMPTS", "1"}, 1},
		{[]string{"AWS_MAX_ATTEMPTS", "2"}, 2},
	} {
		cfg, err := awsconfig.Load(staticEnv(tc.env...))
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		c := New(cfg, Options{MaxConnections: 1, Timeout: func(kinko.Kind) time.Duration { return 20 * time.Second }, HTTPClient: rec})
		_, err = c.Fetch(t.Context(), kinko.Request{Kind: kinko.SecretsManager, ID: "s"})
		if n := len(rec.seen()); n != tc.attempts || err == nil {
			t.Errorf("%v: %d attempts at a failing AWS (%v), want %d", tc.env, n, err, tc.attempts)
		}
	}

	cfg, err := awsconfig.Load(staticEnv("AWS_RETRY_MODE", "adaptive", "AWS_MAX_ATTEMPTS", "7"))
	if err != nil {
		t.Fatal(err)
	}
	o := New(cfg, Options{MaxConnections: 1}).secrets.(*secretsmanager.Client).Options()
	if o.RetryMode != aws.RetryModeAdaptive || o.RetryMaxAttempts != 7 || o.Retryer.MaxAttempts() != 7 {
		t.Fatalf("retry mode %q, max attempts %d (retryer %d), want adaptive and 7", o.RetryMode, o.RetryMaxAttempts, o.Retryer.MaxAttempts())
	}
}
