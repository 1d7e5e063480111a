//go:build !lambda

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

// dedicatedToken is a token as the README makes one (head -c 32 /dev/urandom | base64).
const dedicatedToken = "Zk3q9V0mN2xR7bT4cW8yL1sA5eJ6hU0dG3iK9oP2uQs="

// startProcess runs kinko outside Lambda (no AWS_LAMBDA_RUNTIME_API) with args, on the process
// environment the test sets: the SDK's default chain reads that, not a getenv. It returns the
// process, reachable on port.
func startProcess(t *testing.T, a *awsStack, env map[string]string, args ...string) *extension {
	t.Helper()
	port := freePort(t)
	full := map[string]string{
		"AWS_LAMBDA_RUNTIME_API":                 "",
		"AWS_ACCESS_KEY_ID":                      "testing",
		"AWS_SECRET_ACCESS_KEY":                  "testing",
		"AWS_SESSION_TOKEN":                      "",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN":      "",
		"AWS_REGION":                             "us-east-1",
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_CONFIG_FILE":                        filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE":            filepath.Join(t.TempDir(), "none"),
		"AWS_TOKEN":                              dedicatedToken,
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": strconv.Itoa(port),
		"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL": "DEBUG",
		"KINKO_BIND":                             "",
	}
	if a != nil {
		full["AWS_ENDPOINT_URL"] = a.proxy.URL
	}
	for k, v := range env {
		full[k] = v
	}
	for k, v := range full {
		t.Setenv(k, v)
	}
	if p, err := strconv.Atoi(full["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"]); err == nil {
		port = p
	}
	x := &extension{t: t, port: port, logs: &syncBuffer{}, done: make(chan error, 1), client: &http.Client{Timeout: 30 * time.Second}}
	ctx, cancel := context.WithCancel(context.Background())
	x.signal = cancel
	go func() { x.done <- run(ctx, append([]string{"kinko"}, args...), os.Getenv, os.Environ(), x.logs, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-x.done:
		case <-time.After(10 * time.Second):
			t.Error("kinko did not stop within 10s of its context ending")
		}
	})
	return x
}

// stopped sends what SIGTERM does and returns run's error.
func (x *extension) stopped() error {
	x.t.Helper()
	x.signal()
	select {
	case err := <-x.done:
		x.done <- err
		return err
	case <-time.After(10 * time.Second):
		x.t.Fatal("kinko did not return within 10s of the signal")
		return nil
	}
}

