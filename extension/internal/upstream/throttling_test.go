package upstream

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// Throttling is AWS saying so (ThrottlingException, or another code the SDK treats as
// throttling), found as the cache's pacer finds it.
func TestIsThrottling(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"ThrottlingException", classify(kinko.SecretsManager, apiError(400, "ThrottlingException"), time.Second), true},
		{"TooManyRequestsException", classify(kinko.SSM, apiError(400, "TooManyRequestsException"), time.Second), true},
		{"wrapped", fmt.Errorf("fetch: %w", classify(kinko.SecretsManager, apiError(400, "ThrottlingException"), time.Second)), true},
		{"503", classify(kinko.SecretsManager, apiError(503, "ServiceUnavailable"), time.Second), false},
		{"not found", classify(kinko.SecretsManager, apiError(400, "ResourceNotFoundException"), time.Second), false},
		{"timeout", classify(kinko.SecretsManager, context.DeadlineExceeded, time.Second), false},
		{"not classified", errors.New("ThrottlingException"), false},
		{"nil", nil, false},
	}
	for _, tc := range cases {
		var e interface{ Throttled() bool }
		if got := errors.As(tc.err, &e) && e.Throttled(); got != tc.want {
			t.Errorf("%s: throttled = %t, want %t", tc.name, got, tc.want)
		}
	}
}
