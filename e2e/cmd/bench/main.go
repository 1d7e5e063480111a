// Command bench measures kinko against what a user would pick instead and publishes the
// figures: BENCHMARKS.md at the repository's root, raw results under build/bench/ (git-ignored),
// and the Go benchmark results that the next run compares against with benchstat
// (e2e/bench/results/go-bench.txt). See package bench for what is measured and how.
//
//	go run ./e2e/cmd/bench            # make bench: the full run, under 10 minutes
//	go run ./e2e/cmd/bench -quick     # make bench QUICK=1: fewer, shorter rounds, under 2 minutes
//
// Section 8 (kinko's start and footprint against a bare Go extension) runs alone with
// -only coldpath.
//
// Each run records what it measured in build/bench/runs/STAMP/results.json and renders the
// report from that record through the templates of package bench; -from renders a recorded
// run's report again without measuring:
//
//	go run ./e2e/cmd/bench -from build/bench/runs/STAMP/results.json
//
// A quick run writes its report under build/bench/ only and leaves BENCHMARKS.md and the
// committed Go results alone: published figures come from full runs.
//
// Nothing here fails on a number: the exit status is 0 when every section ran, 1 when one
// could not (the report says which and why), 2 for bad flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, out io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	quick := fs.Bool("quick", false, "fewer and shorter rounds (under 2 minutes); the report goes under -dir only")
	dir := fs.String("dir", "", "binaries and raw results (default build/bench in the repository; git-ignored)")
	report := fs.String("out", "", "the report (default BENCHMARKS.md at the root for a full run, DIR/BENCHMARKS-quick.md for a quick one)")
	benchstat := fs.String("benchstat", "", "benchstat's path (default: GOPATH/bin/benchstat, else PATH)")
	only := fs.String("only", "", "comma-separated sections to run: gobench,sizes,loopback,warm,cold,calls,starts,wrapper (default all)")
	from := fs.String("from", "", "render the report again from a run's results (build/bench/runs/STAMP/results.json) instead of measuring")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	root, err := stack.FindRoot()
	if err != nil {
		fmt.Fprintln(out, "bench:", err)
		return 2
	}
	if *dir == "" {
		*dir = filepath.Join(root, "build", "bench")
	}
	sections := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			sections[s] = true
		}
	}
	var (
		res    *bench.Results
		rawDir string
		runErr error // a run that stopped early: its report is still written
	)
	if *from != "" {
		if res, err = bench.LoadResults(*from); err != nil {
			fmt.Fprintln(out, "bench:", err)
			return 1
		}
		rawDir = filepath.Dir(*from)
		fmt.Fprintf(out, "kinko benchmarks: the report from %s\n", rel(root, *from))
	} else {
		if res, rawDir, runErr = measure(ctx, root, *dir, *quick, *benchstat, sections, args, out); res == nil {
			fmt.Fprintln(out, "bench:", runErr)
			return 1
		}
	}
	if *report == "" {
		*report = filepath.Join(root, "BENCHMARKS.md")
		if res.Quick {
			*report = filepath.Join(*dir, "BENCHMARKS-quick.md")
		}
	}
	// The headline plot: beside the raw results always, and where the report points at it:
	// committed with a full run's BENCHMARKS.md, under -dir with a quick one.
	writeReport := len(sections) == 0 || *report != filepath.Join(root, "BENCHMARKS.md")
	if err := bench.PlotHeadline(res, filepath.Join(rawDir, plotName)); err != nil {
		fmt.Fprintln(out, "bench: no plot:", err)
	} else {
		res.Plot = plotName
	}
	rawMD, err := bench.Markdown(res, root)
	if err != nil {
		fmt.Fprintln(out, "bench:", err)
		return 1
	}
	_ = os.WriteFile(filepath.Join(rawDir, "BENCHMARKS.md"), []byte(rawMD), 0o644)
	md := rawMD
	if writeReport && res.Plot != "" {
		plot := filepath.Join(filepath.Dir(*report), plotName)
		if *report == filepath.Join(root, "BENCHMARKS.md") {
			plot = filepath.Join(root, "e2e", "bench", "results", plotName)
		}
		if err := bench.PlotHeadline(res, plot); err != nil {
			fmt.Fprintln(out, "bench: no plot:", err)
			res.Plot = ""
		} else {
			res.Plot = rel(filepath.Dir(*report), plot)
			fmt.Fprintf(out, "==> wrote %s\n", rel(root, plot))
		}
		if md, err = bench.Markdown(res, root); err != nil {
			fmt.Fprintln(out, "bench:", err)
			return 1
		}
	}
	if writeReport {
		if werr := os.WriteFile(*report, []byte(md), 0o644); werr != nil {
			fmt.Fprintln(out, "bench:", werr)
			return 1
		}
		fmt.Fprintf(out, "==> wrote %s (%s)\n", rel(root, *report), res.Duration.Round(time.Second))
	} else {
		fmt.Fprintf(out, "==> a partial run (-only): report in %s only\n", rel(root, rawDir))
	}
	if runErr != nil || len(res.Failures) > 0 {
		for _, f := range res.Failures {
			fmt.Fprintln(out, "bench: could not measure", f)
		}
		if runErr != nil {
			fmt.Fprintln(out, "bench:", runErr)
		}
		return 1
	}
	return 0
}

