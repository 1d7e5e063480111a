package bench

import (
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Markdown renders the results as BENCHMARKS.md. Every sentence that compares kinko with
// something is written from the figures, so a run where the order flips says so.
func Markdown(res *Results, root string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p := res.Params
	kind := "full"
	if res.Quick {
		kind = "quick (`QUICK=1`: fewer and shorter rounds; not for publishing)"
	}
	w("# kinko benchmarks\n\n")
	w("What a secret read costs with kinko, against what a user would do instead: call Secrets Manager with the SDK on every invoke, " +
		"or call it once and keep the value in a global. Written by `make bench` (`e2e/cmd/bench`, package `e2e/bench`); " +
		"raw results of each run are under `build/bench/runs/`.\n\n")
	w("**How to read the figures.** Absolute times drift on a shared 2-core machine, so every comparison is a ratio or a difference "+
		"taken within one round, and every figure is the **median over %d rounds, with the min–max across rounds** in parentheses. "+
		"Nothing here is a test: no number fails CI.\n\n", p.Rounds)

	m := res.Machine
	w("| | |\n|---|---|\n")
	w("| date | %s (UTC), %s run, took %s |\n", res.Started.UTC().Format("2006-01-02 15:04"), kind, res.Duration.Round(time.Second))
	w("| commit | `%s` |\n", orNA(m.Commit))
	w("| machine | %s, %d cores, %d MiB, Linux %s, %s |\n", orNA(m.CPU), m.Cores, m.MemMiB, orNA(m.Kernel), m.Go)
	w("| load average | %s at the start, %s at the end (other work on this machine moves absolute figures) |\n", orNA(m.LoadStart), orNA(m.LoadEnd))
	var tools []string
	for _, k := range slices.Sorted(maps.Keys(m.Tools)) {
		tools = append(tools, fmt.Sprintf("%s: %s", k, m.Tools[k]))
	}
	w("| tools | %s |\n", orNA(strings.Join(tools, "; ")))
	w("| commands | %s |\n\n", strings.Join(wrapCode(res.Commands), "<br>"))
	if len(res.Failures) > 0 {
		w("**Sections that could not be measured in this run:**\n\n")
		for _, f := range res.Failures {
			w("- %s\n", oneLine(f))
		}
		w("\n")
	}

	headline(&b, res)
	losses(&b, res)
	goBench(&b, res, root)
	loopbackThroughput(&b, res)
	warm(&b, res)
	cold(&b, res)
	calls(&b, res)
	footprint(&b, res)
	wrapperSection(&b, res)
	coldPath(&b, res)
	method(&b, res)
	return b.String()
}

func headline(b *strings.Builder, res *Results) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## Headline\n\n")
	if res.Warm != nil && len(res.Warm.Rows) > 0 {
		w("**Warm invoke**, extra latency over an empty function (the emulator's own cost), by upstream latency:\n\n")
		w("| Secrets Manager latency | via kinko | SDK every invoke | global cache | SDK ÷ kinko (invoke) | kinko ÷ global cache (invoke) |\n|---|---|---|---|---|---|\n")
		for _, d := range res.Params.WarmDelays {
			k, s, g := warmRow(res.Warm, varKinko().Name, d), warmRow(res.Warm, varSDK().Name, d), warmRow(res.Warm, varGlobalCache().Name, d)
			w("| %s | %s | %s | %s | %s | %s |\n", plusDur(d), fmtS(k.Extra, msf), fmtS(s.Extra, msf), fmtS(g.Extra, msf),
				fmtS(warmCmp(res.Warm, d, "SDK every invoke ÷ via kinko (invoke latency)"), ratiof),
				fmtS(warmCmp(res.Warm, d, "via kinko ÷ global cache (invoke latency)"), ratiof))
		}
		w("\n")
		if r := warmRow(res.Warm, varKinkoClientCache().Name, 0); r.Extra.N > 0 {
			var parts []string
			for _, d := range res.Params.WarmDelays {
				parts = append(parts, fmt.Sprintf("%s at %s", fmtS(warmCmp(res.Warm, d, "via kinko, client cache − global cache (extra)"), msf), plusDur(d)))
			}
			w("**With the Go client's cache** (`function/kinko` keeps the value for half of kinko's ttl), a warm read costs over the global cache: %s.\n\n",
				strings.Join(parts, ", "))
		}
	}
	if res.Cold != nil && len(res.Cold.Rows) > 0 {
		slow := slices.Max(res.Params.ColdInits)
		w("**Cold start** with a runtime whose init takes %s (as a Python function importing boto3 does), extra first-invoke latency over the same empty function:\n\n", durf(slow))
		w("| Secrets Manager latency | kinko, KINKO_PREFETCH | kinko, no prefetch | SDK in the function |\n|---|---|---|---|\n")
		for _, d := range res.Params.ColdDelays {
			w("| %s | %s | %s | %s |\n", plusDur(d), fmtS(coldRow(res.Cold, varKinko().Name, d, slow).Extra, msf),
				fmtS(coldRow(res.Cold, varKinkoNoPrefetch().Name, d, slow).Extra, msf), fmtS(coldRow(res.Cold, varSDK().Name, d, slow).Extra, msf))
		}
		w("\n")
	}
	if l := res.Loopback; l != nil && len(l.Rows) > 0 {
		w("**Loopback throughput**, kinko ÷ a bare `net/http` server answering the same bytes (wrk): ")
		var parts []string
		for _, r := range l.Rows {
			parts = append(parts, fmt.Sprintf("%d connection%s %s", r.Conns, plural(r.Conns), fmtS(r.Ratio, ratiof)))
		}
		w("%s.\n\n", strings.Join(parts, ", "))
	}
	if c := res.Calls; c != nil && len(c.Rows) > 0 {
		w("**Calls to Secrets Manager** for %d invokes over %s in one sandbox: ", c.N, durf(c.T))
		var parts []string
		for _, r := range c.Rows {
			parts = append(parts, fmt.Sprintf("%s: %s", callsLabel(r), fmtS(r.Calls, fixed(0, ""))))
		}
		w("%s. ", strings.Join(parts, ", "))
		if c.Concurrent > 0 && c.ConcCalls.N > 0 {
			w("%d concurrent cold requests for one secret: %s upstream call(s).", c.Concurrent, fmtS(c.ConcCalls, fixed(0, "")))
		}
		w(" Cost per million invokes in the table of section 5.\n\n")
	}
	if l := res.Loopback; l != nil && l.RSSIdle.N > 0 {
		w("**Footprint**: kinko's resident memory %s idle, peak %s after the load; %s from exec to its first `/event/next`",
			fmtS(l.RSSIdle, mib), fmtS(l.HWMLoaded, mib), fmtS(l.StartToNext, msf))
		if z := sizeRow(res.Sizes, "kinko extension (layer zip)", "arm64"); z != nil {
			w("; layer zip %s (arm64)", mb(z.ZipBytes))
		}
		if z := sizeRow(res.Sizes, "kinko extension (layer zip)", "x86_64"); z != nil {
			w(", %s (x86_64)", mb(z.ZipBytes))
		}
		w(".\n\n")
	}
}

