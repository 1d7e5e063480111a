// Package agentconfig reads the configuration file of AWS Secrets Manager Agent (now AWS Workload
// Credentials Provider), so its users run kinko with their file unchanged: `kinko --config FILE`.
// Both of the file's forms are read: the agent's flat keys (log_level, http_port, ttl_seconds,
// cache_size, ssrf_headers, ssrf_env_variables, path_prefix, max_conn, region, ...) and the
// provider's nested tables ([logging], [capabilities.secrets_manager] and its cache, security
// and prefetch tables). Each key is checked against the agent's own range; a key kinko does not
// know, a value out of range, or a setting given twice stops start-up with a message naming it.
//
// A setting that kinko has a variable for becomes that variable's value under the environment
// (Env, Overlay): kinko's own variables, when set, win over the file. The rest (the token's
// headers and variables, the path prefix, the region) are read by the process from File.
package agentconfig

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// File is what an agent configuration file sets; a zero field is a setting the file leaves to
// its default.
type File struct {
	Path string

	LogLevel string // DEBUG, INFO, WARN, ERROR or NONE, upper case
	// LogToFile is the agent's log_to_file: kinko writes its log to stdout always (a container's
	// or the journal's log); true is reported, not followed.
	LogToFile   *bool
	HTTPAddress string // the agent's http_address: an IPv4 address to listen on
	HTTPPort    int
	TTLSeconds  *int // 0 caches nothing
	CacheSize   int
	// SSRFHeaders are the request headers the token may come in; SSRFEnvVariables the
	// variables the token is read from, in order (a value file:///path names a file).
	SSRFHeaders      []string
	SSRFEnvVariables []string
	PathPrefix       string // starts and ends with a slash
	MaxConn          int    // client connections at most
	MaxRoles         int    // roles (roleArn) held at once; 0 if not set
	Region           string
	// IgnoreTransientErrors false turns stale-if-error off (KINKO_STALE_IF_ERROR=0).
	IgnoreTransientErrors *bool
	// ValidateCredentials asks for the credentials to be checked at start; kinko gets them at
	// start and logs where they came from, and never stops for them.
	ValidateCredentials *bool
	Prefetch            []string // secret ids
	// PrefetchJitterSeconds and CacheBufferRatio are accepted and checked; kinko prefetches the
	// ids listed, at once (its TTL jitter spreads the refreshes of a fleet).
	PrefetchJitterSeconds *int
	CacheBufferRatio      *float64
}

// The agent's ranges (its README and config validation).
const (
	minPort, maxPort   = 1024, 65535
	maxTTL             = 3600
	minCache, maxCache = 1, 1000
	minConn, maxConn   = 1, 1000
	minRoles, maxRoles = 1, 20
	maxJitter          = 10
)

// Read reads and checks the file at path.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config %s: %w", path, err)
	}
	return Parse(path, b)
}

// Parse checks data, the text of the file named name. Every problem is reported, joined, each
// naming its key.
func Parse(name string, data []byte) (*File, error) {
	var root map[string]any
	if _, err := toml.Decode(string(data), &root); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			at := "at the end"
			if pe.Position.Line > 0 {
				at = "line " + strconv.Itoa(pe.Position.Line)
			}
			return nil, fmt.Errorf("--config %s: not a TOML file: %s: %s", name, at, pe.Message)
		}
		return nil, fmt.Errorf("--config %s: not a TOML file: %w", name, err)
	}
	r := &reader{f: &File{Path: name}, where: map[string]string{}}
	r.table("", root, r.rootKeys())
	if len(r.errs) > 0 {
		return nil, fmt.Errorf("--config %s: %w", name, errors.Join(r.errs...))
	}
	return r.f, nil
}

// Env is the file's settings that kinko has a variable for, as those variables' values.
func (f *File) Env() map[string]string {
	env := map[string]string{}
	if f == nil {
		return env
	}
	if f.LogLevel != "" {
		env["PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL"] = f.LogLevel
	}
	if f.HTTPPort != 0 {
		env["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"] = strconv.Itoa(f.HTTPPort)
	}
	if f.TTLSeconds != nil { // the agent's one TTL is the cache's: for parameters too
		env["SECRETS_MANAGER_TTL"] = strconv.Itoa(*f.TTLSeconds)
		env["SSM_PARAMETER_STORE_TTL"] = strconv.Itoa(*f.TTLSeconds)
	}
	if f.CacheSize != 0 {
		env["PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE"] = strconv.Itoa(f.CacheSize)
	}
	if f.MaxConn != 0 {
		env["KINKO_MAX_CLIENT_CONNECTIONS"] = strconv.Itoa(f.MaxConn)
	}
	if f.HTTPAddress != "" {
		env["KINKO_BIND"] = f.HTTPAddress
	}
	if f.IgnoreTransientErrors != nil && !*f.IgnoreTransientErrors {
		env["KINKO_STALE_IF_ERROR"] = "0"
	}
	if len(f.Prefetch) > 0 {
		env["KINKO_PREFETCH"] = strings.Join(f.Prefetch, ",")
	}
	return env
}

