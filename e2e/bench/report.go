package bench

import (
	"embed"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"
)

// The report's text: report.md.tmpl is BENCHMARKS.md, coldpath.md.tmpl its section 8. What a
// run measured is Results (results.json); the templates hold every sentence.
//
//go:embed report.md.tmpl coldpath.md.tmpl
var reportFiles embed.FS

var reportTemplate = template.Must(template.New("report.md.tmpl").Funcs(reportFuncs).ParseFS(reportFiles, "report.md.tmpl", "coldpath.md.tmpl"))

// Markdown renders the results as BENCHMARKS.md. Paths in the results are written relative
// to root, where BENCHMARKS.md lives.
func Markdown(res *Results, root string) (string, error) {
	var b strings.Builder
	if err := reportTemplate.Execute(&b, report{Results: res, root: root, V: variantNames(), Goals: coldPathGoals}); err != nil {
		return "", fmt.Errorf("rendering BENCHMARKS.md: %w", err)
	}
	return b.String(), nil
}

// report is what the templates see: the results, the names of the variants as the harness
// reports them, the cold path's goals, and the figures the prose derives from the results.
type report struct {
	*Results
	root  string
	V     names
	Goals goals
}

// names are the variants' names as the rows carry them, and the layer's size row.
type names struct{ Empty, EmptyLayer, Kinko, KinkoNoPrefetch, KinkoClientCache, SDK, GlobalCache, Layer string }

func variantNames() names {
	return names{varEmpty().Name, varEmptyLayer().Name, varKinko().Name, varKinkoNoPrefetch().Name,
		varKinkoClientCache().Name, varSDK().Name, varGlobalCache().Name, layerSize}
}

// goals are the cold path's goals (issue 13), shown beside the figures in section 8.
type goals struct {
	StartRatio  float64 // kinko ÷ bare, exec -> /register and -> first /event/next
	InitExtraMs float64 // INIT REPORT with the layer − without
	InvokeMs    float64 // per-invoke cost of having the layer
	RSSMiB      float64
	HWMMiB      float64
	Throughput  float64 // kinko ÷ floor, wrk at 16 and 64 connections
	ZipBytes    int64
}

var coldPathGoals = goals{StartRatio: 1.2, InitExtraMs: 2.0, InvokeMs: 0.05, RSSMiB: 8.0, HWMMiB: 14.0, Throughput: 0.95, ZipBytes: 3_000_000}

// Rel writes p relative to the report's directory when it is inside it.
func (r report) Rel(p string) string { return rel(r.root, p) }

// ToolList is "name: version" of each tool, sorted by name.
func (r report) ToolList() string {
	var tools []string
	for _, k := range slices.Sorted(maps.Keys(r.Machine.Tools)) {
		tools = append(tools, fmt.Sprintf("%s: %s", k, r.Machine.Tools[k]))
	}
	return strings.Join(tools, "; ")
}

// Size is the row of one binary for one architecture, nil when it was not measured.
func (r report) Size(what, arch string) *SizeRow {
	for i := range r.Sizes {
		if r.Sizes[i].What == what && r.Sizes[i].Arch == arch {
			return &r.Sizes[i]
		}
	}
	return nil
}

// GlobalFasterAt is at how many upstream latencies kinko's extra exceeded the global cache's.
func (r report) GlobalFasterAt() int {
	n := 0
	for _, d := range r.Params.WarmDelays {
		if c := r.Warm.Cmp(d, "via kinko − global cache (extra)"); c.N > 0 && c.Median > 0 {
			n++
		}
	}
	return n
}

// ClientCacheWithinGoal is at how many upstream latencies the client cache's gap to the
// global cache was within the goal of 0.05 ms.
func (r report) ClientCacheWithinGoal() int {
	n := 0
	for _, d := range r.Params.WarmDelays {
		if c := r.Warm.Cmp(d, "via kinko, client cache − global cache (extra)"); c.N > 0 && c.Median <= 0.05 {
			n++
		}
	}
	return n
}

// StartCost is how much longer init is with kinko than without, for the fast runtime: the
// median over upstream latencies of (INIT REPORT with kinko − INIT REPORT of the empty
// function). N is 0 when it cannot be told.
func (r report) StartCost() Summary {
	if r.Cold == nil {
		return Summary{}
	}
	fast := r.Params.FastInit()
	empty := r.Cold.Row(varEmpty().Name, 0, fast).InitRep
	var diffs []float64
	for _, d := range r.Params.ColdDelays {
		if k := r.Cold.Row(varKinko().Name, d, fast).InitRep; k.N > 0 && empty.N > 0 {
			diffs = append(diffs, k.Median-empty.Median)
		}
	}
	return Summarize(diffs)
}

// PrefetchSaving is what the prefetch takes off the first invoke with the slow runtime.
type PrefetchSaving struct {
	Delay             time.Duration
	Kinko, NoPrefetch Summary // extra over the empty function
	Saved             float64 // ms: the difference of their medians
	Hidden            bool    // the prefetch took off at least 80% of the upstream latency
}

// PrefetchSavings are the slow runtime's savings, one per upstream latency measured both ways.
func (r report) PrefetchSavings() []PrefetchSaving {
	slow := r.Params.SlowInit()
	var out []PrefetchSaving
	for _, d := range r.Params.ColdDelays {
		k, np := r.Cold.Row(varKinko().Name, d, slow), r.Cold.Row(varKinkoNoPrefetch().Name, d, slow)
		if k.Extra.N == 0 || np.Extra.N == 0 {
			continue
		}
		saved := np.Extra.Median - k.Extra.Median
		out = append(out, PrefetchSaving{Delay: d, Kinko: k.Extra, NoPrefetch: np.Extra, Saved: saved, Hidden: saved >= 0.8*Ms(d)})
	}
	return out
}