// losses says where kinko loses, from the figures.
func losses(b *strings.Builder, res *Results) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## Where kinko loses, and why\n\n")
	n := 0
	item := func(format string, a ...any) {
		n++
		w("%d. ", n)
		w(format, a...)
		w("\n")
	}
	if res.Warm != nil && len(res.Warm.Rows) > 0 {
		var diffs []string
		slower := 0
		for _, d := range res.Params.WarmDelays {
			c := warmCmp(res.Warm, d, "via kinko − global cache (extra)")
			if c.N > 0 && c.Median > 0 {
				slower++
			}
			diffs = append(diffs, fmt.Sprintf("%s at %s", fmtS(c, msf), plusDur(d)))
		}
		presence := warmRow(res.Warm, varEmptyLayer().Name, 0)
		verdict := "is faster warm than kinko"
		if slower < len(res.Params.WarmDelays) {
			verdict = fmt.Sprintf("was faster warm than kinko at %d of %d upstream latencies in this run", slower, len(res.Params.WarmDelays))
		}
		item("**Warm, a value cached in a global %s**: by %s per invoke (kinko's extra minus the global cache's, within each round). "+
			"A global is a memory read; kinko is a loopback HTTP round trip (a request on a kept-alive connection, the token check, the cache lookup, the answer, the JSON key), "+
			"and a sandbox with an extension has one more process taking part in each invoke (the emulator waits for the extension's "+
			"`/event/next` too: an empty function with the layer attached costs %s more than without). "+
			"What kinko gives for that: the secret is refreshed every TTL without a new sandbox (a rotated key reaches warm sandboxes, a global never "+
			"sees it), an expired value is still served when AWS fails, the fetch happens during init where a slow runtime hides it (section 4), "+
			"concurrent requests make one call, the function does not link the AWS SDK (section 6), and any runtime reads it the same way.",
			verdict, strings.Join(diffs, ", "), fmtS(presence.Extra, msf))
	}
	if res.Warm != nil && warmRow(res.Warm, varKinkoClientCache().Name, 0).Extra.N > 0 {
		var diffs, overLayer []string
		within := 0
		for _, d := range res.Params.WarmDelays {
			c := warmCmp(res.Warm, d, "via kinko, client cache − global cache (extra)")
			if c.N > 0 && c.Median <= 0.05 {
				within++
			}
			diffs = append(diffs, fmt.Sprintf("%s at %s", fmtS(c, msf), plusDur(d)))
			overLayer = append(overLayer, fmtS(warmCmp(res.Warm, d, "via kinko, client cache − empty + kinko layer (extra)"), msf))
		}
		item("**Warm with the Go client's cache, the gap to a global is** %s (goal: at most 0.05 ms; met at %d of %d upstream latencies in this run). "+
			"The client answers from memory for half of the ttl kinko gave, then asks kinko again, so kinko still refreshes ahead and a rotated "+
			"key still arrives within kinko's TTL. The rest of the gap is the extension's presence in the sandbox: over the empty function "+
			"with the layer attached, the read costs %s (same order of latencies).",
			strings.Join(diffs, ", "), within, len(res.Params.WarmDelays), strings.Join(overLayer, ", "))
	}
	if res.Cold != nil && len(res.Cold.Rows) > 0 {
		fast := slices.Min(res.Params.ColdInits)
		var parts []string
		for _, d := range res.Params.ColdDelays {
			k, s := coldRow(res.Cold, varKinko().Name, d, fast), coldRow(res.Cold, varSDK().Name, d, fast)
			parts = append(parts, fmt.Sprintf("at %s kinko with prefetch adds %s, the SDK in the function %s", plusDur(d), fmtS(k.Extra, msf), fmtS(s.Extra, msf)))
		}
		startCost := ""
		if start, ok := kinkoStartCost(res); ok {
			startCost = fmt.Sprintf(" (with kinko the INIT REPORT is about %s longer: the runtime starts only once every extension has registered)", msf(start))
		}
		item("**Cold, with a fast runtime (Go, init ≈ %s here), prefetch has nothing to hide behind**: %s. "+
			"The runtime is ready before the fetch returns, so the first invoke waits for it either way, and kinko adds its own start%s "+
			"and a loopback hop on top. Prefetch pays off only when the runtime's init is longer than the fetch (the %s rows).",
			fmtS(coldRow(res.Cold, varEmpty().Name, 0, fast).InitRep, msf), strings.Join(parts, "; "), startCost, durf(slices.Max(res.Params.ColdInits)))
	}
	if l := res.Loopback; l != nil && len(l.Rows) > 0 {
		last := l.Rows[len(l.Rows)-1]
		item("**Throughput, kinko is below the bare floor** (%s of its requests per second at %d connections): per request kinko parses and "+
			"checks the query, looks the entry up, builds the `Cache-Status` header and copies the stored answer; the floor compares "+
			"a token and writes bytes. That is about %s of extra CPU per request on this machine, visible only when loopback is saturated; "+
			"a Lambda function makes one or a few reads per invoke.", fmtS(last.Ratio, ratiof), last.Conns, fmtS(last.CostUs, fixed(1, " µs")))
	}
	if l := res.Loopback; l != nil && l.RSSIdle.N > 0 {
		item("**Memory**: kinko is a second process in the sandbox: %s resident idle, %s at peak after the load, taken from the function's "+
			"memory size. A global cache costs the size of the value.", fmtS(l.RSSIdle, mib), fmtS(l.HWMLoaded, mib))
	}
	if z := sizeRow(res.Sizes, "kinko extension (layer zip)", "arm64"); z != nil {
		fk, fg := sizeRow(res.Sizes, "function: viakinko", "arm64"), sizeRow(res.Sizes, "function: globalcache", "arm64")
		if fk != nil && fg != nil {
			item("**Deployment size**: the layer is %s zipped (arm64) on top of the function. A function reading through kinko does not "+
				"link the SDK, so it is smaller (%s zipped vs %s with the SDK): together %s against %s.",
				mb(z.ZipBytes), mb(fk.ZipBytes), mb(fg.ZipBytes), mb(z.ZipBytes+fk.ZipBytes), mb(fg.ZipBytes))
		}
	}
	if n == 0 {
		w("(no section ran)\n")
	}
	w("\n")
}

