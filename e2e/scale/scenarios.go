package scale

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kinko-dev/kinko/e2e/bench"
)

// Scenario is one scenario's measurements and what they mean.
type Scenario struct {
	Key     string // file names: figures/KEY-calls.png, figures/KEY-wait.png
	Title   string
	What    string  // what was done, in a paragraph
	Quota   float64 // calls/s the stand-in allowed (0: none), the plots' quota line
	End     time.Duration
	Marks   []Mark // phase boundaries
	Calls   []Call
	Reads   []Read
	Invokes int
	Table   []Row
	Checks  []Check
	Notes   []string
	// Compare is a second fleet drawn on the same plots (the cost scenario's SDK fleet).
	Compare *Series
	Plots   []string // paths of the PNGs, once written
	Leaked  []int    // sandboxes whose log held a secret value (kinko must never log one)
}

// Series is a fleet's calls and reads, for a plot.
type Series struct {
	Label   string
	Calls   []Call
	Reads   []Read
	Invokes int
}

// Mark is a moment a scenario changes phase.
type Mark struct {
	At    time.Duration
	Label string
}

// Row is one line of a scenario's table.
type Row struct{ Figure, Value string }

// Check is a line of the "Must show" against the figure that decides it.
type Check struct {
	Line   string
	Holds  bool
	Figure string
}

// Runner runs the scenarios with one kinko binary.
type Runner struct {
	P     Params
	Kinko string    // the layer's binary for this machine
	Log   io.Writer // progress
}

func (r *Runner) logf(format string, a ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, format+"\n", a...)
	}
}

// drive is what every scenario does: start a stand-in and a fleet, invoke, collect.
type drive struct {
	quota    float64       // 0: no quota
	prefetch bool          // KINKO_PREFETCH = every secret
	window   time.Duration // the fleet's starts spread over this
	lockstep bool          // start the whole fleet first, then invoke every sandbox at one instant
	end      time.Duration // the run ends this long after its epoch
	// schedule runs in its own goroutine from the epoch (brownout phases); it must return
	// when ctx ends.
	schedule func(ctx context.Context, si *StandIn, epoch time.Time)
	// done ends the run early (checked between invokes), given the reads so far.
	done func(Read) bool
}

// Run is what one scenario's run recorded: the raw material of its figures, kept (as JSON)
// so a report can be rendered again from it without running again.
type Run struct {
	Ready   []time.Duration // each sandbox's first /event/next, since the epoch (none for the SDK fleet)
	Calls   []Call
	Reads   []Read
	Invokes int
	Leaked  []int // sandboxes whose log holds a secret value: must be none
}

func (r *Runner) run(ctx context.Context, d drive) (*Run, error) {
	p := r.P
	si, err := StartStandIn(StandInOptions{Secrets: p.SecretNames(), Latency: p.Latency})
	if err != nil {
		return nil, err
	}
	defer si.Close()
	if d.quota > 0 {
		si.SetQuota(d.quota, p.burst(d.quota))
	}
	var prefetch []string
	if d.prefetch {
		prefetch = p.SecretNames()
	}
	epoch := time.Now()
	si.Reset(epoch)
	fleet := LaunchFleet(ctx, p.Sandboxes, d.window, func(int) SandboxOptions {
		return SandboxOptions{Bin: r.Kinko, Upstream: si.URL, TTL: p.TTL, Prefetch: prefetch}
	})
	defer fleet.Stop()
	begin := func(ctx context.Context, i int) (time.Time, bool) {
		select {
		case <-fleet.Ready(i):
		case <-ctx.Done():
			return time.Time{}, false
		}
		if s := fleet.Sandboxes[i]; s != nil {
			return s.Ready, true
		}
		return time.Time{}, false
	}
	if d.lockstep {
		if err := fleet.Wait(); err != nil {
			return nil, err
		}
		// Every sandbox idle and ready: their first invokes all start at one instant.
		epoch = time.Now().Add(50 * time.Millisecond)
		si.Reset(epoch)
		begin = func(context.Context, int) (time.Time, bool) { return epoch, true }
	}
	read, closeIdle := KinkoReader(fleet, p.SecretNames(), p.Budget)
	defer closeIdle()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	if d.schedule != nil {
		wg.Go(func() { d.schedule(runCtx, si, epoch) })
	}
	var stop func() bool
	if d.done != nil {
		var mu sync.Mutex
		finished := false
		inner := read
		read = func(ctx context.Context, i, k int) Read {
			rd := inner(ctx, i, k)
			rd.Sandbox, rd.Secret = i, k
			mu.Lock()
			finished = finished || d.done(rd)
			mu.Unlock()
			return rd
		}
		stop = func() bool { mu.Lock(); defer mu.Unlock(); return finished }
	}
	w := &Workload{Sandboxes: p.Sandboxes, Secrets: p.Secrets, Pace: p.Pace, Epoch: epoch, Begin: begin,
		Until: epoch.Add(d.end), Stop: stop, Seed: p.Seed, Read: read}
	reads, invokes := w.Run(runCtx)
	cancel()
	if err := fleet.Wait(); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	calls := si.Calls()
	// SHUTDOWN, as Lambda ends sandboxes; then their logs are complete.
	stopErr := fleet.Stop()
	ready := make([]time.Duration, len(fleet.Sandboxes))
	var leaked []int
	for i, sb := range fleet.Sandboxes {
		ready[i] = sb.Ready.Sub(epoch)
		if strings.Contains(sb.Log(), valuePrefix) {
			leaked = append(leaked, i)
		}
	}
	if stopErr != nil {
		return nil, fmt.Errorf("stopping the fleet: %w", stopErr)
	}
	return &Run{Ready: ready, Calls: calls, Reads: reads, Invokes: invokes, Leaked: leaked}, nil
}

