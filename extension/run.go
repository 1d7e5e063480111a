package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kinko-dev/kinko/extension/internal/awsconfig"
	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/extensionsapi"
	"github.com/kinko-dev/kinko/extension/internal/handoff"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
	"github.com/kinko-dev/kinko/extension/internal/metrics"
	"github.com/kinko-dev/kinko/extension/internal/server"
	"github.com/kinko-dev/kinko/extension/internal/upstream"
)

// shutdownMargin is kept back from SHUTDOWN's deadline so kinko exits before Lambda's SIGKILL.
const shutdownMargin = 200 * time.Millisecond

// run is the extension's whole life: bind, register, serve, warm the cache, wait for SHUTDOWN
// (or SIGTERM, which cancels ctx), drain, report. It returns nil on a clean shutdown. environ is
// the whole environment (getenv's), searched for kinko: references to prefetch.
func run(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout io.Writer) error {
	return runWith(ctx, args, getenv, environ, stdout, systemClocks())
}

// runWith is run with the clocks a SnapStart restore is seen in (tests move them).
func runWith(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout io.Writer, clk clocks) error {
	start := time.Now()
	cfg, cfgErr := config.Load(getenv)
	cfg.Prefetch = config.AddReferences(cfg.Prefetch, environ)
	// The AWS configuration is checked here, with the rest, so a missing region or missing
	// credentials fails init with /init/error; building it does no I/O (microseconds).
	awsCfg, awsErr := awsconfig.Load(getenv)
	if cfgErr == nil && awsErr != nil {
		cfgErr = &config.Error{Variable: "AWS environment", Problem: awsErr.Error()}
	}
	out := &lockedWriter{w: stdout}
	logger := newLogger(out, cfg)

	// After the early start (package earlystart), kinko finds itself bound, registered and,
	// usually, already waiting for its first event.
	early, resumed, err := handoff.FromEnv(getenv)
	if err != nil {
		return err
	}
	api, err := extensionsapi.New(getenv("AWS_LAMBDA_RUNTIME_API"), nil)
	if err != nil {
		return err
	}
	defer api.Close()
	// Bind before registering: the runtime may start as soon as every extension has registered.
	var listeners []net.Listener
	initErr := cfgErr // what fails init: bad configuration, else a port that cannot be bound
	var reg extensionsapi.Registration
	events := subscriptions(cfg, logger) // the early start registered with the same list
	// Before /event/next an error is an init error; after it (the early start sent one), Lambda
	// takes the report as an exit error.
	report := api.InitError
	if resumed && early.Next >= 0 {
		report = api.ExitError
	}
	if resumed {
		reg = extensionsapi.Registration{FunctionName: early.FunctionName, AccountID: early.AccountID}
		var next net.Conn
		listeners, next, err = adopt(early)
		if err != nil {
			logger.Error("init failed", "reason", "EarlyStartFailed", "error", err)
			api.Resume(early.ID, nil)
			if rerr := report(ctx, "EarlyStartFailed", err); rerr != nil {
				logger.Error("could not report the error", "error", rerr)
			}
			return err
		}
		api.Resume(early.ID, next)
		logger.Debug("registered during package initialisation", "events", events, "function", reg.FunctionName,
			"account", reg.AccountID, "listeners", len(listeners), "next_sent", next != nil)
	} else {
		if cfgErr == nil {
			listeners, initErr = listen(cfg.Port, logger)
		}
		name := filepath.Base(args[0])
		reg, err = api.Register(ctx, name, events)
		if err != nil {
			closeAll(listeners)
			return err
		}
		logger.Debug("registered", "name", name, "events", events, "function", reg.FunctionName, "account", reg.AccountID)
	}
	if initErr != nil {
		reason := "PortUnavailable"
		if cfgErr != nil {
			reason = "ConfigInvalid"
		}
		logger.Error("init failed", "reason", reason, "error", initErr)
		// After an early start this is not expected: it settles only a configuration kinko accepts.
		if err := report(ctx, reason, initErr); err != nil {
			logger.Error("could not report init error", "error", err)
		}
		closeAll(listeners)
		return initErr
	}

	counters := &metrics.Counters{}
	pending := upstream.NewPending()
	// home makes an ARN local (its bare name is an alias); the account id comes from /register
	// (the accountId feature). Until it is known, no ARN aliases a name.
	home := kinko.NewHome(awsCfg.Region)
	home.SetAccount(reg.AccountID)
	// SnapStart: init runs once per published version and its memory is snapshotted, then
	// restored (maybe days later) into many sandboxes. Until the restore (seen by a request, or
	// the first INVOKE: snapstart.go) a read is refused, or, if the function opted in, fetched
	// and answered but not stored, so no secret value sits in the cache of the snapshot and
	// none from before the restore can be served after it.
	var c *cache.Cache[kinko.Request, document.Value]
	var snap *snapStart
	if cfg.InitType == config.InitSnapStart {
		snap = newSnapStart(clk, cfg.AllowSnapStartInitReads, func(how restoreCause) {
			// Forget fences any fetch still in flight from before the restore; the credentials
			// in memory may have expired while the snapshot waited, and its connections to AWS
			// are dead.
			c.Forget()
			awsconfig.InvalidateCredentials(awsCfg)
			pending.DropConnections()
			logger.Info("restored from a SnapStart snapshot; values are cached from now on, credentials fetched again",
				"detected_by", how.by, "wall_clock_ahead_s", how.ahead.Seconds(), "prefetch", len(cfg.Prefetch))
		}, logger)
	}
	c = cache.New[kinko.Request, document.Value](upstream.Source{Fetcher: pending, Home: home}, cache.Options[kinko.Request]{
		TTL: func(r kinko.Request) time.Duration {
			if snap != nil && !snap.Restored() {
				return 0
			}
			return cfg.TTL(r.Kind)
		},
		// A loop over a missing id is not a loop of AWS calls: its not-found is remembered briefly.
		NotFoundTTL: cfg.NotFoundTTL,
		// A caller with nothing to fall back on waits up to the configured timeout, retries
		// included, or the cache's default budget (an answer within 5 s while AWS hangs).
		Budget: func(r kinko.Request) time.Duration {
			if t := cfg.Timeout(r.Kind); t > 0 {
				return t
			}
			return cache.DefaultBudget
		},
		Size:         cfg.CacheSize,
		MaxBytes:     cfg.CacheMaxBytes,
		RefreshAhead: cfg.RefreshAhead,
		StaleIfError: cfg.StaleIfError,
		MaxWait:      cfg.MaxWait,
		Observer:     counters,
		Logger:       logger,

		// One sandbox's keys fail together (one account, one network path): they share a pace,
		// and a throttled key waits longer (cache.Pacer; SCALE.md's storm and brownout).
		Pacer: cache.NewPacer[kinko.Request](cache.PacerOptions{}),
	})
	var reads server.Cache = c
	if snap != nil {
		reads = snapStartCache{Cache: c, s: snap}
	}
	srv := server.NewHTTPServer(server.NewHandler(reads, cfg.Token, logger), logger)
	var wg sync.WaitGroup
	for _, l := range listeners {
		wg.Go(func() {
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				logger.Error("listener failed", "address", l.Addr().String(), "error", err)
			}
		})
	}

	life, endLife := context.WithCancel(context.Background())
	defer endLife()
	w := warmer{cfg: cfg, awsCfg: awsCfg, getenv: getenv, pending: pending, cache: c, counters: counters, logger: logger,
		start: start, port: listeners[0].Addr().(*net.TCPAddr).Port, ipv6: len(listeners) > 1, early: resumed}
	warm := func() { w.warm(life) }
	// Lambda's init ends when every extension has called /event/next, and an on-demand init is
	// what the first caller waits for: warm in the background, beside the runtime's init.
	// Provisioned concurrency inits on no one's clock and is frozen after: warm first.
	if cfg.InitType == config.InitProvisionedConcurrency {
		warm()
	} else {
		wg.Go(warm)
	}
	if snap != nil && len(cfg.Prefetch) > 0 {
		wg.Go(func() {
			select {
			case <-snap.Done():
				w.prefetch(life, "after the restore")
			case <-life.Done():
			}
		})
	}
	logger.Debug("waiting for events", "since_start_ms", ms(time.Since(start)))

	functionName := getenv("AWS_LAMBDA_FUNCTION_NAME")
	writeMetrics := func() {
		if cfg.LogNone {
			return
		}
		if err := counters.Write(out, cfg.Metrics, time.Now(), functionName); err != nil {
			logger.Error("could not write metrics", "error", err)
		}
	}
	invokes := 0
	onInvoke := func() {
		invokes++
		if snap != nil {
			snap.invoked() // the restore, unless a request saw it first
		}
		if n := cfg.MetricsEveryInvokes; n > 0 && invokes%n == 0 {
			writeMetrics()
		}
	}
	ev, loopErr := waitForShutdown(ctx, api, &wg, logger, onInvoke)

	// Drain: stop accepting, let requests in flight finish, then stop background work.
	deadline := time.Now().Add(2*time.Second - shutdownMargin)
	if ev.DeadlineMs > 0 {
		deadline = time.UnixMilli(ev.DeadlineMs).Add(-shutdownMargin)
	}
	drainCtx, cancelDrain := context.WithDeadline(context.Background(), deadline)
	defer cancelDrain()
	stopped := time.Now()
	if err := srv.Shutdown(drainCtx); err != nil {
		logger.Warn("requests still in flight at the deadline; closing them", "error", err)
		c.Close() // cancels their upstream calls: each answers 503 ExtensionShuttingDown
		// Let them write that answer, within the margin kept back from the deadline, rather
		// than cut their connections unanswered.
		graceCtx, cancelGrace := context.WithTimeout(context.Background(), shutdownMargin/2)
		if srv.Shutdown(graceCtx) != nil {
			_ = srv.Close()
		}
		cancelGrace()
	}
	endLife()
	c.Close()
	wg.Wait()
	writeMetrics()
	logger.Info("shutdown complete", "reason", ev.ShutdownReason, "drain_ms", ms(time.Since(stopped)))
	return loopErr
}

