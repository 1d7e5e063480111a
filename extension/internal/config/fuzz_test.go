package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// variables are the names FuzzConfig sets, in the order of its arguments.
var variables = []string{
	"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
	"PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED",
	"PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE",
	"PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS",
	"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL",
	"SECRETS_MANAGER_TTL",
	"SSM_PARAMETER_STORE_TTL",
	"SECRETS_MANAGER_TIMEOUT_MILLIS",
	"SSM_PARAMETER_STORE_TIMEOUT_MILLIS",
	"KINKO_PREFETCH",
	"KINKO_REFRESH_AHEAD",
	"KINKO_STALE_IF_ERROR",
	"AWS_LAMBDA_INITIALIZATION_TYPE",
	"AWS_SESSION_TOKEN",
}

// FuzzConfig loads arbitrary values for every variable. Load never panics; it either succeeds
// with every setting inside its documented range, or fails with errors that each name a
// variable that was set; and no message depends on AWS_SESSION_TOKEN.
func FuzzConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, port, cacheEnabled, cacheSize, maxConns, logLevel, smTTL, ssmTTL,
		smTimeout, ssmTimeout, prefetch, refreshAhead, staleIfError, initType, sessionToken string) {
		values := []string{port, cacheEnabled, cacheSize, maxConns, logLevel, smTTL, ssmTTL,
			smTimeout, ssmTimeout, prefetch, refreshAhead, staleIfError, initType, sessionToken}
		env := map[string]string{}
		for i, name := range variables {
			env[name] = values[i]
		}
		c, err := Load(func(k string) string { return env[k] })
		if err != nil {
			checkErrors(t, err, env)
			// The token must not shape any message: load again with another token.
			env["AWS_SESSION_TOKEN"] = "x" + sessionToken + "x"
			_, again := Load(func(k string) string { return env[k] })
			if again == nil || again.Error() != err.Error() {
				t.Fatal("an error message changes with AWS_SESSION_TOKEN")
			}
			return
		}
		checkRanges(t, c)
		if c.Token != sessionToken {
			t.Fatal("Token is not AWS_SESSION_TOKEN")
		}
	})
}

func checkErrors(t *testing.T, err error, env map[string]string) {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("error of type %T, want *config.Error", e)
		}
		if ce.Variable == "AWS_SESSION_TOKEN" || strings.TrimSpace(env[ce.Variable]) == "" {
			t.Fatalf("error names %s, which was not set or is not checked", ce.Variable)
		}
		if !strings.HasPrefix(e.Error(), ce.Variable) || ce.Problem == "" {
			t.Fatalf("message does not start with the variable's name or lacks the problem")
		}
	}
}

func checkRanges(t *testing.T, c Config) {
	t.Helper()
	switch {
	case c.Port < 0 || c.Port > 65535:
		t.Fatalf("port %d", c.Port)
	case c.CacheSize < 0 || c.CacheSize > 1_000_000:
		t.Fatalf("cache size %d", c.CacheSize)
	case c.MaxConnections < 1 || c.MaxConnections > 1000:
		t.Fatalf("max connections %d", c.MaxConnections)
	case c.SecretsTTL < 0 || c.SecretsTTL > 86400*time.Second || c.SSMTTL < 0 || c.SSMTTL > 86400*time.Second:
		t.Fatalf("TTL %s / %s", c.SecretsTTL, c.SSMTTL)
	case c.SecretsTimeout < 0 || c.SecretsTimeout > time.Hour || c.SSMTimeout < 0 || c.SSMTimeout > time.Hour:
		t.Fatalf("timeout %s / %s", c.SecretsTimeout, c.SSMTimeout)
	case c.RefreshAhead != 0 && !(c.RefreshAhead >= 0.5 && c.RefreshAhead <= 1):
		t.Fatalf("refresh ahead %g", c.RefreshAhead)
	case c.StaleIfError < 0 || c.StaleIfError > 7*24*time.Hour:
		t.Fatalf("stale if error %s", c.StaleIfError)
	case c.MaxWait < 0 || c.MaxWait > time.Minute:
		t.Fatalf("max wait %s", c.MaxWait)
	}
	switch c.InitType {
	case InitOnDemand, InitProvisionedConcurrency, InitSnapStart, InitManagedInstances:
	default:
		t.Fatalf("init type %q", c.InitType)
	}
	seen := map[kinko.Request]bool{}
	for _, p := range c.Prefetch {
		if kinko.CheckID(p.ID) != nil || (p.Kind != kinko.SecretsManager && p.Kind != kinko.SSM) || seen[p] {
			t.Fatal("a prefetch entry is invalid or repeated")
		}
		seen[p] = true
	}
}
