// Command scale runs kinko at fleet scale and writes SCALE.md: N real kinko processes against
// one Secrets Manager stand-in with a quota, five scenarios, a table and two plots each. See
// package e2e/scale.
//
//	go run ./e2e/cmd/scale               # make scale: 200 sandboxes, under 5 minutes on 2 cores
//	go run ./e2e/cmd/scale -sandboxes 20 -out /tmp/SCALE.md -figures /tmp/fig
//
// Nothing fails on a number: the exit status is 0 when every scenario ran (whatever it
// measured), 1 when one could not, 2 for bad flags.
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
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/kinko-dev/kinko/e2e/bench"
	"github.com/kinko-dev/kinko/e2e/scale"
	"github.com/kinko-dev/kinko/e2e/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, out io.Writer) int {
	p := scale.Full()
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.IntVar(&p.Sandboxes, "sandboxes", p.Sandboxes, "kinko processes (the quota scales with sandboxes x secrets)")
	fs.IntVar(&p.Secrets, "secrets", p.Secrets, "secrets each invoke reads")
	fs.DurationVar(&p.TTL, "ttl", p.TTL, "SECRETS_MANAGER_TTL, whole seconds")
	fs.Float64Var(&p.Pace, "pace", p.Pace, "invokes a second per sandbox")
	fs.DurationVar(&p.Latency, "latency", p.Latency, "Secrets Manager's round trip (D)")
	report := fs.String("out", "", "the report (default SCALE.md at the repository's root)")
	figures := fs.String("figures", "", "where the PNGs go (default e2e/scale/figures in the repository)")
	fs.DurationVar(&p.RecoverMax, "recover", p.RecoverMax, "the longest wait for fresh values after the brownout")
	dir := fs.String("dir", "", "where kinko is built (default build/scale in the repository; git-ignored)")
	only := fs.String("only", "", "comma-separated scenarios to run: steady,lockstep,storm,brownout,cost (default all)")
	from := fs.String("from", "", "render the report again from a recorded run (build/scale/raw/STAMP/run.json) instead of running")
	short := fs.Bool("short", false, "the test's short run (20 sandboxes, TTL 1 s); the sizing flags are ignored")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	p = rescale(p)
	if *short {
		p = scale.Short()
	}
	if err := p.Validate(); err != nil {
		fmt.Fprintln(out, "scale:", err)
		return 2
	}
	root, err := stack.FindRoot()
	if err != nil {
		fmt.Fprintln(out, "scale:", err)
		return 2
	}
	if *dir == "" {
		*dir = filepath.Join(root, "build", "scale")
	}
	// Published figures come from full runs: a partial or short one writes under dir only.
	partial := *only != "" || *short
	if *report == "" {
		*report = filepath.Join(root, "SCALE.md")
		if partial {
			*report = filepath.Join(*dir, "SCALE-partial.md")
		}
	}
	if *figures == "" {
		*figures = filepath.Join(root, "e2e", "scale", "figures")
		if partial {
			*figures = filepath.Join(*dir, "figures")
		}
	}
	for _, d := range []string{*figures, *dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			fmt.Fprintln(out, "scale:", err)
			return 1
		}
	}
	var (
		meta scale.Meta
		runs map[string]*scale.Run
		raw  string
	)
	if *from != "" {
		rec, err := scale.LoadRecorded(*from)
		if err != nil {
			fmt.Fprintln(out, "scale:", err)
			return 1
		}
		p, meta, runs, raw = rec.Params, rec.Meta, rec.Runs, filepath.Dir(*from)
		meta.Notes = append(meta.Notes, fmt.Sprintf("Rendered again on %s from the run recorded in `%s` (`go run ./e2e/cmd/scale -from ...`): the figures are that run's.",
			time.Now().UTC().Format("2006-01-02 15:04 UTC"), rel(root, *from)))
	} else {
		meta = scale.Meta{Started: time.Now(), LoadStart: bench.LoadAvg(), Machine: machine(),
			Commit:   git(root, "describe", "--always", "--dirty", "--abbrev=12"),
			Commands: []string{"make scale  (go run ./e2e/cmd/scale " + strings.Join(args, " ") + ")"}}
		meta.Notes = codeNote(root)
		fmt.Fprintln(out, "building kinko")
		bin, err := scale.BuildKinko(ctx, root, *dir)
		if err != nil {
			fmt.Fprintln(out, "scale:", err)
			return 1
		}
		r := &scale.Runner{P: p, Kinko: bin, Log: out}
		var names []string
		for _, n := range strings.Split(*only, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
		var runErr error
		runs, runErr = r.Record(ctx, names...)
		if runErr != nil {
			meta.Failures = append(meta.Failures, strings.Split(runErr.Error(), "\n")...)
		}
		meta.Took, meta.LoadEnd = time.Since(meta.Started), bench.LoadAvg()
		raw = filepath.Join(*dir, "raw", meta.Started.UTC().Format("20060102-150405"))
		if err := os.MkdirAll(raw, 0o755); err != nil {
			fmt.Fprintln(out, "scale:", err)
			return 1
		}
		if err := scale.SaveRecorded(filepath.Join(raw, "run.json"), scale.Recorded{Params: p, Meta: meta, Runs: runs}); err != nil {
			meta.Failures = append(meta.Failures, err.Error())
		}
	}
	scenarios := scale.Analyze(p, runs)
	for _, s := range scenarios {
		if err := scale.Plot(s, *figures, p.Bin); err != nil {
			meta.Failures = append(meta.Failures, err.Error())
		}
		if err := scale.WriteRaw(s, raw); err != nil {
			meta.Failures = append(meta.Failures, err.Error())
		}
	}
	md := scale.Markdown(p, meta, scenarios, filepath.Dir(*report))
	if err := os.WriteFile(*report, []byte(md), 0o644); err != nil {
		fmt.Fprintln(out, "scale:", err)
		return 1
	}
	fmt.Fprintf(out, "==> wrote %s and %d plots in %s, the recorded run in %s (%s)\n", rel(root, *report), 2*len(scenarios), rel(root, *figures), rel(root, raw), meta.Took.Round(time.Second))
	if len(meta.Failures) > 0 {
		for _, f := range meta.Failures {
			fmt.Fprintln(out, "scale: could not measure:", f)
		}
		return 1
	}
	return 0
}