// Steady: the fleet starts spread over one TTL (sandboxes come and go at random), then reads at
// its pace for three TTLs; calls against the ideal of one per secret per sandbox per TTL.
func (r *Runner) recordSteady(ctx context.Context) (*Run, error) {
	p := r.P
	r.logf("==> 1. steady state: %d sandboxes x %d secrets, TTL %s, for 4 TTLs", p.Sandboxes, p.Secrets, p.TTL)
	return r.run(ctx, drive{quota: p.Quota, prefetch: true, window: p.TTL, end: 4 * p.TTL})
}

func analyzeSteady(p Params, d *Run) *Scenario {
	win := span{p.TTL, 4 * p.TTL}
	got, ideal := rate(d.Calls, win), p.ideal()
	inWin := readsIn(d.Reads, win)
	a := countAnswers(inWin)
	s := &Scenario{Key: "steady", Title: "1. Steady state", Quota: p.Quota, End: 4 * p.TTL,
		Marks: []Mark{{win.From, "measured from here"}}, Calls: d.Calls, Reads: d.Reads, Invokes: d.Invokes, Leaked: d.Leaked}
	s.What = fmt.Sprintf("%d sandboxes start spread over one TTL (%s), each prefetching its %d secrets, and are invoked at %g a second each "+
		"(Poisson arrivals; every invoke reads every secret). Measured over the three TTLs after the last start (%s to %s).",
		p.Sandboxes, p.TTL, p.Secrets, p.Pace, win.From, win.To)
	ratio := got / ideal
	s.Table = []Row{
		{"calls to Secrets Manager", fmt.Sprintf("%.1f /s (%d in %s)", got, countCalls(d.Calls, win), win.To-win.From)},
		{"ideal: sandboxes × secrets ÷ TTL", fmt.Sprintf("%.1f /s", ideal)},
		{"calls ÷ ideal (upstream calls per key per TTL)", fmt.Sprintf("%.3f", ratio)},
		{"throttled calls", fmt.Sprintf("%d", countCalls(d.Calls, win, Throttled))},
		{"reads by functions", fmt.Sprintf("%d (%.0f /s); %d fresh, %d stale, %d failed", a.Total, float64(a.Total)/win.seconds(), a.Fresh, a.Stale, a.Failed)},
		{"calls per read", fmt.Sprintf("%.4f", float64(countCalls(d.Calls, win))/float64(max(a.Total, 1)))},
		{"read wait p50 / p99 / max", waitTriple(inWin)},
	}
	s.Checks = []Check{{Line: "steady-state calls within 1.2 × the ideal", Holds: ratio <= 1.2, Figure: fmt.Sprintf("%.3f × the ideal (%.1f /s against %.1f /s)", ratio, got, ideal)}}
	return s
}

// Lockstep: every sandbox is up and idle, then all are first invoked at one instant (a deploy
// whose sandboxes all take traffic at once); calls/s for three TTLs after.
func (r *Runner) recordLockstep(ctx context.Context) (*Run, error) {
	p := r.P
	r.logf("==> 2. lockstep start: %d sandboxes first invoked at one instant, then 3.5 TTLs", p.Sandboxes)
	return r.run(ctx, drive{quota: p.Quota, lockstep: true, end: lockstepEnd(p)})
}

func lockstepEnd(p Params) time.Duration { return p.TTL*7/2 + p.TTL/10 }

