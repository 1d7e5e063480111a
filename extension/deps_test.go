package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoSchemaTables keeps the SDK's schema packages out of the extension. From ssm v1.80.0
// and secretsmanager v1.50.0 each service links a schemas package that builds a value for
// every shape of the whole service API at package init: 1.8-2.4 ms and 1.4 MB (ssm) at every
// cold start of every function with the layer, for two operations kinko calls. go.mod pins the
// releases before that switch; an upgrade that brings them back must be a decision
// (BENCHMARKS.md, section 8), not an accident. The layer's build (-tags lambda) is checked: the
// build for outside Lambda links the default credential chain's STS, SSO and sign-in clients,
// whose schemas cost about 0.4 ms at the start of a process that starts once.
func TestNoSchemaTables(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list the extension's packages")
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", "-tags", "lambda", "-f", "{{.ImportPath}}", ".").CombinedOutput()
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

// TestEarlyStartInitialisesFirst holds what package earlystart relies on: Go initialises it
// before net/http and the SDK's endpoint tables, so kinko registers before their cost. It builds
// the extension and reads the runtime's own account of the order (GODEBUG=inittrace=1).
func TestEarlyStartInitialisesFirst(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build the extension")
	}
	bin := filepath.Join(t.TempDir(), "kinko")
	// Built as the layer is: that build is the one Lambda starts.
	if out, err := exec.CommandContext(t.Context(), goTool, "build", "-tags", "lambda", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// Without AWS_LAMBDA_RUNTIME_API the early start does nothing and the layer's build stops at
	// once. The variable that once carried the early start's result to main (before
	// earlystart.Take) is not taken for one.
	const oldHandoff = "_KINKO_EARLY_START"
	cmd := exec.CommandContext(t.Context(), bin)
	cmd.Env = []string{"GODEBUG=inittrace=1", "PATH=/usr/bin:/bin", oldHandoff + "=not-a-handoff"}
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "AWS_LAMBDA_RUNTIME_API is not set") {
		t.Errorf("kinko did not stop on the missing AWS_LAMBDA_RUNTIME_API; a stray %s was taken for a handoff?\n%s", oldHandoff, out)
	}
	order := map[string]int{}
	n := 0
	for l := range strings.Lines(string(out)) {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "init" {
			order[f[1]] = n
			n++
		}
	}
	early, ok := order["github.com/kinko-dev/kinko/extension/internal/earlystart"]
	if !ok {
		t.Fatalf("no init line for earlystart in the extension's inittrace:\n%s", out)
	}
	for _, heavy := range []string{"net/http", "crypto/tls", "github.com/aws/aws-sdk-go-v2/service/secretsmanager/internal/endpoints"} {
		if at, ok := order[heavy]; ok && at < early {
			t.Errorf("%s initialises before earlystart (%d < %d): something earlystart imports now depends on it", heavy, at, early)
		}
	}
	if _, ok := order["net/http"]; !ok {
		t.Errorf("no init line for net/http: the check above proved nothing\n%s", out)
	}
}

// TestEarlyStartLinksLittle keeps earlystart's imports small: each one it adds initialises before it.
func TestEarlyStartLinksLittle(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list packages")
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", "./internal/earlystart").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		switch {
		case strings.Contains(p, "aws-sdk-go-v2"), strings.Contains(p, "smithy-go"),
			p == "net", p == "net/http", p == "crypto/tls", p == "fmt", p == "reflect", p == "encoding/json", p == "log/slog":
			t.Errorf("earlystart links %s, which would then initialise before kinko registers", p)
		}
	}
}

// TestLayerBuildLeavesOutTheProcess keeps what only kinko outside Lambda needs out of the layer's
// build (-tags lambda): the SDK's default credential chain (config, IMDS, STS, SSO: about 2 MB),
// the agent's TOML reader and the process's lifecycle. The build without the tag has them, so
// the check looks at the right names.
func TestLayerBuildLeavesOutTheProcess(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list the extension's packages")
	}
	outside := []string{
		"github.com/kinko-dev/kinko/extension/internal/daemon",
		"github.com/kinko-dev/kinko/extension/internal/agentconfig",
		"github.com/BurntSushi/toml",
		"github.com/aws/aws-sdk-go-v2/config",
		"github.com/aws/aws-sdk-go-v2/feature/ec2/imds",
		"github.com/aws/aws-sdk-go-v2/service/sts",
		"github.com/aws/aws-sdk-go-v2/service/sso",
	}
	deps := func(tags ...string) map[string]bool {
		args := append(append([]string{"list", "-deps"}, tags...), ".")
		out, err := exec.CommandContext(t.Context(), goTool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		set := map[string]bool{}
		for _, p := range strings.Fields(string(out)) {
			set[p] = true
		}
		return set
	}
	layer, full := deps("-tags", "lambda"), deps()
	for _, p := range outside {
		if layer[p] {
			t.Errorf("the layer's build (-tags lambda) links %s, which only kinko outside Lambda needs", p)
		}
		if !full[p] {
			t.Errorf("the build without -tags lambda does not link %s: this check names the wrong package", p)
		}
	}
}
