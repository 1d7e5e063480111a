package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/admission"
	"github.com/kinko-dev/kinko/extension/internal/agentconfig"
	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/server"
)

// Defaults outside Lambda.
const (
	// DefaultBind is loopback only: 127.0.0.1 (required) and [::1] (where the host has IPv6).
	DefaultBind = "127.0.0.1,[::1]"
	// defaultDrain is the drain budget after SIGTERM: ECS and Kubernetes give 30 s before
	// SIGKILL; a request in flight needs at most a few.
	defaultDrain = 5 * time.Second
	// defaultMaxConns is the agent's max_conn default.
	defaultMaxConns = 800
)

// The throttle on failed token checks: 10 failures in a row refuse the address for 1 s,
// doubling with each refusal in a row, up to 30 s.
const (
	throttleFailures  = 10
	throttleWindow    = time.Second
	throttleMaxWindow = 30 * time.Second
)

// Settings are what kinko reads outside Lambda beyond config.Config.
type Settings struct {
	Bind []Address
	Port int // config.Config.Port: the port of entries that name none
	// TLS is the certificate and key of KINKO_TLS_CERT and KINKO_TLS_KEY, nil without them; CertFile
	// is the certificate's file (kinko --ping pins it).
	TLS      *tls.Config
	CertFile string
	Drain    time.Duration
	MaxConns int
	Token    Token
	// TokenHeaders are the headers callers may send the token in; PathPrefix the agent's path
	// style; Region the file's (empty: the SDK's). From the --config file, or the agent's defaults.
	TokenHeaders []string
	// TokenVariables are where the token is read from, in order (the file's ssrf_env_variables).
	TokenVariables []string
	PathPrefix     string
	Region         string
	// ValidateCredentials is the file's validate_credentials (default true): get credentials at
	// start and log where they came from.
	ValidateCredentials bool
	// MaxRoles is the file's max_roles: roles (roleArn) held at once; 0: kinko's default.
	MaxRoles int
	// Warnings are what the process logs at start: settings that are allowed but unsafe or
	// ignored.
	Warnings []string
}

// Address is one entry of KINKO_BIND.
type Address struct {
	Spelled string // as written, for messages
	Unix    string // a Unix socket's path; the rest is empty
	Host    string // an IP address or a host name
	Port    int    // -1: Settings.Port
	// Loopback is true for an IP address on loopback; a host name, a v4-mapped address, an
	// unspecified or a LAN address is not.
	Loopback bool
	// BestEffort is [::1] of the default: skipped where the host has no IPv6.
	BestEffort bool
}

