package upstream

import (
	"errors"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// AWS answers some 500s with the code InternalFailure, which is also kinko's own code for its
// unexpected failures: the answer must still count as AWS's (Cache-Status carries fwd-status).
func TestFromAWSWhenAWSUsesKinkosCode(t *testing.T) {
	if e := classify(kinko.SecretsManager, apiError(500, "InternalFailure"), 2*time.Second); !e.FromAWS() || e.AWSStatus != 500 {
		t.Fatalf("AWS's 500 InternalFailure: FromAWS %t status %d, want true 500", e.FromAWS(), e.AWSStatus)
	}
	if e := classify(kinko.SecretsManager, errors.New("something else"), 2*time.Second); e.FromAWS() {
		t.Fatal("kinko's own InternalFailure must not count as AWS's")
	}
	// An answer without a code is still AWS's, with AWS's status.
	if e := classify(kinko.SecretsManager, apiError(503, ""), 2*time.Second); !e.FromAWS() || e.AWSStatus != 503 || e.Type() != "UnknownError" || !e.Transient() {
		t.Fatalf("AWS's 503 without a code: FromAWS %t status %d type %q, want AWS's 503, transient", e.FromAWS(), e.AWSStatus, e.Type())
	}
}