func analyzeLockstep(p Params, d *Run) *Scenario {
	end := lockstepEnd(p)
	s := &Scenario{Key: "lockstep", Title: "2. Lockstep start", Quota: p.Quota, End: end, Calls: d.Calls, Reads: d.Reads, Invokes: d.Invokes, Leaked: d.Leaked}
	s.What = fmt.Sprintf("%d sandboxes start without a prefetch and wait, idle; then every one is invoked at the same instant (t = 0) and at %g a second after. "+
		"No sandbox's cache is older than another's by more than the machine's scheduling, so without TTL jitter every key would expire, and refresh, in the same bins.",
		p.Sandboxes, p.Pace)
	bins := perSecond(d.Calls, p.Bin, end)
	first := firstCalls(d.Calls)
	spread := "n/a"
	if len(first) > 0 {
		spread = fmt.Sprintf("%s (first to last sandbox's first call)", (first[len(first)-1] - first[0]).Round(time.Millisecond))
	}
	startPeak, _ := peakToMean(bins, 0, int(p.TTL/2/p.Bin))
	lo, hi := int(p.TTL/2/p.Bin), int((p.TTL/2+3*p.TTL)/p.Bin)
	peak, mean := peakToMean(bins, lo, hi)
	s.Marks = []Mark{{p.TTL / 2, "three TTLs from here"}, {p.TTL/2 + 3*p.TTL, ""}}
	s.Table = []Row{
		{"first calls' spread", spread},
		{"start: peak calls/s (first half TTL)", fmt.Sprintf("%.0f /s; %d throttled", startPeak, countCalls(d.Calls, span{0, p.TTL / 2}, Throttled))},
		{fmt.Sprintf("the three TTLs after: peak ÷ mean of calls/s (bins of %s)", p.Bin), fmt.Sprintf("%.2f (peak %.0f /s, mean %.1f /s)", safeDiv(peak, mean), peak, mean)},
	}
	for t := range 3 {
		pk, mn := peakToMean(bins, lo+t*int(p.TTL/p.Bin), lo+(t+1)*int(p.TTL/p.Bin))
		s.Table = append(s.Table, Row{fmt.Sprintf("TTL %d after the start: peak ÷ mean", t+1), fmt.Sprintf("%.2f (peak %.0f /s, mean %.1f /s)", safeDiv(pk, mn), pk, mn)})
	}
	noJitter := p.TTL.Seconds() / p.Bin.Seconds()
	s.Table = append(s.Table,
		Row{"for comparison: every key refreshing in the same bin once per TTL", fmt.Sprintf("peak ÷ mean = TTL ÷ bin = %.0f", noJitter)},
		Row{"reads by functions, first reads answered", fmt.Sprintf("%d, %s", len(d.Reads), firstReadsAnswered(d.Reads, p))},
		Row{"read wait p50 / p99 / max", waitTriple(d.Reads)},
	)
	return s
}

// Storm: the fleet starts within one second, every sandbox prefetching every secret, while
// the quota is half of what they ask in that second. Each function's first invoke comes right
// after its sandbox's init.
func (r *Runner) recordStorm(ctx context.Context) (*Run, error) {
	p := r.P
	r.logf("==> 3. cold storm: %d sandboxes start within %s, %d prefetches, quota %.0f /s", p.Sandboxes, p.StartWindow, p.Sandboxes*p.Secrets, p.StormQuota)
	ids := p.Sandboxes * p.Secrets
	firstDone := 0
	return r.run(ctx, drive{quota: p.StormQuota, prefetch: true, window: p.StartWindow, end: stormEnd(p),
		// Over once every first read has its answer (each is bounded by the budget).
		done: func(rd Read) bool {
			if rd.First {
				firstDone++
			}
			return firstDone == ids
		}})
}

func stormEnd(p Params) time.Duration { return p.StartWindow + p.Budget + time.Second }

