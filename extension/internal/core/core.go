// Package core is kinko's serving core: the cache, the HTTP API in front of it and the AWS
// clients behind it, wired once. It knows nothing of how the process was started or is told to
// stop. A lifecycle (package lambda: the Extensions API, the early start, SnapStart; a plain
// process's signals: package daemon) binds the listeners and decides when to serve, warm,
// restore and drain:
//
//	k := core.New(cfg, deps)   // builds; starts nothing, holds nothing to release
//	k.Seal(admit)              // only for a memory snapshot to come: nothing stored until Restore
//	k.Serve(listeners)         // answers on them
//	k.Go(k.Warm)               // AWS clients and prefetch, beside the lifecycle's own start
//	k.Restore()                // the memory was restored from a snapshot
//	k.WriteMetrics()           // whenever the lifecycle wants a metrics line
//	k.Drain(deadline)          // stop accepting, finish, close, wait, last metrics line
//
// Beside the sandbox's own cache it holds one per role read with roleArn (package roles), built
// on the role's first use, sealed, restored and drained with the rest.
package core

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/sync/errgroup"

	"github.com/kinko-dev/kinko/extension/internal/awsconfig"
	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
	"github.com/kinko-dev/kinko/extension/internal/metrics"
	"github.com/kinko-dev/kinko/extension/internal/roles"
	"github.com/kinko-dev/kinko/extension/internal/sdkapi"
	"github.com/kinko-dev/kinko/extension/internal/server"
	"github.com/kinko-dev/kinko/extension/internal/sigv4"
	"github.com/kinko-dev/kinko/extension/internal/upstream"
)

// drainGrace is how long past Drain's deadline the requests cancelled at it have to write their
// 503, rather than have their connections cut unanswered. A lifecycle keeps at least this much
// back from its own hard deadline.
const drainGrace = 100 * time.Millisecond

// Deps is what the core is given rather than finds.
type Deps struct {
	AWS    aws.Config          // awsconfig.Load's
	Getenv func(string) string // for the endpoint overrides (AWS_ENDPOINT_URL...)
	Logger *slog.Logger
	// Metrics is where metrics lines go: the logger's writer, serialised with it.
	Metrics io.Writer
	// FunctionName is the metrics lines' FunctionName.
	FunctionName string
	// MaxRoles is how many roles (roleArn) are held at once; 0: roles.DefaultMax. The agent
	// file's max_roles.
	MaxRoles int
	Version  string    // for the ready line
	Start    time.Time // the process's start, for the ready line
	// HTTP tunes the API for a lifecycle outside Lambda (token headers, path prefix, connection
	// bound, throttle); the zero value is Lambda's API.
	HTTP server.Options
}

// Core is kinko's serving core. Its methods are for one lifecycle to call in the order of the
// package's doc; Restore and WriteMetrics may come from any goroutine.
type Core struct {
	cfg      config.Config
	d        Deps
	counters *metrics.Counters
	pending  *upstream.Pending
	home     *kinko.Home
	cache    *cache.Cache[kinko.Request, document.Value]
	roles    *roles.Set[roleReads] // roleArn: a cache per role, built on its first use

	// keep is whether values are stored: false from Seal to Restore.
	keep   atomic.Bool
	sealed bool         // set by Seal, before Serve
	admit  func() error // Seal's; nil: every read is admitted

	srv  *http.Server // set by Serve
	own  []net.Addr   // the listeners' addresses, set by Serve: an endpoint there is kinko itself
	port int
	ipv6 bool

	life    context.Context // of the background work; ends when Drain begins to close
	endLife context.CancelFunc
	mu      sync.Mutex // guards draining against Go
	drained bool
	wg      sync.WaitGroup // the serving goroutines and the background work
}

