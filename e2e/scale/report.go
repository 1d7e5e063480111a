package scale

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"
)

// Meta is what the report's header says about the run.
type Meta struct {
	Started   time.Time
	Took      time.Duration
	Commit    string
	Machine   string
	LoadStart string
	LoadEnd   string
	Commands  []string
	Notes     []string // about the code measured (e.g. which branch's rules it has)
	Failures  []string // scenarios that could not run
}

// Markdown renders SCALE.md. Plot paths are written relative to root, where SCALE.md lives.
func Markdown(p Params, m Meta, scenarios []*Scenario, root string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# kinko at fleet scale\n\n")
	w("What a fleet of sandboxes running kinko does to one account's Secrets Manager: its quota (GetSecretValue, 10,000 calls/s per account and region) " +
		"and its bill ($0.05 per 10,000 calls). Written by `make scale` (`e2e/cmd/scale`, package `e2e/scale`); " +
		"each run's record (`run.json`, from which `go run ./e2e/cmd/scale -from` renders this page again) and its calls and reads as CSV are under `build/scale/raw/`.\n\n")
	w("**How it runs.** %d sandboxes, each the layer's kinko binary as a real process with its own Extensions API stand-in, against one Secrets Manager stand-in "+
		"on loopback: a token bucket shared by the whole fleet (beyond it `ThrottlingException`, HTTP 400, as AWS answers; the SDK reads it as throttling), "+
		"%s added to every answer, and modes for a brownout. A driver invokes each sandbox as a function would: invokes arrive at %g a second per sandbox "+
		"(Poisson), one at a time, and each reads %d secrets in turn over loopback HTTP, waiting at most %s for each. "+
		"**Time is scaled**: the TTL is %s instead of 300 s (%.0f× faster), so a scenario spans a few TTLs in seconds; the quota is scaled with the fleet "+
		"(%.0f calls/s for %d sandbox-secrets; the bucket holds %g s of it). Kinko's own timings (its 250 ms max wait, its 2 s attempt timeout, its backoff from about 1 s to 30 s, shared by a sandbox's failing keys up to 10 s) are not scaled: "+
		"against a 300 s TTL they weigh %.0f times less than here. The section at the end takes the figures to 10,000 sandboxes.\n\n",
		p.Sandboxes, p.Latency, p.Pace, p.Secrets, p.Budget, p.TTL, 300/p.TTL.Seconds(), p.Quota, p.Sandboxes*p.Secrets, p.BurstSeconds, 300/p.TTL.Seconds())
	w("| | |\n|---|---|\n")
	w("| date | %s (UTC), took %s |\n", m.Started.UTC().Format("2006-01-02 15:04"), m.Took.Round(time.Second))
	w("| commit | `%s` |\n", orNA(m.Commit))
	w("| machine | %s |\n", orNA(m.Machine))
	w("| load average | %s at the start, %s at the end (the machine is shared: other work moves absolute waits, not call counts) |\n", orNA(m.LoadStart), orNA(m.LoadEnd))
	w("| commands | %s |\n", strings.Join(code(m.Commands), "<br>"))
	w("| parameters | %d sandboxes × %d secrets, TTL %s, %g invokes/s per sandbox, D = %s, quota %.0f /s (storm %.0f /s), bucket %g s, bins of %s |\n\n",
		p.Sandboxes, p.Secrets, p.TTL, p.Pace, p.Latency, p.Quota, p.StormQuota, p.BurstSeconds, p.Bin)
	for _, n := range m.Notes {
		w("> %s\n\n", n)
	}
	if len(m.Failures) > 0 {
		w("**Scenarios that could not run:**\n\n")
		for _, f := range m.Failures {
			w("- %s\n", oneLine(f))
		}
		w("\n")
	}

	w("## Must show\n\n| line of the issue | holds? | figure |\n|---|---|---|\n")
	w("| the five scenarios' figures, with their plots | %s | %d of 5 scenarios ran |\n", yesNo(len(scenarios) == 5), len(scenarios))
	for _, s := range scenarios {
		for _, c := range s.Checks {
			w("| %s | %s | %s |\n", c.Line, yesNo(c.Holds), c.Figure)
		}
	}
	leaks, logs := 0, 0
	for _, s := range scenarios {
		if s.Compare == nil {
			leaks += len(s.Leaked)
			logs += p.Sandboxes
		}
	}
	w("\nAnd from the contract: no secret value in any kinko log: %d of %d sandbox logs held one (each scenario's logs, WARN and above, searched for the values served).\n\n", leaks, logs)

	for _, s := range scenarios {
		w("## %s\n\n%s\n\n", s.Title, s.What)
		w("| figure | value |\n|---|---|\n")
		for _, r := range s.Table {
			w("| %s | %s |\n", r.Figure, r.Value)
		}
		w("\n")
		for _, c := range s.Checks {
			if !c.Holds {
				w("**Falls short:** %s. Measured: %s.\n\n", c.Line, c.Figure)
			}
		}
		for _, n := range s.Notes {
			w("%s\n\n", n)
		}
		for _, pl := range s.Plots {
			w("![%s](%s)\n\n", s.Title, rel(root, pl))
		}
	}
	onPaper(&b, p, scenarios)
	return b.String()
}

