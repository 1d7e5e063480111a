package upstream

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/awsconfig"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// One request to the container credentials endpoint that never answers must not block every
// later call: the SDK's credentials cache makes each caller join the one fetch in flight, and
// that fetch runs without the callers' deadlines. The endpoint here hangs on its first request
// and answers every later one at once (seen on SnapStart and Managed Instances). kinko gives up
// on the hung request within a few seconds, asks again, and reads the secret; meanwhile every
// failure names the credentials endpoint, not Secrets Manager, which was never asked.
func TestHungCredentialsEndpointIsBounded(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	release := make(chan struct{})
	creds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			select { // hang: no answer, connection kept open
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		fmt.Fprintf(w, `{"AccessKeyId":"ASIA-%d","SecretAccessKey":"s","Token":"t","Expiration":%q}`,
			n, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	t.Cleanup(creds.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets the hung handler return before Close waits for it
	sm, signedWith := secretsStandIn(t)

	cfg, err := awsconfig.Load(containerEnv(creds.URL))
	if err != nil {
		t.Fatal(err)
	}
	c := New(cfg, Options{MaxConnections: 1, Timeout: func(kinko.Kind) time.Duration { return 2 * time.Second },
		Endpoints: map[kinko.Kind]string{kinko.SecretsManager: sm.URL}})
	req := kinko.Request{Kind: kinko.SecretsManager, ID: "s", Stage: kinko.CurrentStage}

	// Liveness only: kinko's own bound is a few seconds; before it, this loop never ended.
	deadline := time.Now().Add(30 * time.Second)
	failures := 0
	for {
		_, err := c.Fetch(t.Context(), req)
		if err == nil {
			break
		}
		failures++
		var ue *kinko.Error
		if !errors.As(err, &ue) || ue.Type() != "CredentialsUnavailable" || !strings.Contains(ue.Message, "container credentials endpoint") ||
			strings.Contains(ue.Message, "Secrets Manager did not answer") {
			t.Fatalf("fetch %d while the credentials endpoint hangs: %v; want CredentialsUnavailable naming the container credentials endpoint", failures, err)
		}
		if ue.Code != kinko.CredentialsTimeout {
			t.Errorf("fetch %d: code %v, want CredentialsTimeout, answered 504 (the endpoint did not answer in time)", failures, ue.Code)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d fetches in 30s, all failed: the hung credentials request blocks every later one", failures)
		}
	}
	mu.Lock()
	n := calls
	mu.Unlock()
	if n < 2 {
		t.Fatalf("the credentials endpoint was asked %d times, want again after the hung request", n)
	}
	if got := signedWith(); len(got) != 1 || got[0] == "" {
		t.Fatalf("Secrets Manager saw calls signed with %q, want one, signed with the credentials fetched again", got)
	}
	t.Logf("%d fetches failed before the credentials endpoint was asked again (%d requests to it)", failures, n)
}
