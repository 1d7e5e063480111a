package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsMatchAWSExtension(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 2773 || !c.CacheEnabled || c.CacheSize != 1000 || c.MaxConnections != 3 ||
		c.LogLevel != LevelInfo || c.LogNone || c.SecretsTTL != 300*time.Second || c.SSMTTL != 300*time.Second ||
		c.SecretsTimeout != 0 || c.SSMTimeout != 0 || c.RefreshAhead != 0 || c.StaleIfError != time.Hour || c.NotFoundTTL != 5*time.Second ||
		c.MaxWait != 250*time.Millisecond || len(c.Prefetch) != 0 || c.Token != "" || c.InitType != InitOnDemand || c.MetricsEveryInvokes != 0 ||
		c.Metrics != MetricsLog || c.CacheMaxBytes != 64<<20 {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestEveryVariableIsRead(t *testing.T) {
	c, err := Load(env(map[string]string{
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT":       "2800",
		"PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED":   "FALSE",
		"PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE":      "5",
		"PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS": "7",
		"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL":       "debug",
		"SECRETS_MANAGER_TTL":                          "60",
		"SSM_PARAMETER_STORE_TTL":                      "0",
		"SECRETS_MANAGER_TIMEOUT_MILLIS":               "1500",
		"SSM_PARAMETER_STORE_TIMEOUT_MILLIS":           "250",
		"KINKO_PREFETCH":                               " a , ssm:/app/db,a,,arn:aws:secretsmanager:us-east-1:1:secret:b-AbCdEf ",
		"KINKO_REFRESH_AHEAD":                          "0.5",
		"KINKO_STALE_IF_ERROR":                         "0",
		"KINKO_NOT_FOUND_TTL":                          "30",
		"KINKO_MAX_WAIT_MS":                            "0",
		"KINKO_METRICS_INVOKES":                        "100",
		"KINKO_METRICS":                                "EMF",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN":            "container",
		"AWS_LAMBDA_INITIALIZATION_TYPE":               "provisioned-concurrency",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []kinko.Request{secret("a"), parameter("/app/db"), secret("arn:aws:secretsmanager:us-east-1:1:secret:b-AbCdEf")}
	if c.Port != 2800 || c.CacheEnabled || c.CacheSize != 5 || c.MaxConnections != 7 || c.LogLevel != LevelDebug ||
		c.SecretsTTL != time.Minute || c.SSMTTL != 0 || c.SecretsTimeout != 1500*time.Millisecond ||
		c.SSMTimeout != 250*time.Millisecond || c.RefreshAhead != 0.5 || c.StaleIfError != 0 || c.NotFoundTTL != 30*time.Second || c.MaxWait != 0 ||
		c.Token != "container" || c.InitType != InitProvisionedConcurrency || len(c.Prefetch) != len(want) || c.MetricsEveryInvokes != 100 ||
		c.Metrics != MetricsEMF {
		t.Fatalf("config = %+v", c)
	}
	for i := range want {
		if c.Prefetch[i] != want[i] {
			t.Errorf("prefetch[%d] = %+v, want %+v", i, c.Prefetch[i], want[i])
		}
	}
	if c.TTL(kinko.SecretsManager) != 0 {
		t.Error("cache disabled must mean TTL 0")
	}
}

func TestSessionTokenWinsOverContainerToken(t *testing.T) {
	c, _ := Load(env(map[string]string{"AWS_SESSION_TOKEN": "s", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "c"}))
	if c.Token != "s" {
		t.Fatalf("token = %q, want the session token", c.Token)
	}
}

func TestTTLFollowsKindAndSize(t *testing.T) {
	c, _ := Load(env(map[string]string{"SECRETS_MANAGER_TTL": "10", "SSM_PARAMETER_STORE_TTL": "20"}))
	if c.TTL(kinko.SecretsManager) != 10*time.Second || c.TTL(kinko.SSM) != 20*time.Second {
		t.Fatalf("ttl = %v %v", c.TTL(kinko.SecretsManager), c.TTL(kinko.SSM))
	}
	c, _ = Load(env(map[string]string{"PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE": "0"}))
	if c.TTL(kinko.SecretsManager) != 0 {
		t.Fatal("size 0 must disable caching")
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	cases := map[string]string{
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT":       "70000",
		"PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED":   "yes please",
		"PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE":      "-1",
		"PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS": "0",
		"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL":       "LOUD",
		"SECRETS_MANAGER_TTL":                          "5m",
		"SSM_PARAMETER_STORE_TTL":                      "1e3",
		"SECRETS_MANAGER_TIMEOUT_MILLIS":               "-5",
		"SSM_PARAMETER_STORE_TIMEOUT_MILLIS":           "soon",
		"KINKO_PREFETCH":                               "ok,ssm:",
		"KINKO_REFRESH_AHEAD":                          "0.49",
		"KINKO_STALE_IF_ERROR":                         "forever",
		"KINKO_NOT_FOUND_TTL":                          "5s",
		"KINKO_MAX_WAIT_MS":                            "250ms",
		"KINKO_METRICS_INVOKES":                        "-1",
		"KINKO_METRICS":                                "cloudwatch",
		"KINKO_CACHE_MAX_BYTES":                        "64MB",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(env(map[string]string{name: value}))
			var ce *Error
			if !errors.As(err, &ce) || ce.Variable != name {
				t.Fatalf("err = %v, want a config.Error naming %s", err, name)
			}
			if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "want") && !strings.Contains(err.Error(), "empty") {
				t.Fatalf("message %q must name the variable and what is wanted", err)
			}
		})
	}
	// All problems at once, so one deploy fixes them all.
	_, err := Load(env(cases))
	for name := range cases {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("joined error lacks %s: %v", name, err)
		}
	}
}

func TestMetricsFormats(t *testing.T) {
	for v, want := range map[string]MetricsFormat{"": MetricsLog, "log": MetricsLog, " Emf ": MetricsEMF, "NONE": MetricsNone} {
		c, err := Load(env(map[string]string{"KINKO_METRICS": v}))
		if err != nil || c.Metrics != want {
			t.Errorf("KINKO_METRICS=%q: %q, %v; want %q", v, c.Metrics, err, want)
		}
	}
	_, err := Load(env(map[string]string{"KINKO_METRICS": "true"}))
	for _, word := range []string{"KINKO_METRICS", "log", "emf", "none", "billed"} {
		if err == nil || !strings.Contains(err.Error(), word) {
			t.Errorf("error %v must name %q", err, word)
		}
	}
}

// secret and parameter are prefetch entries as Load and AddReferences make them: normalised.
func secret(id string) kinko.Request {
	return kinko.Request{Kind: kinko.SecretsManager, ID: id, Stage: kinko.CurrentStage}
}

func parameter(id string) kinko.Request { return kinko.Request{Kind: kinko.SSM, ID: id, Decrypt: true} }

func TestAddReferences(t *testing.T) {
	list := []kinko.Request{secret("prod/db"), parameter("/app/key")}
	environ := []string{
		"DB_USER=kinko:secretsmanager:prod/db#user", // already in KINKO_PREFETCH: no second entry
		"DB_PASSWORD=kinko:secretsmanager:prod/db#password",
		"OPENAI_API_KEY=kinko:secretsmanager:openai#OPENAI_API_KEY",
		"WHOLE=kinko:secretsmanager:openai", // the same entry as its #KEY form
		"TOKEN=kinko:ssm:/app/token",
		"TOKEN2=kinko:ssm:/app/token",
		"KEY=kinko:ssm:/app/key",
		"SECRET_AS_PARAM=kinko:ssm:/aws/reference/secretsmanager/openai", // an SSM entry, not the secret's
		"BAD=kinko:ssm:/p#k",                                             // malformed: the wrapper reports it
		"BAD2=kinko:vault:x",
		"PLAIN=hello",
		"NOT=see kinko:ssm:/x",
		"NOEQUALS",
		"=kinko:ssm:/nameless",
		"APP=kinko:ssm-path:/app/prod/", // the path read, one entry, as the wrapper asks for it
		"APP2=kinko:ssm-path:/app/prod/",
	}
	got := AddReferences(list, environ)
	want := []kinko.Request{
		secret("prod/db"), parameter("/app/key"),
		secret("openai"), parameter("/app/token"), parameter("/aws/reference/secretsmanager/openai"), parameter("/nameless"),
		{Kind: kinko.SSM, ID: "/app/prod/", Decrypt: true, Path: kinko.PathChildren},
	}
	if !slices.Equal(got, want) {
		t.Errorf("AddReferences = %v\nwant %v", got, want)
	}
	if got := AddReferences(nil, nil); got != nil {
		t.Errorf("no environment: %v", got)
	}
}

// Issue 22 point 7: KINKO_REFRESH_AHEAD is used as given from 0.5 to 1; unset leaves the
// cache's default (0); below 0.5, or 0, fails init naming the variable.
func TestRefreshAheadIsUsedAsGiven(t *testing.T) {
	for value, want := range map[string]float64{"": 0, "0.5": 0.5, "0.75": 0.75, "1": 1} {
		c, err := Load(env(map[string]string{"KINKO_REFRESH_AHEAD": value}))
		if err != nil || c.RefreshAhead != want {
			t.Errorf("KINKO_REFRESH_AHEAD=%q: %g %v, want %g", value, c.RefreshAhead, err, want)
		}
	}
	for _, value := range []string{"0", "0.3", "0.4999", "1.01", "NaN", "-1"} {
		var ce *Error
		if _, err := Load(env(map[string]string{"KINKO_REFRESH_AHEAD": value})); !errors.As(err, &ce) || ce.Variable != "KINKO_REFRESH_AHEAD" ||
			!strings.Contains(err.Error(), "0.5 to 1") {
			t.Errorf("KINKO_REFRESH_AHEAD=%q: %v, want an error naming the variable and the range", value, err)
		}
	}
}

func TestNotFoundTTL(t *testing.T) {
	for value, want := range map[string]time.Duration{"": 5 * time.Second, "0": 0, "60": time.Minute, "3600": time.Hour} {
		c, err := Load(env(map[string]string{"KINKO_NOT_FOUND_TTL": value}))
		if err != nil || c.NotFoundTTL != want {
			t.Errorf("KINKO_NOT_FOUND_TTL=%q: %s %v, want %s", value, c.NotFoundTTL, err, want)
		}
	}
	for _, value := range []string{"-1", "3601", "5s", "1.5"} {
		var ce *Error
		if _, err := Load(env(map[string]string{"KINKO_NOT_FOUND_TTL": value})); !errors.As(err, &ce) || ce.Variable != "KINKO_NOT_FOUND_TTL" {
			t.Errorf("KINKO_NOT_FOUND_TTL=%q: %v, want an error naming the variable", value, err)
		}
	}
}

// The cache's byte budget is a tenth of the function's memory, at least 4 MiB, 64 MiB outside
// Lambda, unless KINKO_CACHE_MAX_BYTES says otherwise; 0 there turns caching off.
func TestCacheByteBudget(t *testing.T) {
	for _, c := range []struct {
		memory, set string
		want        int64
	}{
		{"", "", 64 << 20},
		{"128", "", 128 << 20 / 10}, // 12.8 MiB
		{"10240", "", 10240 << 20 / 10},
		{"16", "", 4 << 20},
		{"not a number", "", 64 << 20}, // Lambda sets it: taken as absent, not refused
		{"99999999999999999", "", 1 << 40},
		{"128", " 1000000 ", 1_000_000},
		{"", "0", 0},
	} {
		cfg, err := Load(env(map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": c.memory, "KINKO_CACHE_MAX_BYTES": c.set}))
		if err != nil || int64(cfg.CacheMaxBytes) != c.want {
			t.Errorf("memory %q, KINKO_CACHE_MAX_BYTES %q: %d bytes (%v), want %d", c.memory, c.set, cfg.CacheMaxBytes, err, c.want)
		}
		if (cfg.TTL(kinko.SecretsManager) == 0) != (c.want == 0) {
			t.Errorf("KINKO_CACHE_MAX_BYTES %q: ttl %v", c.set, cfg.TTL(kinko.SecretsManager))
		}
	}
	for _, bad := range []string{"-1", "64MB", "1e6", "2199023255552"} {
		_, err := Load(env(map[string]string{"KINKO_CACHE_MAX_BYTES": bad}))
		if err == nil || !strings.Contains(err.Error(), "KINKO_CACHE_MAX_BYTES") || !strings.Contains(err.Error(), "want a whole number of bytes") {
			t.Errorf("KINKO_CACHE_MAX_BYTES=%q: %v, want an error naming the variable", bad, err)
		}
	}
}