// Outside Lambda kinko serves until the signal, with the agent's conventions (the token from
// AWS_TOKEN, in X-Aws-Parameters-Secrets-Token or X-Vault-Token; /v1/<id>; /ping) and the
// browser refusal; a request in flight at the signal finishes; run returns nil; nothing is
// listening after; no value or token is logged.
func TestProcessServesUntilSignalAndDrains(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "app/db", secretJSON())
	x := startProcess(t, a, nil)
	x.waitLog(`"msg":"ready"`, `"mode":"process"`, `"token":"AWS_TOKEN"`)
	for _, tc := range []struct {
		path string
		hdr  map[string]string
		want int
	}{
		{"/ping", nil, 200},
		{"/secretsmanager/get?secretId=app/db", map[string]string{"X-Aws-Parameters-Secrets-Token": dedicatedToken}, 200},
		{"/v1/app/db", map[string]string{"X-Vault-Token": dedicatedToken}, 200},
		{"/secretsmanager/get?secretId=app/db", map[string]string{"X-Aws-Parameters-Secrets-Token": "nope"}, 401},
		{"/secretsmanager/get?secretId=app/db", map[string]string{"X-Aws-Parameters-Secrets-Token": dedicatedToken, "Origin": "https://a.example"}, 403},
		{"/secretsmanager/get?secretId=app/db", map[string]string{"X-Aws-Parameters-Secrets-Token": dedicatedToken, "X-Forwarded-For": "10.0.0.1"}, 400},
	} {
		if r := x.getWith(tc.path, tc.hdr); r.status != tc.want {
			t.Errorf("GET %s %v: %d, want %d (%s)", tc.path, keys(tc.hdr), r.status, tc.want, redact(r.body))
		} else if tc.want == 200 && tc.path != "/ping" && !strings.Contains(r.body, `"SecretString"`) {
			t.Errorf("GET %s: no SecretString in the answer", tc.path)
		}
	}

	a.proxy.SetDelay(300 * time.Millisecond)
	got := make(chan response, 1)
	go func() {
		got <- x.getWith("/secretsmanager/get?secretId=app/db&refreshNow=true", map[string]string{"X-Aws-Parameters-Secrets-Token": dedicatedToken})
	}()
	waitFor(t, "the request to reach AWS", 10*time.Second, func() bool { return a.proxy.InFlight() == 1 })
	if err := x.stopped(); err != nil {
		t.Fatalf("run after the signal: %v, want nil", err)
	}
	if r := <-got; r.status != 200 {
		t.Fatalf("a request in flight at the signal: %d, want it to finish", r.status)
	}
	x.waitLog(`"msg":"shutdown complete"`, `"reason":"signal"`)
	x.waitLog(`"msg":"metrics"`)
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", x.port)); err == nil {
		c.Close()
		t.Fatal("still accepting after the drain")
	}
	x.assertNoSecrets(a, openAIKey, dedicatedToken)
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Beyond loopback without a token of its own, kinko does not start: run returns the reason
// (how to make a token) before anything listens.
func TestProcessRefusesABindBeyondLoopbackWithoutAToken(t *testing.T) {
	x := startProcess(t, nil, map[string]string{"KINKO_BIND": "0.0.0.0", "AWS_TOKEN": "", "AWS_SESSION_TOKEN": "a-session-token"})
	select {
	case err := <-x.done:
		x.done <- err
		if err == nil || !strings.Contains(err.Error(), "AWS_SESSION_TOKEN, an AWS credential") || !strings.Contains(err.Error(), "head -c 32 /dev/urandom") {
			t.Fatalf("run: %v, want a refusal saying how to make a token", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("kinko started on 0.0.0.0 with only a session token")
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", x.port)); err == nil {
		c.Close()
		t.Fatal("something listens on kinko's port")
	}
}

// The agent's file: its path prefix, token headers and variables, TTL and port; kinko's own
// variables win over it, with a warning naming them.
func TestProcessReadsTheAgentsFile(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "app/db", secretJSON())
	port := freePort(t)
	file := filepath.Join(t.TempDir(), "agent.toml")
	text := fmt.Sprintf(`
log_level = "debug"
http_port = %d
ttl_seconds = 0
path_prefix = "/secrets/"
ssrf_headers = ["X-Custom-Token"]
ssrf_env_variables = ["MY_TOKEN"]
max_conn = 20
`, port)
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	x := startProcess(t, a, map[string]string{"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "", "MY_TOKEN": "my-token",
		"SECRETS_MANAGER_TTL": "300"}, "--config", file)
	x.port = port
	x.waitLog(`"msg":"ready"`, `"token":"MY_TOKEN"`, `"max_client_connections":20`)
	x.waitLog(`the environment's SECRETS_MANAGER_TTL wins over the --config file's setting`)
	hdr := map[string]string{"X-Custom-Token": "my-token"}
	first, second := x.getWith("/secrets/app/db", hdr), x.getWith("/secrets/app/db", hdr)
	if first.status != 200 || second.status != 200 || !strings.HasPrefix(second.cacheStatus, "kinko; hit") {
		t.Errorf("/secrets/app/db twice: %d %q, %d %q; want the second from the cache (the environment's TTL)", first.status, first.cacheStatus, second.status, second.cacheStatus)
	}
	if r := x.getWith("/v1/app/db", hdr); r.status != 404 {
		t.Errorf("/v1/ with path_prefix /secrets/: %d", r.status)
	}
	if r := x.getWith("/secrets/app/db", map[string]string{"X-Aws-Parameters-Secrets-Token": "my-token"}); r.status != 401 {
		t.Errorf("the token in a header the file does not list: %d", r.status)
	}
}

// A bad file, or a bad argument, stops start-up naming it; --version and --help answer and exit.
func TestProcessCommandLine(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(bad, []byte("ttl_second = 300\nhttp_port = 80\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", bad}, "ttl_second: unknown key"},
		{[]string{"--config", bad}, "http_port: want a whole number from 1024 to 65535"},
		{[]string{"--config"}, "--config needs a file"},
		{[]string{"--verbose"}, `unknown option "--verbose"`},
		{[]string{"serve"}, `unexpected argument "serve"`},
	} {
		var out syncBuffer
		err := run(t.Context(), append([]string{"kinko"}, tc.args...), func(string) string { return "" }, nil, &out, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("kinko %v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	for args, want := range map[string]string{"--version": "kinko dev\n", "--help": "kinko --ping"} {
		var out syncBuffer
		if err := run(t.Context(), []string{"kinko", args}, func(string) string { return "" }, nil, &out, nil); err != nil || !strings.Contains(out.String(), want) {
			t.Errorf("kinko %s: %v, output %q", args, err, out.String())
		}
	}
}

// On a Unix socket (for containers that share a volume) kinko answers any Host, with mode 0660,
// and removes the socket when it stops; --ping finds it there.
func TestProcessOnAUnixSocket(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "app/db", secretJSON())
	sock := filepath.Join(t.TempDir(), "kinko.sock")
	x := startProcess(t, a, map[string]string{"KINKO_BIND": "unix:" + sock})
	x.waitLog(`"msg":"ready"`, `"listeners":["unix:`+sock+`"]`)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	req, _ := http.NewRequest(http.MethodGet, "http://kinko.sidecar/secretsmanager/get?secretId=app/db", nil)
	req.Header.Set("X-Aws-Parameters-Secrets-Token", dedicatedToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"SecretString"`) {
		t.Fatalf("over the socket: %d %s", resp.StatusCode, redact(string(body)))
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode: %v %v", fi.Mode(), err)
	}
	var out syncBuffer
	if err := run(t.Context(), []string{"kinko", "--ping"}, os.Getenv, nil, &out, nil); err != nil {
		t.Errorf("kinko --ping: %v", err)
	}
	if err := x.stopped(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is still there after the drain: %v", err)
	}
	if err := run(t.Context(), []string{"kinko", "--ping"}, os.Getenv, nil, &out, nil); err == nil {
		t.Error("kinko --ping succeeded with kinko stopped")
	}
}

// Outside Lambda there is no function: the SDK endpoint's refusals name kinko's credentials and
// role, and the token kinko reads from AWS_TOKEN, never "the function's".
func TestProcessSDKEndpointNamesKinko(t *testing.T) {
	a := startAWS(t)
	own := aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing", SessionToken: "kinko-own-session"}
	x := startProcess(t, a, map[string]string{"AWS_SESSION_TOKEN": own.SessionToken})
	x.waitLog(`"msg":"ready"`, `"mode":"process"`)
	post := func(target string, hdr map[string]string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, x.sdkURL()+"/", strings.NewReader(`{"SecretId":"app/db"}`))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", target)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := x.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode < 400 {
			t.Fatalf("%s %v: %d, want a refusal", target, keys(hdr), resp.StatusCode)
		}
		return string(body)
	}
	other := aws.Credentials{AccessKeyID: "ASIAOTHERROLE0000002", SecretAccessKey: "other", SessionToken: "assumed-role-token"}
	_, err := x.secretsClient(other).GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
	var api smithy.APIError
	if !errors.As(err, &api) {
		t.Fatalf("other credentials: %v, want an API error", err)
	}
	for _, tc := range []struct {
		what, msg string
		want      []string
	}{
		{"unsigned, no token", post("secretsmanager.GetSecretValue", nil),
			[]string{"sign it with SigV4 and kinko's own credentials", "send the token kinko reads from AWS_TOKEN in X-Aws-Parameters-Secrets-Token"}},
		{"a wrong token", post("secretsmanager.GetSecretValue", map[string]string{"X-Aws-Parameters-Secrets-Token": "nope"}),
			[]string{"must equal the token kinko reads from AWS_TOKEN"}},
		{"a forward with the token alone", post("secretsmanager.DescribeSecret", map[string]string{"X-Aws-Parameters-Secrets-Token": dedicatedToken}),
			[]string{"forwards it to AWS with kinko's role"}},
		{"other credentials", api.ErrorMessage(), []string{"not kinko's own"}},
	} {
		for _, want := range tc.want {
			if !strings.Contains(tc.msg, want) || strings.Contains(tc.msg, "function") {
				t.Errorf("%s: %q, want it to say %q and not name a function", tc.what, redact(tc.msg), want)
			}
		}
	}
	if n := a.proxy.Calls("GetSecretValue") + a.proxy.Calls("DescribeSecret"); n != 0 {
		t.Fatalf("%d refused calls reached AWS", n)
	}
	x.assertNoSecrets(a, dedicatedToken, own.SessionToken)
}
