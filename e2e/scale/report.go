package scale

import (
	"fmt"
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
		"and its bill ($0.05 per 10,000 calls). Written by `make scale` (`e2e/cmd/scale`, package `e2e/scale`).\n\n")
	w("**How it runs.** %d sandboxes, each the layer's kinko binary as a real process with its own Extensions API stand-in, against one Secrets Manager stand-in "+
		"on loopback: a token bucket shared by the whole fleet (beyond it `ThrottlingException`, HTTP 400, as AWS answers; the SDK reads it as throttling), "+
		"%s added to every answer, and modes for a brownout. A driver invokes each sandbox as a function would: invokes arrive at %g a second per sandbox "+
		"(Poisson), one at a time, and each reads %d secrets in turn over loopback HTTP, waiting at most %s for each. "+
		"**Time is scaled**: the TTL is %s instead of 300 s (%.0f× faster), so a scenario spans a few TTLs in seconds; the quota is scaled with the fleet "+
		"(%.0f calls/s for %d sandbox-secrets; the bucket holds %g s of it). Kinko's own timings (its 250 ms max wait, its backoff from about 1 s to 30 s) are not scaled: "+
		"against a 300 s TTL they are %.0f× shorter than they look here. The section at the end takes the figures to 10,000 sandboxes.\n\n",
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
	w("\n")

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
func onPaper(b *strings.Builder, p Params, scenarios []*Scenario) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	by := map[string]*Scenario{}
	for _, s := range scenarios {
		by[s.Key] = s
	}
	const sandboxes, secrets, ttl, quota = 10000, 3, 300.0, 10000.0
	ids := float64(sandboxes * secrets)
	w("## On paper: 10,000 sandboxes × 3 secrets\n\n")
	w("The account's GetSecretValue quota is %.0f calls/s; the fleet holds %.0f sandbox-secret pairs, each a cache entry with TTL 300 s. "+
		"What each scenario needs, from the figures above (calls per key scale with the TTL; what does not scale is said):\n\n", quota, ids)
	perKey := 0.0
	if s := by["steady"]; s != nil {
		win := span{p.TTL, 4 * p.TTL}
		perKey = float64(countCalls(s.Calls, win)) / float64(p.Sandboxes*p.Secrets) / 3
	}
	if perKey > 0 {
		need := ids * perKey / ttl
		w("- **Steady state.** Measured %.3f calls per key per TTL, so %.0f × %.3f ÷ 300 s = **%.0f calls/s, %.1f%% of the quota**, and that does not grow with "+
			"the invoke rate: kinko answers every read in between from memory. The SDK on every invoke needs 3 calls per invoke: at 2 invokes/s per sandbox, "+
			"60,000 calls/s, six times the quota.\n", perKey, ids, perKey, need, 100*need/quota)
	}
	w("- **Lockstep start (a deploy).** Every new sandbox fetches its secrets once: %.0f calls, 3 s of the whole quota if they all came in the same second. "+
		"A real deploy spreads sandbox starts over tens of seconds (Lambda scales up by 1,000 concurrent executions every 10 s per function), so this is "+
		"%.0f calls/s at most per 1,000 new sandboxes a second. After the start, TTL jitter (each value lives 90–100%% of its TTL) spreads the refreshes of the "+
		"lockstep cohort over 30 s of every 300 s, so the refresh peak is about %.0f calls/s even if all 10,000 started in the same second: %.0f%% of the quota, "+
		"and it flattens with every TTL (scenario 2's peak ÷ mean per TTL shows the trend).\n", ids, 1000.0*secrets, ids/30, 100*ids/30/quota)
	if s := by["storm"]; s != nil {
		w("- **Cold storm above quota.** Scenario 3 asked twice the quota in one second; its table says whether every first read was answered and what it cost in calls. " +
			"At 10,000 sandboxes the same storm is 30,000 prefetches against 10,000 calls/s: kinko needs patient, jittered retries inside the caller's budget " +
			"(the storm lasts about 3 s of quota), and every throttled call it retries costs quota the others need, which is why the total calls must stay near one per key.\n")
	}
	if s := by["brownout"]; s != nil {
		win := span{p.TTL * 3 / 2, p.TTL*3/2 + p.Hang + p.Unavailable}
		c := rate(s.Calls, win)
		perPair := c / float64(p.Sandboxes*p.Secrets)
		w("- **Brownout.** During the brownout the fleet sent %.1f calls/s for %d keys: %.3f calls per key per second. Those retries are governed by kinko's "+
			"backoff (about 1 s at first, doubling to 30 s: not scaled), not by the TTL, so at 10,000 × 3 keys the same rule gives about %.0f calls/s while AWS fails, "+
			"falling as the backoff grows (at the 30 s cap, %.0f calls/s, %.0f%% of the quota) — what matters is that it does not follow the invoke rate "+
			"(60,000 reads/s at 2 invokes/s per sandbox).\n", c, p.Sandboxes*p.Secrets, perPair, perPair*ids, ids/30/2, 100*ids/30/2/quota)
	}
	if s := by["cost"]; s != nil && perKey > 0 {
		perInvoke := perKey * secrets / (p.Pace * ttl)
		w("- **Cost.** At 2 invokes/s per sandbox, 10,000 sandboxes make 20,000 invokes/s, 51.8 billion a month. The SDK on every invoke: 3 calls each, "+
			"155 billion calls, **$777,600 a month**, and six times the quota, so it cannot run at all. Kinko: %.5f calls per invoke at TTL 300 s, "+
			"%.0f calls/s, **$%.0f a month**.\n", perInvoke, ids*perKey/ttl, ids*perKey/ttl*86400*30*0.05/10000)
	}
	w("\nWhere kinko keeps the account inside its quota: the steady state needs about 1%% of it at any invoke rate; a deploy or a cold storm needs the quota " +
		"for a few seconds and kinko's retries must not multiply that; a brownout costs calls at the pace of kinko's backoff, not of the traffic. " +
		"What no cache can change: a fleet that starts 30,000 sandbox-secrets in one second asks for three seconds of quota.\n")
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