// Load reads the settings of kinko outside Lambda: getenv is the environment with the agent's
// file under it (agentconfig.File.Overlay), file the file (nil without --config), cfg kinko's
// configuration read from the same getenv. Every problem is reported at once.
func Load(getenv func(string) string, file *agentconfig.File, cfg config.Config) (Settings, error) {
	var errs []error
	bad := func(variable, value, problem string) {
		errs = append(errs, &config.Error{Variable: variable, Value: value, Problem: problem})
	}
	s := Settings{Port: cfg.Port, Drain: defaultDrain, MaxConns: defaultMaxConns, ValidateCredentials: true,
		TokenHeaders: []string{server.TokenHeader, "X-Vault-Token"}}
	if file != nil {
		if len(file.SSRFHeaders) > 0 {
			s.TokenHeaders = file.SSRFHeaders
		}
		s.PathPrefix, s.Region, s.MaxRoles = file.PathPrefix, file.Region, file.MaxRoles
		if file.ValidateCredentials != nil {
			s.ValidateCredentials = *file.ValidateCredentials
		}
		if file.LogToFile != nil && *file.LogToFile {
			s.Warnings = append(s.Warnings, "log_to_file = true in "+file.Path+" is not followed: kinko writes its log to stdout (the container's or the journal's log)")
		}
	}

	bind := strings.TrimSpace(getenv("KINKO_BIND"))
	if bind == "" {
		bind = DefaultBind
	}
	addrs, err := parseBind(bind)
	if err != nil {
		bad("KINKO_BIND", bind, err.Error())
	}
	s.Bind = addrs

	if v := strings.TrimSpace(getenv("KINKO_DRAIN_MS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 120_000 {
			bad("KINKO_DRAIN_MS", v, "want a whole number of milliseconds from 100 to 120000 (default 5000): how long requests in flight may finish after SIGTERM")
		} else {
			s.Drain = time.Duration(n) * time.Millisecond
		}
	}
	if v := strings.TrimSpace(getenv("KINKO_MAX_CLIENT_CONNECTIONS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100_000 {
			bad("KINKO_MAX_CLIENT_CONNECTIONS", v, "want a whole number from 1 to 100000 (default 800, the agent's max_conn): open client connections at most")
		} else {
			s.MaxConns = n
		}
	}

	cert, key := strings.TrimSpace(getenv("KINKO_TLS_CERT")), strings.TrimSpace(getenv("KINKO_TLS_KEY"))
	switch {
	case cert == "" && key == "":
	case cert == "" || key == "":
		bad("KINKO_TLS_CERT, KINKO_TLS_KEY", "", "set both (a PEM certificate and its PEM private key) or neither")
	default:
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			bad("KINKO_TLS_CERT, KINKO_TLS_KEY", "", fmt.Sprintf("cannot load the certificate %s and key %s: %v", cert, key, err))
			break
		}
		s.CertFile = cert
		s.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	}

	variables := DefaultTokenVariables
	if file != nil && len(file.SSRFEnvVariables) > 0 {
		variables = file.SSRFEnvVariables
	}
	tok, err := readToken(getenv, variables)
	if err != nil {
		bad("token", "", err.Error())
	}
	s.Token, s.TokenVariables = tok, variables
	errs = append(errs, s.checkExposure(variables)...)

	switch len(errs) {
	case 0:
		return s, nil
	case 1:
		return s, errs[0]
	}
	return s, config.Errors(errs)
}

// checkExposure holds the rule of binding beyond loopback: a caller elsewhere must be given the
// token, so it must be one of kinko's own (not an AWS credential) and hold at least 32 random
// bytes; and a warning where values would travel in cleartext.
func (s *Settings) checkExposure(variables []string) []error {
	var exposed []string
	tcp := false
	for _, a := range s.Bind {
		if a.Unix == "" {
			tcp = true
			if !a.Loopback {
				exposed = append(exposed, a.Spelled)
			}
		}
	}
	if s.TLS != nil && !tcp {
		s.Warnings = append(s.Warnings, "KINKO_TLS_CERT and KINKO_TLS_KEY are set but KINKO_BIND has no TCP address: a Unix socket needs no TLS")
	}
	bits := tokenBits(s.Token.Value)
	if len(exposed) == 0 {
		if s.Token.Dedicated() && bits < minTokenBits {
			s.Warnings = append(s.Warnings, fmt.Sprintf("the token of %s holds about %.0f random bits; %d (32 random bytes) is what kinko asks for beyond loopback", s.Token.Source(), bits, minTokenBits))
		}
		return nil
	}
	where := "KINKO_BIND has " + strings.Join(exposed, ", ") + ", beyond loopback: callers on the network must be given the token"
	var problem string
	switch {
	case s.Token.Value == "":
		problem = "no token is set (" + strings.Join(variables, ", ") + ")"
	case !s.Token.Dedicated():
		problem = "the token would be " + s.Token.Variable + ", an AWS credential that must not leave the host"
	case bits < minTokenBits:
		problem = fmt.Sprintf("the token of %s holds about %.0f random bits, under %d (32 random bytes)", s.Token.Source(), bits, minTokenBits)
	}
	if problem != "" {
		return []error{fmt.Errorf("%s, so kinko needs one of its own of at least 32 random bytes, and %s; %s", where, problem, howToMakeAToken)}
	}
	if s.TLS == nil {
		s.Warnings = append(s.Warnings, where+"; without KINKO_TLS_CERT and KINKO_TLS_KEY the token and the values travel in cleartext: "+
			"use TLS, or a Unix socket (KINKO_BIND=unix:/path) for containers that share a volume")
	}
	return nil
}

