// Package stack starts and stops kinko's whole local stack, each part real:
//
//	browser / curl ──► front (127.0.0.1:3000, API Gateway HTTP API, payload 2.0)
//	                     └─► Lambda Runtime Interface Emulator (one invoke at a time)
//	                           ├─ /opt/extensions/kinko   (the layer, in a private mount namespace)
//	                           │     └─► counting proxy ─► moto (Secrets Manager)
//	                           └─ bootstrap (the function) ─► local OpenAI-compatible server
//
// `make demo`, `make up` and the end-to-end tests all run this. Close stops every process it
// started, on every path; the /opt mount lives and dies with the emulator's namespace.
package stack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/e2e/emulator"
	"github.com/kinko-dev/kinko/e2e/fakeopenai"
	"github.com/kinko-dev/kinko/e2e/front"
	"github.com/kinko-dev/kinko/e2e/loopback"
	"github.com/kinko-dev/kinko/internal/faultproxy"
	"github.com/kinko-dev/kinko/internal/moto"
)

// Defaults of the demo's secret: the names the function reads without configuration.
const (
	DefaultSecretName = "OPENAI_API_KEY"
	DefaultJSONKey    = "OPENAI_API_KEY"
	// FunctionTimeout is the function's Lambda timeout in the emulator (seconds).
	FunctionTimeout = 30
)

// Options configures a stack; the zero value plus Bin is the demo.
type Options struct {
	Bin Binaries // from Build

	FrontAddr  string // the HTTP API's address; default 127.0.0.1:0 (a free port)
	KinkoPort  int    // kinko's port; 0 picks a free one (2773 would clash with a second stack)
	SecretName string // default OPENAI_API_KEY
	// Key is the OpenAI key stored in the secret, as {"OPENAI_API_KEY": Key}, and the one the
	// local model accepts; default a fresh "sk-demo-<random>".
	Key      string
	NoSecret bool // do not create the secret (the "secret missing" path)
	// OpenAIBaseURL sends the function to another OpenAI-compatible API (the real one, with a
	// real Key); empty starts the local model.
	OpenAIBaseURL string
	OpenAIModel   string            // OPENAI_MODEL; empty leaves the function's default
	Env           map[string]string // more environment for the sandbox (e.g. SECRETS_MANAGER_TTL), winning over the stack's
	// Moto is a running moto to use instead of starting one: the benchmarks start dozens of
	// sandboxes, and a moto takes a second to start. Close leaves it running. Stacks sharing
	// one moto need different SecretNames.
	Moto *moto.Server
	// ProxyDelay is added to every call the counting proxy forwards to moto: a distance to AWS.
	ProxyDelay time.Duration
	// Output gets a live copy of every log line, prefixed with its source ("emulator | ...").
	Output io.Writer
	// Bootstrap runs this executable as the function instead of Bin.Bootstrap: another runtime
	// (e2e/runtimes/*/bootstrap).
	Bootstrap string
	// OwnFunction runs someone's own function (make run, with Bootstrap): no demo secret, no
	// local model, no HTTP front, and none of the sample's variables in the sandbox (no
	// KINKO_PREFETCH, SECRET_NAME, OPENAI_BASE_URL); invoke it through Invoker.
	OwnFunction bool
}

// Stack is a running stack. Its fields are for tests and the demo to look and poke at.
type Stack struct {
	Key          string
	SecretName   string
	SessionToken string // what the function and kinko share as AWS_SESSION_TOKEN
	FrontURL     string // http://127.0.0.1:PORT
	KinkoURL     string // http://127.0.0.1:PORT: the extension itself, for refreshNow
	OpenAIURL    string // the base URL the function uses

	Moto     *moto.Server
	Proxy    *faultproxy.Proxy      // counts kinko's calls to moto
	OpenAI   *fakeopenai.Server     // nil when OpenAIBaseURL was given
	Emulator *emulator.Process      // the Lambda emulator
	Invoker  *emulator.Client       // the front's way in; serialises invokes
	SM       *secretsmanager.Client // straight to moto, not counted

	emuLog, frontLog, openaiLog *logBuffer
	front, openai               *loopback.Server
	endMoto                     context.CancelFunc
	sharedMoto                  bool // Options.Moto: not ours to stop
	motoOnce                    sync.Once
	closeOnce                   sync.Once
	closeErr                    error
}