// New wires the cache, the upstream (built later, by Warm) and the HTTP API for cfg. It starts
// no goroutine and opens nothing, so a core that never serves needs no Drain.
func New(cfg config.Config, d Deps) *Core {
	c := &Core{cfg: cfg, d: d, counters: &metrics.Counters{}, pending: upstream.NewPending(),
		// An ARN in the function's own account and region aliases its bare name (SetAccount).
		home: kinko.NewHome(d.AWS.Region)}
	c.keep.Store(true)
	c.life, c.endLife = context.WithCancel(context.Background())
	c.cache = c.newCache(upstream.Source{Fetcher: c.pending, Home: c.home}, 1)
	if c.d.MaxRoles <= 0 {
		c.d.MaxRoles = roles.DefaultMax
	}
	c.roles = roles.New(roles.Options[roleReads]{AWS: d.AWS, Getenv: c.getenvAvoidingSelf, FunctionName: d.FunctionName,
		Max: c.d.MaxRoles, Build: c.buildRole})
	return c
}

// newCache is a cache reading through src, configured as cfg says, with 1/share of its entries
// and bytes.
func (c *Core) newCache(src upstream.Source, share int) *cache.Cache[kinko.Request, document.Value] {
	cfg := c.cfg
	part := func(n int) int {
		if n == 0 {
			return 0 // no cache stays no cache
		}
		return max(1, n/share)
	}
	return cache.New[kinko.Request, document.Value](src, cache.Options[kinko.Request]{
		TTL: func(r kinko.Request) time.Duration {
			if !c.keep.Load() {
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
		Size:         part(cfg.CacheSize),
		MaxBytes:     part(cfg.CacheMaxBytes),
		RefreshAhead: cfg.RefreshAhead,
		StaleIfError: cfg.StaleIfError,
		MaxWait:      cfg.MaxWait,
		Observer:     c.counters,
		Logger:       c.d.Logger,

		// One sandbox's keys fail together (one account, one network path): they share a pace,
		// and a throttled key waits longer (cache.Pacer; SCALE.md's storm and brownout).
		Pacer: cache.NewPacer[kinko.Request](cache.PacerOptions{}),
	})
}

// upstreamOptions configure the AWS clients, the sandbox's own and each role's, with endpoints
// (awsconfig.EndpointsAvoiding: never kinko itself).
func (c *Core) upstreamOptions(endpoints map[kinko.Kind]string, logger *slog.Logger) upstream.Options {
	return upstream.Options{
		MaxConnections: c.cfg.MaxConnections,
		Timeout:        c.cfg.Timeout,
		Endpoints:      endpoints,
		Observer:       c.counters,
		Logger:         logger,
	}
}

// getenvAvoidingSelf is the environment with every endpoint URL that points at kinko's own
// listeners unset, for STS's endpoint (roles): the function's AWS_ENDPOINT_URL may be kinko.
// Read only once serving (after Serve set c.own).
func (c *Core) getenvAvoidingSelf(name string) string {
	v := c.d.Getenv(name)
	if strings.HasPrefix(name, "AWS_ENDPOINT_URL") && v != "" && awsconfig.PointsAt(v, c.own, net.InterfaceAddrs) {
		return ""
	}
	return v
}

// roleReads is one role's cache and the AWS clients behind it (roleArn).
type roleReads struct {
	cache *cache.Cache[kinko.Request, document.Value]
	up    *upstream.Client
}

func (r roleReads) Close() {
	r.cache.Close()
	r.up.DropConnections()
}

// buildRole is the cache of role, read with cfg (the role's credentials): its own cache and
// clients, so nothing it reads answers another identity. The roles share one more cache's
// budget (a 1/MaxRoles share each), so kinko holds at most twice KINKO_CACHE_MAX_BYTES
// however many roles are read. Its home account is the role's: an ARN there aliases its bare
// name. Building it makes no call.
func (c *Core) buildRole(role roles.Role, cfg aws.Config) roleReads {
	home := kinko.NewHome(cfg.Region)
	home.SetAccount(role.Account)
	endpoints, _ := awsconfig.EndpointsAvoiding(c.d.Getenv, c.own) // Warm logged what it skips
	up := upstream.New(cfg, c.upstreamOptions(endpoints, c.d.Logger.With("role", role.ARN)))
	return roleReads{cache: c.newCache(upstream.Source{Fetcher: up, Home: home}, c.d.MaxRoles), up: up}
}

// roleCaches is the Set as the server reads it: admitted first in a sealed core, as the
// sandbox's own cache is.
type roleCaches struct {
	set   *roles.Set[roleReads]
	admit func() error
}

func (r roleCaches) For(arn string) (server.Cache, func(), error) {
	c, release, err := r.set.For(arn)
	if err != nil {
		return nil, nil, err
	}
	if r.admit != nil {
		return admitted{Cache: c.cache, admit: r.admit}, release, nil
	}
	return c.cache, release, nil
}

// SetAccount is the function's AWS account, once the lifecycle knows it: from then on an ARN in
// that account and the core's region answers for its bare name too. Until then none does.
func (c *Core) SetAccount(id string) { c.home.SetAccount(id) }

// Seal is for a process whose memory will be snapshotted and restored, maybe days later, into
// many copies (Lambda SnapStart): until Restore the core stores no value and prefetches none,
// and admit is asked before every read: it may refuse the read (its error is the answer), or
// see the restore and call Restore before it returns. Call it before Serve.
func (c *Core) Seal(admit func() error) {
	c.sealed, c.admit = true, admit
	c.keep.Store(false)
}

// Restore is the process's memory restored from a snapshot: no value from before it is served
// again (a fetch in flight from before it answers its callers but stores nothing), the AWS
// credentials and connections from before it are dropped, values are stored from now on, and
// the prefetch runs again, in the background.
func (c *Core) Restore() {
	c.cache.Forget()
	c.roles.Reset() // their values, sessions and connections alike
	// The credentials in memory may have expired while the snapshot waited, and its
	// connections to AWS are dead.
	awsconfig.InvalidateCredentials(c.d.AWS)
	c.pending.DropConnections()
	c.keep.Store(true)
	if len(c.cfg.Prefetch) > 0 {
		c.Go(func(ctx context.Context) { c.prefetch(ctx, "after the restore") })
	}
}

// Serve answers the HTTP API on listeners (the first one's port is the one the ready line
// names) until Drain.
func (c *Core) Serve(listeners []net.Listener) {
	var reads server.Cache = c.cache
	if c.admit != nil {
		reads = admitted{Cache: c.cache, admit: c.admit}
	}
	o := c.d.HTTP
	o.Roles = roleCaches{set: c.roles, admit: c.admit}
	h := server.NewHandlerWith(reads, c.cfg.Token, c.d.Logger, o)
	h.HandleSDK(sdkapi.Lazy(func() http.Handler { return c.sdk(reads) }))
	c.srv = server.NewHTTPServerWith(h, c.d.Logger, o)
	for _, l := range listeners {
		c.own = append(c.own, l.Addr())
	}
	if len(listeners) > 0 {
		if a, ok := listeners[0].Addr().(*net.TCPAddr); ok {
			c.port = a.Port
		}
	}
	c.ipv6 = len(listeners) > 1
	for _, l := range listeners {
		c.wg.Go(func() {
			if err := c.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				c.d.Logger.Error("listener failed", "address", l.Addr().String(), "error", err)
			}
		})
	}
}

// Go runs f in the background with a context that ends when Drain begins to close; Drain waits
// for it. Once Drain has begun waiting it runs nothing.
func (c *Core) Go(f func(context.Context)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.drained {
		return
	}
	c.wg.Go(func() { f(c.life) })
}

// Warm builds the AWS clients and hands them to the cache (a request that came before waits for
// them), prefetches every id of KINKO_PREFETCH unless the core is sealed, and logs "ready" with
// attrs, the lifecycle's own facts, after the port. Nothing here fails: an id that does not
// prefetch is fetched on demand. It returns early when ctx ends or Drain begins.
func (c *Core) Warm(ctx context.Context, attrs ...any) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.life, cancel)()
	endpoints, ignored := awsconfig.EndpointsAvoiding(c.d.Getenv, c.own)
	for _, v := range ignored {
		c.d.Logger.Info(v+" points at kinko itself: it is the function's (its SDK reads through kinko); kinko's own calls go to "+
			"AWS_ENDPOINT_URL if that is not kinko too, else to AWS", "variable", v)
	}
	c.pending.Resolve(upstream.New(c.d.AWS, c.upstreamOptions(endpoints, c.d.Logger)))
	prefetchStart := time.Now()
	prefetched, failed := 0, 0
	// Sealed, a value fetched now would be in the snapshot: Restore prefetches instead.
	if !c.sealed {
		prefetched, failed = len(c.cfg.Prefetch), c.prefetch(ctx, "")
	}
	cfg := c.cfg
	line := append([]any{"version", c.d.Version, "port", c.port, "ipv6", c.ipv6}, attrs...)
	c.d.Logger.Info("ready", append(line,
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
		"since_start_ms", ms(time.Since(c.d.Start)),
	)...)
}

