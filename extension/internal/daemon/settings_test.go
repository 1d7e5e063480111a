package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kinko-dev/kinko/extension/internal/agentconfig"
	"github.com/kinko-dev/kinko/extension/internal/config"
)

// A token as the README makes it: head -c 32 /dev/urandom | base64.
const strongToken = "q0mT3b8Yk2v9ZcW1xR7pLf4sN6hJ0aE5uGdIyOtBwKs="

func load(t *testing.T, env map[string]string, file *agentconfig.File) (Settings, error) {
	t.Helper()
	getenv := file.Overlay(func(k string) string { return env[k] })
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	return Load(getenv, file, cfg)
}

func TestBindEntries(t *testing.T) {
	for v, want := range map[string][]Address{
		"": {{Spelled: "127.0.0.1", Host: "127.0.0.1", Port: -1, Loopback: true},
			{Spelled: "[::1]", Host: "::1", Port: -1, Loopback: true, BestEffort: true}},
		"127.0.0.1,[::1]:2774": {{Spelled: "127.0.0.1", Host: "127.0.0.1", Port: -1, Loopback: true},
			{Spelled: "[::1]:2774", Host: "::1", Port: 2774, Loopback: true}},
		"localhost:9000": {{Spelled: "localhost:9000", Host: "127.0.0.1", Port: 9000, Loopback: true},
			{Spelled: "localhost:9000", Host: "::1", Port: 9000, Loopback: true, BestEffort: true}},
		"127.0.0.2":                  {{Spelled: "127.0.0.2", Host: "127.0.0.2", Port: -1, Loopback: true}},
		"0.0.0.0":                    {{Spelled: "0.0.0.0", Host: "0.0.0.0", Port: -1}},
		"0.0.0.0:8443":               {{Spelled: "0.0.0.0:8443", Host: "0.0.0.0", Port: 8443}},
		"::":                         {{Spelled: "::", Host: "::", Port: -1}},
		"[::]":                       {{Spelled: "[::]", Host: "::", Port: -1}},
		"::ffff:127.0.0.1":           {{Spelled: "::ffff:127.0.0.1", Host: "::ffff:127.0.0.1", Port: -1}},
		"[::ffff:127.0.0.1]:2773":    {{Spelled: "[::ffff:127.0.0.1]:2773", Host: "::ffff:127.0.0.1", Port: 2773}},
		"10.0.0.5":                   {{Spelled: "10.0.0.5", Host: "10.0.0.5", Port: -1}},
		"kinko.internal":             {{Spelled: "kinko.internal", Host: "kinko.internal", Port: -1}},
		"unix:/run/kinko/kinko.sock": {{Spelled: "unix:/run/kinko/kinko.sock", Unix: "/run/kinko/kinko.sock"}},
	} {
		s, err := load(t, map[string]string{"KINKO_BIND": v, "AWS_TOKEN": strongToken}, nil)
		if err != nil {
			t.Errorf("KINKO_BIND=%q: %v", v, err)
			continue
		}
		if !reflect.DeepEqual(s.Bind, want) {
			t.Errorf("KINKO_BIND=%q:\n got %+v\nwant %+v", v, s.Bind, want)
		}
	}
	for _, v := range []string{"unix:run/kinko.sock", "[::1", "[::1]x", "[nope]:1", "127.0.0.1:99999", "kinko_internal", ",", "a:b:c"} {
		if _, err := load(t, map[string]string{"KINKO_BIND": v}, nil); err == nil || !strings.Contains(err.Error(), "KINKO_BIND") {
			t.Errorf("KINKO_BIND=%q: error %v, want one naming KINKO_BIND", v, err)
		}
	}
}

// Beyond loopback (0.0.0.0, ::, a host name, a v4-mapped or a LAN address) kinko starts only with
// a token of its own of at least 32 random bytes; the refusal says how to make one. A session or
// container authorization token is an AWS credential and is never accepted for that.
func TestBindingBeyondLoopbackNeedsADedicatedToken(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(strongToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bind := range []string{"0.0.0.0", "::", "[::]:2773", "kinko.internal", "::ffff:127.0.0.1", "10.0.0.5", "127.0.0.1,0.0.0.0:2774"} {
		for _, tc := range []struct {
			name string
			env  map[string]string
			want string // "" accepted
		}{
			{"no token", map[string]string{}, "no token is set"},
			{"session token", map[string]string{"AWS_SESSION_TOKEN": strongToken}, "AWS_SESSION_TOKEN, an AWS credential"},
			{"container authorization token", map[string]string{"AWS_CONTAINER_AUTHORIZATION_TOKEN": strongToken}, "AWS_CONTAINER_AUTHORIZATION_TOKEN, an AWS credential"},
			{"short token", map[string]string{"AWS_TOKEN": "hunter2hunter2"}, "random bits, under 256"},
			{"a UUID", map[string]string{"AWS_TOKEN": "0d1f8a34-5b6c-4e7f-8a9b-0c1d2e3f4a5b"}, "under 256"},
			{"a repeated word", map[string]string{"AWS_TOKEN": strings.Repeat("password", 8)}, "under 256"},
			{"strong token", map[string]string{"AWS_TOKEN": strongToken}, ""},
			{"strong hex token", map[string]string{"AWS_TOKEN": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}, ""},
			{"strong token file", map[string]string{"AWS_TOKEN": "file://" + tokenFile}, ""},
		} {
			env := map[string]string{"KINKO_BIND": bind}
			for k, v := range tc.env {
				env[k] = v
			}
			_, err := load(t, env, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("%s, %s: refused: %v", bind, tc.name, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "head -c 32 /dev/urandom | base64 > /run/kinko/token") ||
				!strings.Contains(err.Error(), "AWS_TOKEN=file:///run/kinko/token")):
				t.Errorf("%s, %s: error %v, want one saying %q and how to make a token", bind, tc.name, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), strongToken) {
				t.Errorf("%s, %s: the error holds the token", bind, tc.name)
			}
		}
	}
	// On loopback the agent's sources are taken as they are: Lambda's own token included.
	for _, env := range []map[string]string{{"AWS_SESSION_TOKEN": "x"}, {"AWS_TOKEN": "short"}, {}, {"KINKO_BIND": "unix:/run/k.sock", "AWS_SESSION_TOKEN": "x"}} {
		if _, err := load(t, env, nil); err != nil {
			t.Errorf("%v on loopback: %v", env, err)
		}
	}
}