// Start brings the stack up and returns once the front accepts requests. The sandbox itself
// (extension, function) starts with the first request, as Lambda's on-demand cold start does.
// On error everything started so far is stopped.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	if o.Bin.RIE == "" {
		return nil, errors.New("stack: Options.Bin is empty: call Build first")
	}
	s := &Stack{
		Key:          o.Key,
		SecretName:   o.SecretName,
		SessionToken: "e2e-session-" + randomHex(16),
		emuLog:       newLogBuffer("emulator", o.Output),
		frontLog:     newLogBuffer("front", o.Output),
		openaiLog:    newLogBuffer("openai", o.Output),
	}
	if s.Key == "" {
		s.Key = "sk-demo-" + randomHex(20)
	}
	if s.SecretName == "" {
		s.SecretName = DefaultSecretName
	}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()

	if o.Moto != nil {
		s.Moto, s.sharedMoto = o.Moto, true
	} else {
		// moto stops when the context given to it ends: give it one that outlives Start (Close
		// stops moto), but that a cancellation during Start still reaches.
		motoCtx, endMoto := context.WithCancel(context.Background())
		s.endMoto = endMoto
		detach := context.AfterFunc(ctx, endMoto)
		defer detach()
		if s.Moto, err = moto.Start(motoCtx); err != nil {
			return nil, fmt.Errorf("start moto: %w", err)
		}
	}
	if s.Proxy, err = faultproxy.Start(s.Moto.URL); err != nil {
		return nil, err
	}
	s.Proxy.SetDelay(o.ProxyDelay)
	s.SM = secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.Moto.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
	if !o.NoSecret && !o.OwnFunction {
		if _, err := s.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String(s.SecretName), SecretString: aws.String(keyDocument(s.Key)),
		}); err != nil {
			return nil, fmt.Errorf("create secret %q in moto: %w", s.SecretName, err)
		}
	}

	s.OpenAIURL = o.OpenAIBaseURL
	if s.OpenAIURL == "" && !o.OwnFunction {
		s.OpenAI = fakeopenai.New(s.Key, slog.New(slog.NewJSONHandler(s.openaiLog, nil)))
		if s.openai, err = loopback.Serve("127.0.0.1:0", s.OpenAI); err != nil {
			return nil, fmt.Errorf("start the local OpenAI-compatible server: %w", err)
		}
		s.OpenAIURL = s.openai.URL + "/v1"
	}

	port := o.KinkoPort
	if port == 0 {
		if port, err = quietPort(); err != nil {
			return nil, err
		}
	}
	s.KinkoURL = "http://127.0.0.1:" + strconv.Itoa(port)

	bootstrap := o.Bin.Bootstrap
	if o.Bootstrap != "" {
		bootstrap = o.Bootstrap
	}
	s.Emulator, err = emulator.Start(ctx, emulator.Options{
		RIE:       o.Bin.RIE,
		Bootstrap: bootstrap,
		Opt:       o.Bin.Opt,
		Env:       s.sandboxEnv(o, port),
		Output:    s.emuLog,
	})
	if err != nil {
		return nil, err
	}
	// Longer than the function's own timeout, so the emulator's timeout answer comes first.
	s.Invoker = emulator.NewClient(s.Emulator.URL, (FunctionTimeout+10)*time.Second)
	if o.OwnFunction {
		return s, nil
	}

	addr := o.FrontAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if s.front, err = loopback.Serve(addr, front.New(s.Invoker, slog.New(slog.NewJSONHandler(s.frontLog, nil)))); err != nil {
		return nil, fmt.Errorf("start the HTTP API front on %s: %w (is another `make up` running? stop it or choose another address)", addr, err)
	}
	s.FrontURL = s.front.URL
	return s, nil
}

// sandboxEnv is the emulator's whole environment, which it passes to kinko and the function.
// Nothing is inherited from ours: no real AWS profile or credentials can leak into the demo.
func (s *Stack) sandboxEnv(o Options, kinkoPort int) []string {
	env := map[string]string{
		"PATH":                        "/usr/local/bin:/usr/bin:/bin",
		"LANG":                        "C.UTF-8",
		"AWS_LAMBDA_FUNCTION_NAME":    "kinko-demo",
		"AWS_LAMBDA_FUNCTION_TIMEOUT": strconv.Itoa(FunctionTimeout),
		"AWS_REGION":                  "us-east-1",
		"AWS_DEFAULT_REGION":          "us-east-1",
		"AWS_ACCESS_KEY_ID":           "testing",
		"AWS_SECRET_ACCESS_KEY":       "testing",
		"AWS_SESSION_TOKEN":           s.SessionToken,
		"AWS_EC2_METADATA_DISABLED":   "true",
		// No shared config files: the SDK must not read the developer's ~/.aws.
		"AWS_CONFIG_FILE":             "/nonexistent/kinko-e2e/config",
		"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/kinko-e2e/credentials",
		"AWS_ENDPOINT_URL":            s.Proxy.URL,

		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": strconv.Itoa(kinkoPort),
		"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL": "DEBUG",
	}
	if !o.OwnFunction {
		env["KINKO_PREFETCH"] = s.SecretName
		env["SECRET_NAME"] = s.SecretName
		env["SECRET_JSON_KEY"] = DefaultJSONKey
		env["OPENAI_BASE_URL"] = s.OpenAIURL
	}
	if o.OpenAIModel != "" {
		env["OPENAI_MODEL"] = o.OpenAIModel
	}
	if o.OpenAIBaseURL != "" {
		// A real API may be behind the developer's proxy; Go never proxies loopback anyway.
		for _, k := range []string{"HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR"} {
			if v, ok := os.LookupEnv(k); ok {
				env[k] = v
			}
		}
	}
	for k, v := range o.Env {
		env[k] = v
	}
	list := make([]string, 0, len(env))
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	sort.Strings(list)
	return list
}