func goBench(b *strings.Builder, res *Results, root string) {
	g := res.GoBench
	if g == nil {
		return
	}
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## 1. Warm read in process: Go benchmarks\n\n")
	w("A cache hit through kinko's real handler and cache, for a secret and for a parameter: without a network (`Handler`), and over a "+
		"keep-alive loopback connection with Go's HTTP client (`Loopback`). `%s`\n\n", g.Command)
	if len(g.Lines) > 0 {
		w("| benchmark | time/op | B/op | allocs/op |\n|---|---|---|---|\n")
		for _, l := range g.Lines {
			w("| %s | %s | %s | %s |\n", strings.TrimPrefix(l.Name, "Benchmark"), fmtS(l.NsPerOp, nsf), fmtS(l.BPerOp, fixed(0, " B")), fmtS(l.Allocs, fixed(0, "")))
		}
		w("\n")
	}
	if g.Benchstat != "" {
		if g.Previous != "" {
			w("benchstat against the previous results (`%s`, updated by every full run):\n\n", rel(root, g.Previous))
		} else {
			w("benchstat (no previous results yet; the next run compares against `e2e/bench/results/go-bench.txt`):\n\n")
		}
		w("```\n%s```\n\n", strings.TrimRight(g.Benchstat, "\n")+"\n")
	}
}

