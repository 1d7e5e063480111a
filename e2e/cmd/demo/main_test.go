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
}