// subscriptions is what kinko registers for (config.Config.Subscriptions), with a warning where
// a setting cannot take effect.
func subscriptions(cfg config.Config, logger *slog.Logger) []string {
	if cfg.InitType == config.InitManagedInstances && cfg.MetricsEveryInvokes > 0 {
		logger.Warn("KINKO_METRICS_INVOKES is ignored on Lambda Managed Instances, which send extensions SHUTDOWN only; metrics are written at SHUTDOWN")
	}
	return cfg.Subscriptions()
}

// waitForShutdown loops on /event/next until SHUTDOWN or ctx's end (SIGTERM). When the loop
// itself fails after init, it reports that with /exit/error (best effort: Lambda's API may be
// what failed).
// onInvoke runs on this goroutine for every INVOKE.
func waitForShutdown(ctx context.Context, api *extensionsapi.Client, wg *sync.WaitGroup,
	logger *slog.Logger, onInvoke func()) (extensionsapi.Event, error) {
	nextCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		ev  extensionsapi.Event
		err error
	}
	for {
		next := make(chan result, 1)
		wg.Go(func() {
			ev, err := api.Next(nextCtx)
			next <- result{ev, err}
		})
		r := <-next
		switch {
		case ctx.Err() != nil:
			logger.Info("signal received; shutting down")
			return extensionsapi.Event{EventType: extensionsapi.Shutdown, ShutdownReason: "signal"}, nil
		case r.err != nil:
			logger.Error("event loop failed; exiting", "error", r.err)
			if rerr := api.ExitError(context.Background(), "EventLoop", r.err); rerr != nil {
				logger.Error("could not report exit error", "error", rerr)
			}
			return extensionsapi.Event{ShutdownReason: "event loop failed"}, r.err
		case r.ev.EventType == extensionsapi.Shutdown:
			return r.ev, nil
		case r.ev.EventType == extensionsapi.Invoke:
			onInvoke()
		}
	}
}

