// Package config reads kinko's settings from the environment: AWS's variable names and
// defaults for everything AWS's extension has, KINKO_* for what it adds. A bad value is an
// error naming the variable, so init fails with a message the user can act on.
package config

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
	"github.com/kinko-dev/kinko/extension/internal/reference"
)

// Init types, from AWS_LAMBDA_INITIALIZATION_TYPE.
const (
	InitOnDemand               = "on-demand"
	InitProvisionedConcurrency = "provisioned-concurrency"
	InitSnapStart              = "snap-start"
	InitManagedInstances       = "lambda-managed-instances"
)

// Config is everything kinko reads from its environment.
type Config struct {
	Port         int // 0 picks a free port (tests)
	CacheEnabled bool
	CacheSize    int
	// CacheMaxBytes bounds what the cached values hold (KINKO_CACHE_MAX_BYTES; default a share
	// of the function's memory, DefaultCacheBytes).
	CacheMaxBytes  int
	MaxConnections int
	LogLevel       Level
	LogNone        bool // PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL=NONE: no logs, no metrics line

	SecretsTTL     time.Duration
	SSMTTL         time.Duration
	SecretsTimeout time.Duration // 0: the SDK's default
	SSMTimeout     time.Duration

	// Prefetch is what KINKO_PREFETCH names (and AddReferences adds), normalised: secrets at
	// AWSCURRENT, parameters decrypted.
	Prefetch []kinko.Request
	// RefreshAhead is KINKO_REFRESH_AHEAD, the fraction of a value's life after which a hit
	// refreshes it in the background (0.5 to 1; 1 turns refresh-ahead off). 0: unset, the
	// cache's default (a jittered point that keeps a key at most 1.2 calls per TTL).
	RefreshAhead float64
	StaleIfError time.Duration // 0 turns stale-if-error off
	// NotFoundTTL is how long a not-found answer is remembered (KINKO_NOT_FOUND_TTL; 0: not at all).
	NotFoundTTL time.Duration
	// MaxWait is the longest a request whose key holds a value (fresh, or expired inside the
	// stale window) waits for a refetch before it is answered with that value.
	MaxWait time.Duration
	// MetricsEveryInvokes writes the metrics line every N invokes as well as at SHUTDOWN (0: only
	// at SHUTDOWN), for sandboxes that live long or may be killed without a SHUTDOWN.
	MetricsEveryInvokes int
	// Metrics is how the counters are written (KINKO_METRICS): a plain JSON log line by default,
	// CloudWatch EMF only when asked, because EMF creates custom metrics that are billed monthly.
	Metrics MetricsFormat

	// Token is what callers must send in X-Aws-Parameters-Secrets-Token. Empty means no
	// guarded request is allowed (fail closed). Never log it.
	Token    string
	InitType string

	// EarlyRegister lets kinko register with Lambda during package initialisation, before the
	// AWS SDK loads (package earlystart; KINKO_EARLY_REGISTER, default true).
	EarlyRegister bool

	// AllowSnapStartInitReads answers reads during a SnapStart init (KINKO_SNAPSTART_INIT_READS=
	// allow) instead of refusing them with 503: the function accepts that the values it reads
	// then are saved in the snapshot.
	AllowSnapStartInitReads bool
}

// Level is PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL, numbered as log/slog numbers its levels, so
// slog.Level(l) is the logger's level.
type Level int

const (
	LevelDebug Level = -4
	LevelInfo  Level = 0
	LevelWarn  Level = 4
	LevelError Level = 8
)

// MetricsFormat is the value of KINKO_METRICS.
type MetricsFormat string

const (
	MetricsLog  MetricsFormat = "log"  // one plain JSON log line, msg "metrics" (default)
	MetricsEMF  MetricsFormat = "emf"  // one CloudWatch Embedded Metric Format line
	MetricsNone MetricsFormat = "none" // nothing
)