// The token comes from the first of AWS_TOKEN, AWS_SESSION_TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN
// that is set (or of the file's ssrf_env_variables); file:///path is read from the file.
func TestTokenSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("  from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env       map[string]string
		variables []string
		want      Token
	}{
		{map[string]string{"AWS_TOKEN": "a", "AWS_SESSION_TOKEN": "b", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "c"}, nil, Token{Value: "a", Variable: "AWS_TOKEN"}},
		{map[string]string{"AWS_SESSION_TOKEN": "b", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "c"}, nil, Token{Value: "b", Variable: "AWS_SESSION_TOKEN"}},
		{map[string]string{"AWS_CONTAINER_AUTHORIZATION_TOKEN": "c"}, nil, Token{Value: "c", Variable: "AWS_CONTAINER_AUTHORIZATION_TOKEN"}},
		{map[string]string{"AWS_TOKEN": "file://" + file}, nil, Token{Value: "from-the-file", Variable: "AWS_TOKEN", File: file}},
		{map[string]string{"AWS_TOKEN": "a", "MY_TOKEN": "m"}, []string{"MY_TOKEN"}, Token{Value: "m", Variable: "MY_TOKEN"}},
		// As a shell's export of a file's contents leaves it: the newline would never arrive in a header.
		{map[string]string{"AWS_TOKEN": " direct-token\n"}, nil, Token{Value: "direct-token", Variable: "AWS_TOKEN"}},
		{map[string]string{}, nil, Token{}},
	} {
		var f *agentconfig.File
		if tc.variables != nil {
			f = &agentconfig.File{SSRFEnvVariables: tc.variables}
		}
		s, err := load(t, tc.env, f)
		if err != nil || s.Token != tc.want {
			t.Errorf("%v %v: token %+v, %v; want %+v", tc.env, tc.variables, s.Token, err, tc.want)
		}
	}
	for env, want := range map[string]string{
		"file://relative/token":    "want an absolute path after file://",
		"file://" + dir + "/none":  "the token file",
		"file://" + dir + "/empty": "is empty",
		" \n\t":                    "whitespace only",
	} {
		_ = os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600)
		_, err := load(t, map[string]string{"AWS_TOKEN": env}, nil)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "AWS_TOKEN") {
			t.Errorf("AWS_TOKEN=%s: error %v, want %q", env, err, want)
		}
	}
}

func TestTokenBits(t *testing.T) {
	for s, atLeast := range map[string]bool{
		strongToken: true, // base64 of 32 bytes
		"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08": true, // hex of 32 bytes
		"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0":  false,
		"0d1f8a34-5b6c-4e7f-8a9b-0c1d2e3f4a5b":                             false,
		strings.Repeat("a", 100):                                           false,
		strings.Repeat("password", 10):                                     false,
		"":                                                                 false,
	} {
		if got := tokenBits(s) >= minTokenBits; got != atLeast {
			t.Errorf("tokenBits(%q) = %.0f: at least 256 is %t, want %t", s, tokenBits(s), got, atLeast)
		}
	}
}

func TestOtherSettings(t *testing.T) {
	s, err := load(t, map[string]string{"KINKO_DRAIN_MS": "2500", "KINKO_MAX_CLIENT_CONNECTIONS": "50"}, nil)
	if err != nil || s.Drain.Milliseconds() != 2500 || s.MaxConns != 50 || s.TLS != nil ||
		!reflect.DeepEqual(s.TokenHeaders, []string{"X-Aws-Parameters-Secrets-Token", "X-Vault-Token"}) || !s.ValidateCredentials {
		t.Errorf("settings %+v, %v", s, err)
	}
	_, err = load(t, map[string]string{"KINKO_DRAIN_MS": "50", "KINKO_MAX_CLIENT_CONNECTIONS": "0", "KINKO_TLS_CERT": "/x.pem"}, nil)
	var errs config.Errors
	if !errors.As(err, &errs) || len(errs) != 3 {
		t.Fatalf("three bad settings: %v", err)
	}
	for _, name := range []string{"KINKO_DRAIN_MS", "KINKO_MAX_CLIENT_CONNECTIONS", "KINKO_TLS_CERT, KINKO_TLS_KEY: set both"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
	f := &agentconfig.File{Path: "agent.toml", SSRFHeaders: []string{"X-Custom-Token"}, PathPrefix: "/secrets/", Region: "eu-west-1",
		ValidateCredentials: new(bool), LogToFile: ptrTrue(), HTTPAddress: "127.0.0.1", MaxConn: 9, MaxRoles: 3}
	s, err = load(t, map[string]string{}, f)
	if err != nil || !reflect.DeepEqual(s.TokenHeaders, []string{"X-Custom-Token"}) || s.PathPrefix != "/secrets/" ||
		s.Region != "eu-west-1" || s.ValidateCredentials || s.MaxConns != 9 || s.MaxRoles != 3 || len(s.Bind) != 1 || len(s.Warnings) != 1 {
		t.Errorf("from the file: %+v, %v", s, err)
	}
}

func ptrTrue() *bool { b := true; return &b }
