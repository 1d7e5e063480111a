package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/kinko-dev/kinko/extension/internal/awsconfig"
	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
	"github.com/kinko-dev/kinko/extension/internal/server"
	"github.com/kinko-dev/kinko/extension/internal/upstream"
	"github.com/kinko-dev/kinko/internal/moto"
)

// Values that must survive exactly: newlines, '=', non-ASCII, a JSON-looking tail.
const (
	password    = "p@ss\nw=rd ünï 🔑 \"q\" {x}"
	plainSecret = "line1\nline2=x\r\n é=é"
	token       = "tok=\nén\tキー"
)

// fakeKinko is the real HTTP API (server, cache, upstream) in front of moto, on loopback.
type fakeKinko struct {
	port     int
	token    string
	arn      string // of app/db
	upstream int    // calls that reached moto (GetSecretValue and GetParameter)
	mu       *sync.Mutex
}

var sharedMoto = sync.OnceValues(func() (*moto.Server, error) { return moto.Start(context.Background()) })

func startKinko(t *testing.T, l net.Listener) *fakeKinko {
	t.Helper()
	m, err := sharedMoto()
	if err != nil {
		t.Fatalf("moto: %v", err)
	}
	// The tests here run one at a time (none is parallel) and each starts one kinko: an empty
	// moto for each, so -count=N repeats them instead of failing on names the last run created.
	if err := m.Reset(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Each test has its own names, so tests sharing one moto never see each other's secrets.
	prefix := strings.ReplaceAll(t.Name(), "/", "_") + "-"
	env := m.Env()
	awsCfg, err := awsconfig.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.URL),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	ps := ssm.New(ssm.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.URL),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	db, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(prefix + "app/db"),
		SecretString: aws.String(`{"user":"admin","password":` + strconv.Quote(password) + `,"port":5432}`)})
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]*secretsmanager.CreateSecretInput{
		"plain":  {SecretString: aws.String(plainSecret)},
		"binary": {SecretBinary: []byte{0, 1, 2}},
	} {
		in.Name = aws.String(prefix + name)
		if _, err := sm.CreateSecret(t.Context(), in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ps.PutParameter(t.Context(), &ssm.PutParameterInput{Name: aws.String("/" + prefix + "app/token"),
		Value: aws.String(token), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}

	k := &fakeKinko{token: "session-" + prefix, arn: aws.ToString(db.ARN), mu: &sync.Mutex{}}
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	up := upstream.New(awsCfg, upstream.Options{MaxConnections: 3, Timeout: cfg.Timeout,
		Endpoints: awsconfig.Endpoints(func(k string) string { return env[k] }), Logger: logger})
	c := cache.New[kinko.Request, document.Value](cache.LoadFunc[kinko.Request, document.Value](func(ctx context.Context, r kinko.Request) (document.Value, error) {
		k.mu.Lock()
		k.upstream++
		k.mu.Unlock()
		return up.Fetch(ctx, r)
	}), cache.Options[kinko.Request]{
		TTL:  func(r kinko.Request) time.Duration { return cfg.TTL(r.Kind) },
		Size: 100, RefreshAhead: 1, Logger: logger,
	})
	t.Cleanup(c.Close)
	if l == nil {
		if l, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	srv := server.NewHTTPServer(server.NewHandler(c, k.token, logger), logger)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	k.port = l.Addr().(*net.TCPAddr).Port
	return k
}

// env is a sandbox environment for k, plus more.
func (k *fakeKinko) env(t *testing.T, more ...string) []string {
	prefix := strings.ReplaceAll(t.Name(), "/", "_") + "-"
	base := []string{
		"PATH=/usr/bin:/bin",
		"AWS_SESSION_TOKEN=" + k.token,
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=" + strconv.Itoa(k.port),
	}
	for i, kv := range more {
		more[i] = strings.ReplaceAll(kv, "{p}", prefix)
	}
	return append(base, more...)
}

type execCall struct {
	path       string
	argv, env  []string
	calledOnce bool
}

func (e *execCall) exec(path string, argv, env []string) error {
	if e.calledOnce {
		return errors.New("exec called twice")
	}
	*e = execCall{path, argv, env, true}
	return errors.New("stub exec: no process replaced in tests")
}

var testLimits = limits{Total: 5 * time.Second, Refused: time.Second, Backoff: time.Millisecond}

func TestResolvesReferencesAndExecs(t *testing.T) {
	k := startKinko(t, nil)
	env := k.env(t,
		"DB_USER=kinko:secretsmanager:{p}app/db#user",
		"DB_PASSWORD=kinko:secretsmanager:{p}app/db#password",
		"DB_PORT=kinko:secretsmanager:{p}app/db#port",
		"PLAIN=kinko:secretsmanager:{p}plain",
		"TOKEN=kinko:ssm:/{p}app/token",
		"TOKEN_AGAIN=kinko:ssm:/{p}app/token",
		"NOT_A_REF=see kinko:ssm:/x",
		"UPPER=KINKO:ssm:/x",
		"EMPTY=",
		"EQUALS=a=b=c",
		"NO_EQUALS_SIGN",
	)
	args := []string{"/opt/kinko-exec", "echo", "a b", "--flag=kinko:ssm:/x", ""}
	var stderr bytes.Buffer
	var e execCall
	code := run(args, env, &stderr, e.exec, testLimits)
	if code != exitCannotRun || !e.calledOnce {
		t.Fatalf("run = %d, exec called %v; stderr: %s", code, e.calledOnce, redact(stderr.String()))
	}
	if e.path != "/usr/bin/echo" && e.path != "/bin/echo" {
		t.Errorf("exec path %q, want echo found on PATH", e.path)
	}
	if !slices.Equal(e.argv, args[1:]) {
		t.Errorf("argv = %q, want %q untouched", e.argv, args[1:])
	}
	want := k.env(t,
		"DB_USER=admin",
		"DB_PASSWORD="+password,
		"DB_PORT=5432",
		"PLAIN="+plainSecret,
		"TOKEN="+token,
		"TOKEN_AGAIN="+token,
		"NOT_A_REF=see kinko:ssm:/x",
		"UPPER=KINKO:ssm:/x",
		"EMPTY=",
		"EQUALS=a=b=c",
		"NO_EQUALS_SIGN",
	)
	if len(e.env) != len(want) {
		t.Fatalf("exec got %d variables, want %d", len(e.env), len(want))
	}
	for i := range want {
		if e.env[i] != want[i] {
			name, _, _ := strings.Cut(want[i], "=")
			t.Errorf("variable %d (%s) differs from the expected value (not printed)", i, name)
		}
	}
	// One upstream call per distinct secret or parameter: app/db's three keys are three answers
	// from one cache entry.
	if k.upstream != 3 {
		t.Errorf("%d upstream calls, want 3 (app/db, plain, the parameter)", k.upstream)
	}
	if s := stderr.String(); !strings.HasPrefix(s, "kinko-exec: cannot run ") || strings.Count(s, "\n") != 1 {
		t.Errorf("stderr = %q, want the one line about the stub exec", redact(s))
	}
}

func TestReferenceByARN(t *testing.T) {
	k := startKinko(t, nil)
	var stderr bytes.Buffer
	var e execCall
	code := run([]string{"kinko-exec", "/bin/true"}, k.env(t, "U=kinko:secretsmanager:"+k.arn+"#user"), &stderr, e.exec, testLimits)
	if code != exitCannotRun || !slices.Contains(e.env, "U=admin") {
		t.Errorf("run = %d, stderr %q", code, redact(stderr.String()))
	}
}

func TestUnresolvedReferenceStopsInit(t *testing.T) {
	k := startKinko(t, nil)
	for _, tc := range []struct{ name, ref, want string }{
		{"missing secret", "kinko:secretsmanager:{p}nope", `secret "{p}nope": not found (ResourceNotFoundException): `},
		{"missing key", "kinko:secretsmanager:{p}app/db#pass", `key "pass": no such JSON key (JsonKeyNotFound): secret "{p}app/db" has no top-level key "pass"`},
		{"not JSON", "kinko:secretsmanager:{p}plain#k", `is not a JSON object`},
		{"binary", "kinko:secretsmanager:{p}binary", `the secret is binary (SecretBinary)`},
		{"missing parameter", "kinko:ssm:/{p}nope", `parameter "/{p}nope": not found (ParameterNotFound)`},
		{"malformed", "kinko:ssm:/{p}app/token#k", `malformed reference: a parameter reference takes no #KEY`},
		{"unknown service", "kinko:vault:x", `malformed reference: unknown service "vault"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := k.env(t, "GOOD=kinko:secretsmanager:{p}app/db#password", "BAD="+tc.ref)
			// The subtest's own names: it creates nothing, so point {p} at the parent's.
			for i := range env {
				env[i] = strings.ReplaceAll(env[i], strings.ReplaceAll(t.Name(), "/", "_")+"-", "TestUnresolvedReferenceStopsInit-")
			}
			want := strings.ReplaceAll(tc.want, "{p}", "TestUnresolvedReferenceStopsInit-")
			var stderr bytes.Buffer
			var e execCall
			code := run([]string{"kinko-exec", "/bin/true"}, env, &stderr, e.exec, testLimits)
			out := stderr.String()
			if code != exitUnresolved || e.calledOnce {
				t.Fatalf("run = %d, exec called %v; want %d and no exec", code, e.calledOnce, exitUnresolved)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "kinko-exec: BAD: ") || !strings.Contains(lines[0], want) ||
				lines[1] != "kinko-exec: not starting the runtime: 1 reference(s) unresolved" {
				t.Errorf("stderr:\n%s\nwant one line for BAD containing %q, then the summary", redact(out), want)
			}
			// kinko's own message names the id too (issue 28): the line says it once.
			if id := `"TestUnresolvedReferenceStopsInit-nope"`; strings.Count(lines[0], id) > 1 {
				t.Errorf("the line names %s %d times, want once:\n%s", id, strings.Count(lines[0], id), redact(lines[0]))
			}
			noValues(t, out)
		})
	}
}

func TestTokenAndPort(t *testing.T) {
	k := startKinko(t, nil)
	ref := "S=kinko:secretsmanager:TestTokenAndPort-app/db#user"
	for _, tc := range []struct {
		name string
		env  []string
		code int
		want string
	}{
		{"container token", []string{"AWS_SESSION_TOKEN=", "AWS_CONTAINER_AUTHORIZATION_TOKEN=" + k.token, ref}, exitCannotRun, ""},
		{"no token", []string{"AWS_SESSION_TOKEN=", ref}, exitUnresolved, "S: no session token: neither AWS_SESSION_TOKEN nor AWS_CONTAINER_AUTHORIZATION_TOKEN is set"},
		{"wrong token", []string{"AWS_SESSION_TOKEN=other", ref}, exitUnresolved, "kinko refused the session token (AccessDeniedException)"},
		{"bad port", []string{"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=http", ref}, exitUnresolved, `S: PARAMETERS_SECRETS_EXTENSION_HTTP_PORT="http" is not a port number`},
		{"no references need no token", []string{"AWS_SESSION_TOKEN=", "X=y"}, exitCannotRun, ""},
		{"snap-start", []string{"AWS_LAMBDA_INITIALIZATION_TYPE=snap-start", ref}, exitUnresolved, "S: SnapStart would save the value in the snapshot"},
		{"snap-start, reads during init allowed", []string{"AWS_LAMBDA_INITIALIZATION_TYPE=snap-start", "KINKO_SNAPSTART_INIT_READS=allow", ref},
			exitUnresolved, "KINKO_SNAPSTART_INIT_READS=allow does not apply to references"},
		{"provisioned concurrency", []string{"AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency", ref}, exitCannotRun, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The earlier entry of a name wins, as in os.Getenv: put the case's own first.
			env := append(slices.Clone(tc.env), k.env(t)...)
			var stderr bytes.Buffer
			var e execCall
			code := run([]string{"kinko-exec", "/bin/true"}, env, &stderr, e.exec, testLimits)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("run = %d, stderr %q; want %d and %q", code, redact(stderr.String()), tc.code, tc.want)
			}
			if strings.Contains(stderr.String(), k.token) {
				t.Error("stderr holds the session token")
			}
		})
	}
}

func TestKinkoNotListening(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	env := []string{"AWS_SESSION_TOKEN=t", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=" + strconv.Itoa(port), "S=kinko:secretsmanager:s"}
	var stderr bytes.Buffer
	var e execCall
	start := time.Now()
	code := run([]string{"kinko-exec", "/bin/true"}, env, &stderr, e.exec, limits{Total: 5 * time.Second, Refused: 300 * time.Millisecond, Backoff: time.Millisecond})
	took := time.Since(start)
	if code != exitUnresolved || !strings.Contains(stderr.String(), "S: secret \"s\": kinko is not listening on 127.0.0.1:"+strconv.Itoa(port)+" (connection refused for 300 ms): is the kinko layer attached") {
		t.Errorf("run = %d, stderr %q", code, stderr.String())
	}
	// The bound is the point: it gave up after the refused budget, not the whole one.
	if took > 3*time.Second {
		t.Errorf("gave up after %v; the refused budget was 300 ms", took)
	}
}

// kinko may still be binding when the wrapper starts: refused connections are tried again.
func TestKinkoBindsLate(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// moto first: under load it takes seconds to start, which is not the late bind under test.
	if _, err := sharedMoto(); err != nil {
		t.Fatalf("moto: %v", err)
	}
	env := []string{"AWS_SESSION_TOKEN=session-TestKinkoBindsLate-", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=" + strconv.Itoa(port),
		"U=kinko:secretsmanager:TestKinkoBindsLate-app/db#user"}
	var stderr bytes.Buffer
	var e execCall
	var code int
	var wrapper sync.WaitGroup
	wrapper.Go(func() {
		code = run([]string{"kinko-exec", "/bin/true"}, env, &stderr, e.exec, limits{Total: 20 * time.Second, Refused: 15 * time.Second, Backoff: time.Millisecond})
	})
	t.Cleanup(wrapper.Wait) // a Fatal below still waits for the wrapper (its Total bounds it)
	// The scenario itself is a late start: kinko binds 200 ms after the wrapper began. It binds
	// here, on the test's goroutine, so that a failure to start it fails the test instead of
	// leaving the wrapper's result unread until the test binary times out.
	time.Sleep(200 * time.Millisecond)
	l, err = net.Listen("tcp4", addr)
	if err != nil {
		wrapper.Wait()
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	startKinko(t, l)
	wrapper.Wait()
	if code != exitCannotRun || !slices.Contains(e.env, "U=admin") {
		t.Errorf("run = %d, stderr %q; want the value once kinko listened", code, redact(stderr.String()))
	}
}

// A kinko that accepts and never answers (or answers oddly) gets a bounded wait and a reason.
func TestOddAnswers(t *testing.T) {
	for _, tc := range []struct{ name, answer, want string }{
		{"silent", "", "did not answer in time (reading the answer)"},
		{"cut short", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/plain\r\n\r\nshort", "was cut short (5 of 100 bytes)"},
		{"not HTTP", "SSH-2.0-OpenSSH_9.6\r\n\r\n", "is not HTTP"},
		{"no headers end", "HTTP/1.1 200 OK\r\nContent-Type: text", "ended before its headers did"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "chunked-encoded"},
		{"huge", "HTTP/1.1 200 OK\r\n\r\n" + strings.Repeat("x", maxAnswer+100<<10), "larger than 1048576 bytes"},
		{"not a document", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[1,2]", "not a GetSecretValue document (5 bytes)"},
		{"plain error", "HTTP/1.1 400 Bad Request\r\nX-Amzn-Errortype: ResourceNotFoundException:http://x\r\n\r\nan unexpected error occurred", "not found (ResourceNotFoundException)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			t.Cleanup(func() { l.Close(); wg.Wait() })
			wg.Go(func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = c.Read(make([]byte, 4096))
				if tc.answer == "" {
					_, _ = c.Read(make([]byte, 1)) // hold the connection until the wrapper gives up
					return
				}
				_, _ = io.WriteString(c, tc.answer)
			})
			env := []string{"AWS_SESSION_TOKEN=t", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), "S=kinko:secretsmanager:s"}
			var stderr bytes.Buffer
			var e execCall
			code := run([]string{"kinko-exec", "/bin/true"}, env, &stderr, e.exec, limits{Total: 500 * time.Millisecond, Refused: 100 * time.Millisecond, Backoff: time.Millisecond})
			if code != exitUnresolved || !strings.Contains(stderr.String(), "S: secret \"s\": ") || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("run = %d, stderr %q; want %q", code, stderr.String(), tc.want)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	var stderr bytes.Buffer
	var e execCall
	if code := run([]string{"kinko-exec"}, nil, &stderr, e.exec, testLimits); code != exitUsage || !strings.Contains(stderr.String(), "exec /opt/kinko-exec ./real-bootstrap") {
		t.Errorf("no command: %d %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"kinko-exec", "no-such-runtime-xyz"}, []string{"PATH=/usr/bin:/bin"}, &stderr, e.exec, testLimits); code != exitNotFound ||
		!strings.Contains(stderr.String(), `"no-such-runtime-xyz" not found on PATH`) || e.calledOnce {
		t.Errorf("unknown command: %d %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"kinko-exec", "./rel/bootstrap"}, nil, &stderr, e.exec, testLimits); code != exitCannotRun || e.path != "./rel/bootstrap" {
		t.Errorf("relative path: %d %q %q", code, e.path, stderr.String())
	}
}

// The wrapper's promise is to be cheap at every cold start: what it links is what it costs.
func TestWrapperLinksLittle(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch {
		case strings.Contains(pkg, "aws-sdk-go-v2"), strings.Contains(pkg, "smithy-go"):
			t.Errorf("kinko-exec links %s: the AWS SDK's package initialisation would run at every start", pkg)
		case pkg == "net", pkg == "net/http", pkg == "fmt", pkg == "encoding/json", pkg == "log/slog", pkg == "reflect":
			t.Errorf("kinko-exec links %s, which adds hundreds of KB to a layer at its size budget", pkg)
		}
	}
}

func noValues(t *testing.T, s string) {
	t.Helper()
	for _, v := range []string{password, plainSecret, token, "admin", "p@ss"} {
		if strings.Contains(s, v) {
			t.Errorf("the output holds a secret value (not printed)")
		}
	}
}

// redact keeps a failure message from printing any of the test's values.
func redact(s string) string {
	for _, v := range []string{password, plainSecret, token} {
		s = strings.ReplaceAll(s, v, "<value>")
	}
	return s
}

// A redirect is never followed (the request carries the session token), and the reason says
// it was one: kinko never redirects, so something else answers on its port.
func TestRedirectIsNotFollowed(t *testing.T) {
	elsewhere, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer elsewhere.Close()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Read(make([]byte, 4096))
		_, _ = io.WriteString(c, "HTTP/1.1 302 Found\r\nLocation: http://"+elsewhere.Addr().String()+"/secretsmanager/get?secretId=s\r\nContent-Length: 0\r\n\r\n")
	})
	env := []string{"AWS_SESSION_TOKEN=t", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), "S=kinko:secretsmanager:s"}
	var stderr bytes.Buffer
	var e execCall
	code := run([]string{"kinko-exec", "/bin/true"}, env, &stderr, e.exec, limits{Total: 2 * time.Second, Refused: 100 * time.Millisecond, Backoff: time.Millisecond})
	want := "redirect to http://" + elsewhere.Addr().String() + "/secretsmanager/get?secretId=s, not followed"
	if code != exitUnresolved || !strings.Contains(stderr.String(), `S: secret "s": `) || !strings.Contains(stderr.String(), want) {
		t.Errorf("run = %d, stderr %q; want %q", code, stderr.String(), want)
	}
	// run has returned: a connection it made to the target would be waiting to be accepted.
	_ = elsewhere.(*net.TCPListener).SetDeadline(time.Now())
	if c, err := elsewhere.Accept(); err == nil {
		c.Close()
		t.Error("the wrapper connected to the redirect's target")
	}
}
