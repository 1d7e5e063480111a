// Package config reads kinko's settings from the environment: AWS's variable names and
// defaults for everything AWS's extension has, KINKO_* for what it adds. A bad value is an
// error naming the variable, so init fails with a message the user can act on.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// Kind is the AWS service a cached value comes from.
type Kind uint8

const (
	SecretsManager Kind = iota + 1
	SSM
)

func (k Kind) String() string {
	switch k {
	case SecretsManager:
		return "secretsmanager"
	case SSM:
		return "ssm"
	}
	return "unknown"
}

// MaxIDBytes is the longest secret id or parameter name accepted (a full ARN fits easily).
const MaxIDBytes = 2048

// Prefetch is one entry of KINKO_PREFETCH.
type Prefetch struct {
	Kind Kind
	ID   string
}

// Init types, from AWS_LAMBDA_INITIALIZATION_TYPE.
const (
	InitOnDemand               = "on-demand"
	InitProvisionedConcurrency = "provisioned-concurrency"
	InitSnapStart              = "snap-start"
	InitManagedInstances       = "lambda-managed-instances"
)

// Config is everything kinko reads from its environment.
type Config struct {
	Port           int // 0 picks a free port (tests)
	CacheEnabled   bool
	CacheSize      int
	MaxConnections int
	LogLevel       slog.Level
	LogNone        bool // PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL=NONE: no logs, no metrics line

	SecretsTTL     time.Duration
	SSMTTL         time.Duration
	SecretsTimeout time.Duration // 0: the SDK's default
	SSMTimeout     time.Duration

	Prefetch     []Prefetch
	RefreshAhead float64       // fraction of TTL; 1 turns refresh-ahead off
	StaleIfError time.Duration // 0 turns stale-if-error off
	// MaxWait is the longest a request whose key holds a value (fresh, or expired inside the
	// stale window) waits for a refetch before it is answered with that value.
	MaxWait time.Duration
	// MetricsEveryInvokes writes the metrics line every N invokes as well as at SHUTDOWN (0: only
	// at SHUTDOWN), for sandboxes that live long or may be killed without a SHUTDOWN.
	MetricsEveryInvokes int

	// Token is what callers must send in X-Aws-Parameters-Secrets-Token. Empty means no
	// guarded request is allowed (fail closed). Never log it.
	Token    string
	InitType string
}

// TTL is the cache lifetime for values of kind k; 0 means do not cache.
func (c Config) TTL(k Kind) time.Duration {
	if !c.CacheEnabled || c.CacheSize == 0 {
		return 0
	}
	if k == SSM {
		return c.SSMTTL
	}
	return c.SecretsTTL
}

// Timeout is the per-call upstream timeout for kind k; 0 means the SDK's default.
func (c Config) Timeout(k Kind) time.Duration {
	if k == SSM {
		return c.SSMTimeout
	}
	return c.SecretsTimeout
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
		return fmt.Sprintf("%s: %s", e.Variable, e.Problem)
	}
	return fmt.Sprintf("%s=%q: %s", e.Variable, e.Value, e.Problem)
}

// Load reads the configuration. It reports every bad variable at once, joined, so a user fixes
// them in one deploy rather than one per cold start.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		Port:                p.int("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", 2773, 0, 65535),
		CacheEnabled:        p.bool("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED", true),
		CacheSize:           p.int("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", 1000, 0, 1_000_000),
		MaxConnections:      p.int("PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS", 3, 1, 1000),
		SecretsTTL:          p.seconds("SECRETS_MANAGER_TTL", 300, 86400),
		SSMTTL:              p.seconds("SSM_PARAMETER_STORE_TTL", 300, 86400),
		SecretsTimeout:      p.millis("SECRETS_MANAGER_TIMEOUT_MILLIS"),
		SSMTimeout:          p.millis("SSM_PARAMETER_STORE_TIMEOUT_MILLIS"),
		RefreshAhead:        p.fraction("KINKO_REFRESH_AHEAD", 0.8),
		StaleIfError:        p.seconds("KINKO_STALE_IF_ERROR", 3600, 7*86400),
		MaxWait:             time.Duration(p.int("KINKO_MAX_WAIT_MS", 250, 0, 60_000)) * time.Millisecond,
		MetricsEveryInvokes: p.int("KINKO_METRICS_INVOKES", 0, 0, 1_000_000),
		Prefetch:            p.prefetch("KINKO_PREFETCH"),
		InitType:            p.initType("AWS_LAMBDA_INITIALIZATION_TYPE"),
	}
	c.LogLevel, c.LogNone = p.logLevel("PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL")
	c.Token = getenv("AWS_SESSION_TOKEN")
	if c.Token == "" {
		c.Token = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
	}
	return c, errors.Join(p.errs...)
}

type parser struct {
	getenv func(string) string
	errs   []error
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
		p.fail(name, v, fmt.Sprintf("want a whole number from %d to %d (default %d)", lo, hi, def))
		return def
	}
	return n
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
	p.fail(name, v, fmt.Sprintf("want true or false (default %t)", def))
	return def
}

func (p *parser) fraction(name string, def float64) float64 {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f > 1 {
		p.fail(name, v, fmt.Sprintf("want a fraction of the TTL above 0 and at most 1, where 1 turns refresh-ahead off (default %g)", def))
		return def
	}
	return f
}

func (p *parser) logLevel(name string) (slog.Level, bool) {
	v, ok := p.lookup(name)
	if !ok {
		return slog.LevelInfo, false
	}
	switch strings.ToUpper(v) {
	case "DEBUG":
		return slog.LevelDebug, false
	case "INFO":
		return slog.LevelInfo, false
	case "WARN", "WARNING":
		return slog.LevelWarn, false
	case "ERROR":
		return slog.LevelError, false
	case "NONE":
		return slog.LevelError, true
	}
	p.fail(name, v, "want one of DEBUG, INFO, WARN, ERROR, NONE (default INFO)")
	return slog.LevelInfo, false
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

func (p *parser) prefetch(name string) []Prefetch {
	v, ok := p.lookup(name)
	if !ok {
		return nil
	}
	var out []Prefetch
	seen := map[Prefetch]bool{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		pf := Prefetch{Kind: SecretsManager, ID: item}
		if rest, ok := strings.CutPrefix(item, "ssm:"); ok {
			pf = Prefetch{Kind: SSM, ID: rest}
		}
		if err := CheckID(pf.ID); err != nil {
			p.fail(name, item, "entry "+err.Error()+"; list secret ids (name or ARN) and ssm:NAME entries, separated by commas")
			continue
		}
		if !seen[pf] {
			seen[pf] = true
			out = append(out, pf)
		}
	}
	return out
}

// CheckID says what is wrong with a secret id or parameter name, or nil. The server applies the
// same rule to requests, so a prefetch entry that passes here is one a request could ask for.
func CheckID(id string) error {
	switch {
	case id == "":
		return errors.New("is empty")
	case len(id) > MaxIDBytes:
		return fmt.Errorf("is %d bytes long, over the limit of %d", len(id), MaxIDBytes)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("has a control character (byte 0x%02x at offset %d)", c, i)
		}
	}
	return nil
}