// onPaper takes the measured figures to 10,000 sandboxes with 3 secrets each, TTL 300 s.
// What scales with the TTL (calls per key per TTL) is carried over; what does not (kinko's
// backoff, the jitter's share of the TTL) is computed from kinko's rules, and says so.
func onPaper(b *strings.Builder, p Params, scenarios []*Scenario) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	by := map[string]*Scenario{}
	for _, s := range scenarios {
		by[s.Key] = s
	}
	const sandboxes, secrets, ttl, quota, pace = 10000, 3, 300.0, 10000.0, 2.0
	const dollarsPerCall = 0.05 / 10000
	ids := float64(sandboxes * secrets)
	month := 86400.0 * 30
	w("## On paper: 10,000 sandboxes × 3 secrets\n\n")
	w("One account and region: GetSecretValue's quota is 10,000 calls/s; the fleet holds %s sandbox-secret pairs, each a cache entry with the default TTL of 300 s; "+
		"each sandbox is invoked %g times a second (%s invokes/s, %s reads/s). What each scenario needs, carried over from the figures above: "+
		"calls per key per TTL carry over as they are; kinko's backoff (about 1 s, doubling, capped at 30 s) and max wait are not scaled, so they are taken as they are.\n\n",
		thousands(ids), pace, thousands(sandboxes*pace), thousands(sandboxes*pace*secrets))
	w("| scenario | what it needs at 10,000 × 3 | share of the 10,000/s quota |\n|---|---|---|\n")
	perKey := 0.0
	if s := by["steady"]; s != nil {
		win := span{p.TTL, 4 * p.TTL}
		perKey = float64(countCalls(s.Calls, win)) / float64(p.Sandboxes*p.Secrets) / 3
		need := ids * perKey / ttl
		w("| 1. steady state | %.3f calls per key per TTL (measured) × %s keys ÷ 300 s = **%.0f calls/s**, whatever the invoke rate; the SDK on every invoke: %s calls/s | %.1f%% (SDK: %.0f%%) |\n",
			perKey, thousands(ids), need, thousands(sandboxes*pace*secrets), 100*need/quota, 100*sandboxes*pace*secrets/quota)
	}
	w("| 2. lockstep start | a deploy fetches every pair once: %s calls; Lambda gives one function at most 1,000 new sandboxes every 10 s, so a function's deploy asks 3,000 at once and %s calls/s over the 10 s; "+
		"after it, TTL jitter (values live 90–100%% of the TTL) spreads a cohort's refreshes over 30 s of every 300 s: %s calls/s at the refresh peak, "+
		"even if all 10,000 had started in the same second | start: %.0f%% per function (a burst of 30%% for a second); refresh peak: %.0f%% |\n",
		thousands(ids), thousands(1000*secrets/10.0), thousands(ids/30), 100*1000*secrets/10.0/quota, 100*ids/30/quota)
	if s := by["storm"]; s != nil {
		total := stormCalls(s)
		ratio := float64(total) / float64(p.Sandboxes*p.Secrets)
		clear := ratio * ids / quota
		w("| 3. cold storm | one function gets at most 1,000 new sandboxes at once (Lambda's scaling rate), so 10,000 cold at once means ten functions sharing the account: "+
			"30,000 prefetches in a second, three times the quota. At the measured %.2f calls per pair that is %s calls, which the quota clears in %.1f s: "+
			"the last first reads wait that long, against kinko's budget of 4 s for a read with no value (first reads answered here: %s) | 100%% for %.1f s |\n",
			ratio, thousands(ratio*ids), clear, firstReadsAnswered(s.Reads, p), clear)
	}
	if s := by["brownout"]; s != nil {
		win := span{p.TTL * 3 / 2, p.TTL*3/2 + p.Hang + p.Unavailable}
		perPair := rate(s.Calls, win) / float64(p.Sandboxes*p.Secrets)
		dur := (p.Hang + p.Unavailable).Seconds()
		// At TTL 300 s a key only starts failing when its refresh comes due: about ids/300 keys a second.
		failing := ids * math.Min(dur, ttl) / ttl
		// At the 30 s cap a sandbox's three failing keys draw with equal jitter: 22.5 s on average.
		capRate := ids / 22.5
		w("| 4. brownout | measured: %.3f calls per key per second over a %.0f s brownout, in which every key here came due (the TTL is %s) and each sandbox's three keys "+
			"failed together, sharing one pace. At TTL 300 s keys come due at %s a second, so after %.0f s about %s keys are failing, at that rate %s calls/s: a floor, "+
			"for a sandbox's keys then come due minutes apart and most fail alone, each at its own backoff (full jitter under an envelope capped by how long it has failed); "+
			"after 5 minutes all 30,000 are, failing together, most at the 30 s cap of the backoff "+
			"(each key waits 15 to 30 s: 22.5 s on average): %s calls/s. Not the %s reads/s the functions send | at least %.0f%% after %.0f s; %.0f%% at the cap |\n",
			perPair, dur, p.TTL, thousands(ids/ttl), dur, thousands(failing), thousands(perPair*failing), thousands(capRate), thousands(sandboxes*pace*secrets),
			100*perPair*failing/quota, dur, 100*capRate/quota)
	}
	if perKey > 0 {
		kinkoRate := ids * perKey / ttl
		sdkRate := sandboxes * pace * secrets
		w("| 5. cost | kinko: %.0f calls/s, $%s a month (%.5f calls per invoke); the SDK on every invoke: %s calls/s, $%s a month, if the quota let it run | — |\n",
			kinkoRate, thousands(kinkoRate*month*dollarsPerCall), kinkoRate/(sandboxes*pace), thousands(sdkRate), thousands(sdkRate*month*dollarsPerCall))
	}
	w("\nWhere kinko keeps the account inside its quota: the steady state needs about 1%% of it at any invoke rate, because every read between two refreshes is " +
		"answered from memory; a deploy or a storm needs the quota for a few seconds, and kinko's retries must not multiply that (scenario 3's calls per pair); a brownout " +
		"costs calls at the pace of kinko's backoff, shared by each sandbox's failing keys, not of the traffic: about 13%% of the quota once every key is failing (scenario 4). What no cache changes: 30,000 sandbox-secrets starting in one second ask for " +
		"three seconds of the quota, and the 10,000/s quota is per account and region, shared with every other caller of GetSecretValue there.\n")
}

// stormCalls are the calls that arrived before the storm's last first read was answered.
func stormCalls(s *Scenario) int {
	over := time.Duration(0)
	for _, rd := range s.Reads {
		if rd.First {
			over = max(over, rd.At+rd.Wait)
		}
	}
	return countCalls(s.Calls, span{0, over})
}

// thousands writes a whole number with thousands separators.
func thousands(v float64) string {
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := fmt.Sprintf("%d", n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

func code(cmds []string) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = "`" + c + "`"
	}
	return out
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return p
}
