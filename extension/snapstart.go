package main

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
	"github.com/kinko-dev/kinko/extension/internal/server"
)

// SnapStart (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start): init runs once, when a version is
// published; the sandbox's memory is then snapshotted and restored, maybe days later, into many
// sandboxes (CONTRACT.md section 2 point 5). No secret value may cross the snapshot, and after
// the restore nothing from before it may be used: not a value, not the credentials, not a
// connection. This file is how kinko sees the restore and guards reads until it; run.go says what
// the restore does.

// restoreClockJump is how far the wall clock must run ahead of the monotonic clock between two
// readings for kinko to take it as a restore. Lambda sets the sandbox's wall clock when it
// restores a snapshot, and the monotonic clock stood still meanwhile, so a restore shows as a
// jump as long as the snapshot waited: minutes at least (publishing a version takes that long),
// days often. A running sandbox's clock is only ever corrected by far less. Too small a bound
// risks taking a correction during init for a restore, which would let values be cached into
// the snapshot; too large only leaves the restore to the first INVOKE, as before.
const restoreClockJump = 10 * time.Second

// clocks are the two clocks a SnapStart restore shows in: the monotonic clock stands still while
// the snapshot waits, the wall clock does not (the sandbox's clock is set on restore).
type clocks struct {
	wall func() time.Time     // the wall clock, without a monotonic reading
	mono func() time.Duration // the monotonic clock, from a fixed point
}

// systemClocks reads the process's own clocks.
func systemClocks() clocks {
	start := time.Now()
	return clocks{
		wall: func() time.Time { return time.Now().Round(0) }, // Round(0) drops the monotonic reading
		mono: func() time.Duration { return time.Since(start) },
	}
}

// restoreCause says how a restore was seen, for the log.
type restoreCause struct {
	by    string        // "clock": a read saw the clocks jump; "invoke": the first INVOKE
	ahead time.Duration // by "clock": how far the wall clock ran ahead of the monotonic one
}

// snapStart watches for the restore and runs its steps exactly once, at the first sign of it:
// a request that sees the clocks jump (an after-restore hook reads before Lambda sends INVOKE),
// or the first INVOKE, whichever comes first.
type snapStart struct {
	clk            clocks
	allowInitReads bool // KINKO_SNAPSTART_INIT_READS=allow
	steps          func(restoreCause)
	logger         *slog.Logger

	restored atomic.Bool
	done     chan struct{} // closed once the restore's steps have run

	mu   sync.Mutex // serialises the readings and the restore
	wall time.Time  // the last reading of each clock
	mono time.Duration

	refusedOnce sync.Once
}

// newSnapStart starts watching from now, during init. steps is what the restore does; it runs
// before any read is answered as restored.
func newSnapStart(clk clocks, allowInitReads bool, steps func(restoreCause), logger *slog.Logger) *snapStart {
	s := &snapStart{clk: clk, allowInitReads: allowInitReads, steps: steps, logger: logger, done: make(chan struct{})}
	s.wall, s.mono = clk.wall(), clk.mono()
	return s
}

// Restored reports whether the restore's steps have run: values may be cached from then on.
func (s *snapStart) Restored() bool { return s.restored.Load() }

// Done is closed once the restore's steps have run.
func (s *snapStart) Done() <-chan struct{} { return s.done }

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
	wall, mono := s.clk.wall(), s.clk.mono()
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
	close(s.done)
}

// beforeRead is the check of every read: it looks for the restore, and before it refuses the
// read unless the function opted in (a value answered during init is saved in the snapshot, even
// one never stored: its copies sit in freed memory and connection buffers).
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

// snapStartCache is the cache as the server reads it under SnapStart: every read passes
// beforeRead first.
type snapStartCache struct {
	server.Cache
	s *snapStart
}

func (c snapStartCache) Get(ctx context.Context, r kinko.Request) (document.Value, cache.Status, error) {
	if err := c.s.beforeRead(); err != nil {
		return document.Value{}, cache.Status{Outcome: cache.Bypass}, err
	}
	return c.Cache.Get(ctx, r)
}

func (c snapStartCache) Refresh(ctx context.Context, r kinko.Request) (document.Value, cache.Status, error) {
	if err := c.s.beforeRead(); err != nil {
		return document.Value{}, cache.Status{Outcome: cache.Bypass}, err
	}
	return c.Cache.Refresh(ctx, r)
}
