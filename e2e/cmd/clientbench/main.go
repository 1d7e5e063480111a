// Command clientbench measures the layer's Python and Node.js clients (issue 26): a Python
// function's cold start reading one secret with boto3 against the same with `import kinko`, and
// warm reads in both languages against a global, under AWS's emulator against moto. About a
// minute on two cores; prints Markdown tables and writes DIR/results.json.
//
//	go run ./e2e/cmd/clientbench [-dir build/clientbench] [-python python3] [-rounds 15]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kinko-dev/kinko/e2e/bench"
	"github.com/kinko-dev/kinko/e2e/stack"
)

func main() {
	dir := flag.String("dir", filepath.Join("build", "clientbench"), "where to build and write results.json")
	python := flag.String("python", "python3", "a Python with boto3, used by every Python variant")
	rounds := flag.Int("rounds", 0, "rounds (default 15)")
	flag.Parse()
	if err := run(*dir, *python, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "clientbench:", err)
		os.Exit(1)
	}
}

func run(dir, python string, rounds int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	root, err := stack.FindRoot()
	if err != nil {
		return err
	}
	// The interpreter itself, not a shim: the sandbox's environment has no pyenv.
	exe, err := exec.CommandContext(ctx, python, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return fmt.Errorf("%s: %w", python, err)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return err
	}
	p := bench.ClientsParamsFor()
	if rounds > 0 {
		p.Rounds = rounds
	}
	began := time.Now()
	res, err := bench.MeasureClients(ctx, root, dir, strings.TrimSpace(string(exe)), p, os.Stderr)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644); err != nil {
		return err
	}
	fmt.Print(res.Markdown())
	fmt.Fprintf(os.Stderr, "took %v; raw figures in %s\n", time.Since(began).Round(time.Second), filepath.Join(dir, "results.json"))
	return nil
}