func analyzeStorm(p Params, d *Run) *Scenario {
	end := stormEnd(p)
	ids := p.Sandboxes * p.Secrets
	s := &Scenario{Key: "storm", Title: "3. Cold storm above quota", Quota: p.StormQuota, Calls: d.Calls, Reads: d.Reads, Invokes: d.Invokes, Leaked: d.Leaked}
	s.What = fmt.Sprintf("%d sandboxes start within %s, each prefetching its %d secrets: %d GetSecretValue asked in about a second, "+
		"against a quota of %.0f calls/s (token bucket of %.0f). Each function is invoked as soon as its sandbox's init ends and waits at most %s for a read.",
		p.Sandboxes, p.StartWindow, p.Secrets, ids, p.StormQuota, p.burst(p.StormQuota), p.Budget)
	var firsts []Read
	over := time.Duration(0)
	for _, rd := range d.Reads {
		if rd.First {
			firsts = append(firsts, rd)
			over = max(over, rd.At+rd.Wait)
		}
	}
	ok := 0
	for _, rd := range firsts {
		if rd.Status == http.StatusOK {
			ok++
		}
	}
	storm := span{0, over}
	total := countCalls(d.Calls, storm)
	least := firstCallsOverQuota(d.Calls, p.StormQuota, p.burst(p.StormQuota))
	s.End = min(end, max(over, lastRead(d.Reads))+p.Bin)
	s.Marks = []Mark{{over, "last first read answered"}}
	s.Table = []Row{
		{"sandboxes ready (first /event/next), first / median / last", readyText(d.Ready)},
		{"first reads answered", fmt.Sprintf("%d of %d", ok, ids)},
		{"first-read wait p50 / p99 / max", waitTriple(firsts)},
		{"storm over (last first read answered)", over.Round(time.Millisecond).String()},
		{"calls until then", fmt.Sprintf("%d (%.2f × sandboxes × secrets): %d answered, %d throttled", total, float64(total)/float64(ids), countCalls(d.Calls, storm, OK), countCalls(d.Calls, storm, Throttled))},
		{"the least any retry policy could make: the first calls the quota turned away (replayed alone through the same bucket), each retried once", fmt.Sprintf("%d (%.2f ×): %d first calls over the quota", ids+least, float64(ids+least)/float64(ids), least)},
		{"peak calls/s arriving / quota", fmt.Sprintf("%.0f /s / %.0f /s", maxOf(perSecond(d.Calls, p.Bin, end)), p.StormQuota)},
	}
	s.Table = append(s.Table, Row{"a throttled key's next call (median gap; kinko's backoff as AWS sees it)", retryGaps(d.Calls, storm, Throttled)})
	if failed := ids - ok; failed > 0 {
		s.Table = append(s.Table, Row{"failed first reads, by status", statusCounts(firsts)})
	}
	s.Notes = append(s.Notes, "How bunched the sandboxes came up (the first row) moves the calls: a clump asks more of the quota at once, and a first call "+
		"the quota turns away costs a retry whatever kinko does (the least-calls row). What kinko decides is when the retries come: a throttled key waits "+
		"at least half its envelope (0.5 to 1 s after a first throttle, equal jitter), and a sandbox's keys failing together draw their waits over their "+
		"number times the envelope (three keys: 1.5 to 3 s), so the retries land after the burst, spread below the quota: the gaps in the table.")
	s.Checks = []Check{
		{Line: "every first read answered in the cold storm", Holds: ok == ids && len(firsts) == ids, Figure: fmt.Sprintf("%d of %d answered", ok, ids)},
		{Line: "total calls under 1.5 × sandboxes × secrets", Holds: float64(total) < 1.5*float64(ids), Figure: fmt.Sprintf("%d calls, %.2f × %d", total, float64(total)/float64(ids), ids)},
	}
	return s
}

// Brownout: a warm fleet reads at its pace; Secrets Manager hangs, then answers 503, then
// recovers with a new version; callers' answers and waits, the calls reaching AWS, and the
// time until every sandbox serves the new version.
func (r *Runner) recordBrownout(ctx context.Context) (*Run, error) {
	p := r.P
	hangAt, failAt, recoverAt, end := brownoutTimes(p)
	r.logf("==> 4. brownout: hang %s, 503 %s, then up to %s for fresh values", p.Hang, p.Unavailable, p.RecoverMax)
	pairs := p.Sandboxes * p.Secrets
	fresh := map[[2]int]bool{}
	return r.run(ctx, drive{quota: p.Quota, prefetch: true, window: p.TTL, end: end,
		schedule: func(ctx context.Context, si *StandIn, epoch time.Time) {
			for _, step := range []struct {
				at time.Duration
				do func()
			}{
				{hangAt, func() { si.SetMode(Hang) }},
				{failAt, func() { si.SetMode(Unavailable) }},
				{recoverAt, func() { si.Rotate(); si.SetMode(Healthy) }},
			} {
				if !sleepUntil(ctx, epoch.Add(step.at)) {
					return
				}
				step.do()
			}
		},
		done: func(rd Read) bool {
			if rd.Version >= 2 {
				fresh[[2]int{rd.Sandbox, rd.Secret}] = true
			}
			return len(fresh) == pairs
		},
	})
}