// measure runs the sections and records them under dir/runs/STAMP: results.json, and the Go
// benchmarks' output, which the next full run compares against. The results it returns are
// read back from results.json, so the report shows exactly what the record holds. It returns
// nil results only when nothing could be measured; err says why a run stopped early.
func measure(ctx context.Context, root, dir string, quick bool, benchstat string, sections map[string]bool, args []string, out io.Writer) (*bench.Results, string, error) {
	stamp := time.Now().UTC().Format("20060102-150405")
	rawDir := filepath.Join(dir, "runs", stamp)
	if err := os.MkdirAll(rawDir, 0o755); err != nil {
		return nil, rawDir, err
	}
	previous := filepath.Join(root, "e2e", "bench", "results", "go-bench.txt")
	cfg := bench.Config{
		Root: root, Dir: dir, Quick: quick, Previous: previous, Log: out,
		Wrk: lookPath("wrk"), Hyperfine: lookPath("hyperfine"), Benchstat: findBenchstat(benchstat),
	}
	fmt.Fprintf(out, "kinko benchmarks (%s run), raw results in %s\n", map[bool]string{true: "quick", false: "full"}[quick], rel(root, rawDir))
	res, err := bench.Run(ctx, cfg, rawDir, sections)
	if res == nil {
		return nil, rawDir, err
	}
	res.Commands = append([]string{commandLine(quick, args)}, res.Commands...)
	if res.GoBench != nil && res.GoBench.Raw != "" {
		_ = os.WriteFile(filepath.Join(rawDir, "go-bench.txt"), []byte(res.GoBench.Raw), 0o644)
		_ = os.WriteFile(filepath.Join(rawDir, "benchstat.txt"), []byte(res.GoBench.Benchstat), 0o644)
		// The committed previous results move on only with a full run's complete results.
		if !quick && len(res.GoBench.Lines) > 0 {
			if err := os.WriteFile(previous, []byte(res.GoBench.Raw), 0o644); err != nil {
				fmt.Fprintln(out, "bench: updating", previous, err)
			}
		}
	}
	record := filepath.Join(rawDir, "results.json")
	if serr := bench.SaveResults(record, res); serr != nil {
		fmt.Fprintln(out, "bench: the report is rendered from memory:", serr)
		return res, rawDir, err
	}
	recorded, lerr := bench.LoadResults(record)
	if lerr != nil {
		fmt.Fprintln(out, "bench: the report is rendered from memory:", lerr)
		return res, rawDir, err
	}
	return recorded, rawDir, err
}

// plotName is the headline plot's file name.
const plotName = "headline.png"

func lookPath(name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	return p
}

// findBenchstat prefers the flag, then GOPATH/bin (where `go install` puts it, often not on
// PATH), then PATH.
func findBenchstat(flagPath string) string {
	if flagPath != "" {
		return flagPath
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, gp := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(gp, "bin", "benchstat")
			if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
				return p
			}
		}
	}
	return lookPath("benchstat")
}

func commandLine(quick bool, args []string) string {
	make := "make bench"
	if quick {
		make += " QUICK=1"
	}
	return make + "  (go run ./e2e/cmd/bench " + strings.Join(args, " ") + ")"
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