// The cache's byte budget when KINKO_CACHE_MAX_BYTES is unset: a tenth of the function's
// memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, in MB), at least 4 MiB; outside Lambda, 64 MiB.
// A tenth leaves the function its memory: Go's collector lets the heap grow to about twice
// what is live, and the function has its own. Secrets are at most 64 KiB (parameters 8 KiB),
// so 12.8 MB (the smallest function, 128 MB) still holds about 190 of the largest, and a
// thousand typical ones (a few hundred bytes) take about 1 MB.
const (
	cacheMemoryShare   = 10 // percent
	minCacheBytes      = 4 << 20
	outsideLambdaBytes = 64 << 20
	maxCacheBytes      = int64(1) << 40
)

// DefaultCacheBytes is the byte budget for a function of memoryMB megabytes (0: not in Lambda).
func DefaultCacheBytes(memoryMB int) int {
	if memoryMB <= 0 {
		return outsideLambdaBytes
	}
	mb := min(int64(memoryMB), 1<<30) // no overflow below, whatever the variable says
	share := min(mb<<20*cacheMemoryShare/100, maxCacheBytes, math.MaxInt)
	return max(minCacheBytes, int(share))
}

// TTL is the cache lifetime for values of kind k; 0 means do not cache.
func (c Config) TTL(k kinko.Kind) time.Duration {
	if !c.CacheEnabled || c.CacheSize == 0 || c.CacheMaxBytes == 0 {
		return 0
	}
	if k == kinko.SSM {
		return c.SSMTTL
	}
	return c.SecretsTTL
}

// Timeout is the per-call upstream timeout for kind k; 0 means the SDK's default.
func (c Config) Timeout(k kinko.Kind) time.Duration {
	if k == kinko.SSM {
		return c.SSMTimeout
	}
	return c.SecretsTimeout
}

// Subscriptions is the events kinko registers for (CONTRACT.md section 2). Lambda waits after
// every invoke for each extension subscribed to INVOKE to ask for its next event, and kinko has
// nothing to do per invoke, so it takes INVOKE only when a feature needs it: the metrics line
// every N invokes, and SnapStart, where the first INVOKE is the sign of a restore. On Lambda
// Managed Instances external extensions may register for SHUTDOWN only (AWS's emulator, in that
// mode, refuses any other event), so there it is SHUTDOWN alone whatever is asked. The
// early start (package earlystart) registers with this list, main when it registers itself.
func (c Config) Subscriptions() []string {
	if c.InitType != InitManagedInstances && (c.InitType == InitSnapStart || c.MetricsEveryInvokes > 0) {
		return []string{"INVOKE", "SHUTDOWN"}
	}
	return []string{"SHUTDOWN"}
}

// Error is a bad configuration value. Its message names the variable and the problem but
// never echoes a token.
type Error struct {
	Variable string
	Value    string
	Problem  string
}

func (e *Error) Error() string {
	if e.Value == "" {
		return e.Variable + ": " + e.Problem
	}
	return e.Variable + "=" + strconv.Quote(e.Value) + ": " + e.Problem
}

// Load reads the configuration. It reports every bad variable at once, joined, so a user fixes
// them in one deploy rather than one per cold start.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		Port:                p.int("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", 2773, 0, 65535),
		CacheEnabled:        p.bool("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED", true),
		CacheSize:           p.int("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", 1000, 0, 1_000_000),
		CacheMaxBytes:       p.cacheBytes("KINKO_CACHE_MAX_BYTES", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
		MaxConnections:      p.int("PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS", 3, 1, 1000),
		SecretsTTL:          p.seconds(kinko.SecretsManager.TTLVariable(), 300, 86400),
		SSMTTL:              p.seconds(kinko.SSM.TTLVariable(), 300, 86400),
		SecretsTimeout:      p.millis(kinko.SecretsManager.TimeoutVariable()),
		SSMTimeout:          p.millis(kinko.SSM.TimeoutVariable()),
		RefreshAhead:        p.refreshAhead("KINKO_REFRESH_AHEAD"),
		StaleIfError:        p.seconds("KINKO_STALE_IF_ERROR", 3600, 7*86400),
		NotFoundTTL:         p.seconds("KINKO_NOT_FOUND_TTL", 5, 3600),
		MaxWait:             time.Duration(p.int("KINKO_MAX_WAIT_MS", 250, 0, 60_000)) * time.Millisecond,
		MetricsEveryInvokes: p.int("KINKO_METRICS_INVOKES", 0, 0, 1_000_000),
		Prefetch:            p.prefetch("KINKO_PREFETCH"),
		Metrics:             p.metrics("KINKO_METRICS"),
		InitType:            p.initType("AWS_LAMBDA_INITIALIZATION_TYPE"),
		EarlyRegister:       p.bool("KINKO_EARLY_REGISTER", true),
	}
	c.LogLevel, c.LogNone = p.logLevel("PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL")
	c.AllowSnapStartInitReads = p.snapStartInitReads("KINKO_SNAPSTART_INIT_READS")
	c.Token = getenv("AWS_SESSION_TOKEN")
	if c.Token == "" {
		c.Token = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
	}
	return c, p.err()
}