// keyDocument is the secret's JSON: {"OPENAI_API_KEY": key}.
func keyDocument(key string) string {
	b, _ := json.Marshal(map[string]string{DefaultJSONKey: key})
	return string(b)
}

// PutKey stores a new key as the secret's current version (a rotation), straight in moto.
func (s *Stack) PutKey(ctx context.Context, key string) error {
	_, err := s.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(s.SecretName), SecretString: aws.String(keyDocument(key)),
	})
	if err != nil {
		return fmt.Errorf("put-secret-value %q in moto: %w", s.SecretName, err)
	}
	return nil
}

// RefreshNow asks kinko itself (on loopback, with the session token) to refetch the secret,
// and returns the answer's status and Cache-Status. The body, which holds the secret, is dropped.
func (s *Stack) RefreshNow(ctx context.Context) (int, string, error) {
	u := s.KinkoURL + "/secretsmanager/get?" + url.Values{"secretId": {s.SecretName}, "refreshNow": {"true"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("X-Aws-Parameters-Secrets-Token", s.SessionToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("refreshNow at kinko %s: %w (has the first request started the sandbox?)", s.KinkoURL, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Cache-Status"), nil
}

// StopMoto stops moto mid-run (Secrets Manager going away); Close will not mind. A shared
// moto (Options.Moto) is stopped too, for every stack using it.
func (s *Stack) StopMoto() { s.motoOnce.Do(s.Moto.Stop) }

// StopEmulator stops the emulator alone, as Lambda ends a sandbox: SIGTERM, so it sends
// SHUTDOWN to the extension. It returns how long the emulator took to exit (0 if it had).
func (s *Stack) StopEmulator() (time.Duration, error) {
	return s.Emulator.Stop(5 * time.Second)
}

// Close stops everything, in the order a request flows: front, emulator (with SHUTDOWN to the
// extension), local model, proxy, moto (unless it was given in Options.Moto). It is safe to
// call more than once.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		// The front first, so no request reaches a stopping emulator.
		if s.front != nil {
			errs = append(errs, s.front.Close(5*time.Second))
		}
		if s.Emulator != nil {
			_, err := s.StopEmulator()
			errs = append(errs, err)
		}
		if s.openai != nil {
			errs = append(errs, s.openai.Close(5*time.Second))
		}
		if s.Proxy != nil {
			s.Proxy.Close()
		}
		if s.Moto != nil && !s.sharedMoto {
			s.StopMoto()
		}
		if s.endMoto != nil {
			s.endMoto()
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Log is what one part of the stack printed.
type Log struct {
	Name string // emulator (with the extension's and the function's lines), moto, front, openai
	Text string
}

// Logs returns every log collected so far.
func (s *Stack) Logs() []Log {
	var motoLog string
	if s.Moto != nil {
		motoLog = s.Moto.Logs()
	}
	return []Log{
		{"emulator", s.emuLog.String()},
		{"moto", motoLog},
		{"front", s.frontLog.String()},
		{"openai", s.openaiLog.String()},
	}
}

// EmulatorLog is everything the emulator, the extension and the function printed so far.
func (s *Stack) EmulatorLog() string { return s.emuLog.String() }

// Sources of lines in the emulator's output.
const (
	FromEmulator  = "emulator"
	FromExtension = "extension"
	FromWrapper   = "kinko-exec"
	FromFunction  = "function"
)

// emulatorLine matches the emulator's own log lines: "07 Dec 2026 03:50:45,871 [INFO] (rapid) ...".
var emulatorLine = regexp.MustCompile(`^\d{2} [A-Z][a-z]{2} \d{4} [0-9:,]+ \[([A-Z]+)\] `)

// Source tells who printed a line of the emulator's output: kinko's JSON lines carry
// "extension":"kinko" (and its metrics line "_aws"), and when it cannot start it writes
// "kinko: ..." lines on stderr; the exec wrapper writes "kinko-exec: ..."; the emulator its own
// dated lines and the START, END and REPORT lines of each invoke; the rest (JSON or not: a
// print, a traceback) is the function's.
func Source(line string) string {
	switch {
	case strings.HasPrefix(line, "{"):
		if strings.Contains(line, `"extension":"kinko"`) || strings.Contains(line, `"_aws":`) {
			return FromExtension
		}
		return FromFunction
	case strings.HasPrefix(line, "kinko: "):
		return FromExtension
	case strings.HasPrefix(line, "kinko-exec: "):
		return FromWrapper
	case emulatorLine.MatchString(line),
		strings.HasPrefix(line, "START RequestId: "), strings.HasPrefix(line, "END RequestId: "), strings.HasPrefix(line, "REPORT RequestId: "):
		return FromEmulator
	}
	return FromFunction
}

// IsProblem reports a line that says something went wrong: a JSON line at WARN or ERROR (kinko's,
// or a function's slog), kinko's or the wrapper's lines on stderr (written only when they fail),
// the emulator's warnings, errors and failed phases, a managed runtime's "[ERROR]" lines.
func IsProblem(line string) bool {
	switch {
	case strings.HasPrefix(line, "{"):
		var m struct{ Level string }
		return json.Unmarshal([]byte(line), &m) == nil && (m.Level == "WARN" || m.Level == "ERROR")
	case strings.HasPrefix(line, "kinko: "), strings.HasPrefix(line, "kinko-exec: "), strings.HasPrefix(line, "[ERROR] "):
		return true
	}
	if m := emulatorLine.FindStringSubmatch(line); m != nil {
		return m[1] == "WARNING" || m[1] == "WARN" || m[1] == "ERROR" || m[1] == "FATAL" || strings.Contains(line, "(status: error")
	}
	return false
}

// Lines returns the emulator output's lines from source (FromExtension, ...).
func (s *Stack) Lines(source string) []string {
	var out []string
	for l := range strings.Lines(s.emuLog.String()) {
		l = strings.TrimRight(l, "\r\n")
		if l != "" && Source(l) == source {
			out = append(out, l)
		}
	}
	return out
}

// Response is one round trip through the front.
type Response struct {
	Status  int
	Header  http.Header
	Body    []byte
	Latency time.Duration // from sending the request to reading the whole answer
}

// Do sends one request through the front, as a browser would.
func (s *Stack) Do(ctx context.Context, method, path, body string) (*Response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.FrontURL+path, rd)
	if err != nil {
		return nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s through the front: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s through the front: reading the answer: %w", method, path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b, Latency: time.Since(start)}, nil
}

// Prompt is the body of POST /invoke-openai.
func Prompt(p string) string {
	b, _ := json.Marshal(map[string]string{"prompt": p})
	return string(b)
}

// ExpectedAnswer is what the function answers for prompt when it talks to the local model.
func ExpectedAnswer(prompt string) string {
	return fakeopenai.Answer("プロンプト: " + prompt)
}

// quietPort finds a free loopback port for kinko. kinko binds it only at the first invoke,
// maybe seconds later; a port below Linux's ephemeral range (32768 and up) is not handed to
// the other listeners and connections of a busy test run meanwhile, as a port from :0 could be.
func quietPort() (int, error) {
	for range 20 {
		port := 20000 + mrand.IntN(12000)
		l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// logBuffer keeps one source's output and copies whole lines, prefixed, to a live writer.
type logBuffer struct {
	name string
	live io.Writer

	mu      sync.Mutex
	all     []byte
	partial []byte // the unfinished last line, not yet copied to live
}

func newLogBuffer(name string, live io.Writer) *logBuffer {
	return &logBuffer{name: name, live: live}
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.all = append(b.all, p...)
	if b.live == nil {
		return len(p), nil
	}
	b.partial = append(b.partial, p...)
	for {
		i := bytes.IndexByte(b.partial, '\n')
		if i < 0 {
			break
		}
		fmt.Fprintf(b.live, "%-8s | %s\n", b.name, b.partial[:i])
		b.partial = b.partial[i+1:]
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.all)
}

// IsHit reports whether an answer's Cache-Status says the key came from a cache: kinko's, or
// the Go client's own (the client module keeps answers for half of kinko's ttl).
func IsHit(cacheStatus string) bool {
	return strings.HasPrefix(cacheStatus, "kinko; hit; ttl=") || strings.HasPrefix(cacheStatus, "client; hit; ttl=")
}
