package agentconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func parse(t *testing.T, text string) (*File, error) {
	t.Helper()
	return Parse("agent.toml", []byte(text))
}

func ptr[T any](v T) *T { return &v }

// The agent's flat form, its numbers as integers or strings (quoted either way), as its README
// and its tests write them.
func TestAgentFlatFile(t *testing.T) {
	f, err := parse(t, `
# the agent's keys, flat
log_level = "debug"
http_port = "2775"
ttl_seconds = 120
cache_size = '500'
ssrf_headers = ["X-Aws-Parameters-Secrets-Token"]
ssrf_env_variables = ["MY_TOKEN", "AWS_TOKEN"]
path_prefix = "/other"
max_conn = 10
region = "us-west-2"
ignore_transient_errors = false
validate_credentials = false
log_to_file = false
http_address = "0.0.0.0"
`)
	if err != nil {
		t.Fatal(err)
	}
	want := &File{Path: "agent.toml", LogLevel: "DEBUG", HTTPPort: 2775, TTLSeconds: ptr(120), CacheSize: 500,
		SSRFHeaders: []string{"X-Aws-Parameters-Secrets-Token"}, SSRFEnvVariables: []string{"MY_TOKEN", "AWS_TOKEN"},
		PathPrefix: "/other/", MaxConn: 10, Region: "us-west-2", IgnoreTransientErrors: ptr(false),
		ValidateCredentials: ptr(false), LogToFile: ptr(false), HTTPAddress: "0.0.0.0"}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got  %+v\nwant %+v", f, want)
	}
}

// The provider's nested form, as its README's full example writes it.
func TestProviderNestedFile(t *testing.T) {
	f, err := parse(t, `
[logging]
log_level = "info"
log_to_file = true

[capabilities.secrets_manager]
enabled = true
http_port = 2773
region = "us-east-1"
path_prefix = "/v1/"
max_conn = 800
max_roles = 5

[capabilities.secrets_manager.cache]
ttl_seconds = 300
cache_size = 1000

[capabilities.secrets_manager.security]
ssrf_headers = ["X-Aws-Parameters-Secrets-Token", "X-Vault-Token"]
ssrf_env_variables = ["AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"]

[capabilities.secrets_manager.prefetch]
cache_buffer_ratio = 0.6
max_jitter_seconds = 5

[[capabilities.secrets_manager.prefetch.secrets]]
secret_id = "arn:aws:secretsmanager:us-west-2:123456789012:secret:MySecret-AbCdEf"

[[capabilities.secrets_manager.prefetch.secrets]]
secret_id = "prod/db"

[capabilities.acm]
enabled = false
`)
	if err != nil {
		t.Fatal(err)
	}
	want := &File{Path: "agent.toml", LogLevel: "INFO", LogToFile: ptr(true), HTTPPort: 2773, Region: "us-east-1",
		PathPrefix: "/v1/", MaxConn: 800, MaxRoles: 5, TTLSeconds: ptr(300), CacheSize: 1000,
		SSRFHeaders:           []string{"X-Aws-Parameters-Secrets-Token", "X-Vault-Token"},
		SSRFEnvVariables:      []string{"AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"},
		CacheBufferRatio:      ptr(0.6),
		PrefetchJitterSeconds: ptr(5),
		Prefetch:              []string{"arn:aws:secretsmanager:us-west-2:123456789012:secret:MySecret-AbCdEf", "prod/db"}}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got  %+v\nwant %+v", f, want)
	}
	if f, err := parse(t, ""); err != nil || !reflect.DeepEqual(f, &File{Path: "agent.toml"}) {
		t.Errorf("an empty file: %+v, %v", f, err)
	}
}