func loopbackThroughput(b *strings.Builder, res *Results) {
	l := res.Loopback
	if l == nil || len(l.Rows) == 0 {
		return
	}
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## 2. Warm read over loopback: wrk\n\n")
	w("kinko runs as a real process (the stripped binary of the layer) against a small fake Extensions API, with the secret prefetched; "+
		"the floor is a bare `net/http` server in the harness that answers kinko's own answer (%d body bytes, same headers) after the same "+
		"constant-time token check. Each round starts a fresh kinko, then runs wrk (`-t min(c,2) -c c -d %s --latency`, with the token header) "+
		"against kinko and the floor at each connection count, alternating which goes first. Ratio = kinko ÷ floor, within the round.\n\n",
		l.Bytes, strings.ReplaceAll(durf(l.Dur), " ", ""))
	w("| connections | kinko req/s | floor req/s | kinko ÷ floor | kinko p50 | floor p50 | kinko p99 | floor p99 | p99 kinko ÷ floor |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range l.Rows {
		w("| %d | %s | %s | **%s** | %s | %s | %s | %s | %s |\n", r.Conns, fmtS(r.KinkoRPS, fixed(0, "")), fmtS(r.FloorRPS, fixed(0, "")), fmtS(r.Ratio, ratiof),
			fmtS(r.KinkoP50, msf), fmtS(r.FloorP50, msf), fmtS(r.KinkoP99, msf), fmtS(r.FloorP99, msf), fmtS(r.P99Ratio, ratiof))
	}
	w("\nkinko's extra cost per request (1/kinko − 1/floor req/s, within the round): ")
	var parts []string
	for _, r := range l.Rows {
		parts = append(parts, fmt.Sprintf("%s at %d connection%s", fmtS(r.CostUs, fixed(1, " µs")), r.Conns, plural(r.Conns)))
	}
	w("%s. wrk runs on the same two cores as the servers, so these are the machine's figures with wrk in it, for both alike.\n\n", strings.Join(parts, ", "))
	if len(l.Retries) > 0 {
		w("wrk runs taken again after socket errors (a stall of the shared machine; the run kept is the next clean one):\n\n")
		for _, r := range l.Retries {
			w("- %s\n", r)
		}
		w("\n")
	}
}

