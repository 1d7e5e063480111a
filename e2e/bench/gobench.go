package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// GoBenchPackage holds the handler benchmarks (a cache hit through the handler and over loopback).
const GoBenchPackage = "./extension/internal/server/"

// GoBenchClientModule is the Go client's module (client/, a module of its own, which `go test`
// at the root does not enter): its benchmarks are a read from its memory against the same read
// over loopback.
const GoBenchClientModule = "client"

// GoBenchLine is one benchmark's figures over its -count runs.
type GoBenchLine struct {
	Name                    string
	NsPerOp, BPerOp, Allocs Summary
}

// GoBenchResult is section 1.
type GoBenchResult struct {
	Command   string
	Lines     []GoBenchLine
	Benchstat string // benchstat's comparison with the previous results (or its summary of these)
	Previous  string // the previous results file compared against, "" if there was none
	Raw       string // go test's output: the new results file
}

// RunGoBench runs the handler's and the client's benchmarks (one go test per module) count
// times each with -benchmem and compares them with benchstat against previous (when that file
// exists and benchstat is given).
func RunGoBench(ctx context.Context, root string, count int, benchtime, benchstat, previous string) (GoBenchResult, error) {
	flags := []string{"-run", "^$", "-bench", ".", "-benchmem", "-count", strconv.Itoa(count), "-benchtime", benchtime}
	runs := [][]string{
		append(append([]string{"test"}, flags...), GoBenchPackage),
		append(append([]string{"test", "-C", GoBenchClientModule}, flags...), "./"),
	}
	var shown []string
	for _, args := range runs {
		shown = append(shown, "go "+strings.Join(args, " "))
	}
	res := GoBenchResult{Command: strings.Join(shown, " && ")}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var all []byte
	for i, args := range runs {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		all = append(all, out...)
		res.Raw = string(all)
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return res, fmt.Errorf("%s: %w\n%s%s", shown[i], err, out, ee.Stderr)
			}
			return res, fmt.Errorf("%s: %w", shown[i], err)
		}
	}
	res.Lines = ParseGoBench(res.Raw)
	if len(res.Lines) == 0 {
		return res, fmt.Errorf("%s printed no benchmark results:\n%s", res.Command, res.Raw)
	}
	if benchstat == "" {
		res.Benchstat = "(benchstat not available: install it with go install golang.org/x/perf/cmd/benchstat@latest)"
		return res, nil
	}
	// benchstat names columns after the files: give them names that say which is which.
	dir, err := os.MkdirTemp("", "kinko-benchstat-*")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	newPath := filepath.Join(dir, "new.txt")
	if err := os.WriteFile(newPath, []byte(res.Raw), 0o644); err != nil {
		return res, err
	}
	files := []string{"new.txt"}
	if b, err := os.ReadFile(previous); err == nil && len(ParseGoBench(string(b))) > 0 {
		if err := os.WriteFile(filepath.Join(dir, "previous.txt"), b, 0o644); err != nil {
			return res, err
		}
		files = []string{"previous.txt", "new.txt"}
		res.Previous = previous
	}
	sc := exec.CommandContext(ctx, benchstat, files...)
	sc.Dir = dir
	stat, err := sc.CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("benchstat: %w: %s", err, stat)
	}
	res.Benchstat = string(stat)
	return res, nil
}

// ParseGoBench collects each benchmark's ns/op, B/op and allocs/op over its runs, in the
// order the benchmarks first appear. The -N GOMAXPROCS suffix is kept off the name.
func ParseGoBench(out string) []GoBenchLine {
	type acc struct{ ns, b, allocs []float64 }
	var order []string
	byName := map[string]*acc{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		a := byName[name]
		if a == nil {
			a = &acc{}
			byName[name] = a
			order = append(order, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				a.ns = append(a.ns, v)
			case "B/op":
				a.b = append(a.b, v)
			case "allocs/op":
				a.allocs = append(a.allocs, v)
			}
		}
	}
	lines := make([]GoBenchLine, 0, len(order))
	for _, n := range order {
		a := byName[n]
		lines = append(lines, GoBenchLine{Name: n, NsPerOp: Summarize(a.ns), BPerOp: Summarize(a.b), Allocs: Summarize(a.allocs)})
	}
	return lines
}
