package client

import (
	"os/exec"
	"strings"
	"testing"
)

// The client is a module of its own so that a function importing it inherits nothing of
// kinko's dependencies (the AWS SDK, the lab's plotting and browser): what it and its tests
// link must stay the standard library and golang.org/x/sync.
func TestDependsOnTheStandardLibraryAndXSyncOnly(t *testing.T) {
	allowed := map[string]bool{"github.com/kinko-dev/kinko/client": true, "golang.org/x/sync": true}
	out, err := exec.Command("go", "list", "-deps", "-test",
		"-f", "{{if not .Standard}}{{.ImportPath}}\t{{with .Module}}{{.Path}}{{end}}{{end}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		pkg, mod, _ := strings.Cut(strings.TrimSpace(line), "\t")
		if !allowed[mod] {
			t.Errorf("the client links %s (module %q); it may use the standard library and golang.org/x/sync only", pkg, mod)
		}
	}
	mods, err := exec.Command("go", "list", "-m", "all").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m all: %v\n%s", err, mods)
	}
	for line := range strings.Lines(strings.TrimSpace(string(mods))) {
		if mod, _, _ := strings.Cut(strings.TrimSpace(line), " "); !allowed[mod] {
			t.Errorf("the client's module requires %s; it may require golang.org/x/sync only", strings.TrimSpace(line))
		}
	}
}
