package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kinko-dev/kinko/e2e/emulator"
)

// make demo is the README's first command and no other test runs it: this one does, on free
// ports, so a change that breaks its checks (a warm read now served from the client's cache)
// fails make test instead of the first user.
func TestDemoRunsClean(t *testing.T) {
	if err := emulator.Supported(t.Context()); err != nil {
		t.Skipf("this machine cannot run the Lambda emulator with a private /opt: %v", err)
	}
	var out bytes.Buffer
	noEnv := func(string) string { return "" }
	code := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-kinko-port", "0", "-dir", t.TempDir()}, noEnv, &out)
	// The demo prints no key (it checks every log for it and says so); its output is safe to show.
	if code != 0 || !strings.Contains(out.String(), "demo: OK") {
		t.Fatalf("demo exited %d:\n%s", code, out.String())
	}
	// Its last lines say the stack is gone and how to keep one (issue 28: a user curled the
	// page the demo had printed, after the stop, and got "connection refused").
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := strings.Join(lines[len(lines)-3:], "\n")
	for _, want := range []string{"The stack is stopped now", "make up", "make run FN="} {
		if !strings.Contains(last, want) {
			t.Errorf("the demo's last lines lack %q:\n%s", want, last)
		}
	}
}

// When a request fails, the demo shows the warnings and errors the sandbox logged, whoever wrote
// them, instead of leaving the user with the front's bare 502.
func TestProblemLines(t *testing.T) {
	log := strings.Join([]string{
		`START RequestId: 1 Version: $LATEST`,
		`07 Dec 2026 03:51:41,131 [INFO] (rapid) INIT START(type: on-demand, phase: init)`,
		`{"time":"t","level":"ERROR","msg":"init failed","extension":"kinko","reason":"ConfigInvalid"}`,
		`kinko: SECRETS_MANAGER_TTL="abc": want a whole number from 0 to 86400 (default 300)`,
		`kinko: KINKO_MAX_WAIT_MS="-3": want a whole number from 0 to 60000 (default 250)`,
		`07 Dec 2026 03:51:41,139 [ERROR] (rapid) Init failed error=exit status 1 InvokeID=`,
		`{"time":"t","level":"DEBUG","msg":"request","extension":"kinko"}`,
	}, "\n") + "\n"
	got := problemLines(log)
	if len(got) != 4 || !strings.HasPrefix(got[0], `{"time":"t","level":"ERROR"`) || !strings.Contains(got[3], "[ERROR] (rapid) Init failed") {
		t.Errorf("problemLines = %q, want kinko's error, its two stderr lines and the emulator's error", got)
	}
}
