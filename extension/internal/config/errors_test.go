package config

import (
	"errors"
	"strings"
	"testing"
)

// kinko prints a fatal error as "kinko: <error>" on stderr, and Lambda makes each line of it a
// log event of its own, between the function's lines: a line that does not start with "kinko:"
// reads as the function's (issue 28: the second bad variable did, under make run). Every bad
// variable stays reachable with errors.As.
func TestEveryLineOfAConfigurationErrorSaysKinko(t *testing.T) {
	_, err := Load(env(map[string]string{
		"SECRETS_MANAGER_TTL": "abc", "KINKO_MAX_WAIT_MS": "-3", "KINKO_METRICS": "cloudwatch",
	}))
	if err == nil {
		t.Fatal("three bad variables loaded")
	}
	printed := "kinko: " + err.Error() // as main prints it
	lines := strings.Split(printed, "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want one per bad variable:\n%s", len(lines), printed)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "kinko: ") {
			t.Errorf("line %q does not start with kinko:", l)
		}
	}
	for _, name := range []string{"SECRETS_MANAGER_TTL", "KINKO_MAX_WAIT_MS", "KINKO_METRICS"} {
		if !strings.Contains(printed, name) {
			t.Errorf("the message does not name %s", name)
		}
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Errorf("errors.As finds no *config.Error in %T", err)
	}
	// One bad variable: one line, as before.
	_, err = Load(env(map[string]string{"SECRETS_MANAGER_TTL": "abc"}))
	if err == nil || strings.Contains(err.Error(), "\n") || strings.HasPrefix(err.Error(), "kinko:") {
		t.Errorf("one bad variable gives %q, want one line without a prefix of its own", err)
	}
}