// Overlay is getenv with the file's variables (Env) under it: a variable set in the environment
// wins; one it leaves unset takes the file's value.
func (f *File) Overlay(getenv func(string) string) func(string) string {
	env := f.Env()
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return env[name]
	}
}

// Overridden names, sorted, each variable the environment sets over a different value of the
// file's, for a warning at start.
func (f *File) Overridden(getenv func(string) string) []string {
	var out []string
	for name, v := range f.Env() {
		if got := getenv(name); got != "" && got != v {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// reader walks the decoded file, table by table.
type reader struct {
	f     *File
	errs  []error
	where map[string]string // setting -> the key that set it, to refuse a setting given twice
}

type keyFunc func(key string, v any)

func (r *reader) fail(key, problem string) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", key, problem))
}

// table reads the keys of t (at path prefix) with keys' readers; any other key is refused.
func (r *reader) table(prefix string, t map[string]any, keys map[string]keyFunc) {
	names := make([]string, 0, len(t))
	for k := range t {
		names = append(names, k)
	}
	sort.Strings(names) // problems in the file's key order would be nicer; sorted is stable
	for _, k := range names {
		full := k
		if prefix != "" {
			full = prefix + "." + k
		}
		read, ok := keys[k]
		if !ok {
			r.fail(full, "unknown key: kinko reads the agent's keys ("+known(keys)+"); remove it or fix its spelling")
			continue
		}
		read(full, t[k])
	}
}

func known(keys map[string]keyFunc) string {
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// once reports whether setting is set for the first time (by key), refusing the second.
func (r *reader) once(setting, key string) bool {
	if first, ok := r.where[setting]; ok {
		r.fail(key, "set twice (also as "+first+"); keep one")
		return false
	}
	r.where[setting] = key
	return true
}

// secretsManagerKeys are the Secrets Manager settings, at the top level (the agent's flat form)
// or under [capabilities.secrets_manager].
func (r *reader) secretsManagerKeys(flat bool) map[string]keyFunc {
	keys := map[string]keyFunc{
		"http_port":               r.intKey("http_port", minPort, maxPort, func(n int) { r.f.HTTPPort = n }),
		"path_prefix":             r.stringKey("path_prefix", r.pathPrefix),
		"max_conn":                r.intKey("max_conn", minConn, maxConn, func(n int) { r.f.MaxConn = n }),
		"max_roles":               r.intKey("max_roles", minRoles, maxRoles, func(n int) { r.f.MaxRoles = n }),
		"region":                  r.stringKey("region", r.region),
		"ignore_transient_errors": r.boolKey("ignore_transient_errors", func(b bool) { r.f.IgnoreTransientErrors = &b }),
		"validate_credentials":    r.boolKey("validate_credentials", func(b bool) { r.f.ValidateCredentials = &b }),
		"prefetch":                r.tableKey(r.prefetchKeys()),
	}
	cache, security := r.cacheKeys(), r.securityKeys()
	if flat {
		for k, f := range cache {
			keys[k] = f
		}
		for k, f := range security {
			keys[k] = f
		}
		keys["log_level"] = r.stringKey("log_level", r.logLevel)
		keys["log_to_file"] = r.boolKey("log_to_file", func(b bool) { r.f.LogToFile = &b })
		// The agent's flat form had it for a while; the provider dropped it.
		keys["http_address"] = r.stringKey("http_address", r.httpAddress)
		return keys
	}
	keys["enabled"] = func(key string, v any) {
		if b, ok := v.(bool); !ok {
			r.fail(key, "want true or false")
		} else if !b {
			r.fail(key, "false turns off the Secrets Manager capability, which is all kinko does; remove the key, or do not run kinko")
		}
	}
	keys["cache"] = r.tableKey(cache)
	keys["security"] = r.tableKey(security)
	return keys
}

func (r *reader) rootKeys() map[string]keyFunc {
	keys := r.secretsManagerKeys(true)
	keys["logging"] = r.tableKey(map[string]keyFunc{
		"log_level":   r.stringKey("log_level", r.logLevel),
		"log_to_file": r.boolKey("log_to_file", func(b bool) { r.f.LogToFile = &b }),
	})
	keys["capabilities"] = r.tableKey(map[string]keyFunc{
		"secrets_manager": r.tableKey(r.secretsManagerKeys(false)),
		"acm":             r.acm,
	})
	return keys
}

func (r *reader) cacheKeys() map[string]keyFunc {
	return map[string]keyFunc{
		"ttl_seconds": r.intKey("ttl_seconds", 0, maxTTL, func(n int) { r.f.TTLSeconds = &n }),
		"cache_size":  r.intKey("cache_size", minCache, maxCache, func(n int) { r.f.CacheSize = n }),
	}
}

func (r *reader) securityKeys() map[string]keyFunc {
	return map[string]keyFunc{
		"ssrf_headers": r.listKey("ssrf_headers", func(key string, l []string) {
			for _, h := range l {
				if !headerName(h) {
					r.fail(key, fmt.Sprintf("%q is not an HTTP header name", clip(h)))
					return
				}
			}
			r.f.SSRFHeaders = l
		}),
		"ssrf_env_variables": r.listKey("ssrf_env_variables", func(key string, l []string) {
			for _, v := range l {
				if v == "" || strings.ContainsAny(v, "= \t") {
					r.fail(key, fmt.Sprintf("%q is not an environment variable name", clip(v)))
					return
				}
			}
			r.f.SSRFEnvVariables = l
		}),
	}
}

func (r *reader) prefetchKeys() map[string]keyFunc {
	return map[string]keyFunc{
		"cache_buffer_ratio": func(key string, v any) {
			if !r.once("cache_buffer_ratio", key) {
				return
			}
			f, ok := number(v)
			if !ok || f < 0.1 || f > 1 {
				r.fail(key, "want a fraction from 0.1 to 1.0 (default 0.8)")
				return
			}
			r.f.CacheBufferRatio = &f
		},
		"max_jitter_seconds": r.intKey("max_jitter_seconds", 0, maxJitter, func(n int) { r.f.PrefetchJitterSeconds = &n }),
		"secrets": func(key string, v any) {
			for i, t := range tables(v) {
				at := fmt.Sprintf("%s[%d]", key, i)
				if t == nil {
					r.fail(at, "want a table with secret_id")
					continue
				}
				id, _ := t["secret_id"].(string)
				r.table(at, t, map[string]keyFunc{
					"secret_id": func(k string, v any) {
						if s, ok := v.(string); !ok || s == "" || strings.Contains(s, ",") {
							r.fail(k, "want a secret's name or ARN")
						}
					},
					"role_arn": func(k string, _ any) {
						r.fail(k, "prefetching with another role is not supported yet: kinko prefetches with its own credentials; remove role_arn, or the entry")
					},
				})
				if id == "" {
					if _, has := t["secret_id"]; !has {
						r.fail(at, "missing secret_id")
					}
					continue
				}
				r.f.Prefetch = append(r.f.Prefetch, id)
			}
		},
		"filter_tags": func(key string, v any) {
			if len(tables(v)) > 0 {
				r.fail(key, "prefetching by tag is not supported: list the secrets under prefetch.secrets (or KINKO_PREFETCH) instead")
			}
		},
	}
}

// acm is [capabilities.acm]: kinko exports no certificates, so only enabled = false is taken.
func (r *reader) acm(key string, v any) {
	t, ok := v.(map[string]any)
	if !ok {
		r.fail(key, "want a table")
		return
	}
	for k, val := range t {
		if b, isBool := val.(bool); k == "enabled" && isBool && !b {
			continue
		}
		r.fail(key+"."+k, "kinko has no Certificate Management capability: keep running the Workload Credentials Provider for certificates, and remove [capabilities.acm] from kinko's file")
		return
	}
}

func (r *reader) tableKey(keys map[string]keyFunc) keyFunc {
	return func(key string, v any) {
		t, ok := v.(map[string]any)
		if !ok {
			r.fail(key, "want a table")
			return
		}
		r.table(key, t, keys)
	}
}

func (r *reader) intKey(setting string, lo, hi int, set func(int)) keyFunc {
	return func(key string, v any) {
		if !r.once(setting, key) {
			return
		}
		n, ok := integer(v)
		if !ok || n < lo || n > hi {
			r.fail(key, fmt.Sprintf("want a whole number from %d to %d, as the agent takes it", lo, hi))
			return
		}
		set(n)
	}
}

func (r *reader) stringKey(setting string, set func(key, s string)) keyFunc {
	return func(key string, v any) {
		if !r.once(setting, key) {
			return
		}
		s, ok := v.(string)
		if !ok {
			r.fail(key, "want a string")
			return
		}
		set(key, s)
	}
}

func (r *reader) boolKey(setting string, set func(bool)) keyFunc {
	return func(key string, v any) {
		if !r.once(setting, key) {
			return
		}
		switch b := v.(type) {
		case bool:
			set(b)
		case string: // the agent's flat form takes "true" too
			switch strings.ToLower(b) {
			case "true":
				set(true)
			case "false":
				set(false)
			default:
				r.fail(key, "want true or false")
			}
		default:
			r.fail(key, "want true or false")
		}
	}
}

func (r *reader) listKey(setting string, set func(key string, l []string)) keyFunc {
	return func(key string, v any) {
		if !r.once(setting, key) {
			return
		}
		items, ok := v.([]any)
		if !ok || len(items) == 0 {
			r.fail(key, "want a list of at least one string, like [\"A\", \"B\"]")
			return
		}
		l := make([]string, 0, len(items))
		for _, it := range items {
			s, ok := it.(string)
			if !ok {
				r.fail(key, "want a list of strings")
				return
			}
			l = append(l, strings.TrimSpace(s))
		}
		set(key, l)
	}
}

func (r *reader) logLevel(key, s string) {
	switch u := strings.ToUpper(s); u {
	case "DEBUG", "INFO", "WARN", "ERROR", "NONE":
		r.f.LogLevel = u
	default:
		r.fail(key, fmt.Sprintf("%q: want DEBUG, INFO, WARN, ERROR or NONE (any case)", clip(s)))
	}
}

// pathPrefix takes the agent's prefix: it starts with a slash; kinko adds the trailing one (the
// agent would take /v1abc for /v1 and id abc: nobody means that), and keeps it out of kinko's
// own routes.
func (r *reader) pathPrefix(key, s string) {
	switch {
	case !strings.HasPrefix(s, "/"):
		r.fail(key, fmt.Sprintf("%q: want a path starting with /, like /v1/", clip(s)))
		return
	case s == "/":
		r.fail(key, `"/" would take every path, /ping and the query routes too: want a prefix like /v1/`)
		return
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/-._~", c)) {
			r.fail(key, fmt.Sprintf("%q: want letters, digits and / - . _ ~ only", clip(s)))
			return
		}
	}
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	if strings.Contains(s, "//") || strings.Contains(s, "/./") || strings.Contains(s, "/../") {
		r.fail(key, fmt.Sprintf("%q: want a clean path, without empty or dot segments", clip(s)))
		return
	}
	first, _, _ := strings.Cut(s[1:], "/")
	switch first {
	case "ping", "secretsmanager", "systemsmanager", "parameterstore":
		r.fail(key, fmt.Sprintf("%q would shadow kinko's own /%s routes: choose another prefix, like /v1/", clip(s), first))
		return
	}
	r.f.PathPrefix = s
}

func (r *reader) region(key, s string) {
	if s == "" || strings.ContainsAny(s, " /:") {
		r.fail(key, fmt.Sprintf("%q is not an AWS region, like us-east-1", clip(s)))
		return
	}
	r.f.Region = s
}

// httpAddress takes the agent's IPv4 listening address.
func (r *reader) httpAddress(key, s string) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		r.fail(key, fmt.Sprintf("%q: want an IPv4 address, like 127.0.0.1 (KINKO_BIND takes more)", clip(s)))
		return
	}
	r.f.HTTPAddress = s
}

// integer takes a TOML integer or a string holding one: the agent's flat form takes both
// (http_port = "2773" in its README, ttl_seconds = 300 in its tests).
func integer(v any) (int, bool) {
	switch n := v.(type) {
	case int64:
		if n < math.MinInt32 || n > math.MaxInt32 {
			return 0, false
		}
		return int(n), true
	case string:
		i, err := strconv.Atoi(strings.TrimSpace(n))
		return i, err == nil
	}
	return 0, false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, !math.IsNaN(n)
	case int64:
		return float64(n), true
	}
	return 0, false
}

// tables is v as an array of tables; a nil entry stands for an element that is not a table.
func tables(v any) []map[string]any {
	switch l := v.(type) {
	case []map[string]any:
		return l
	case []any:
		out := make([]map[string]any, len(l))
		for i, e := range l {
			out[i], _ = e.(map[string]any)
		}
		return out
	}
	return []map[string]any{nil}
}

// headerName reports whether s is an HTTP header name (an RFC 9110 token).
func headerName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