// warmer readies the upstream and the cache while Lambda goes on with init.
type warmer struct {
	cfg      config.Config
	awsCfg   aws.Config
	getenv   func(string) string
	pending  *upstream.Pending
	cache    *cache.Cache[kinko.Request, document.Value]
	counters *metrics.Counters
	logger   *slog.Logger
	start    time.Time // the process's start, for the ready line
	port     int
	ipv6     bool
	early    bool // registered by the early start (package earlystart)
}

// warm builds the AWS clients, hands them to the cache and prefetches, then logs "ready".
// Nothing here can fail init: a secret that does not prefetch is fetched on demand. Under
// SnapStart it does not prefetch: a value fetched now would be written into the snapshot; the
// prefetch runs after the restore instead.
func (w warmer) warm(ctx context.Context) {
	w.pending.Resolve(upstream.New(w.awsCfg, upstream.Options{
		MaxConnections: w.cfg.MaxConnections,
		Timeout:        w.cfg.Timeout,
		Endpoints:      awsconfig.Endpoints(w.getenv),
		Observer:       w.counters,
		Logger:         w.logger,
	}))
	prefetchStart := time.Now()
	prefetched, failed := 0, 0
	if w.cfg.InitType != config.InitSnapStart {
		prefetched, failed = len(w.cfg.Prefetch), w.prefetch(ctx, "")
	}
	cfg := w.cfg
	w.logger.Info("ready",
		"version", version,
		"port", w.port,
		"ipv6", w.ipv6,
		"early_start", w.early,
		"init_type", cfg.InitType,
		"cache_enabled", cfg.CacheEnabled && cfg.CacheSize > 0,
		"cache_size", cfg.CacheSize,
		"cache_max_bytes", cfg.CacheMaxBytes,
		"secrets_ttl_s", cfg.TTL(kinko.SecretsManager).Seconds(),
		"ssm_ttl_s", cfg.TTL(kinko.SSM).Seconds(),
		"refresh_ahead", cfg.RefreshAhead, // 0: the default, a jittered point (at most 1.2 calls per TTL)
		"stale_if_error_s", cfg.StaleIfError.Seconds(),
		"not_found_ttl_s", cfg.NotFoundTTL.Seconds(),
		"max_wait_ms", cfg.MaxWait.Milliseconds(),
		"prefetch", prefetched,
		"prefetch_failed", failed,
		"prefetch_after_restore", len(cfg.Prefetch)-prefetched,
		"prefetch_ms", ms(time.Since(prefetchStart)),
		"since_start_ms", ms(time.Since(w.start)),
	)
}

// prefetch fetches every id of KINKO_PREFETCH at once and returns how many failed. when says
// when it runs, for the log ("" during init).
func (w warmer) prefetch(ctx context.Context, when string) int {
	var failed int
	var mu sync.Mutex
	var g errgroup.Group
	for _, p := range w.cfg.Prefetch {
		if w.cfg.TTL(p.Kind) == 0 {
			continue // caching is off for it: a prefetched value would be thrown away
		}
		g.Go(func() error {
			if _, _, err := w.cache.Get(ctx, p); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
				w.logger.Warn("prefetch failed; requests will fetch it on demand", "service", p.Kind.String(), "id", p.ID, "error", err)
			}
			return nil
		})
	}
	_ = g.Wait()
	if when != "" {
		w.logger.Info("prefetched "+when, "prefetch", len(w.cfg.Prefetch), "prefetch_failed", failed)
	}
	return failed
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
func adopt(s handoff.State) ([]net.Listener, net.Conn, error) {
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

func newLogger(w io.Writer, cfg config.Config) *slog.Logger {
	if cfg.LogNone {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.Level(cfg.LogLevel)})).With("extension", "kinko")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// lockedWriter lets the logger and the metrics line share stdout without interleaving.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