func warm(b *strings.Builder, res *Results) {
	wr := res.Warm
	if wr == nil || len(wr.Rows) == 0 {
		return
	}
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## 3. Per invoke through the emulator (warm)\n\n")
	w("AWS's Lambda emulator runs each function variant (`e2e/bench/functions/`) in a sandbox of its own; Secrets Manager is moto behind "+
		"a delay proxy that adds the upstream latency to every call. All sandboxes are started and warmed first; then in each round every "+
		"variant is invoked %d times, the variants taking turns one invoke at a time. Per round: the median and p90 of each variant, and "+
		"its extra over the empty function's median in the same round.\n\n", wr.PerRound)
	for _, d := range res.Params.WarmDelays {
		w("**Secrets Manager %s**\n\n", plusDur(d))
		w("| variant | invoke median | invoke p90 | extra over empty | ÷ empty | Secrets Manager calls |\n|---|---|---|---|---|---|\n")
		for _, r := range wr.Rows {
			if r.Delay != d {
				continue
			}
			w("| %s | %s | %s | **%s** | %s | %d |\n", r.Variant, fmtS(r.Median, msf), fmtS(r.P90, msf), fmtS(r.Extra, msf), fmtS(r.Ratio, ratiof), r.Calls)
		}
		w("\n")
		for _, c := range wr.Compare {
			if c.Delay != d {
				continue
			}
			f := ratiof
			if c.Unit == "ms" {
				f = msf
			}
			w("- %s: %s\n", c.What, fmtS(c.Value, f))
		}
		w("\n")
	}
	w("Plainly: the global cache is the fastest warm read, and kinko costs the difference shown above on every invoke that reads the " +
		"secret (and a little on those that do not); the SDK on every invoke costs the full distance to Secrets Manager every time. " +
		"What kinko gives for its part is listed under *Where kinko loses*. *via kinko, client cache* is the same read with the Go client's " +
		"cache on (`function/kinko`'s default): most warm invokes are a memory read in the function, and one every half-ttl goes to kinko.\n\n")
	w("The calls column counts what reached the proxy during the rounds: the SDK variant calls on every invoke, kinko and the global cache " +
		"answered every warm invoke from memory. *empty + kinko layer* is the empty function with the extension attached: what kinko's " +
		"presence costs an invoke that reads nothing.\n\n")
}

