package lambda

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// fakeClocks are clocks a unit test moves by hand.
type fakeClocks struct {
	mu    sync.Mutex
	wall  time.Time
	mono  time.Duration
	reads int
}

func (f *fakeClocks) clocks() Clocks {
	return Clocks{
		Wall: func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); f.reads++; return f.wall },
		Mono: func() time.Duration { f.mu.Lock(); defer f.mu.Unlock(); return f.mono },
	}
}

// pass moves both clocks by d, as a running sandbox sees time pass; ahead moves the wall clock
// alone, as a restore (or a correction of the clock) does.
func (f *fakeClocks) pass(d time.Duration) {
	f.mu.Lock()
	f.wall, f.mono = f.wall.Add(d), f.mono+d
	f.mu.Unlock()
}
func (f *fakeClocks) ahead(d time.Duration) { f.mu.Lock(); f.wall = f.wall.Add(d); f.mu.Unlock() }
func (f *fakeClocks) readings() int         { f.mu.Lock(); defer f.mu.Unlock(); return f.reads }

// The restore's steps run exactly once, at its first sign: a read that sees the wall clock run
// ahead of the monotonic one by more than restoreClockJump, or the first INVOKE, whichever
// comes first; never at a smaller jump, and never again after.
func TestSnapStartRestoreRunsOnce(t *testing.T) {
	start := func(t *testing.T, allow bool) (*snapStart, *fakeClocks, *[]restoreCause) {
		f := &fakeClocks{wall: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), mono: time.Hour}
		var mu sync.Mutex
		var runs []restoreCause
		s := newSnapStart(f.clocks(), allow, func(c restoreCause) { mu.Lock(); runs = append(runs, c); mu.Unlock() },
			slog.New(slog.DiscardHandler))
		return s, f, &runs
	}

	t.Run("a read first", func(t *testing.T) {
		s, f, runs := start(t, false)
		f.pass(time.Minute)
		f.ahead(restoreClockJump) // a correction: no restore
		if err := s.beforeRead(); err == nil || s.Restored() || len(*runs) != 0 {
			t.Fatalf("wall clock %s ahead: read allowed=%t restored=%t steps=%d; want refused, not restored", restoreClockJump, err == nil, s.Restored(), len(*runs))
		}
		f.pass(time.Minute)
		f.ahead(restoreClockJump + time.Millisecond) // the restore
		// Many reads at once, as hooks of several threads: one runs the steps, all are answered.
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() { errs <- s.beforeRead() })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("read after the restore: %v", err)
			}
		}
		if !s.Restored() {
			t.Fatal("not marked restored after the restore")
		}
		s.invoked()
		f.ahead(24 * time.Hour) // frozen between invokes, or anything else: no second restore
		if err := s.beforeRead(); err != nil {
			t.Fatal(err)
		}
		if len(*runs) != 1 || (*runs)[0].by != "clock" || (*runs)[0].ahead != restoreClockJump+time.Millisecond {
			t.Fatalf("steps ran %v, want once, by the clock, %s ahead", *runs, restoreClockJump+time.Millisecond)
		}
	})

	t.Run("INVOKE first", func(t *testing.T) {
		s, f, runs := start(t, false)
		f.pass(time.Second)
		s.invoked()
		if !s.Restored() || len(*runs) != 1 || (*runs)[0].by != "invoke" {
			t.Fatalf("after the first INVOKE: restored=%t steps %v, want restored once by invoke", s.Restored(), *runs)
		}
		readings := f.readings()
		f.ahead(time.Hour)
		s.invoked()
		if err := s.beforeRead(); err != nil || len(*runs) != 1 {
			t.Fatalf("read after the restore and a clock jump: %v, steps %d; want answered, steps once", err, len(*runs))
		}
		if f.readings() != readings {
			t.Error("the clocks were read after the restore; a restored sandbox has no use for them")
		}
	})

	t.Run("opted in", func(t *testing.T) {
		s, f, runs := start(t, true)
		f.pass(time.Second)
		if err := s.beforeRead(); err != nil || s.Restored() {
			t.Fatalf("read during init with KINKO_SNAPSTART_INIT_READS=allow: %v restored=%t; want answered, not restored", err, s.Restored())
		}
		f.ahead(time.Hour)
		if err := s.beforeRead(); err != nil || !s.Restored() || len(*runs) != 1 {
			t.Fatalf("after the restore: %v restored=%t steps %d", err, s.Restored(), len(*runs))
		}
	})
}

// The refusal is a 503 the server renders as kinko's own error: the reason, the variable, and no
// claim that AWS answered.
func TestSnapStartRefusalIsKinkos(t *testing.T) {
	f := &fakeClocks{wall: time.Unix(1e9, 0)}
	s := newSnapStart(f.clocks(), false, func(restoreCause) {}, slog.New(slog.DiscardHandler))
	err := s.beforeRead()
	// (The server answers kinko.SnapStartInit with 503: server's TestErrorStatuses.)
	var ue *kinko.Error
	if !errors.As(err, &ue) || ue.Code != kinko.SnapStartInit || ue.Type() != "SnapStartInitRead" || ue.FromAWS() || ue.Transient() {
		t.Fatalf("refusal %#v, want SnapStartInitRead, not from AWS, not transient", err)
	}
	for _, want := range []string{"SnapStart init", "snapshot", "KINKO_SNAPSTART_INIT_READS=allow"} {
		if !strings.Contains(ue.Message, want) {
			t.Errorf("message %q lacks %q", ue.Message, want)
		}
	}
}