// rescale keeps the quotas proportional to the fleet and the brownout's phases to the TTL
// when flags change them.
func rescale(p scale.Params) scale.Params {
	ids := float64(p.Sandboxes * p.Secrets)
	p.Quota, p.StormQuota = ids, ids/2
	p.Hang, p.Unavailable = p.TTL, p.TTL
	return p
}

// codeNote says which of kinko's rules the measured code has: the backoff and jitter rules of
// CONTRACT.md section 4 arrive with the merge of the cache branch.
func codeNote(root string) []string {
	log := strings.ToLower(git(root, "log", "--oneline", "-n", "500"))
	if strings.Contains(log, "merge branch 'cache'") {
		return []string{"Measured with the cache branch merged (CONTRACT.md section 4: max wait, per-key backoff with full jitter, TTL jitter, bounded attempts) and the pacer (`cache.Pacer`: a sandbox's failing keys share a pace; a throttled key waits at least half its envelope)."}
	}
	return []string{"**Measured without the cache branch**: this kinko predates CONTRACT.md section 4's max wait, per-key backoff with full jitter, " +
		"TTL jitter and bounded attempts. Figures that depend on those rules show kinko without them; rerun `make scale` once they are merged."}
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

func git(dir string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	b, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func machine() string {
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := 0
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib int
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kib); err == nil {
			mem = kib / 1024
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d cores, %d MiB, Linux %s, %s", cpu, runtime.NumCPU(), mem, kernel, runtime.Version())
}