// brownoutTimes are when the brownout's phases begin, and the latest end of the run.
func brownoutTimes(p Params) (hangAt, failAt, recoverAt, end time.Duration) {
	hangAt = p.TTL * 3 / 2 // warm: after the last start's first refresh
	failAt, recoverAt = hangAt+p.Hang, hangAt+p.Hang+p.Unavailable
	return hangAt, failAt, recoverAt, recoverAt + p.RecoverMax
}

func analyzeBrownout(p Params, d *Run) *Scenario {
	hangAt, failAt, recoverAt, end := brownoutTimes(p)
	pairs := p.Sandboxes * p.Secrets
	s := &Scenario{Key: "brownout", Title: "4. Brownout: hang, then 503, then recovery", Quota: p.Quota, Calls: d.Calls, Reads: d.Reads, Invokes: d.Invokes, Leaked: d.Leaked,
		Marks: []Mark{{hangAt, "hang"}, {failAt, "503"}, {recoverAt, "recovered, new version"}}}
	last := time.Duration(0)
	for _, rd := range d.Reads {
		last = max(last, rd.At+rd.Wait)
	}
	s.End = min(end, last+p.Bin)
	s.What = fmt.Sprintf("%d sandboxes warm (prefetch, spread over one TTL), read at %g invokes a second each. At %s Secrets Manager hangs (calls are held until the phase ends), "+
		"at %s it answers 503 ServiceUnavailable, at %s it recovers with a new version of every secret. The run ends when every sandbox has served the new version of every secret, or %s after the recovery.",
		p.Sandboxes, p.Pace, hangAt, failAt, recoverAt, p.RecoverMax)
	phases := []struct {
		name string
		s    span
	}{
		{"healthy (after the last start)", span{p.TTL, hangAt}},
		{"hang", span{hangAt, failAt}},
		{"503", span{failAt, recoverAt}},
		{"recovered", span{recoverAt, s.End}},
	}
	s.Table = []Row{{"phase", "callers' reads/s · AWS calls/s · calls per read · answers (fresh / stale / failed) · wait p50 / p99 / max"}}
	var healthyRate float64
	var brown []Read
	for i, ph := range phases {
		rs := readsIn(d.Reads, ph.s)
		a := countAnswers(rs)
		reqRate, callRate := float64(len(rs))/ph.s.seconds(), rate(d.Calls, ph.s)
		if i == 0 {
			healthyRate = callRate
		}
		if i == 1 || i == 2 {
			brown = append(brown, rs...)
		}
		s.Table = append(s.Table, Row{ph.name + fmt.Sprintf(" (%s)", (ph.s.To-ph.s.From).Round(100*time.Millisecond)),
			fmt.Sprintf("%.0f · %.1f · %.4f · %d / %d / %d · %s", reqRate, callRate, safeDiv(callRate, reqRate), a.Fresh, a.Stale, a.Failed, waitTriple(rs))})
	}
	brownSpan := span{hangAt, recoverAt}
	brownCalls, brownReqs := rate(d.Calls, brownSpan), float64(len(brown))/brownSpan.seconds()
	// Time to fresh: per sandbox and secret, from the recovery to the end of its first read
	// that answered the new version.
	var ttf []float64
	firstFresh := map[[2]int]time.Duration{}
	for _, rd := range d.Reads {
		if rd.Version >= 2 {
			k := [2]int{rd.Sandbox, rd.Secret}
			t := rd.At + rd.Wait - recoverAt
			if old, ok := firstFresh[k]; !ok || t < old {
				firstFresh[k] = t
			}
		}
	}
	for _, t := range firstFresh {
		ttf = append(ttf, t.Seconds()*1000)
	}
	sum := summarize(ttf)
	perKey, gap := keyGaps(d.Calls, span{failAt, recoverAt})
	s.Table = append(s.Table,
		Row{"per key during the 503 phase: calls, and the median / longest gap between a key's calls (its backoff)", fmt.Sprintf("%.2f calls; %s / %s", perKey, msText(gap.p50), msText(gap.max))},
		Row{"a failing key's next call during the brownout (median gap)", retryGaps(d.Calls, span{hangAt, recoverAt}, Hung, Failed503)},
		Row{"brownout (hang + 503): AWS calls/s ÷ callers' reads/s", fmt.Sprintf("%.1f ÷ %.0f = %.4f", brownCalls, brownReqs, safeDiv(brownCalls, brownReqs))},
		Row{"brownout AWS calls/s ÷ healthy calls/s", fmt.Sprintf("%.1f ÷ %.1f = %.2f", brownCalls, healthyRate, safeDiv(brownCalls, healthyRate))},
		Row{"time to fresh values after recovery, p50 / p99 / max (sandbox × secret)", fmt.Sprintf("%s / %s / %s; %d of %d got the new version", msText(sum.p50), msText(sum.p99), msText(sum.max), len(firstFresh), pairs)},
	)
	s.Notes = append(s.Notes, "Kinko caps a key's backoff envelope by how long its failures have lasted (at least its 1 s base, at most 30 s), "+
		"and a sandbox's keys failing together share it: each draws its wait over their number times its envelope (at most 10 s, or the envelope if longer), "+
		"at least half of that (equal jitter), so the sandbox calls at about the pace of one failing key, not of three: the gaps in the table. "+
		"While AWS hangs, each attempt also holds for kinko's 2 s attempt timeout. The same bounds say how long a key stays stale once AWS is back "+
		"(time to fresh values): at most the longer of the outage so far and 10 s.")
	a := countAnswers(brown)
	s.Checks = []Check{{
		Line:   "calls/s during the brownout a small fraction of the callers' request rate (not proportional to requests): at most 10%",
		Holds:  brownCalls <= 0.1*brownReqs,
		Figure: fmt.Sprintf("%.1f calls/s against %.0f reads/s (%.1f%%; %.2f × the healthy rate); callers got %d fresh, %d stale, %d failed, wait p99 %s", brownCalls, brownReqs, 100*safeDiv(brownCalls, brownReqs), safeDiv(brownCalls, healthyRate), a.Fresh, a.Stale, a.Failed, msText(percentileMs(brown, 99))),
	}}
	return s
}

