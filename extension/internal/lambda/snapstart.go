package lambda

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/core"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// SnapStart (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start): init runs once, when a version is
// published; the sandbox's memory is then snapshotted and restored, maybe days later, into many
// sandboxes (CONTRACT.md section 2 point 5). No secret value may cross the snapshot, and after
// the restore nothing from before it may be used: not a value, not the credentials, not a
// connection. This file is all of kinko's SnapStart:
//
//   - The events: SnapStart registers for INVOKE, the first of which is the restore at the
//     latest. The rule is config.Config.Subscriptions, because the early start registers with
//     it during package initialisation, before anything this package links may initialise.
//   - Until the restore the core is sealed (core.Seal): nothing is stored or prefetched, and
//     every read passes beforeRead, which refuses it with 503 unless the function opted in
//     (KINKO_SNAPSTART_INIT_READS=allow).
//   - The restore is seen where it happens: a read that finds the wall clock ahead of the
//     monotonic one (an after-restore hook reads before Lambda sends INVOKE), or the first
//     INVOKE, whichever comes first. Its steps run once: core.Restore (values, credentials and
//     connections from before it forgotten; the prefetch again).
//   - Freshness is judged by wall-clock age as well as monotonic age, so a clock that stood
//     still in the snapshot never makes an old value fresh: that is the cache's (package cache).
//   - kinko-exec refuses references under SnapStart, opted in or not: it reads the same
//     config.InitSnapStart (a value in the environment is never read again after the restore).

// restoreClockJump is how far the wall clock must run ahead of the monotonic clock between two
// readings for kinko to take it as a restore. Lambda sets the sandbox's wall clock when it
// restores a snapshot, and the monotonic clock stood still meanwhile, so a restore shows as a
// jump as long as the snapshot waited: minutes at least (publishing a version takes that long),
// days often. A running sandbox's clock is only ever corrected by far less. Too small a bound
// risks taking a correction during init for a restore, which would let values be cached into
// the snapshot; too large only leaves the restore to the first INVOKE, as before.
const restoreClockJump = 10 * time.Second

// Clocks are the two clocks a SnapStart restore shows in: the monotonic clock stands still while
// the snapshot waits, the wall clock does not (the sandbox's clock is set on restore).
type Clocks struct {
	Wall func() time.Time     // the wall clock, without a monotonic reading
	Mono func() time.Duration // the monotonic clock, from a fixed point
}

// SystemClocks reads the process's own clocks.
func SystemClocks() Clocks {
	start := time.Now()
	return Clocks{
		Wall: func() time.Time { return time.Now().Round(0) }, // Round(0) drops the monotonic reading
		Mono: func() time.Duration { return time.Since(start) },
	}
}

// watchSnapStart seals k and returns what watches for the restore, under SnapStart; nil
// otherwise.
func (e *Extension) watchSnapStart(k *core.Core) *snapStart {
	if e.Config.InitType != config.InitSnapStart {
		return nil
	}
	clk := e.Clocks
	if clk.Wall == nil || clk.Mono == nil {
		clk = SystemClocks()
	}
	s := newSnapStart(clk, e.Config.AllowSnapStartInitReads, func(how restoreCause) {
		k.Restore()
		e.Logger.Info("restored from a SnapStart snapshot; values are cached from now on, credentials fetched again",
			"detected_by", how.by, "wall_clock_ahead_s", how.ahead.Seconds(), "prefetch", len(e.Config.Prefetch))
	}, e.Logger)
	k.Seal(s.beforeRead)
	return s
}

// restoreCause says how a restore was seen, for the log.
type restoreCause struct {
	by    string        // "clock": a read saw the clocks jump; "invoke": the first INVOKE
	ahead time.Duration // by "clock": how far the wall clock ran ahead of the monotonic one
}

// snapStart watches for the restore and runs its steps exactly once, at the first sign of it:
// a request that sees the clocks jump, or the first INVOKE, whichever comes first.
type snapStart struct {
	clk            Clocks
	allowInitReads bool // KINKO_SNAPSTART_INIT_READS=allow
	steps          func(restoreCause)
	logger         *slog.Logger

	restored atomic.Bool

	mu   sync.Mutex // serialises the readings and the restore
	wall time.Time  // the last reading of each clock
	mono time.Duration

	refusedOnce sync.Once
}

// newSnapStart starts watching from now, during init. steps is what the restore does; it runs
// before any read is answered as restored.
func newSnapStart(clk Clocks, allowInitReads bool, steps func(restoreCause), logger *slog.Logger) *snapStart {
	s := &snapStart{clk: clk, allowInitReads: allowInitReads, steps: steps, logger: logger}
	s.wall, s.mono = clk.Wall(), clk.Mono()
	return s
}

// Restored reports whether the restore's steps have run.
func (s *snapStart) Restored() bool { return s.restored.Load() }

// checkClocks reads both clocks and, if the wall clock ran ahead of the monotonic one by more
// than restoreClockJump since the last reading, runs the restore's steps. It reports whether
// the sandbox is restored. After the restore it reads no clock: a sandbox frozen between
// invokes shows the same jump, and is no restore.
func (s *snapStart) checkClocks() bool {
	if s.restored.Load() {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	wall, mono := s.clk.Wall(), s.clk.Mono()
	ahead := wall.Sub(s.wall) - (mono - s.mono)
	s.wall, s.mono = wall, mono
	if !s.restored.Load() && ahead > restoreClockJump {
		s.restoreLocked(restoreCause{by: "clock", ahead: ahead})
	}
	return s.restored.Load()
}

// invoked is an INVOKE event: the first one is the restore at the latest.
func (s *snapStart) invoked() {
	if s.restored.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.restored.Load() {
		s.restoreLocked(restoreCause{by: "invoke"})
	}
}

// restoreLocked runs the steps, then marks the sandbox restored. s.mu is held: a read that
// arrives meanwhile waits, and is answered as restored once the steps are done.
func (s *snapStart) restoreLocked(c restoreCause) {
	s.steps(c)
	s.restored.Store(true)
}

// beforeRead is the check of every read (core.Seal's admit): it looks for the restore, and
// before it refuses the read unless the function opted in (a value answered during init is
// saved in the snapshot, even one never stored: its copies sit in freed memory and connection
// buffers).
func (s *snapStart) beforeRead() error {
	if s.checkClocks() || s.allowInitReads {
		return nil
	}
	s.refusedOnce.Do(func() {
		s.logger.Warn("a read during SnapStart init was refused (503), so that no value is saved in the snapshot; " +
			"read after the restore, or set KINKO_SNAPSTART_INIT_READS=allow to accept values in the snapshot")
	})
	return &kinko.Error{Code: kinko.SnapStartInit,
		Message: "kinko refuses reads during a SnapStart init: a value read now would be saved in the snapshot and restored " +
			"into every sandbox made from it, maybe days later (even a value answered and never stored leaves copies in " +
			"memory). Read it after the restore (in the handler, or in an after-restore hook), or set " +
			"KINKO_SNAPSTART_INIT_READS=allow if the function accepts values in the snapshot"}
}