// prefetch fetches every id of KINKO_PREFETCH at once and returns how many failed. when says
// when it runs, for the log ("" during the start).
func (c *Core) prefetch(ctx context.Context, when string) int {
	var failed atomic.Int64
	var g errgroup.Group
	for _, p := range c.cfg.Prefetch {
		if c.cfg.TTL(p.Kind) == 0 {
			continue // caching is off for it: a prefetched value would be thrown away
		}
		g.Go(func() error {
			if _, _, err := c.cache.Get(ctx, p); err != nil {
				failed.Add(1)
				c.d.Logger.Warn("prefetch failed; requests will fetch it on demand", "service", p.Kind.String(), "id", p.ID, "error", err)
			}
			return nil
		})
	}
	_ = g.Wait()
	if when != "" {
		c.d.Logger.Info("prefetched "+when, "prefetch", len(c.cfg.Prefetch), "prefetch_failed", failed.Load())
	}
	return int(failed.Load())
}

// WriteMetrics writes the counters since the last line (KINKO_METRICS's format), unless logging
// is off.
func (c *Core) WriteMetrics() {
	if c.cfg.LogNone {
		return
	}
	if err := c.counters.Write(c.d.Metrics, c.cfg.Metrics, time.Now(), c.d.FunctionName); err != nil {
		c.d.Logger.Error("could not write metrics", "error", err)
	}
}

