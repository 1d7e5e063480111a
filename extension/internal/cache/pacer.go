package cache

import (
	"sync"
	"time"
)

// DefaultRecovery is the longest a pacer stretches a key's wait beyond the key's own envelope:
// once the upstream heals, every key is tried again within the longer of the two.
const DefaultRecovery = 10 * time.Second

// failingFor is how long a key counts as failing after its last transient failure when nothing
// has been heard of it since: a key still asked for is retried well within it (the backoff is
// capped at 30 s), so one that is not no longer adds to anyone's retries.
const failingFor = time.Minute

// Pacer spreads the retries of keys failing together: one sandbox's view of one upstream.
//
// Each key backs off on its own envelope (Cache.backoff: doubling, capped, and capped by how
// long its failures have lasted). Alone that makes a sandbox whose keys fail together retry
// once per key per envelope: three failing secrets, three times the calls of one, and a fleet
// of them a multiple of the quota it is already over. The pacer changes the draw, not the
// envelope's growth:
//
//   - a key failing alone waits full jitter over its envelope, as without a pacer;
//   - when m keys fail together each waits over m times its envelope (but at most Recovery,
//     or its own envelope if that is longer), so together they retry at about the pace of one;
//   - throttling (an error whose Throttled() says so), or failing together, draws equal jitter (half the envelope, plus a random
//     part of the other half): throttling says the account is over its rate, and a retry drawn
//     near zero lands in the same burst. The AWS SDK for Java waits the same way after a
//     throttling error (full jitter for the others).
//
// A key's wait is never longer than the larger of its own envelope and Recovery, so once the
// upstream heals every key is fresh again within that.
//
// A Pacer is safe for concurrent use; the zero value is not usable, build one with NewPacer.
// A nil *Pacer paces nothing: every key backs off alone, with full jitter.
type Pacer[K comparable] struct {
	recovery time.Duration

	mu      sync.Mutex
	failing map[K]time.Time // keys whose last attempt failed transiently, and when
}

// PacerOptions configure a Pacer.
type PacerOptions struct {
	// Recovery bounds how far the pacer stretches a key's wait (see Pacer). Default
	// DefaultRecovery.
	Recovery time.Duration
}

// NewPacer returns a pacer for one cache.
func NewPacer[K comparable](o PacerOptions) *Pacer[K] {
	if o.Recovery <= 0 {
		o.Recovery = DefaultRecovery
	}
	return &Pacer[K]{recovery: o.Recovery, failing: map[K]time.Time{}}
}

// failed records k's transient failure err at now and returns the envelope to draw k's wait
// from, given k's own, and whether to draw it with equal jitter rather than full.
func (p *Pacer[K]) failed(k K, err error, env time.Duration, now time.Time) (time.Duration, bool) {
	if p == nil {
		return env, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failing[k] = now
	for o, at := range p.failing {
		if now.Sub(at) >= failingFor {
			delete(p.failing, o)
		}
	}
	m := len(p.failing)
	if m < 2 {
		return env, throttled(err)
	}
	if shared := time.Duration(m) * env; shared/time.Duration(m) == env { // no overflow
		env = max(env, min(shared, p.recovery))
	}
	return env, true
}

// recovered says k's last attempt succeeded or failed for good: k is no longer failing.
func (p *Pacer[K]) recovered(k K) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.failing, k)
}

// reset forgets every failure (after a SnapStart restore the sandbox starts afresh).
func (p *Pacer[K]) reset() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.failing)
}
