package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine is where the figures were taken.
type Machine struct {
	CPU, Kernel, Go string
	Cores           int
	MemMiB          int
	Commit          string // short hash, "-dirty" when the work tree had changes
	// Load averages (1, 5, 15 min) at the start and the end: other work on a shared machine
	// moves absolute figures, which is why everything compared is compared within a round.
	LoadStart, LoadEnd string
	Tools              map[string]string
}

// Results is everything one run measured: results.json (SaveResults), from which Markdown
// renders BENCHMARKS.md.
type Results struct {
	Quick    bool
	Started  time.Time
	Duration time.Duration
	Machine  Machine
	Params   Params
	Commands []string

	GoBench  *GoBenchResult
	Loopback *LoopbackResult
	Warm     *WarmResult
	Cold     *ColdResult
	Calls    *CallsResult
	Sizes    []SizeRow
	Starts   []StartRow
	Wrapper  *WrapperResult
	Failures []string // sections that could not run, and why

	ColdPath *ColdPathResult // section 8
	Plot     string          // the headline plot (PNG), relative to the report; "" when none was drawn
}

// SaveResults writes res as JSON to path (results.json).
func SaveResults(path string, res *Results) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the results: %w", err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// LoadResults reads what SaveResults wrote.
func LoadResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s is not a bench run's results.json: %w", path, err)
	}
	return &res, nil
}

// Run measures every section in turn. A section that fails is noted in Results.Failures and
// the others still run: the report shows what could be measured.
func Run(ctx context.Context, cfg Config, rawDir string, only map[string]bool) (*Results, error) {
	res := &Results{Quick: cfg.Quick, Started: time.Now(), Params: ParamsFor(cfg.Quick), Machine: describeMachine(ctx, cfg)}
	want := func(s string) bool { return len(only) == 0 || only[s] }
	fail := func(section string, err error) {
		res.Failures = append(res.Failures, fmt.Sprintf("%s: %v", section, err))
		fmt.Fprintf(cfg.Log, "  %s FAILED: %v\n", section, err)
	}
	if want("gobench") {
		fmt.Fprintln(cfg.Log, "==> 1. Go benchmarks")
		p := res.Params
		g, err := RunGoBench(ctx, cfg.Root, p.GoBenchCount, p.GoBenchTime, cfg.Benchstat, cfg.Previous)
		res.GoBench = &g
		res.Commands = append(res.Commands, g.Command)
		if err != nil {
			fail("Go benchmarks", err)
		}
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	fmt.Fprintln(cfg.Log, "==> building")
	h, err := NewHarness(ctx, cfg)
	if err != nil {
		return res, err
	}
	defer h.Close()
	h.RawDir = rawDir
	if want("sizes") {
		if res.Sizes, err = h.Sizes(); err != nil {
			fail("sizes", err)
		}
	}
	if want("loopback") {
		fmt.Fprintln(cfg.Log, "==> 2. warm read over loopback (wrk)")
		if cfg.Wrk == "" {
			fail("wrk", fmt.Errorf("wrk not found on PATH (apt-get install wrk; make bench installs it)"))
		} else {
			l, err := h.Loopback(ctx, rawDir)
			res.Loopback = &l
			if err != nil {
				fail("wrk", err)
			}
		}
	}
	if want("warm") {
		fmt.Fprintln(cfg.Log, "==> 3. warm invokes through the emulator")
		w, err := h.Warm(ctx)
		res.Warm = &w
		if err != nil {
			fail("warm invokes", err)
		}
	}
	if want("cold") {
		fmt.Fprintln(cfg.Log, "==> 4. cold starts")
		c, err := h.Cold(ctx)
		res.Cold = &c
		if err != nil {
			fail("cold starts", err)
		}
	}
	if want("calls") {
		fmt.Fprintln(cfg.Log, "==> 5. calls to AWS")
		c, err := h.Calls(ctx)
		if err != nil {
			fail("AWS calls", err)
		}
		fmt.Fprintf(cfg.Log, "  %d concurrent cold requests\n", h.P.Concurrent)
		c.Concurrent, c.ConcDelay = h.P.Concurrent, h.P.ConcDelay
		if c.ConcCalls, c.ConcAllAnswered, err = h.ConcurrentCold(ctx); err != nil {
			fail("concurrent cold requests", err)
		}
		res.Calls = &c
	}
	if want("coldpath") {
		fmt.Fprintln(cfg.Log, "==> 8. the cold path: kinko's start and footprint against a bare Go extension")
		c, err := h.ColdPath(ctx)
		res.ColdPath = &c
		if err != nil {
			fail("cold path", err)
		}
	}
	if want("starts") {
		fmt.Fprintln(cfg.Log, "==> 6. process start times (hyperfine)")
		if cfg.Hyperfine == "" {
			fail("hyperfine", fmt.Errorf("hyperfine not found on PATH (apt-get install hyperfine; make bench installs it)"))
		} else if res.Starts, err = h.ProcessStarts(ctx, rawDir); err != nil {
			fail("hyperfine", err)
		}
	}
	if want("wrapper") {
		fmt.Fprintln(cfg.Log, "==> 7. the exec wrapper (/opt/kinko-exec)")
		x, err := h.Wrapper(ctx)
		res.Wrapper = &x
		if err != nil {
			fail("exec wrapper", err)
		}
	}
	res.Duration = time.Since(res.Started)
	res.Machine.LoadEnd = LoadAvg()
	return res, ctx.Err()
}

func describeMachine(ctx context.Context, cfg Config) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Tools: map[string]string{}, LoadStart: LoadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib int
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kib); err == nil {
			m.MemMiB = kib / 1024
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	run := func(dir, name string, args ...string) string {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(c, name, args...)
		cmd.Dir = dir
		// wrk -v exits 1 after printing its version: keep the output whatever the status.
		out, _ := cmd.CombinedOutput()
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	m.Commit = run(cfg.Root, "git", "describe", "--always", "--dirty", "--abbrev=12")
	if cfg.Wrk != "" {
		m.Tools["wrk"] = run("", cfg.Wrk, "-v")
	}
	if cfg.Hyperfine != "" {
		m.Tools["hyperfine"] = run("", cfg.Hyperfine, "--version")
	}
	if cfg.Benchstat != "" {
		m.Tools["benchstat"] = cfg.Benchstat
	}
	return m
}

// LoadAvg is the machine's 1, 5 and 15 minute load averages, for a report's header ("" where unknown).
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