// A key kinko does not know, a value outside the agent's range, a setting given twice, or what
// kinko does not do stops start-up, naming the key and what to do.
func TestBadFilesNameTheKey(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{`ttl_second = 300`, "ttl_second: unknown key"},
		{"[capabilities.secrets_manager.cache]\nttl = 3", "capabilities.secrets_manager.cache.ttl: unknown key"},
		{"[logging]\nlevel = \"info\"", "logging.level: unknown key"},
		{`http_port = 1023`, "http_port: want a whole number from 1024 to 65535"},
		{`http_port = "65536"`, "http_port: want a whole number from 1024 to 65535"},
		{`http_port = "twenty"`, "http_port: want a whole number"},
		{`ttl_seconds = 3601`, "ttl_seconds: want a whole number from 0 to 3600"},
		{`ttl_seconds = -1`, "ttl_seconds: want a whole number from 0 to 3600"},
		{`cache_size = 0`, "cache_size: want a whole number from 1 to 1000"},
		{`cache_size = 1001`, "cache_size: want a whole number from 1 to 1000"},
		{`max_conn = 0`, "max_conn: want a whole number from 1 to 1000"},
		{"[capabilities.secrets_manager]\nmax_roles = 21", "capabilities.secrets_manager.max_roles: want a whole number from 1 to 20"},
		{`log_level = "verbose"`, `log_level: "verbose": want DEBUG, INFO, WARN, ERROR or NONE`},
		{`path_prefix = "v1"`, `path_prefix: "v1": want a path starting with /`},
		{`path_prefix = "/"`, `path_prefix: "/" would take every path`},
		{`path_prefix = "/ping/"`, "would shadow kinko's own /ping routes"},
		{`path_prefix = "/v1/{id}"`, "want letters, digits and / - . _ ~ only"},
		{`path_prefix = "/a//b/"`, "want a clean path"},
		{`ssrf_headers = []`, "ssrf_headers: want a list of at least one string"},
		{`ssrf_headers = ["X Token"]`, `ssrf_headers: "X Token" is not an HTTP header name`},
		{`ssrf_env_variables = []`, "ssrf_env_variables: want a list of at least one string"},
		{`ssrf_env_variables = "AWS_TOKEN"`, "ssrf_env_variables: want a list"},
		{`http_address = "0.0.0.0:2773"`, "http_address: \"0.0.0.0:2773\": want an IPv4 address"},
		{`http_address = "::"`, "want an IPv4 address"},
		{`log_to_file = "maybe"`, "log_to_file: want true or false"},
		{"http_port = 2773\n[capabilities.secrets_manager]\nhttp_port = 2774", "http_port: set twice (also as capabilities.secrets_manager.http_port)"},
		{"log_level = \"info\"\n[logging]\nlog_level = \"debug\"", "set twice"},
		{"[capabilities.secrets_manager]\nenabled = false", "enabled: false turns off the Secrets Manager capability"},
		{"[capabilities.acm]\nenabled = true", "kinko has no Certificate Management capability"},
		{"[[capabilities.acm.certificates]]\ncertificate_arn = \"arn\"", "kinko has no Certificate Management capability"},
		{"[[prefetch.secrets]]\nsecret_id = \"a\"\nrole_arn = \"arn:aws:iam::1:role/r\"", "prefetch.secrets[0].role_arn: prefetching with another role is not supported"},
		{"[[prefetch.secrets]]\nname = \"a\"", "prefetch.secrets[0].name: unknown key"},
		{"[[prefetch.filter_tags]]\nkey = \"Team\"", "prefetch.filter_tags: prefetching by tag is not supported"},
		{"[prefetch]\ncache_buffer_ratio = 0.05", "prefetch.cache_buffer_ratio: want a fraction from 0.1 to 1.0"},
		{"[prefetch]\nmax_jitter_seconds = 11", "prefetch.max_jitter_seconds: want a whole number from 0 to 10"},
		{`http_port = `, "not a TOML file: at the end: unexpected EOF"},
		{"a = 1\n= 2", "not a TOML file: line 2"},
		{`logging = 3`, "logging: want a table"},
	} {
		_, err := parse(t, tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "--config agent.toml: ") {
			t.Errorf("%q: error %v, want one containing %q", tc.text, err, tc.want)
		}
	}
}

// Every problem of a file is reported at once, so a user fixes them in one go.
func TestEveryProblemAtOnce(t *testing.T) {
	_, err := parse(t, "http_port = 1\ncache_size = 0\nmystery = true\n")
	for _, key := range []string{"http_port:", "cache_size:", "mystery: unknown key"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error %v does not name %s", err, key)
		}
	}
}

// The file's settings that kinko has a variable for become those variables, under the
// environment: a variable the environment sets wins (and is reported), one it leaves unset
// takes the file's value.
func TestEnvironmentWinsOverTheFile(t *testing.T) {
	f, err := parse(t, "http_port = 2775\nttl_seconds = 60\ncache_size = 10\nlog_level = \"warn\"\nmax_conn = 7\n"+
		"ignore_transient_errors = false\nhttp_address = \"127.0.0.1\"\n[[prefetch.secrets]]\nsecret_id = \"a\"\n[[prefetch.secrets]]\nsecret_id = \"b\"\n")
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := map[string]string{
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "2775", "SECRETS_MANAGER_TTL": "60", "SSM_PARAMETER_STORE_TTL": "60",
		"PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE": "10", "PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL": "WARN",
		"KINKO_MAX_CLIENT_CONNECTIONS": "7", "KINKO_STALE_IF_ERROR": "0", "KINKO_BIND": "127.0.0.1", "KINKO_PREFETCH": "a,b",
	}
	if got := f.Env(); !reflect.DeepEqual(got, wantEnv) {
		t.Errorf("Env() = %v\nwant %v", got, wantEnv)
	}
	env := map[string]string{"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "2773", "SECRETS_MANAGER_TTL": "60"}
	getenv := func(k string) string { return env[k] }
	over := f.Overlay(getenv)
	for name, want := range map[string]string{
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "2773", // the environment's
		"SSM_PARAMETER_STORE_TTL":                "60",   // the file's
		"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL": "WARN", // the file's
		"AWS_REGION":                             "",     // neither
	} {
		if got := over(name); got != want {
			t.Errorf("overlay %s = %q, want %q", name, got, want)
		}
	}
	if got := f.Overridden(getenv); !reflect.DeepEqual(got, []string{"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"}) {
		t.Errorf("Overridden = %v, want the port only (the TTL is the same value)", got)
	}
	var none *File
	if got := none.Overlay(getenv)("SECRETS_MANAGER_TTL"); got != "60" {
		t.Errorf("no file: overlay %q", got)
	}
}

func TestReadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.toml")
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "--config "+path) {
		t.Errorf("a missing file: %v", err)
	}
	good := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(good, []byte("ttl_seconds = 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if f, err := Read(good); err != nil || f.TTLSeconds == nil || *f.TTLSeconds != 5 || f.Path != good {
		t.Errorf("Read: %+v, %v", f, err)
	}
}