// parseBind reads KINKO_BIND: comma-separated entries, each an IPv4 address, an IPv6 address
// (bracketed to carry a port), a host name, localhost (127.0.0.1 and [::1]) or unix:/path, an
// address optionally with :port.
func parseBind(v string) ([]Address, error) {
	var out []Address
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		a, err := parseAddress(e)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", e, err)
		}
		out = append(out, a...)
	}
	if len(out) == 0 {
		return nil, errors.New("no address: list 127.0.0.1,[::1] (the default), 0.0.0.0, a host name or unix:/path, separated by commas")
	}
	// [::1] is best effort only in the default: [::1] written out must bind.
	if v == DefaultBind {
		out[1].BestEffort = true
	}
	return out, nil
}

func parseAddress(e string) ([]Address, error) {
	if path, ok := strings.CutPrefix(e, "unix:"); ok {
		if !filepath.IsAbs(path) || filepath.Clean(path) != path {
			return nil, errors.New("want an absolute, clean path after unix:, like unix:/run/kinko/kinko.sock")
		}
		return []Address{{Spelled: e, Unix: path}}, nil
	}
	host, port := e, -1
	switch {
	case strings.HasPrefix(e, "["):
		end := strings.Index(e, "]")
		if end < 0 {
			return nil, errors.New("an IPv6 address opened with [ is not closed with ]")
		}
		host = e[1:end]
		rest := e[end+1:]
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return nil, errors.New("want [IPv6] or [IPv6]:port")
			}
			n, err := parsePort(p)
			if err != nil {
				return nil, err
			}
			port = n
		}
		if _, err := netip.ParseAddr(host); err != nil {
			return nil, fmt.Errorf("%q is not an IPv6 address", host)
		}
	default:
		if _, err := netip.ParseAddr(e); err != nil && strings.Contains(e, ":") { // not a bare IPv6: host:port
			h, p, err := net.SplitHostPort(e)
			if err != nil {
				return nil, errors.New("want an address, address:port, [IPv6]:port, a host name or unix:/path")
			}
			n, err := parsePort(p)
			if err != nil {
				return nil, err
			}
			host, port = h, n
		}
	}
	if strings.EqualFold(host, "localhost") {
		// Both loopbacks, without asking the resolver (whose localhost could be anything).
		return []Address{{Spelled: e, Host: "127.0.0.1", Port: port, Loopback: true},
			{Spelled: e, Host: "::1", Port: port, Loopback: true, BestEffort: true}}, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		// A v4-mapped address (::ffff:127.0.0.1) is not taken for loopback: on a dual-stack
		// socket it is the IPv4 address, and it is how a filter that checks for "::1" is slipped.
		loop := ip.IsLoopback() && !ip.Is4In6() && ip.Zone() == ""
		return []Address{{Spelled: e, Host: ip.String(), Port: port, Loopback: loop}}, nil
	}
	if !hostName(host) {
		return nil, fmt.Errorf("%q is neither an IP address nor a host name", host)
	}
	return []Address{{Spelled: e, Host: host, Port: port}}, nil
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("port %q: want a whole number from 0 to 65535", p)
	}
	return n, nil
}

func hostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// HTTP is the API's options for these settings.
func (s Settings) HTTP(now func() time.Time) server.Options {
	noToken := "none of " + strings.Join(s.TokenVariables, ", ") + " is set in kinko's environment; " +
		"set AWS_TOKEN=file:///run/kinko/token (head -c 32 /dev/urandom | base64 > /run/kinko/token)"
	return server.Options{
		TokenHeaders: s.TokenHeaders,
		TokenName:    "the token kinko reads from " + s.Token.Source(),
		NoToken:      noToken,
		Owner:        "kinko",
		PathPrefix:   s.PathPrefix,
		Conns:        admission.NewConnLimit(s.MaxConns),
		Gate:         admission.NewThrottle(server.TokenHeader, throttleFailures, throttleWindow, throttleMaxWindow, now),
	}
}