func cold(b *strings.Builder, res *Results) {
	c := res.Cold
	if c == nil || len(c.Rows) == 0 {
		return
	}
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## 4. Cold start\n\n")
	w("Each sample is a fresh sandbox invoked once: the time from the invoke request to its answer, which under the emulator includes " +
		"the whole init (extensions, runtime, function). *Extra* is over the empty function with the same init in the same round. The init " +
		"duration is read from the emulator's `INIT REPORT` line (its `REPORT ... Init Duration` is wrong under the emulator). The slow init " +
		"is simulated by the function sleeping before it starts its runtime loop (`BENCH_INIT_DELAY_MS`). *via kinko, registering late* " +
		"is the same function and layer with `KINKO_EARLY_REGISTER=false`, in the same rounds: kinko then registers from main, after the AWS " +
		"SDK's packages have initialised, as it did before the early start (section 8).\n\n")
	for _, init := range res.Params.ColdInits {
		label := "Go runtime as it is"
		if init > 0 {
			label = fmt.Sprintf("runtime init %s (simulated)", plusDur(init))
		}
		w("**%s**\n\n", label)
		w("| variant | Secrets Manager latency | first invoke | extra over empty | INIT REPORT duration | Secrets Manager calls |\n|---|---|---|---|---|---|\n")
		for _, r := range c.Rows {
			if r.Init != init {
				continue
			}
			delay := "–"
			if r.Variant != varEmpty().Name {
				delay = plusDur(r.Delay)
			}
			w("| %s | %s | %s | **%s** | %s | %s |\n", r.Variant, delay, fmtS(r.First, msf), fmtS(r.Extra, msf), fmtS(r.InitRep, msf), fmtS(r.Calls, fixed(0, "")))
		}
		w("\n")
	}
	if start, ok := kinkoStartCost(res); ok {
		w("Lambda (and the emulator) starts the runtime only once every extension has registered, so what kinko does before "+
			"`/register` comes before the runtime's init, and init ends only once kinko has asked for its first event. kinko makes "+
			"both calls during package initialisation, before the AWS SDK's packages initialise (README \"How kinko starts\"); the rest "+
			"of its start runs beside the runtime's init. The INIT REPORT of a sandbox with kinko is %s longer than without "+
			"(median of the medians above, Go runtime); section 8 compares it with kinko registering late and with a bare extension.\n\n", msf(start))
	}
	slow := slices.Max(res.Params.ColdInits)
	if slow > 0 {
		for _, d := range res.Params.ColdDelays {
			k, np := coldRow(c, varKinko().Name, d, slow), coldRow(c, varKinkoNoPrefetch().Name, d, slow)
			if k.Extra.N == 0 || np.Extra.N == 0 {
				continue
			}
			saved := np.Extra.Median - k.Extra.Median
			hidden := "the upstream latency is hidden"
			if saved < 0.8*Ms(d) {
				hidden = "the upstream latency is NOT hidden in this run"
			}
			w("- Init %s, Secrets Manager %s: kinko with prefetch adds %s, without %s; the prefetch takes %s off the first invoke "+
				"(the upstream latency alone is %s): %s. What is left is kinko's own start, which delays the runtime's (see below), "+
				"and the loopback read.\n",
				plusDur(slow), plusDur(d), fmtS(k.Extra, msf), fmtS(np.Extra, msf), msf(saved), durf(d), hidden)
		}
		w("\n")
	}
}

