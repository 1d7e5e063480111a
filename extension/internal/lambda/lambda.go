// Package lambda is kinko's life as a Lambda extension (CONTRACT.md section 2): bind the port,
// or take over what the early start bound and registered (package earlystart); register;
// report a failed init; serve through the core (package core); wait for events on
// /event/next; drain at SHUTDOWN or a signal. SnapStart, all of it, is snapstart.go.
package lambda

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/core"
	"github.com/kinko-dev/kinko/extension/internal/earlystart"
	"github.com/kinko-dev/kinko/extension/internal/extensionsapi"
)

// shutdownMargin is kept back from SHUTDOWN's deadline so kinko exits before Lambda's SIGKILL;
// the core's drain may run up to half of it past the deadline it is given.
const shutdownMargin = 200 * time.Millisecond

// defaultShutdown is Lambda's whole shutdown phase when external extensions are registered,
// for a SHUTDOWN without a deadline (or a signal).
const defaultShutdown = 2 * time.Second

// Extension is one run of kinko as a Lambda extension.
type Extension struct {
	Name       string // the extension's name: its file's, the basename of argv[0]
	RuntimeAPI string // AWS_LAMBDA_RUNTIME_API
	Config     config.Config
	// Early is what the early start settled (earlystart.Take); nil: kinko binds and registers
	// itself.
	Early  *earlystart.State
	Logger *slog.Logger
	// Clocks are where a SnapStart restore shows (snapstart.go); zero: the process's own.
	Clocks Clocks
	Start  time.Time // the process's start
}

// Run is the extension's life with core k: it binds (or takes over the early start's
// listeners), registers, serves, warms the cache, waits for SHUTDOWN (or ctx's end: SIGTERM),
// and drains. It returns nil on a clean shutdown; a failed init is reported to Lambda first.
func (e *Extension) Run(ctx context.Context, k *core.Core) error {
	api, err := extensionsapi.New(e.RuntimeAPI, nil)
	if err != nil {
		return err
	}
	defer api.Close()
	s, err := e.settle(ctx, api, true)
	if err != nil {
		return err
	}
	if s.bindErr != nil {
		e.failInit(ctx, s, "PortUnavailable", s.bindErr)
		return s.bindErr
	}

	k.SetAccount(s.reg.AccountID) // from /register (the accountId feature); "" where not offered
	snap := e.watchSnapStart(k)
	k.Serve(s.listeners)
	warm := func(ctx context.Context) { k.Warm(ctx, "early_start", e.Early != nil, "init_type", e.Config.InitType) }
	// Lambda's init ends when every extension has called /event/next, and an on-demand init is
	// what the first caller waits for: warm in the background, beside the runtime's init.
	// Provisioned concurrency inits on no one's clock and is frozen after: warm first (to its
	// end: a signal meanwhile is seen by the loop, after it).
	if e.Config.InitType == config.InitProvisionedConcurrency {
		warm(context.WithoutCancel(ctx))
	} else {
		k.Go(warm)
	}
	e.Logger.Debug("waiting for events", "since_start_ms", ms(time.Since(e.Start)))

	ev, loopErr := e.loop(ctx, api, k, snap)
	deadline := time.Now().Add(defaultShutdown - shutdownMargin)
	if ev.DeadlineMs > 0 {
		deadline = time.UnixMilli(ev.DeadlineMs).Add(-shutdownMargin)
	}
	stopped := time.Now()
	k.Drain(deadline)
	e.Logger.Info("shutdown complete", "reason", ev.ShutdownReason, "drain_ms", ms(time.Since(stopped)))
	return loopErr
}

// FailInit reports problem, a configuration kinko refuses, as the init's failure: it registers
// (or takes over the early start's registration) only to report it, and returns problem.
func (e *Extension) FailInit(ctx context.Context, problem error) error {
	api, err := extensionsapi.New(e.RuntimeAPI, nil)
	if err != nil {
		return err
	}
	defer api.Close()
	s, err := e.settle(ctx, api, false)
	if err != nil {
		return err
	}
	e.failInit(ctx, s, "ConfigInvalid", problem)
	return problem
}

// registration is kinko registered with Lambda.
type registration struct {
	listeners []net.Listener
	bindErr   error // the port could not be bound: the init fails
	reg       extensionsapi.Registration
	// report tells Lambda of a fatal problem: /init/error before the first /event/next,
	// /exit/error after it (the early start may have sent it).
	report func(ctx context.Context, reason string, problem error) error
}

// settle registers, after binding the port when bind is set, or takes over the early start's
// listeners and registration.
func (e *Extension) settle(ctx context.Context, api *extensionsapi.Client, bind bool) (registration, error) {
	events := subscriptions(e.Config, e.Logger) // the early start registered with the same list
	if e.Early != nil {
		return e.resume(ctx, api, events)
	}
	s := registration{report: api.InitError}
	// Bind before registering: the runtime may start as soon as every extension has registered.
	if bind {
		s.listeners, s.bindErr = listen(e.Config.Port, e.Logger)
	}
	reg, err := api.Register(ctx, e.Name, events)
	if err != nil {
		closeAll(s.listeners)
		return registration{}, err
	}
	s.reg = reg
	e.Logger.Debug("registered", "name", e.Name, "events", events, "function", reg.FunctionName, "account", reg.AccountID)
	return s, nil
}

