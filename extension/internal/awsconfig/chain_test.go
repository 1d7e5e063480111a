//go:build !lambda

package awsconfig

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// chainEnv isolates the SDK's default chain from the machine: no profile files, no credentials
// or region in the environment, no instance metadata unless a test points it somewhere.
func chainEnv(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("AWS_CONFIG_FILE", dir+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/none")
	for _, v := range []string{"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_ROLE_ARN", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
		"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_ENDPOINT_URL"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// containerStandIn speaks the container credentials endpoint's protocol (ECS, EKS Pod Identity):
// it checks the Authorization header and answers credentials that expire after expiresIn.
func containerStandIn(t *testing.T, auth string, expiresIn time.Duration, fetches *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != auth {
			http.Error(w, `{"code":"AccessDenied","message":"bad token"}`, http.StatusForbidden)
			return
		}
		fetches.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"AccessKeyId": "ASIACHAINTEST", "SecretAccessKey": "chain-secret-key", "Token": "chain-session-token",
			"Expiration": time.Now().Add(expiresIn).UTC().Format(time.RFC3339),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Credentials from the container endpoint are fetched again once they are within 5 minutes of
// their expiry (not at it), and kept while further from it.
func TestChainRefreshesContainerCredentialsFiveMinutesEarly(t *testing.T) {
	for _, tc := range []struct {
		expiresIn time.Duration
		fetches   int32
	}{
		{6 * time.Minute, 1}, // outside the window: the second call is served from the cache
		{4 * time.Minute, 2}, // inside it: fetched again
	} {
		chainEnv(t)
		var fetches atomic.Int32
		srv := containerStandIn(t, "auth-token-for-tests", tc.expiresIn, &fetches)
		t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", srv.URL+"/v1/credentials")
		t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "auth-token-for-tests")
		cfg, err := LoadChain(t.Context(), "eu-west-1")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Region != "eu-west-1" {
			t.Errorf("region %q, want the one given", cfg.Region)
		}
		for range 2 {
			c, err := cfg.Credentials.Retrieve(t.Context())
			if err != nil || c.AccessKeyID != "ASIACHAINTEST" {
				t.Fatalf("retrieve: %v (key %q)", err, c.AccessKeyID)
			}
		}
		if got := fetches.Load(); got != tc.fetches {
			t.Errorf("credentials expiring in %s: %d fetches for two calls, want %d", tc.expiresIn, got, tc.fetches)
		}
	}
}

// A chain that gives no credentials fails as CredentialsError naming the chain, so the caller
// hears that kinko got no credentials, not that AWS failed; Invalidate still reaches the cache.
func TestChainFailureIsACredentialsError(t *testing.T) {
	chainEnv(t)
	var fetches atomic.Int32
	srv := containerStandIn(t, "expected", time.Hour, &fetches)
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", srv.URL+"/v1/credentials")
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong")
	cfg, err := LoadChain(t.Context(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Credentials.Retrieve(t.Context())
	var ce *CredentialsError
	if !errors.As(err, &ce) || ce.Source != ChainSource {
		t.Fatalf("retrieve error %v (%T), want a CredentialsError from the chain", err, err)
	}
	if _, ok := cfg.Credentials.(interface{ Invalidate() }); !ok {
		t.Error("the chain's credentials cannot be invalidated (after ExpiredToken, or a restore)")
	}
}

// imdsStandIn speaks IMDSv2: a session token from PUT /latest/api/token, required on every GET.
func imdsStandIn(t *testing.T, region string, expiresIn time.Duration, fetches *atomic.Int32) *httptest.Server {
	t.Helper()
	const session = "imds-session-token"
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /latest/api/token", func(w http.ResponseWriter, r *http.Request) {
		ttl := r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds")
		if ttl == "" {
			http.Error(w, "missing TTL", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", ttl) // IMDS echoes it; the SDK keeps the token that long
		_, _ = w.Write([]byte(session))
	})
	guarded := func(f http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Aws-Ec2-Metadata-Token") != session {
				http.Error(w, "IMDSv2 token required", http.StatusUnauthorized)
				return
			}
			f(w, r)
		}
	}
	// The SDK reads the region from the instance identity document.
	mux.HandleFunc("GET /latest/dynamic/instance-identity/document", guarded(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"region": region, "instanceId": "i-0123456789abcdef0", "accountId": "123456789012"})
	}))
	mux.HandleFunc("GET /latest/meta-data/iam/security-credentials/", guarded(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("kinko-role")) }))
	mux.HandleFunc("GET /latest/meta-data/iam/security-credentials/kinko-role", guarded(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]string{"Code": "Success", "Type": "AWS-HMAC",
			"AccessKeyId": "ASIAIMDSTEST", "SecretAccessKey": "imds-secret-key", "Token": "imds-session-creds",
			"Expiration": time.Now().Add(expiresIn).UTC().Format(time.RFC3339), "LastUpdated": time.Now().UTC().Format(time.RFC3339)})
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// On EC2: the region and the role's credentials come from the instance metadata (IMDSv2).
func TestChainOnEC2TakesRegionAndCredentialsFromIMDS(t *testing.T) {
	chainEnv(t)
	var fetches atomic.Int32
	srv := imdsStandIn(t, "ap-northeast-1", time.Hour, &fetches)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.URL)
	cfg, err := LoadChain(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "ap-northeast-1" {
		t.Errorf("region %q, want the instance's", cfg.Region)
	}
	c, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil || c.AccessKeyID != "ASIAIMDSTEST" || fetches.Load() != 1 {
		t.Fatalf("retrieve: %v, key %q, %d fetches", err, c.AccessKeyID, fetches.Load())
	}
}

// Without a region anywhere (and no instance metadata) start-up stops, saying where to set one.
func TestChainWithoutRegionSaysWhereToSetIt(t *testing.T) {
	chainEnv(t)
	_, err := LoadChain(t.Context(), "")
	if err == nil || !strings.Contains(err.Error(), "AWS_REGION") || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("error %v, want one naming AWS_REGION and the --config file", err)
	}
	t.Setenv("AWS_REGION", "us-west-2")
	cfg, err := LoadChain(t.Context(), "")
	if err != nil || cfg.Region != "us-west-2" {
		t.Fatalf("with AWS_REGION: %v, region %q", err, cfg.Region)
	}
	cfg, err = LoadChain(t.Context(), "eu-central-1")
	if err != nil || cfg.Region != "eu-central-1" {
		t.Fatalf("the file's region over AWS_REGION: %v, region %q", err, cfg.Region)
	}
}
