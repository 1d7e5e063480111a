package layer_test

// The Python and Node.js clients the layer carries (client/python, client/node; CONTRACT.md
// section 12): their own unit tests, run here so that go test ./... (make test) runs them and
// reports through Go, and the Makefile's zip holding exactly the files the end-to-end stack lays
// out (e2e/stack.LayerFiles).

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/e2e/stack"
)

// runTests runs a language's test command in dir and fails with its output when it fails.
func runTests(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not on PATH: the client's tests need it (Lambda's runtimes: python3.11+ and nodejs18+)", name)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out.String())
	}
	return out.String()
}

// repoRoot is the repository's absolute path.
func repoRoot(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestPythonClient(t *testing.T) {
	root := repoRoot(t)
	out := runTests(t, filepath.Join(root, "client", "python"),
		[]string{"PYTHONPATH=.", "PYTHONDONTWRITEBYTECODE=1"}, "python3", "-m", "unittest", "discover", "-s", "tests", "-v")
	ran := regexp.MustCompile(`(?m)^Ran (\d+) tests?`).FindStringSubmatch(out)
	if ran == nil || ran[1] == "0" {
		t.Fatalf("python3 -m unittest ran no test:\n%s", out)
	}
	if skipped := strings.Count(out, "... skipped"); skipped > 0 {
		t.Logf("%d Python test(s) skipped:\n%s", skipped, out)
	}
	t.Logf("python3 -m unittest: %s tests passed", ran[1])
}

func TestNodeClient(t *testing.T) {
	root := repoRoot(t)
	dir := filepath.Join(root, "client", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err != nil {
		t.Fatalf("client/node/node_modules is missing: run make deps (cd client/node && npm ci --ignore-scripts): %v", err)
	}
	// The files by name and the TAP reporter: Node 22 and later read a directory argument as a file
	// and print another summary by default.
	files, err := filepath.Glob(filepath.Join(dir, "tests", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no tests in client/node/tests: %v", err)
	}
	out := runTests(t, dir, nil, "node", append([]string{"--test", "--test-reporter=tap"}, files...)...)
	pass := regexp.MustCompile(`(?m)^# pass (\d+)`).FindStringSubmatch(out)
	if pass == nil || pass[1] == "0" {
		t.Fatalf("node --test ran no test:\n%s", out)
	}
	if skipped := regexp.MustCompile(`(?m)^# skipped (\d+)`).FindStringSubmatch(out); skipped != nil && skipped[1] != "0" {
		t.Logf("%s Node test(s) skipped:\n%s", skipped[1], out)
	}
	t.Logf("node --test: %s tests passed", pass[1])
}

// The Makefile's layer zip and the end-to-end stack lay out the same client files, the packages
// without their tests, and they stay small.
func TestLayerCarriesTheClients(t *testing.T) {
	files, err := stack.LayerFiles(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	total := int64(0)
	for _, f := range files {
		want = append(want, f.Path+"="+f.Src)
		fi, err := os.Stat(filepath.Join(repoRoot(t), f.Src))
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
		if strings.Contains(f.Src, "test") || strings.Contains(f.Src, "node_modules/kinko/node_modules") {
			t.Errorf("the layer would carry %s, a test or a test dependency", f.Src)
		}
	}
	for _, must := range []string{
		"python/kinko/__init__.py=client/python/kinko/__init__.py",
		"nodejs/node_modules/kinko/package.json=client/node/kinko/package.json",
		"nodejs/node_modules/kinko/index.cjs=client/node/kinko/index.cjs",
		"nodejs/node_modules/kinko/index.mjs=client/node/kinko/index.mjs",
		"nodejs/node_modules/kinko/index.d.ts=client/node/kinko/index.d.ts",
		"nodejs/node_modules/kinko/powertools/secrets.mjs=client/node/kinko/powertools/secrets.mjs",
		"nodejs/node_modules/kinko/powertools/ssm.cjs=client/node/kinko/powertools/ssm.cjs",
	} {
		if !slices.Contains(want, must) {
			t.Errorf("the layer lacks %s", must)
		}
	}
	// Source, uncompressed: about a third of this once zipped.
	if total > 120_000 {
		t.Errorf("the clients are %d bytes: over the 120 kB they were meant to stay within (the layer's 4 MB is nearly all the binaries')", total)
	}

	for _, arch := range []string{"arm64", "x86_64"} {
		out := makeDryRun(t, "dist/kinko-layer-"+arch+".zip", nil)
		var got []string
		for line := range strings.Lines(out) {
			// mkzip's flags (the compressor) come before -o.
			if !strings.Contains(line, "mkzip ") || !strings.Contains(line, " -o dist/kinko-layer-"+arch+".zip") {
				continue
			}
			for _, arg := range strings.Fields(line) {
				if strings.Contains(arg, "=client/") {
					got = append(got, arg)
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("make's %s layer zip holds the clients\n%q\nbut e2e/stack.LayerFiles lays out\n%q", arch, got, want)
		}
	}
}
