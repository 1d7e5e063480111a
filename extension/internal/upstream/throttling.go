package upstream

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// IsThrottling reports whether err is AWS saying the account is over its request rate
// (ThrottlingException, or another code the SDK treats as throttling). The cache's pacer waits
// longer after one: every caller in the account is being turned away at that moment.
func IsThrottling(err error) bool {
	var e *Error
	if !errors.As(err, &e) || !e.FromAWS() {
		return false
	}
	_, throttled := retry.DefaultThrottleErrorCodes[e.Code]
	return throttled
}
