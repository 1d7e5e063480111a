package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/kinko-dev/kinko/e2e/bench/functions/fnenv"
	"github.com/kinko-dev/kinko/e2e/stack"
)

// startSandbox starts one stack (emulator, and kinko when the variant has the layer) around
// the variant's function, against the shared moto with its own secret and its own proxy.
// Nothing runs in the sandbox until the first invoke, as on Lambda.
func (h *Harness) startSandbox(ctx context.Context, v Variant, delay, initDelay time.Duration, env map[string]string) (*stack.Stack, error) {
	opt := h.Bin.OptNone
	if v.Layer {
		opt = h.Bin.OptKinko
	}
	if v.BareLayer {
		opt = h.Bin.OptBare
	}

	all := map[string]string{
		// INFO is kinko's default; the stack's DEBUG would log every request.
		"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL": "INFO",
		"AWS_LAMBDA_FUNCTION_NAME":               "bench-" + v.Function,
	}
	if initDelay > 0 {
		all[fnenv.InitDelayVar] = strconv.Itoa(int(initDelay / time.Millisecond))
	}
	if v.NoPrefetch {
		all["KINKO_PREFETCH"] = ""
	}
	if v.NoEarly {
		all["KINKO_EARLY_REGISTER"] = "false"
	}
	for k, val := range env {
		all[k] = val
	}
	st, err := stack.Start(ctx, stack.Options{
		Bin:  stack.Binaries{RIE: h.Bin.RIE, Bootstrap: h.Bin.Functions[runtime.GOARCH][v.Function], Opt: opt},
		Moto: h.moto, SecretName: h.newSecretName(v.Function), ProxyDelay: delay, Env: all,
	})
	if err != nil {
		return nil, fmt.Errorf("start a sandbox for %s: %w", v.Name, err)
	}
	return st, nil
}

// invoke sends one empty event and times it from the request to the whole answer.
func invoke(ctx context.Context, st *stack.Stack) (time.Duration, error) {
	start := time.Now()
	body, err := st.Invoker.Invoke(ctx, []byte("{}"))
	d := time.Since(start)
	if err != nil {
		return d, err
	}
	if !bytes.Contains(body, []byte(`"ok":true`)) {
		return d, fmt.Errorf("the function failed: %s", snippet(body))
	}
	return d, nil
}

var initReportRE = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// InitDuration reads the emulator's INIT REPORT line: the real init duration (the REPORT
// line's Init Duration is wrong under the emulator, which inits inside the first invoke).
func InitDuration(log string) (time.Duration, bool) {
	m := initReportRE.FindStringSubmatch(log)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(v * float64(time.Millisecond)), true
}