// Cost: calls and dollars per million invokes, kinko (from the steady state) against the same
// fleet calling the SDK on every invoke (run here, without a quota, so every invoke completes).
func (r *Runner) recordCost(ctx context.Context) (*Run, error) {
	p := r.P
	r.logf("==> 5. cost: the same fleet calling the SDK on every invoke, for %s", p.CostRun)
	si, err := StartStandIn(StandInOptions{Secrets: p.SecretNames(), Latency: p.Latency})
	if err != nil {
		return nil, err
	}
	defer si.Close()
	epoch := time.Now()
	si.Reset(epoch)
	read, closeIdle := SDKReader(p.Sandboxes, si.URL, p.SecretNames(), p.Budget)
	defer closeIdle()
	w := &Workload{Sandboxes: p.Sandboxes, Secrets: p.Secrets, Pace: p.Pace, Epoch: epoch, Until: epoch.Add(p.CostRun), Seed: p.Seed, Read: read,
		Begin: func(context.Context, int) (time.Time, bool) { return epoch, true }}
	reads, invokes := w.Run(ctx)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return &Run{Calls: si.Calls(), Reads: reads, Invokes: invokes}, nil
}

func analyzeCost(p Params, steady *Scenario, sdk *Run) *Scenario {
	calls, reads, invokes := sdk.Calls, sdk.Reads, sdk.Invokes
	const dollarsPerCall = 0.05 / 10000
	win := span{p.TTL, 4 * p.TTL}
	kCalls := countCalls(steady.Calls, win)
	kInvokes := invokesIn(steady.Reads, win, p.Secrets)
	kPer := float64(kCalls) / float64(max(kInvokes, 1))
	sdkPer := float64(len(calls)) / float64(max(invokes, 1))
	s := &Scenario{Key: "cost", Title: "5. Cost", Quota: p.Quota, End: 4 * p.TTL, Calls: steady.Calls, Reads: steady.Reads, Invokes: steady.Invokes,
		Compare: &Series{Label: "SDK every invoke", Calls: calls, Reads: reads, Invokes: invokes},
		Marks:   []Mark{{win.From, "kinko measured from here"}}}
	s.What = fmt.Sprintf("kinko's figures are the steady state's (scenario 1, its three measured TTLs). The SDK fleet is the same %d sandboxes at the same pace, "+
		"each calling GetSecretValue for each of its %d secrets on every invoke (one client per sandbox), for %s, with no quota so that every invoke completes; "+
		"the plot's quota line is the %.0f calls/s the other scenarios enforce. Price: $0.05 per 10,000 calls.", p.Sandboxes, p.Secrets, p.CostRun, p.Quota)
	a := countAnswers(reads)
	s.Table = []Row{
		{"kinko: calls per invoke (TTL " + p.TTL.String() + ")", fmt.Sprintf("%.4f (%d calls, %d invokes)", kPer, kCalls, kInvokes)},
		{"kinko: calls and dollars per million invokes", fmt.Sprintf("%.0f calls, $%.2f", kPer*1e6, kPer*1e6*dollarsPerCall)},
		{"SDK every invoke: calls per invoke", fmt.Sprintf("%.3f (%d calls, %d invokes; %d reads failed)", sdkPer, len(calls), invokes, a.Failed)},
		{"SDK every invoke: calls and dollars per million invokes", fmt.Sprintf("%.0f calls, $%.2f", sdkPer*1e6, sdkPer*1e6*dollarsPerCall)},
		{"SDK ÷ kinko, calls", fmt.Sprintf("%.0f×", safeDiv(sdkPer, kPer))},
		{"SDK fleet's calls/s ÷ the quota", fmt.Sprintf("%.0f /s ÷ %.0f /s = %.2f", float64(len(calls))/p.CostRun.Seconds(), p.Quota, float64(len(calls))/p.CostRun.Seconds()/p.Quota)},
		{"read wait p50 / p99 / max: kinko (steady) · SDK", waitTriple(readsIn(steady.Reads, win)) + " · " + waitTriple(reads)},
	}
	// At the default TTL the calls per key per TTL stay what they are; the invokes per TTL grow.
	perKeyTTL := float64(kCalls) / float64(p.Sandboxes*p.Secrets) / (win.seconds() / p.TTL.Seconds())
	atDefault := perKeyTTL * float64(p.Secrets) / (p.Pace * 300)
	s.Table = append(s.Table, Row{fmt.Sprintf("kinko at the default TTL 300 s, same pace (%g invokes/s per sandbox): calls per million invokes", p.Pace),
		fmt.Sprintf("%.0f ($%.4f), from %.3f calls per key per TTL", atDefault*1e6, atDefault*1e6*dollarsPerCall, perKeyTTL)})
	return s
}

