package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoSchemaTables keeps the SDK's schema packages out of the extension. From ssm v1.80.0
// and secretsmanager v1.50.0 each service links a schemas package that builds a value for
// every shape of the whole service API at package init: 1.8-2.4 ms and 1.4 MB (ssm) at every
// cold start of every function with the layer, for two operations kinko calls. go.mod pins the
// releases before that switch; an upgrade that brings them back must be a decision
// (BENCHMARKS.md, section 8), not an accident.
func TestNoSchemaTables(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list the extension's packages")
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	var sdk int
	for p := range strings.Lines(string(out)) {
		p = strings.TrimSpace(p)
		if strings.HasPrefix(p, "github.com/aws/aws-sdk-go-v2/service/") {
			sdk++
			if strings.HasSuffix(p, "/schemas") {
				t.Errorf("the extension links %s: its tables are built at every start (see go.mod's comment on the service versions)", p)
			}
		}
	}
	if sdk == 0 {
		t.Fatalf("go list found no aws-sdk-go-v2 service package among the extension's dependencies:\n%s", out)
	}
}