// closeAll stops sandboxes, keeping the first error.
func closeAll(stacks ...*stack.Stack) error {
	var first error
	for _, st := range stacks {
		if st == nil {
			continue
		}
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func snippet(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// WarmRow is one variant at one upstream latency: across rounds, the median of each
// round's median, p90 and extra over the empty function.
type WarmRow struct {
	Variant string
	Delay   time.Duration
	Median  Summary // ms
	P90     Summary // ms
	Extra   Summary // ms over the empty function, same round
	Ratio   Summary // this variant's median / the empty function's, same round
	Calls   int     // GetSecretValue calls the variant made during the rounds
}

// WarmCompare is a comparison between two variants, computed within each round.
type WarmCompare struct {
	Delay time.Duration
	What  string
	Unit  string // "×" or "ms"
	Value Summary
}

// WarmResult is section 3.
type WarmResult struct {
	PerRound, Rounds int
	Rows             []WarmRow
	Compare          []WarmCompare
}

// Warm measures warm invokes: one sandbox per variant, all started first and warmed by two
// invokes; then, for each upstream latency, rounds in which the variants take turns one invoke
// at a time (so drift hits them alike), and each round's medians are compared.
func (h *Harness) Warm(ctx context.Context) (WarmResult, error) {
	res := WarmResult{PerRound: h.P.WarmPerRound, Rounds: h.P.Rounds}
	raw := h.rawCSV("warm-invokes.csv", "delay_ms,round,variant,latency_ms")
	defer raw.flush()
	vs := []Variant{varEmpty(), varEmptyLayer(), varKinko(), varSDK(), varGlobalCache(), varKinkoClientCache()}
	stacks := make([]*stack.Stack, len(vs))
	defer func() { _ = closeAll(stacks...) }()
	for i, v := range vs {
		st, err := h.startSandbox(ctx, v, 0, 0, nil)
		if err != nil {
			return res, err
		}
		stacks[i] = st
		for range 2 {
			if _, err := invoke(ctx, st); err != nil {
				return res, fmt.Errorf("%s: warming up: %w\n%s", v.Name, err, st.EmulatorLog())
			}
		}
	}
	const (
		iEmpty  = 0
		iLayer  = 1
		iKinko  = 2
		iSDK    = 3
		iGlobal = 4
		iClient = 5
	)
	for _, delay := range h.P.WarmDelays {
		fmt.Fprintf(h.Cfg.Log, "  warm invokes, Secrets Manager %s\n", plusDur(delay))
		before := make([]int, len(vs))
		for i, st := range stacks {
			st.Proxy.SetDelay(delay)
			before[i] = st.Proxy.Calls("GetSecretValue")
		}
		med := make([][]float64, len(vs)) // [variant][round]
		p90 := make([][]float64, len(vs))
		for r := range h.P.Rounds {
			samples := make([][]float64, len(vs))
			for range h.P.WarmPerRound {
				for i, st := range stacks {
					d, err := invoke(ctx, st)
					if err != nil {
						return res, fmt.Errorf("%s: %w", vs[i].Name, err)
					}
					samples[i] = append(samples[i], Ms(d))
					raw.add(Ms(delay), r+1, vs[i].Name, Ms(d))
				}
			}
			for i := range vs {
				s := Summarize(samples[i])
				med[i] = append(med[i], s.Median)
				p90[i] = append(p90[i], s.P90)
			}
		}
		for i, v := range vs {
			extra := make([]float64, h.P.Rounds)
			ratio := make([]float64, h.P.Rounds)
			for r := range h.P.Rounds {
				extra[r] = med[i][r] - med[iEmpty][r]
				ratio[r] = med[i][r] / med[iEmpty][r]
			}
			res.Rows = append(res.Rows, WarmRow{Variant: v.Name, Delay: delay, Median: Summarize(med[i]), P90: Summarize(p90[i]),
				Extra: Summarize(extra), Ratio: Summarize(ratio), Calls: stacks[i].Proxy.Calls("GetSecretValue") - before[i]})
		}
		perRound := func(f func(r int) float64) Summary {
			xs := make([]float64, h.P.Rounds)
			for r := range xs {
				xs[r] = f(r)
			}
			return Summarize(xs)
		}
		extra := func(i, r int) float64 { return med[i][r] - med[iEmpty][r] }
		res.Compare = append(res.Compare,
			WarmCompare{delay, "SDK every invoke ÷ via kinko (invoke latency)", "×", perRound(func(r int) float64 { return med[iSDK][r] / med[iKinko][r] })},
			WarmCompare{delay, "SDK every invoke − via kinko (extra)", "ms", perRound(func(r int) float64 { return extra(iSDK, r) - extra(iKinko, r) })},
			WarmCompare{delay, "via kinko ÷ global cache (invoke latency)", "×", perRound(func(r int) float64 { return med[iKinko][r] / med[iGlobal][r] })},
			WarmCompare{delay, "via kinko − global cache (extra)", "ms", perRound(func(r int) float64 { return extra(iKinko, r) - extra(iGlobal, r) })},
			WarmCompare{delay, "via kinko, client cache − global cache (extra)", "ms", perRound(func(r int) float64 { return extra(iClient, r) - extra(iGlobal, r) })},
			// What the read itself costs once the extension is in the sandbox anyway.
			WarmCompare{delay, "via kinko, client cache − empty + kinko layer (extra)", "ms", perRound(func(r int) float64 { return extra(iClient, r) - extra(iLayer, r) })},
		)
	}
	return res, closeAll(stacks...)
}

// ColdRow is one first invoke configuration, across rounds.
type ColdRow struct {
	Variant string
	Delay   time.Duration // upstream latency (0 for the empty function: it calls nothing)
	Init    time.Duration // simulated runtime init
	First   Summary       // ms: the first invoke, from request to answer (init included)
	Extra   Summary       // ms over the empty function with the same init, same round
	InitRep Summary       // ms: INIT REPORT's duration
	Calls   Summary       // GetSecretValue calls during the first invoke
}

// ColdResult is section 4.
type ColdResult struct {
	Rounds int
	Rows   []ColdRow
}

// Cold measures first invokes: each sample a fresh sandbox, invoked once. A round takes every
// configuration once, the empty function first for each init, so extras compare within a round.
func (h *Harness) Cold(ctx context.Context) (ColdResult, error) {
	res := ColdResult{Rounds: h.P.Rounds}
	raw := h.rawCSV("cold-starts.csv", "round,init_ms,delay_ms,variant,first_invoke_ms,init_report_ms,calls")
	defer raw.flush()
	type key struct {
		v     string
		delay time.Duration
		init  time.Duration
	}
	type acc struct{ first, extra, initRep, calls []float64 }
	accs := map[key]*acc{}
	var order []key
	add := func(k key) *acc {
		if accs[k] == nil {
			accs[k] = &acc{}
			order = append(order, k)
		}
		return accs[k]
	}
	sample := func(v Variant, delay, init time.Duration) (first time.Duration, initRep time.Duration, calls int, err error) {
		st, err := h.startSandbox(ctx, v, delay, init, nil)
		if err != nil {
			return 0, 0, 0, err
		}
		defer func() { _ = st.Close() }()
		first, err = invoke(ctx, st)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("%s first invoke: %w\n%s", v.Name, err, st.EmulatorLog())
		}
		calls = st.Proxy.Calls("GetSecretValue")
		// The INIT REPORT line is printed during the first invoke; it may trail the answer by
		// a moment. Poll for it within a bound.
		deadline := time.Now().Add(2 * time.Second)
		for {
			if d, ok := InitDuration(st.EmulatorLog()); ok {
				initRep = d
				break
			}
			if time.Now().After(deadline) {
				return 0, 0, 0, fmt.Errorf("%s: no INIT REPORT line in the emulator's log:\n%s", v.Name, st.EmulatorLog())
			}
			select {
			case <-ctx.Done():
				return 0, 0, 0, ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
		return first, initRep, calls, st.Close()
	}
	for r := range h.P.Rounds {
		fmt.Fprintf(h.Cfg.Log, "  cold starts, round %d/%d\n", r+1, h.P.Rounds)
		for _, init := range h.P.ColdInits {
			emptyFirst, emptyInit, _, err := sample(varEmpty(), 0, init)
			if err != nil {
				return res, err
			}
			a := add(key{varEmpty().Name, 0, init})
			raw.add(r+1, Ms(init), 0, varEmpty().Name, Ms(emptyFirst), Ms(emptyInit), 0)
			a.first = append(a.first, Ms(emptyFirst))
			a.extra = append(a.extra, 0)
			a.initRep = append(a.initRep, Ms(emptyInit))
			a.calls = append(a.calls, 0)
			for _, delay := range h.P.ColdDelays {
				for _, v := range []Variant{varKinko(), varKinkoLate(), varKinkoNoPrefetch(), varSDK()} {
					first, initRep, calls, err := sample(v, delay, init)
					if err != nil {
						return res, err
					}
					a := add(key{v.Name, delay, init})
					raw.add(r+1, Ms(init), Ms(delay), v.Name, Ms(first), Ms(initRep), calls)
					a.first = append(a.first, Ms(first))
					a.extra = append(a.extra, Ms(first-emptyFirst))
					a.initRep = append(a.initRep, Ms(initRep))
					a.calls = append(a.calls, float64(calls))
				}
			}
		}
	}
	for _, k := range order {
		a := accs[k]
		res.Rows = append(res.Rows, ColdRow{Variant: k.v, Delay: k.delay, Init: k.init, First: Summarize(a.first),
			Extra: Summarize(a.extra), InitRep: Summarize(a.initRep), Calls: Summarize(a.calls)})
	}
	return res, nil
}

// CallsRow is one variant's upstream calls for N invokes over T, across runs.
type CallsRow struct {
	Variant string
	TTL     int // seconds (kinko only)
	Calls   Summary
	// PerMillion is the cost of those calls per million invokes at $0.05 per 10,000 calls,
	// as measured (the window's cold fetch included).
	PerMillion Summary
}

// CallsResult is section 5.
type CallsResult struct {
	N, Runs int
	T       time.Duration
	Rows    []CallsRow

	Concurrent      int
	ConcDelay       time.Duration
	ConcCalls       Summary // upstream calls for Concurrent cold requests at once
	ConcAllAnswered bool
}

// PricePerCall is Secrets Manager's API price: $0.05 per 10,000 calls.
const PricePerCall = 0.05 / 10_000

// Calls counts GetSecretValue calls for N invokes over T seconds, in fresh sandboxes each run:
// kinko at TTL 300 and at a short TTL, the SDK on every invoke, and the global cache. The
// sandboxes take turns, one invoke each per tick.
func (h *Harness) Calls(ctx context.Context) (CallsResult, error) {
	res := CallsResult{N: h.P.CallsN, T: h.P.CallsT, Runs: h.P.Rounds}
	type cfg struct {
		v   Variant
		ttl int
	}
	cfgs := []cfg{{varKinko(), 300}, {varKinko(), h.P.ShortTTL}, {varSDK(), 0}, {varGlobalCache(), 0},
		{varKinkoClientCache(), 300}, {varKinkoClientCache(), h.P.ShortTTL}}
	counts := make([][]float64, len(cfgs))
	raw := h.rawCSV("aws-calls.csv", "run,variant,ttl_s,invokes,seconds,calls")
	defer raw.flush()
	for run := range h.P.Rounds {
		fmt.Fprintf(h.Cfg.Log, "  AWS calls, run %d/%d: %d invokes over %s\n", run+1, h.P.Rounds, h.P.CallsN, durf(h.P.CallsT))
		stacks := make([]*stack.Stack, len(cfgs))
		err := func() error {
			defer func() { _ = closeAll(stacks...) }()
			for i, c := range cfgs {
				var env map[string]string
				if c.ttl > 0 {
					env = map[string]string{"SECRETS_MANAGER_TTL": strconv.Itoa(c.ttl)}
				}
				st, err := h.startSandbox(ctx, c.v, 0, 0, env)
				if err != nil {
					return err
				}
				stacks[i] = st
			}
			tick := h.P.CallsT / time.Duration(h.P.CallsN)
			start := time.Now()
			for n := range h.P.CallsN {
				// Pace the invokes over T: a rate, not a readiness wait.
				if wait := time.Until(start.Add(time.Duration(n) * tick)); wait > 0 {
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(wait):
					}
				}
				for i, st := range stacks {
					if _, err := invoke(ctx, st); err != nil {
						return fmt.Errorf("%s: %w", cfgs[i].v.Name, err)
					}
				}
			}
			for i, st := range stacks {
				n := st.Proxy.Calls("GetSecretValue")
				counts[i] = append(counts[i], float64(n))
				raw.add(run+1, cfgs[i].v.Name, cfgs[i].ttl, h.P.CallsN, h.P.CallsT.Seconds(), n)
			}
			return closeAll(stacks...)
		}()
		if err != nil {
			return res, err
		}
	}
	for i, c := range cfgs {
		cost := make([]float64, len(counts[i]))
		for r, n := range counts[i] {
			cost[r] = n / float64(h.P.CallsN) * 1e6 * PricePerCall
		}
		res.Rows = append(res.Rows, CallsRow{Variant: c.v.Name, TTL: c.ttl, Calls: Summarize(counts[i]), PerMillion: Summarize(cost)})
	}
	return res, nil
}

// csvFile collects rows in memory (nothing is written between timed invokes) and writes them
// to the run's raw folder at the end of a section.
type csvFile struct {
	path string
	rows []string
}

func (h *Harness) rawCSV(name, header string) *csvFile {
	if h.RawDir == "" {
		return &csvFile{}
	}
	return &csvFile{path: filepath.Join(h.RawDir, name), rows: []string{header}}
}

func (c *csvFile) add(fields ...any) {
	parts := make([]string, len(fields))
	for i, f := range fields {
		switch v := f.(type) {
		case float64:
			parts[i] = strconv.FormatFloat(v, 'f', -1, 64)
		case string:
			parts[i] = strconv.Quote(v)
		default:
			parts[i] = fmt.Sprint(v)
		}
	}
	c.rows = append(c.rows, strings.Join(parts, ","))
}

func (c *csvFile) flush() {
	if c.path != "" {
		_ = os.WriteFile(c.path, []byte(strings.Join(c.rows, "\n")+"\n"), 0o644)
	}
}
