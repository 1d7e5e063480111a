// Package gotool installs a Go program at a version and module hash that the repository pins,
// instead of `go install ...@latest` or whatever an earlier install left in GOPATH/bin.
//
// The go command already checks every module it downloads against the checksum database;
// the pinned hash adds a check that needs no outside service: the repository says which bytes
// the tool's module must hash to, and a proxy or cache that serves other bytes is refused.
package gotool

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// ErrUnavailable wraps a failure to obtain the tool's module at all (no network to the module
// proxy and no copy in the module cache). Callers that can do without the tool (a check that
// skips) test for it with errors.Is; a hash mismatch is never wrapped in it.
var ErrUnavailable = errors.New("tool module not available")

// Tool names one pinned program.
type Tool struct {
	Package string // the main package, golang.org/x/perf/cmd/benchstat
	Module  string // its module, golang.org/x/perf
	Version string // v0.0.0-20260908200009-22c9c6c9d4da
	Sum     string // the module's go.sum hash, h1:...
}

// Parse reads "PACKAGE@VERSION" and checks that the module is a prefix of the package.
func Parse(spec, module, sum string) (Tool, error) {
	pkg, version, ok := strings.Cut(spec, "@")
	if !ok || pkg == "" || version == "" {
		return Tool{}, fmt.Errorf("%q: want PACKAGE@VERSION", spec)
	}
	if version == "latest" || !strings.HasPrefix(version, "v") {
		return Tool{}, fmt.Errorf("%q: the version must be an exact vX.Y.Z (or pseudo-version), not a query", spec)
	}
	if module == "" {
		return Tool{}, fmt.Errorf("%q: the module path is required", spec)
	}
	if pkg != module && !strings.HasPrefix(pkg, module+"/") {
		return Tool{}, fmt.Errorf("package %s is not in module %s", pkg, module)
	}
	if !strings.HasPrefix(sum, "h1:") {
		return Tool{}, fmt.Errorf("sum %q: want the module's h1: hash as go.sum writes it", sum)
	}
	return Tool{Package: pkg, Module: module, Version: version, Sum: sum}, nil
}

// Installer runs the go command.
type Installer struct {
	Go  string   // the go command ("go" when empty)
	Env []string // its environment (os.Environ() when nil)
	Dir string   // tools are installed under Dir/NAME@VERSION/NAME
}

// Path is where t is (or will be) installed.
func (in Installer) Path(t Tool) string {
	name := path.Base(t.Package)
	return filepath.Join(in.Dir, name+"@"+t.Version, name)
}

// Install returns the path of t's binary, installing it first unless a binary built from the
// same module, version and hash is already there.
func (in Installer) Install(ctx context.Context, t Tool) (string, error) {
	bin := in.Path(t)
	if err := matches(bin, t); err == nil {
		return bin, nil
	}
	got, err := in.download(ctx, t)
	if err != nil {
		return "", err
	}
	if got != t.Sum {
		return "", fmt.Errorf("%s@%s: the module hashes to %s but the repository pins %s: refusing to install it "+
			"(if the pin is what changed, update it with the output of `go mod download -json %s@%s`)",
			t.Module, t.Version, got, t.Sum, t.Module, t.Version)
	}
	gobin, err := filepath.Abs(filepath.Dir(bin))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(gobin, 0o755); err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, in.goCmd(), "install", t.Package+"@"+t.Version)
	cmd.Env = append(in.environ(), "GOBIN="+gobin)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s", t.Package, t.Version, err, strings.TrimSpace(stderr.String()))
	}
	if err := matches(bin, t); err != nil {
		return "", fmt.Errorf("after go install: %w", err)
	}
	return bin, nil
}

// download asks the go command for the module (through GOPROXY, or the module cache) and
// returns the hash it computed.
func (in Installer) download(ctx context.Context, t Tool) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, in.goCmd(), "mod", "download", "-json", t.Module+"@"+t.Version)
	cmd.Env = in.environ()
	// Outside any module: the repository's go.mod has nothing to say about a tool's module.
	cmd.Dir = os.TempDir()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct{ Sum, Error string }
	if err := json.Unmarshal(stdout.Bytes(), &info); err != nil {
		if runErr != nil {
			return "", fmt.Errorf("%w: go mod download %s@%s: %v %s", ErrUnavailable, t.Module, t.Version, runErr, strings.TrimSpace(stderr.String()))
		}
		return "", fmt.Errorf("go mod download %s@%s: unreadable answer: %w", t.Module, t.Version, err)
	}
	if info.Error != "" || runErr != nil {
		return "", fmt.Errorf("%w: go mod download %s@%s: %s", ErrUnavailable, t.Module, t.Version, strings.TrimSpace(info.Error+" "+stderr.String()))
	}
	return info.Sum, nil
}

// matches says why bin is not t's program, or nil when it is.
func matches(bin string, t Tool) error {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return err
	}
	if bi.Path != t.Package || bi.Main.Path != t.Module || bi.Main.Version != t.Version || bi.Main.Sum != t.Sum {
		return fmt.Errorf("%s was built from %s %s@%s (%s), want %s@%s (%s)",
			bin, bi.Path, bi.Main.Path, bi.Main.Version, bi.Main.Sum, t.Module, t.Version, t.Sum)
	}
	return nil
}

func (in Installer) goCmd() string {
	if in.Go == "" {
		return "go"
	}
	return in.Go
}

func (in Installer) environ() []string {
	if in.Env == nil {
		return os.Environ()
	}
	return in.Env
}