// Drain stops accepting and lets the requests in flight finish until deadline; what is still in
// flight then is cancelled and answers 503 ExtensionShuttingDown, with drainGrace to write it.
// It then ends the background work (Go, Warm), closes the cache, waits for all of it, and
// writes the last metrics line.
func (c *Core) Drain(deadline time.Time) {
	if c.srv != nil {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		if err := c.srv.Shutdown(ctx); err != nil {
			c.d.Logger.Warn("requests still in flight at the deadline; closing them", "error", err)
			c.cache.Close() // cancels their upstream calls: each answers 503 ExtensionShuttingDown
			c.roles.Close()
			grace, cancelGrace := context.WithTimeout(context.Background(), drainGrace)
			if c.srv.Shutdown(grace) != nil {
				_ = c.srv.Close()
			}
			cancelGrace()
		}
	}
	c.endLife()
	c.cache.Close()
	c.roles.Close()
	c.mu.Lock()
	c.drained = true
	c.mu.Unlock()
	c.wg.Wait()
	c.WriteMetrics()
}

// sdk builds the SDK endpoint (package sdkapi), on its first request: its reads go through
// reads (admitted, when the core is sealed), its writes drop from the cache, its forwards and
// signatures use the sandbox's credentials.
func (c *Core) sdk(reads sdkapi.Reader) http.Handler {
	return sdkapi.New(sdkapi.Deps{
		Reads:   reads,
		Cache:   c.cache,
		Forward: c.pending,
		Verify:  sigv4.New(c.d.AWS.Region, c.d.AWS.Credentials, time.Now, c.d.HTTP.WithDefaults().Owner),
		Token:   []byte(c.cfg.Token),
		HTTP:    c.d.HTTP,
		Logger:  c.d.Logger,
	})
}

// admitted is the cache as the server reads it from a sealed core: every read is admitted first.
type admitted struct {
	server.Cache
	admit func() error
}

func (a admitted) Get(ctx context.Context, r kinko.Request) (document.Value, cache.Status, error) {
	if err := a.admit(); err != nil {
		return document.Value{}, cache.Status{Outcome: cache.Bypass}, err
	}
	return a.Cache.Get(ctx, r)
}

func (a admitted) Refresh(ctx context.Context, r kinko.Request) (document.Value, cache.Status, error) {
	if err := a.admit(); err != nil {
		return document.Value{}, cache.Status{Outcome: cache.Bypass}, err
	}
	return a.Cache.Refresh(ctx, r)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
