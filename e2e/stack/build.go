package stack

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Module is the module path FindRoot looks for.
const Module = "github.com/kinko-dev/kinko"

// Binaries are what the stack runs.
type Binaries struct {
	RIE       string // aws-lambda-rie, built for this machine
	Bootstrap string // the function
	Opt       string // the layer's contents: Opt/extensions/kinko
}

// LayerBuild is one binary of the layer, built as the Makefile builds it.
type LayerBuild struct {
	What  string
	Path  string   // inside the layer
	Pkg   string   // Go package
	Flags []string // besides -trimpath and -ldflags
}

// LayerBuilds are the layer's binaries: extensions/kinko, with -tags lambda and the compiler
// flags of layer/kinko.gcflags, and kinko-exec, the exec wrapper.
func LayerBuilds(root string) ([]LayerBuild, error) {
	b, err := os.ReadFile(filepath.Join(root, "layer", "kinko.gcflags"))
	if err != nil {
		return nil, fmt.Errorf("the extension's compiler flags: %w", err)
	}
	return []LayerBuild{
		// -tags lambda as the Makefile builds the layer: without the process's code (package daemon).
		{"the kinko extension", "extensions/kinko", "./extension", append([]string{"-tags", "lambda"}, strings.Fields(string(b))...)},
		// At the layer's root, as /opt/kinko-exec (AWS_LAMBDA_EXEC_WRAPPER).
		{"the exec wrapper", "kinko-exec", "./extension/kinko-exec", []string{"-gcflags=all=-l"}},
	}, nil
}

// LayerFile is a file the layer carries as it is: a client (CONTRACT.md section 12).
type LayerFile struct {
	Path string // inside the layer, as Lambda finds it under /opt
	Src  string // in the repository, relative to its root
}

// layerClientGlobs are the clients' files, as the Makefile's LAYER_CLIENT_SRCS names them: the
// packages only, not their tests or test dependencies. The prefix maps the repository's
// directory to where Lambda's runtimes look: /opt/python and /opt/nodejs/node_modules.
var layerClientGlobs = []struct{ glob, from, to string }{
	{"client/python/kinko/*.py", "client/python/", "python/"},
	{"client/node/kinko/*.*", "client/node/kinko/", "nodejs/node_modules/kinko/"},
	{"client/node/kinko/powertools/*.*", "client/node/kinko/", "nodejs/node_modules/kinko/"},
}

// LayerFiles are the Python and Node.js clients' files, sorted by Path.
func LayerFiles(root string) ([]LayerFile, error) {
	var files []LayerFile
	for _, g := range layerClientGlobs {
		matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(g.glob)))
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			rel, err := filepath.Rel(root, m)
			if err != nil {
				return nil, err
			}
			rel = filepath.ToSlash(rel)
			files = append(files, LayerFile{Path: g.to + strings.TrimPrefix(rel, g.from), Src: rel})
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no client files under %s/client: is this the kinko repository?", root)
	}
	slices.SortFunc(files, func(a, b LayerFile) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// CopyLayerFiles lays the clients out in opt (an unpacked /opt) as the layer zip does.
func CopyLayerFiles(root, opt string) error {
	files, err := LayerFiles(root)
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.Src)))
		if err != nil {
			return err
		}
		dst := filepath.Join(opt, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// FindRoot returns the repository root: the nearest directory at or above the working
// directory whose go.mod declares Module.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+Module+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for %s at or above the working directory: run this from the kinko repository", Module)
		}
		dir = parent
	}
}

// Build compiles the extension, the function and the emulator for this machine into dir:
// dir/opt/extensions/kinko and dir/opt/kinko-exec (mode 0755, as in the layer), dir/task/bootstrap
// and dir/aws-lambda-rie.
// The extension and the function are built as the Makefile builds them for Lambda (static,
// stripped), only for this machine's architecture so the emulator can run them. With layerZip
// (a `make layer` zip for this machine) dir/opt is that layer, unpacked, instead of a build of
// the extension. Progress goes to log.
func Build(ctx context.Context, root, dir, layerZip string, log io.Writer) (Binaries, error) {
	return build(ctx, root, dir, layerZip, log, true)
}