// resume takes over what the early start settled: its listeners, its registration and, if it
// sent one, its /event/next.
func (e *Extension) resume(ctx context.Context, api *extensionsapi.Client, events []string) (registration, error) {
	early := e.Early
	s := registration{report: api.InitError,
		reg: extensionsapi.Registration{FunctionName: early.FunctionName, AccountID: early.AccountID}}
	if early.Next >= 0 {
		s.report = api.ExitError // Lambda takes a report after /event/next as an exit error
	}
	listeners, next, err := adopt(early)
	if err != nil {
		e.Logger.Error("init failed", "reason", "EarlyStartFailed", "error", err)
		api.Resume(early.ID, nil)
		if rerr := s.report(ctx, "EarlyStartFailed", err); rerr != nil {
			e.Logger.Error("could not report the error", "error", rerr)
		}
		return registration{}, err
	}
	api.Resume(early.ID, next)
	s.listeners = listeners
	e.Logger.Debug("registered during package initialisation", "events", events, "function", early.FunctionName,
		"account", early.AccountID, "listeners", len(listeners), "next_sent", next != nil)
	return s, nil
}

// failInit logs problem and reports it to Lambda as reason, then closes the listeners.
func (e *Extension) failInit(ctx context.Context, s registration, reason string, problem error) {
	e.Logger.Error("init failed", "reason", reason, "error", problem)
	// After an early start this is not expected: it settles only a configuration kinko accepts.
	if err := s.report(ctx, reason, problem); err != nil {
		e.Logger.Error("could not report init error", "error", err)
	}
	closeAll(s.listeners)
}

// subscriptions is what kinko registers for (config.Config.Subscriptions: INVOKE only where a
// feature needs it, SnapStart being one), with a warning where a setting cannot take effect.
func subscriptions(cfg config.Config, logger *slog.Logger) []string {
	if cfg.InitType == config.InitManagedInstances && cfg.MetricsEveryInvokes > 0 {
		logger.Warn("KINKO_METRICS_INVOKES is ignored on Lambda Managed Instances, which send extensions SHUTDOWN only; metrics are written at SHUTDOWN")
	}
	return cfg.Subscriptions()
}

// loop waits for events, on this goroutine, until SHUTDOWN or ctx's end (SIGTERM). When
// /event/next itself fails after init, it reports that with /exit/error (best effort: Lambda's
// API may be what failed). An INVOKE is the SnapStart restore at the latest, and counts towards
// the metrics line every KINKO_METRICS_INVOKES invokes.
func (e *Extension) loop(ctx context.Context, api *extensionsapi.Client, k *core.Core, snap *snapStart) (extensionsapi.Event, error) {
	invokes := 0
	for {
		ev, err := api.Next(ctx)
		switch {
		case ctx.Err() != nil:
			e.Logger.Info("signal received; shutting down")
			return extensionsapi.Event{EventType: extensionsapi.Shutdown, ShutdownReason: "signal"}, nil
		case err != nil:
			e.Logger.Error("event loop failed; exiting", "error", err)
			if rerr := api.ExitError(context.Background(), "EventLoop", err); rerr != nil {
				e.Logger.Error("could not report exit error", "error", rerr)
			}
			return extensionsapi.Event{ShutdownReason: "event loop failed"}, err
		case ev.EventType == extensionsapi.Shutdown:
			return ev, nil
		case ev.EventType == extensionsapi.Invoke:
			invokes++
			if snap != nil {
				snap.invoked() // the restore, unless a request saw it first
			}
			if n := e.Config.MetricsEveryInvokes; n > 0 && invokes%n == 0 {
				k.WriteMetrics()
			}
		}
	}
}

// listen binds 127.0.0.1 (required) and [::1] on the same port (best effort: on Lambda
// "localhost" may resolve to ::1 first).
func listen(port int, logger *slog.Logger) ([]net.Listener, error) {
	l4, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("cannot listen on 127.0.0.1:%d (%w); another process holds the port: set PARAMETERS_SECRETS_EXTENSION_HTTP_PORT to a free one", port, err)
	}
	port = l4.Addr().(*net.TCPAddr).Port
	l6, err := net.Listen("tcp6", net.JoinHostPort("::1", strconv.Itoa(port)))
	if err != nil {
		logger.Debug("no IPv6 loopback; serving 127.0.0.1 only", "error", err)
		return []net.Listener{l4}, nil
	}
	return []net.Listener{l4, l6}, nil
}

// adopt turns the early start's descriptors into kinko's listeners and the connection waiting
// for the first event (nil if it sent none).
func adopt(s *earlystart.State) ([]net.Listener, net.Conn, error) {
	var ls []net.Listener
	for _, fd := range s.Listeners {
		f := os.NewFile(uintptr(fd), "kinko-listener")
		l, err := net.FileListener(f) // a duplicate: f itself is closed below
		_ = f.Close()
		if err != nil {
			closeAll(ls)
			return nil, nil, fmt.Errorf("the early start's listener (descriptor %d) is not usable: %w", fd, err)
		}
		ls = append(ls, l)
	}
	if s.Next < 0 {
		return ls, nil, nil
	}
	f := os.NewFile(uintptr(s.Next), "kinko-event-next")
	conn, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		closeAll(ls)
		return nil, nil, fmt.Errorf("the early start's /event/next connection (descriptor %d) is not usable: %w", s.Next, err)
	}
	return ls, conn, nil
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		_ = l.Close()
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
