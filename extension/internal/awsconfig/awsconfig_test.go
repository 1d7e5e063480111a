package awsconfig

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestAWSConfigFromEnvironmentCredentials(t *testing.T) {
	cfg, err := Load(envOf(map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET", "AWS_SESSION_TOKEN": "TOKEN",
	}))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil || cfg.Region != "eu-west-1" || creds.AccessKeyID != "AKID" || creds.SessionToken != "TOKEN" {
		t.Fatalf("region %q creds %q/%v", cfg.Region, creds.AccessKeyID, err)
	}
}

// containerEndpoint serves credentials as Lambda's SnapStart endpoint does, to the right token only.
func containerEndpoint(t *testing.T, token string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != token {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"code":"AccessDenied","message":"bad token"}`)
			return
		}
		fmt.Fprintf(w, `{"AccessKeyId":"ASIA-CONTAINER","SecretAccessKey":"s","Token":"t","Expiration":%q}`,
			time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAWSConfigFromContainerCredentials(t *testing.T) {
	srv := containerEndpoint(t, "container-token")
	cfg, err := Load(envOf(map[string]string{
		"AWS_DEFAULT_REGION": "us-west-2", "AWS_CONTAINER_CREDENTIALS_FULL_URI": srv.URL + "/creds",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-token",
	}))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil || creds.AccessKeyID != "ASIA-CONTAINER" || cfg.Region != "us-west-2" {
		t.Fatalf("container credentials: %q %v", creds.AccessKeyID, err)
	}
}

func TestAWSConfigReadsTheTokenFile(t *testing.T) {
	srv := containerEndpoint(t, "from-file")
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := Load(envOf(map[string]string{
		"AWS_REGION": "us-east-1", "AWS_CONTAINER_CREDENTIALS_FULL_URI": srv.URL,
		"AWS_CONTAINER_AUTHORIZATION_TOKEN": "stale", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": file,
	}))
	if creds, err := cfg.Credentials.Retrieve(t.Context()); err != nil || creds.AccessKeyID != "ASIA-CONTAINER" {
		t.Fatalf("token file: %v", err)
	}
}

func TestAWSConfigSaysWhatIsMissing(t *testing.T) {
	if _, err := Load(envOf(map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("no region: %v", err)
	}
	if _, err := Load(envOf(map[string]string{"AWS_REGION": "us-east-1"})); err == nil || !strings.Contains(err.Error(), "AWS_CONTAINER_CREDENTIALS_FULL_URI") {
		t.Errorf("no credentials: %v", err)
	}
}

func TestEndpointsPreferTheServiceVariable(t *testing.T) {
	e := Endpoints(envOf(map[string]string{"AWS_ENDPOINT_URL": "http://all", "AWS_ENDPOINT_URL_SSM": "http://ssm"}))
	if e[kinko.SecretsManager] != "http://all" || e[kinko.SSM] != "http://ssm" {
		t.Fatalf("endpoints %v", e)
	}
}