// BuildSandbox is Build without the sample function (Binaries.Bootstrap is empty): for a stack
// that runs another function (Options.Bootstrap), as make run does.
func BuildSandbox(ctx context.Context, root, dir, layerZip string, log io.Writer) (Binaries, error) {
	return build(ctx, root, dir, layerZip, log, false)
}

func build(ctx context.Context, root, dir, layerZip string, log io.Writer, function bool) (Binaries, error) {
	goBin, err := goTool()
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{
		RIE:       filepath.Join(dir, "aws-lambda-rie"),
		Bootstrap: filepath.Join(dir, "task", "bootstrap"),
		Opt:       filepath.Join(dir, "opt"),
	}
	lambdaEnv := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + runtime.GOARCH}
	const ldflags = "-s -w -buildid= -X main.version=e2e"
	type step struct {
		what string
		env  []string
		args []string
	}
	steps := []step{
		// Pinned in go.mod as a tool, so this is the version the project tested with.
		{"the Lambda emulator", nil, []string{"build", "-o", b.RIE, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"}},
	}
	if function {
		steps = append([]step{{"the function", lambdaEnv, []string{"build", "-trimpath", "-tags", "lambda.norpc", "-ldflags", ldflags, "-o", b.Bootstrap, "./function"}}}, steps...)
	} else {
		b.Bootstrap = ""
	}
	if layerZip == "" {
		builds, err := LayerBuilds(root)
		if err != nil {
			return Binaries{}, err
		}
		var layer []step
		for _, lb := range builds {
			args := append([]string{"build", "-trimpath", "-ldflags", ldflags}, lb.Flags...)
			layer = append(layer, step{lb.What, lambdaEnv, append(args, "-o", filepath.Join(b.Opt, filepath.FromSlash(lb.Path)), lb.Pkg)})
		}
		steps = append(layer, steps...)
	}
	for _, s := range steps {
		fmt.Fprintf(log, "building %s\n", s.what)
		cmd := exec.CommandContext(ctx, goBin, s.args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), s.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("building %s failed (go %s): %w\n%s", s.what, strings.Join(s.args, " "), err, out)
		}
	}
	if layerZip != "" {
		fmt.Fprintf(log, "unpacking the layer %s\n", layerZip)
		return b, UnpackLayer(layerZip, b.Opt)
	}
	if err := CopyLayerFiles(root, b.Opt); err != nil {
		return Binaries{}, fmt.Errorf("the clients of the layer: %w", err)
	}
	// go build keeps the mode it creates; say it anyway: Lambda runs only executable extensions.
	return b, os.Chmod(filepath.Join(b.Opt, "extensions", "kinko"), 0o755)
}

// UnpackLayer lays a layer zip (dist/kinko-layer-ARCH.zip) out in dir as Lambda does at /opt,
// replacing what dir held, so the demo can run the very layer `make layer` built.
func UnpackLayer(zipPath, dir string) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return fmt.Errorf("open layer %s: %w (build it with `make layer`)", zipPath, err)
	}
	defer zr.Close()
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for _, f := range zr.File {
		if err := unpackOne(f, dir); err != nil {
			return fmt.Errorf("layer %s: %w", zipPath, err)
		}
	}
	ext := filepath.Join(dir, "extensions", "kinko")
	fi, err := os.Stat(ext)
	if err != nil || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("layer %s has no executable extensions/kinko: rebuild it with `make layer`", zipPath)
	}
	return nil
}

func unpackOne(f *zip.File, dir string) error {
	name := filepath.Clean(filepath.FromSlash(f.Name))
	if !filepath.IsLocal(name) {
		return fmt.Errorf("entry %q points outside the layer", f.Name)
	}
	path := filepath.Join(dir, name)
	if f.FileInfo().IsDir() {
		return os.MkdirAll(path, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, f.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, rc); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// goTool is the go command on PATH (go test and go run put theirs first).
func goTool() (string, error) {
	p, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("the go command was not found: install Go (see go.mod for the version) and put it on PATH")
	}
	return p, nil
}