func calls(b *strings.Builder, res *Results) {
	c := res.Calls
	if c == nil {
		return
	}
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## 5. Calls to AWS\n\n")
	if len(c.Rows) > 0 {
		rate := float64(c.N) / c.T.Seconds()
		w("%d invokes over %s (%.0f per second) in each run, each variant in a fresh sandbox (its cold start included), the sandboxes taking "+
			"turns; calls counted at the proxy in front of moto. Cost at $0.05 per 10,000 calls.\n\n", c.N, durf(c.T), rate)
		w("| variant | calls in the run | $ per million invokes, as measured | $ per million invokes, steady state at %.0f/s |\n|---|---|---|---|\n", rate)
		for _, r := range c.Rows {
			w("| %s | %s | %s | %s |\n", callsLabel(r), fmtS(r.Calls, fixed(0, "")), fmtS(r.PerMillion, dollars), steadyCost(r, rate))
		}
		w("\nThe measured column counts a short window, so the cold fetch weighs heavily in it. Steady state: the SDK variant calls on every "+
			"invoke ($5.00 per million, whatever the rate); kinko calls once per refresh, at %.0f%% of the TTL (`KINKO_REFRESH_AHEAD`), i.e. "+
			"1,000,000 ÷ (rate × 0.8 × TTL) calls per million invokes per sandbox, plus one per cold start; the global cache calls once per "+
			"sandbox and never again (it never sees a rotation).\n\n", 80.0)
	}
	if c.Concurrent > 0 {
		answered := "every one answered 200"
		if !c.ConcAllAnswered {
			answered = "NOT every one answered 200"
		}
		w("**%d concurrent cold requests** for one secret (kinko started without a prefetch, Secrets Manager %s, a fresh process per run): "+
			"**%s** upstream call(s); %s. kinko collapses concurrent misses into one call (singleflight); %d functions calling the SDK "+
			"at once would make %d.\n\n", c.Concurrent, plusDur(c.ConcDelay), fmtS(c.ConcCalls, fixed(0, "")), answered, c.Concurrent, c.Concurrent)
	}
}

func footprint(b *strings.Builder, res *Results) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## 6. Footprint\n\n")
	if l := res.Loopback; l != nil && l.RSSIdle.N > 0 {
		w("| | |\n|---|---|\n")
		w("| kinko resident memory, idle (VmRSS after start and prefetch) | %s |\n", fmtS(l.RSSIdle, mib))
		w("| kinko peak resident memory after the wrk runs (VmHWM) | %s |\n", fmtS(l.HWMLoaded, mib))
		w("| kinko, exec to its first `/event/next` (its part of Lambda's init) | %s |\n\n", fmtS(l.StartToNext, msf))
	}
	if len(res.Sizes) > 0 {
		w("Built as the Makefile builds the layer and the function (`CGO_ENABLED=0 -trimpath -ldflags \"-s -w -buildid=\"`), zipped with `layer/mkzip`:\n\n")
		w("| binary | arch | stripped | zip |\n|---|---|---|---|\n")
		for _, s := range res.Sizes {
			w("| %s | %s | %s | %s |\n", s.What, s.Arch, mb(s.BinBytes), mb(s.ZipBytes))
		}
		w("\n")
	}
	if len(res.Starts) > 0 {
		w("Exec to exit of each binary for this machine with no Lambda API to talk to (hyperfine `-N`, %d runs after 3 warm-ups): the Go "+
			"runtime's start and package init, and for the SDK variants `config.LoadDefaultConfig` too. Median (min–max) over the runs:\n\n", res.Params.HyperfineRuns)
		w("| binary | exec to exit |\n|---|---|\n")
		for _, s := range res.Starts {
			w("| %s | %s |\n", s.What, fmtS(s.Time, msf))
		}
		w("\n")
	}
}

func method(b *strings.Builder, res *Results) {
	p := res.Params
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## How it was measured\n\n")
	w("- Function variants (`e2e/bench/functions/`, Go, `provided.al2023` style, aws-lambda-go): `empty` answers at once; `viakinko` reads " +
		"the key through kinko with `function/kinko` on every invoke; `sdk` builds a Secrets Manager client with `config.LoadDefaultConfig` " +
		"at init and calls GetSecretValue on every invoke; `globalcache` does the same once and keeps the value in memory; `viakinkocache` " +
		"reads like `viakinko` with the client's cache on (`viakinko` switches it off).\n")
	w("- The emulator is AWS's Runtime Interface Emulator, run by `e2e/emulator` in private mount and PID namespaces with the layer at `/opt` " +
		"(`e2e/stack`, one moto shared by all sandboxes, each sandbox with its own secret and its own delay proxy, `internal/faultproxy`). " +
		"Invokes are sent one at a time by the emulator client, timed from the request to the whole answer.\n")
	w("- Upstream latency: %s (warm), %s (cold), added by the proxy before each call reaches moto. A GetSecretValue against local moto "+
		"takes a few ms on its own.\n", joinDur(p.WarmDelays), joinDur(p.ColdDelays))
	w("- kinko runs with its defaults (TTL 300 s, refresh ahead at 0.8, log level INFO) and `KINKO_PREFETCH` set to the secret unless a row says otherwise.\n")
	w("- Loops are bounded in count and time and target loopback only; the harness polls with deadlines, never sleeps for readiness, and " +
		"stops every process and namespace it started.\n")
	w("- Rounds: %d. Go benchmarks `-count %d -benchtime %s`; wrk %s per run at %s connections; %d warm invokes per variant per round; "+
		"%d invokes over %s for the call counts.\n", p.Rounds, p.GoBenchCount, p.GoBenchTime, durf(p.WrkDur), joinInts(p.WrkConns), p.WarmPerRound, p.CallsN, durf(p.CallsT))
}