// Errors are the bad variables of one Load, at least two: one per line. kinko prints a fatal
// error on stderr as "kinko: <error>", and Lambda makes each line its own log event beside the
// function's, so every line after the first starts with "kinko: " too: none reads as the
// function's. errors.As reaches each *Error.
type Errors []error

func (e Errors) Error() string {
	var b strings.Builder
	for i, err := range e {
		if i > 0 {
			b.WriteString("\nkinko: ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e Errors) Unwrap() []error { return e }

type parser struct {
	getenv func(string) string
	errs   []error
}

// err is nil, the one bad variable, or all of them (Errors).
func (p *parser) err() error {
	switch len(p.errs) {
	case 0:
		return nil
	case 1:
		return p.errs[0]
	}
	return Errors(p.errs)
}

func (p *parser) fail(name, value, problem string) {
	p.errs = append(p.errs, &Error{Variable: name, Value: value, Problem: problem})
}

func (p *parser) lookup(name string) (string, bool) {
	v := strings.TrimSpace(p.getenv(name))
	return v, v != ""
}

func (p *parser) int(name string, def, lo, hi int) int {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.fail(name, v, "want a whole number from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi)+" (default "+strconv.Itoa(def)+")")
		return def
	}
	return n
}

// cacheBytes reads the byte budget, or derives it from the function's memory size. Lambda sets
// memoryVar, not the user: a value that is not a number is taken as absent, not refused.
func (p *parser) cacheBytes(name, memoryVar string) int {
	memoryMB, err := strconv.Atoi(strings.TrimSpace(p.getenv(memoryVar)))
	if err != nil {
		memoryMB = 0
	}
	def := DefaultCacheBytes(memoryMB)
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > maxCacheBytes || n > math.MaxInt {
		p.fail(name, v, "want a whole number of bytes from 0 (cache nothing) to "+strconv.FormatInt(min(maxCacheBytes, math.MaxInt), 10)+
			", e.g. 16777216 for 16 MiB (default "+strconv.Itoa(def)+": "+strconv.Itoa(cacheMemoryShare)+
			"% of "+memoryVar+", at least "+strconv.Itoa(minCacheBytes)+"; "+strconv.Itoa(outsideLambdaBytes)+" outside Lambda)")
		return def
	}
	return int(n)
}

func (p *parser) seconds(name string, def, max int) time.Duration {
	return time.Duration(p.int(name, def, 0, max)) * time.Second
}

func (p *parser) millis(name string) time.Duration {
	return time.Duration(p.int(name, 0, 0, 3_600_000)) * time.Millisecond
}

func (p *parser) bool(name string, def bool) bool {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "true":
		return true
	case "false":
		return false
	}
	p.fail(name, v, "want true or false (default "+strconv.FormatBool(def)+")")
	return def
}

// refreshAhead reads a fraction from 0.5 to 1, used as given; unset is 0, the cache's default.
// Below a half, a key would cost more than two calls per TTL for little fresher values.
func (p *parser) refreshAhead(name string) float64 {
	v, ok := p.lookup(name)
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < 0.5 || f > 1 {
		p.fail(name, v, "want a fraction of the TTL from 0.5 to 1, where 1 turns refresh-ahead off "+
			"(unset: a jittered point that keeps a key at most 1.2 upstream calls per TTL)")
		return 0
	}
	return f
}

func (p *parser) logLevel(name string) (Level, bool) {
	v, ok := p.lookup(name)
	if !ok {
		return LevelInfo, false
	}
	switch strings.ToUpper(v) {
	case "DEBUG":
		return LevelDebug, false
	case "INFO":
		return LevelInfo, false
	case "WARN", "WARNING":
		return LevelWarn, false
	case "ERROR":
		return LevelError, false
	case "NONE":
		return LevelError, true
	}
	p.fail(name, v, "want one of DEBUG, INFO, WARN, ERROR, NONE (default INFO)")
	return LevelInfo, false
}

func (p *parser) metrics(name string) MetricsFormat {
	v, ok := p.lookup(name)
	if !ok {
		return MetricsLog
	}
	switch f := MetricsFormat(strings.ToLower(v)); f {
	case MetricsLog, MetricsEMF, MetricsNone:
		return f
	}
	p.fail(name, v, "want log (a plain JSON line, the default), emf (CloudWatch custom metrics, billed per metric) or none")
	return MetricsLog
}

func (p *parser) initType(name string) string {
	v, ok := p.lookup(name)
	if !ok {
		return InitOnDemand
	}
	switch v {
	case InitOnDemand, InitProvisionedConcurrency, InitSnapStart, InitManagedInstances:
		return v
	}
	// Lambda sets this variable, not the user; an unknown value means a new mode we should
	// treat like on-demand rather than refuse to start.
	return InitOnDemand
}

// snapStartInitReads reads the opt-in to reads during a SnapStart init: refuse (default) or allow.
func (p *parser) snapStartInitReads(name string) bool {
	v, ok := p.lookup(name)
	if !ok {
		return false
	}
	switch strings.ToLower(v) {
	case "refuse":
		return false
	case "allow":
		return true
	}
	p.fail(name, v, "want refuse (the default: reads during a SnapStart init answer 503, so no value is saved in the snapshot) "+
		"or allow (answer them, accepting that the values read then are saved in the snapshot)")
	return false
}

func (p *parser) prefetch(name string) []kinko.Request {
	v, ok := p.lookup(name)
	if !ok {
		return nil
	}
	var out []kinko.Request
	seen := map[kinko.Request]bool{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		r := kinko.Request{Kind: kinko.SecretsManager, ID: item}
		if rest, ok := strings.CutPrefix(item, "ssm:"); ok {
			r = kinko.Request{Kind: kinko.SSM, ID: rest, Decrypt: true}
		}
		if err := kinko.CheckID(r.ID); err != nil {
			p.fail(name, item, "entry "+err.Error()+"; list secret ids (name or ARN) and ssm:NAME entries, separated by commas")
			continue
		}
		if r = r.Normalize(); !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// AddReferences returns list with every kinko: reference found in environ's values added
// (CONTRACT.md section 10), so the values /opt/kinko-exec asks for are fetched while it starts:
// one cache entry serves kinko's prefetch and the wrapper. A secret's #KEY names no entry of its
// own (the server reads keys from the whole secret), and parameters are read decrypted, as the
// wrapper asks. Duplicates of list's entries are dropped. A malformed reference is skipped: the
// wrapper reports it, naming the variable, and stops init.
func AddReferences(list []kinko.Request, environ []string) []kinko.Request {
	seen := make(map[kinko.Request]bool, len(list))
	for _, r := range list {
		seen[r] = true
	}
	for _, kv := range environ {
		_, value, _ := strings.Cut(kv, "=")
		if !reference.Is(value) {
			continue
		}
		ref, err := reference.Parse(value)
		if err != nil {
			continue
		}
		if r := ref.Request(); !seen[r] && kinko.CheckID(r.ID) == nil {
			seen[r] = true
			list = append(list, r)
		}
	}
	return list
}
