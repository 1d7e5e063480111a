// Package scale simulates a fleet of Lambda sandboxes, each running kinko as a real process,
// against one account's Secrets Manager: a stand-in that enforces a quota (a token bucket,
// ThrottlingException beyond it, as AWS answers) with a latency, and can hang, fail and
// rotate. A workload driver invokes every sandbox at a function's pace. Five scenarios
// (steady state, lockstep start, cold storm above quota, brownout, cost) are measured in
// scaled time (short TTLs, a small quota) and written up as SCALE.md with plots: `make scale`,
// command e2e/cmd/scale. A short run is a test (scale_test.go), so the program cannot rot.
package scale

import (
	"fmt"
	"time"
)

// Params size a run. Time is scaled: the TTL is seconds, not minutes, so a few TTLs pass in a
// scenario; the quota is scaled with the fleet.
type Params struct {
	Sandboxes int
	Secrets   int           // read by every invoke, prefetched where a scenario says so
	TTL       time.Duration // SECRETS_MANAGER_TTL (whole seconds)
	Pace      float64       // invokes a second per sandbox (Poisson arrivals)
	Latency   time.Duration // D: Secrets Manager's round trip, added to every answer

	Quota        float64 // the account's quota, calls a second (steady, lockstep, brownout)
	StormQuota   float64 // the quota in the cold storm: half of what the fleet asks in a second
	BurstSeconds float64 // the token bucket holds this many seconds of quota

	Budget      time.Duration // how long a function waits for one read (its HTTP client's timeout)
	StartWindow time.Duration // a deploy starts every sandbox within this
	Bin         time.Duration // calls/s and waits are counted per bin

	Hang, Unavailable time.Duration // the brownout's phases
	RecoverMax        time.Duration // the longest wait for fresh values after it
	CostRun           time.Duration // the SDK fleet's run
	Seed              uint64
}

// Full is `make scale`: 200 sandboxes, 3 secrets, a 10 s TTL (time runs 30 times faster than
// with the default 300 s), under 5 minutes on 2 cores.
func Full() Params {
	p := Params{
		Sandboxes: 200, Secrets: 3, TTL: 10 * time.Second, Pace: 2, Latency: 20 * time.Millisecond,
		BurstSeconds: 0.1, Budget: 6 * time.Second, StartWindow: time.Second, Bin: 250 * time.Millisecond,
		Hang: 10 * time.Second, Unavailable: 10 * time.Second, RecoverMax: 35 * time.Second,
		CostRun: 5 * time.Second, Seed: 12,
	}
	p.fillQuotas()
	return p
}

// Short is the test's run: 20 sandboxes, a 1 s TTL, a few seconds a scenario.
func Short() Params {
	p := Params{
		Sandboxes: 20, Secrets: 3, TTL: time.Second, Pace: 4, Latency: 5 * time.Millisecond,
		BurstSeconds: 0.1, Budget: 6 * time.Second, StartWindow: time.Second, Bin: 100 * time.Millisecond,
		Hang: time.Second, Unavailable: time.Second, RecoverMax: 3 * time.Second,
		CostRun: time.Second, Seed: 12,
	}
	p.fillQuotas()
	// With a 1 s TTL one call per secret per sandbox per second is the steady rate itself:
	// leave the steady state room below the quota, as the full run has.
	p.Quota *= 4
	return p
}

// fillQuotas scales the quota with the fleet: the account can serve every secret of every
// sandbox once a second; in the storm, half of that.
func (p *Params) fillQuotas() {
	ids := float64(p.Sandboxes * p.Secrets)
	p.Quota, p.StormQuota = ids, ids/2
}

// Validate says what is wrong with p.
func (p Params) Validate() error {
	switch {
	case p.Sandboxes < 1 || p.Sandboxes > 1000:
		return fmt.Errorf("sandboxes = %d: want 1 to 1000 (each is a process)", p.Sandboxes)
	case p.Secrets < 1 || p.Secrets > 20:
		return fmt.Errorf("secrets = %d: want 1 to 20", p.Secrets)
	case p.TTL < time.Second || p.TTL%time.Second != 0 || p.TTL > 5*time.Minute:
		return fmt.Errorf("ttl = %s: want whole seconds from 1s to 5m (SECRETS_MANAGER_TTL is seconds)", p.TTL)
	case p.Pace <= 0 || p.Pace > 50:
		return fmt.Errorf("pace = %g: want more than 0 and at most 50 invokes a second per sandbox", p.Pace)
	case p.Quota <= 0 || p.StormQuota <= 0 || p.BurstSeconds <= 0:
		return fmt.Errorf("quotas must be positive (quota %g, storm quota %g, burst %gs)", p.Quota, p.StormQuota, p.BurstSeconds)
	case p.Bin <= 0 || p.Budget <= 0:
		return fmt.Errorf("bin %s and budget %s must be positive", p.Bin, p.Budget)
	}
	return nil
}

// SecretNames are the secrets every sandbox reads: one account's, shared by the whole fleet.
func (p Params) SecretNames() []string {
	names := make([]string, p.Secrets)
	for i := range names {
		names[i] = fmt.Sprintf("scale/secret-%d", i+1)
	}
	return names
}

// burst is the token bucket's size in calls.
func (p Params) burst(q float64) float64 { return max(1, q*p.BurstSeconds) }

// ideal is the steady rate with one call per secret per sandbox per TTL.
func (p Params) ideal() float64 { return float64(p.Sandboxes*p.Secrets) / p.TTL.Seconds() }