// firstCallsOverQuota replays every key's first call (a sandbox's secret), alone, through a
// token bucket of the given rate and burst, full at the epoch, and counts those it turns away.
// Each of those needs at least one more call whatever the retry policy, and a retry that comes
// while first calls still exceed the quota only takes a token one of them needed: so sandboxes
// x secrets plus this count is the least any policy could have made.
func firstCallsOverQuota(calls []Call, quota, burst float64) int {
	first := map[[2]any]time.Duration{}
	for _, c := range calls {
		k := [2]any{c.Sandbox, c.Secret}
		if t, ok := first[k]; !ok || c.At < t {
			first[k] = c.At
		}
	}
	firsts := slices.Sorted(maps.Values(first))
	epoch := time.Unix(0, 0)
	b := NewBucket(quota, burst, epoch)
	over := 0
	for _, at := range firsts {
		if !b.Take(epoch.Add(at)) {
			over++
		}
	}
	return over
}

// invokesIn counts the invokes whose reads started in s: one in every `secrets` reads.
func invokesIn(reads []Read, s span, secrets int) int {
	n := 0
	for _, rd := range reads {
		if rd.Secret == 0 && s.has(rd.At) {
			n++
		}
	}
	return n
}

// Keys are the scenarios, in the order they run and are reported.
var Keys = []string{"steady", "lockstep", "storm", "brownout", "cost"}

// Record runs the scenarios in order: all five when only is empty, else those it names (cost
// needs steady, which then runs too). A scenario that fails is reported in the error and the
// others still run. The runs are keyed by scenario.
func (r *Runner) Record(ctx context.Context, only ...string) (map[string]*Run, error) {
	for _, k := range only {
		if !slices.Contains(Keys, k) {
			return nil, fmt.Errorf("no scenario %q: want steady, lockstep, storm, brownout or cost", k)
		}
	}
	want := func(k string) bool {
		return len(only) == 0 || slices.Contains(only, k) || k == "steady" && slices.Contains(only, "cost")
	}
	record := map[string]func(context.Context) (*Run, error){
		"steady": r.recordSteady, "lockstep": r.recordLockstep, "storm": r.recordStorm, "brownout": r.recordBrownout, "cost": r.recordCost,
	}
	runs := map[string]*Run{}
	var errs []error
	for _, k := range Keys {
		if ctx.Err() != nil || !want(k) {
			continue
		}
		run, err := record[k](ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			continue
		}
		runs[k] = run
	}
	return runs, errors.Join(errs...)
}

// Analyze turns the recorded runs into the scenarios' figures, in order; cost needs steady.
func Analyze(p Params, runs map[string]*Run) []*Scenario {
	var out []*Scenario
	var steady *Scenario
	if d := runs["steady"]; d != nil {
		steady = analyzeSteady(p, d)
		out = append(out, steady)
	}
	if d := runs["lockstep"]; d != nil {
		out = append(out, analyzeLockstep(p, d))
	}
	if d := runs["storm"]; d != nil {
		out = append(out, analyzeStorm(p, d))
	}
	if d := runs["brownout"]; d != nil {
		out = append(out, analyzeBrownout(p, d))
	}
	if d := runs["cost"]; d != nil && steady != nil {
		out = append(out, analyzeCost(p, steady, d))
	}
	return out
}