// kinkoStartCost is how much longer init is with kinko than without, for the fast runtime:
// the median over upstream latencies of (INIT REPORT with kinko − INIT REPORT of the empty function).
func kinkoStartCost(res *Results) (float64, bool) {
	if res.Cold == nil {
		return 0, false
	}
	fast := slices.Min(res.Params.ColdInits)
	empty := coldRow(res.Cold, varEmpty().Name, 0, fast).InitRep
	var diffs []float64
	for _, d := range res.Params.ColdDelays {
		if k := coldRow(res.Cold, varKinko().Name, d, fast).InitRep; k.N > 0 && empty.N > 0 {
			diffs = append(diffs, k.Median-empty.Median)
		}
	}
	if len(diffs) == 0 {
		return 0, false
	}
	return Summarize(diffs).Median, true
}

// Lookups and formatting.

func warmRow(wr *WarmResult, variant string, d time.Duration) WarmRow {
	for _, r := range wr.Rows {
		if r.Variant == variant && r.Delay == d {
			return r
		}
	}
	return WarmRow{}
}

func warmCmp(wr *WarmResult, d time.Duration, what string) Summary {
	for _, c := range wr.Compare {
		if c.Delay == d && c.What == what {
			return c.Value
		}
	}
	return Summary{}
}

func coldRow(c *ColdResult, variant string, d, init time.Duration) ColdRow {
	for _, r := range c.Rows {
		if r.Variant == variant && r.Delay == d && r.Init == init {
			return r
		}
	}
	return ColdRow{}
}

func sizeRow(rows []SizeRow, what, arch string) *SizeRow {
	for i := range rows {
		if rows[i].What == what && rows[i].Arch == arch {
			return &rows[i]
		}
	}
	return nil
}

func callsLabel(r CallsRow) string {
	if r.TTL > 0 {
		return fmt.Sprintf("%s (TTL %d s)", r.Variant, r.TTL)
	}
	return r.Variant
}

// steadyCost is the cost per million invokes of one long-lived sandbox at rate invokes/s.
func steadyCost(r CallsRow, rate float64) string {
	switch {
	case r.TTL > 0:
		perMillion := 1e6 / (rate * 0.8 * float64(r.TTL))
		return fmt.Sprintf("%s (%s calls)", dollars(perMillion*PricePerCall), thousands(perMillion))
	case r.Variant == varSDK().Name:
		return dollars(1e6*PricePerCall) + " (1,000,000 calls)"
	default:
		return "≈ $0 (one call per sandbox)"
	}
}

func fmtS(s Summary, f func(float64) string) string { return s.Format(f) }

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

func joinDur(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, plusDur(d))
	}
	return strings.Join(s, ", ")
}

func joinInts(ns []int) string {
	var s []string
	for _, n := range ns {
		s = append(s, fmt.Sprint(n))
	}
	return strings.Join(s, ", ")
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

func wrapCode(cmds []string) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = "`" + c + "`"
	}
	return out
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