// Row is one variant's warm figures at one upstream latency (zero when not measured).
func (wr *WarmResult) Row(variant string, d time.Duration) WarmRow {
	for _, r := range wr.Rows {
		if r.Variant == variant && r.Delay == d {
			return r
		}
	}
	return WarmRow{}
}

// Cmp is one comparison at one upstream latency (N 0 when not measured).
func (wr *WarmResult) Cmp(d time.Duration, what string) Summary {
	for _, c := range wr.Compare {
		if c.Delay == d && c.What == what {
			return c.Value
		}
	}
	return Summary{}
}

// Row is one variant's cold figures at one upstream latency and runtime init.
func (c *ColdResult) Row(variant string, d, init time.Duration) ColdRow {
	for _, r := range c.Rows {
		if r.Variant == variant && r.Delay == d && r.Init == init {
			return r
		}
	}
	return ColdRow{}
}

// Rate is the invokes per second of the calls runs.
func (c *CallsResult) Rate() float64 { return float64(c.N) / c.T.Seconds() }

// SteadyCalls is how many calls a long-lived sandbox makes per million invokes at Rate with
// kinko's TTL of ttl seconds: one per refresh, at 0.8 of the TTL.
func (c *CallsResult) SteadyCalls(ttl int) float64 { return 1e6 / (c.Rate() * 0.8 * float64(ttl)) }

// Label is the variant, with its TTL when it has one.
func (r CallsRow) Label() string {
	if r.TTL > 0 {
		return fmt.Sprintf("%s (TTL %d s)", r.Variant, r.TTL)
	}
	return r.Variant
}

// FastInit and SlowInit are the shortest and longest simulated runtime inits of the cold starts.
func (p Params) FastInit() time.Duration { return slices.Min(p.ColdInits) }
func (p Params) SlowInit() time.Duration { return slices.Max(p.ColdInits) }

// A Summary in the report's units: "median (min–max)".
func (s Summary) Ms() string      { return s.Format(msf) }
func (s Summary) Ratio() string   { return s.Format(ratiof) }
func (s Summary) MiB() string     { return s.Format(mib) }
func (s Summary) Ns() string      { return s.Format(nsf) }
func (s Summary) Count() string   { return s.Format(fixed(0, "")) }
func (s Summary) Bytes() string   { return s.Format(fixed(0, " B")) }
func (s Summary) Us() string      { return s.Format(fixed(1, " µs")) }
func (s Summary) Dollars() string { return s.Format(dollars) }

// reportFuncs are the formatting functions the templates call.
var reportFuncs = template.FuncMap{
	"ms":        msf,
	"mb":        mb,
	"dur":       durf,
	"plus":      plusDur,
	"dollars":   dollars,
	"thousands": thousands,
	"plural":    plural,
	"orNA":      orNA,
	"oneLine":   oneLine,
	"hasPrefix": strings.HasPrefix,
	"perCall":   func(calls float64) float64 { return calls * PricePerCall },
	"add":       func(a, b int) int { return a + b },
	"sub1":      func(n int) int { return n - 1 },
	"addBytes":  func(a, b int64) int64 { return a + b },
	"div":       func(a, b float64) float64 { return a / b },
	"utcMinute": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
	"seconds":   func(d time.Duration) time.Duration { return d.Round(time.Second) },
	"durNoSpace": func(d time.Duration) string {
		return strings.ReplaceAll(durf(d), " ", "")
	},
	"trimBenchmark":     func(name string) string { return strings.TrimPrefix(name, "Benchmark") },
	"trimRightNewlines": func(s string) string { return strings.TrimRight(s, "\n") },
	// met is a goal's verdict.
	"met": func(v any) string {
		if ok, _ := template.IsTrue(v); ok {
			return "met"
		}
		return "**not met**"
	},
	// row is the argument of the "startRow" template.
	"row": func(what string, p StartPair, goal bool, g goals) startRow {
		return startRow{What: what, P: p, Goal: goal, Goals: g}
	},
}

// startRow is one row of section 8's start table.
type startRow struct {
	What  string
	P     StartPair
	Goal  bool
	Goals goals
}

func nsf(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2f µs", v/1e3)
	default:
		return fmt.Sprintf("%.0f ns", v)
	}
}

func mib(kib float64) string { return fmt.Sprintf("%.1f MiB", kib/1024) }

func mb(n int64) string { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }

func dollars(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "$0"
	case a < 0.01:
		return fmt.Sprintf("$%.4f", v)
	default:
		return fmt.Sprintf("$%.2f", v)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// durf writes a duration the way the prose does: "150 ms", "2 s".
func durf(d time.Duration) string {
	if d%time.Second == 0 && d != 0 {
		return fmt.Sprintf("%d s", d/time.Second)
	}
	return fmt.Sprintf("%g ms", float64(d)/float64(time.Millisecond))
}

// plusDur is an added latency: "+20 ms".
func plusDur(d time.Duration) string { return "+" + durf(d) }

// thousands writes a count with thousands separators: 62,500.
func thousands(v float64) string {
	digits := fmt.Sprintf("%.0f", v)
	var out []byte
	for i := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, digits[i])
	}
	return string(out)
}