// All records and analyzes.
func (r *Runner) All(ctx context.Context, only ...string) ([]*Scenario, error) {
	runs, err := r.Record(ctx, only...)
	return Analyze(r.P, runs), err
}

// retryGaps describes, for the n-th failed call of a key (one sandbox's secret) in s, the time
// to that key's next call: kinko's backoff as AWS sees it. Failures are the results given.
func retryGaps(calls []Call, s span, failures ...Result) string {
	type key struct {
		sandbox int
		secret  string
	}
	last := map[key]time.Duration{}
	fails := map[key]int{}
	byN := map[int][]float64{}
	for _, c := range calls {
		if !s.has(c.At) {
			continue
		}
		k := key{c.Sandbox, c.Secret}
		if n := fails[k]; n > 0 {
			byN[n] = append(byN[n], float64(c.At-last[k])/float64(time.Millisecond))
		}
		last[k] = c.At
		if slices.Contains(failures, c.Result) {
			fails[k]++
		} else {
			fails[k] = 0
		}
	}
	var parts []string
	for n := 1; n <= 6; n++ {
		if len(byN[n]) < 5 {
			break
		}
		t := summarize(byN[n])
		parts = append(parts, fmt.Sprintf("after failure %d: %s (max %s, %d keys)", n, msText(t.p50), msText(t.max), len(byN[n])))
	}
	if len(parts) == 0 {
		return "no key failed twice"
	}
	return strings.Join(parts, "; ")
}

// keyGaps is the mean number of calls per (sandbox, secret) in s and the gaps between one
// key's consecutive calls there, in ms.
func keyGaps(calls []Call, s span) (float64, tri) {
	last := map[[2]any]time.Duration{}
	n := map[[2]any]int{}
	var gaps []float64
	for _, c := range calls {
		if !s.has(c.At) {
			continue
		}
		k := [2]any{c.Sandbox, c.Secret}
		if t, ok := last[k]; ok {
			gaps = append(gaps, float64(c.At-t)/float64(time.Millisecond))
		}
		last[k] = c.At
		n[k]++
	}
	total := 0
	for _, v := range n {
		total += v
	}
	return safeDiv(float64(total), float64(max(len(n), 1))), summarize(gaps)
}

func readyText(ready []time.Duration) string {
	if len(ready) == 0 {
		return "n/a"
	}
	s := slices.Sorted(slices.Values(ready))
	return fmt.Sprintf("%s / %s / %s after the first start", s[0].Round(time.Millisecond), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

func firstCalls(calls []Call) []time.Duration {
	seen := map[int]bool{}
	var out []time.Duration
	for _, c := range calls {
		if !seen[c.Sandbox] {
			seen[c.Sandbox] = true
			out = append(out, c.At)
		}
	}
	return out
}

func firstReadsAnswered(reads []Read, p Params) string {
	n, ok := 0, 0
	for _, rd := range reads {
		if rd.First {
			n++
			if rd.Status == http.StatusOK {
				ok++
			}
		}
	}
	return fmt.Sprintf("%d of %d", ok, p.Sandboxes*p.Secrets)
}

func statusCounts(reads []Read) string {
	m := map[int]int{}
	for _, rd := range reads {
		if rd.Status != http.StatusOK {
			m[rd.Status]++
		}
	}
	out := ""
	for st, n := range m {
		name := fmt.Sprintf("%d", st)
		if st == 0 {
			name = "no answer within the budget"
		}
		out += fmt.Sprintf("%s: %d; ", name, n)
	}
	return out
}

type tri struct{ p50, p99, max float64 }

func summarize(ms []float64) tri {
	if len(ms) == 0 {
		return tri{-1, -1, -1}
	}
	s := slices.Sorted(slices.Values(ms))
	return tri{bench.Percentile(s, 50), bench.Percentile(s, 99), s[len(s)-1]}
}

func waitTriple(reads []Read) string {
	if len(reads) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%s / %s / %s", msText(percentileMs(reads, 50)), msText(percentileMs(reads, 99)), msText(percentileMs(reads, 100)))
}

// msText writes a duration given in ms readably.
func msText(ms float64) string {
	switch {
	case ms < 0:
		return "n/a"
	case ms < 1:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 10000:
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f s", ms/1000)
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
