package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestToolModulesStayOut keeps what only tests and build tools use out of what ships: the
// Kubernetes API types, YAML and ECS SDK deploy/'s tests decode the manifests with, and the CA
// roots the image tool writes into the image as a file (kinko uses the system's roots; importing
// the fallback package would cost every start 1.3 ms and 650 KB of heap).
func TestToolModulesStayOut(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list packages")
	}
	// The packages whose binaries ship: the extension, the exec wrapper, the sample function.
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", ".", "./kinko-exec", "../function").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	var n int
	for _, p := range strings.Fields(string(out)) {
		n++
		for _, banned := range []string{"k8s.io/", "sigs.k8s.io/", "go.yaml.in/", "gopkg.in/yaml",
			"github.com/aws/aws-sdk-go-v2/service/ecs", "golang.org/x/crypto/x509roots/"} {
			if strings.HasPrefix(p, banned) {
				t.Errorf("a shipped binary links %s, which only tests and build tools may use", p)
			}
		}
	}
	if n < 50 {
		t.Fatalf("go list -deps listed %d packages; expected the binaries' whole tree:\n%s", n, out)
	}
}
