// Package outside_test runs kinko outside Lambda end to end: the binary built as the image builds
// it (without -tags lambda), as a plain process, against moto, with its AWS credentials from
// stand-ins of the two endpoints a container or an instance gets them from: the container
// credentials endpoint (ECS task roles, EKS Pod Identity) and IMDSv2 (EC2). It serves, fetches
// credentials again before they expire, refuses to bind beyond loopback without a token of its
// own, exits 0 on SIGTERM within its drain budget, logs no value, and answers AWS Secrets
// Manager Agent's own example requests (its README's curl and Python) as the agent does.
package outside_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/e2e/stack"
	"github.com/kinko-dev/kinko/internal/moto"
)

const (
	secretName  = "prod/db"
	secretValue = `{"username":"app","password":"s3cr3t-outside-0123456789"}`
	// kinko's own token, as the README makes it: head -c 32 /dev/urandom | base64.
	kinkoToken = "u7Jk2Q9vX4mB1nR8cT5wL0pZ3aF6hE2yG9dK4sV7oNc="
	// What the credential endpoints hand out: none of it may reach a log.
	standinSecretKey = "standin-secret-access-key-0123456789"
	standinSession   = "standin-session-token-0123456789"
	containerAuth    = "container-authorization-token-0123456789"
	drainBudget      = 2 * time.Second
)

// buildDir holds this run's kinko binary; TestMain removes it.
var buildDir = filepath.Join(os.TempDir(), fmt.Sprintf("kinko-outside-%d", os.Getpid()))

func TestMain(m *testing.M) {
	code := m.Run()
	_ = os.RemoveAll(buildDir)
	os.Exit(code)
}

// kinkoBinary builds kinko as the image does: static, stripped, the layer's compiler flags,
// without -tags lambda (the SDK's default chain and the agent's file are in).
var kinkoBinary = sync.OnceValues(func() (string, error) {
	root, err := stack.FindRoot()
	if err != nil {
		return "", err
	}
	gc, err := os.ReadFile(filepath.Join(root, "layer", "kinko.gcflags"))
	if err != nil {
		return "", err
	}
	bin := filepath.Join(buildDir, "kinko")
	args := append([]string{"build", "-trimpath", "-ldflags", "-s -w -buildid= -X main.version=e2e"}, strings.Fields(string(gc))...)
	cmd := exec.Command("go", append(args, "-o", bin, "./extension")...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./extension: %w\n%s", err, out)
	}
	return bin, nil
})

// upstream is moto behind a recording proxy: it notes the access key of every signed call (the
// credentials kinko signed with) and can hold calls, for a request in flight at SIGTERM.
type upstream struct {
	moto *moto.Server
	url  string
	sm   *secretsmanager.Client
	mu   sync.Mutex
	keys []string
	hold chan struct{} // non-nil: calls wait on it
}

var credentialRE = regexp.MustCompile(`Credential=([A-Z0-9]+)/`)

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	if _, err := moto.Command(); err != nil {
		t.Fatalf("%v (make test installs what it can; moto comes from pip)", err)
	}
	m := moto.ForTest(t)
	target, _ := url.Parse(m.URL)
	u := &upstream{moto: m}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a call kinko cancels at its drain is expected
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); k != nil {
			u.mu.Lock()
			u.keys = append(u.keys, k[1])
			u.mu.Unlock()
		}
		u.mu.Lock()
		hold := u.hold
		u.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u.url = srv.URL
	u.sm = secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.URL),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	if _, err := u.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(secretName), SecretString: aws.String(secretValue)}); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u *upstream) signedWith() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.keys...)
}

// credentialsServer counts the credentials it hands out; each fetch gets a new access key
// (ASIA...1, ...2), so a call's signature tells which fetch it used.
type credentialsServer struct {
	srv     *httptest.Server
	fetches chan time.Time
	mu      sync.Mutex
	n       int
}

func (c *credentialsServer) next(lifetime time.Duration) map[string]string {
	c.mu.Lock()
	c.n++
	n := c.n
	c.mu.Unlock()
	c.fetches <- time.Now()
	return map[string]string{"AccessKeyId": "ASIASTANDIN" + strconv.Itoa(n), "SecretAccessKey": standinSecretKey,
		"Token": standinSession, "Expiration": time.Now().Add(lifetime).UTC().Format(time.RFC3339)}
}

func (c *credentialsServer) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

// containerCredentials stands in for the ECS/EKS container credentials endpoint: GET with the
// Authorization token, credentials as JSON.
func containerCredentials(t *testing.T, lifetime time.Duration) *credentialsServer {
	t.Helper()
	c := &credentialsServer{fetches: make(chan time.Time, 100)}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/v2/credentials/kinko" || r.Header.Get("Authorization") != containerAuth {
			http.Error(w, `{"code":"AccessDenied"}`, http.StatusForbidden)
			return
		}
		_ = json.NewEncoder(w).Encode(c.next(lifetime))
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// instanceMetadata stands in for IMDSv2: a session token from PUT /latest/api/token (its TTL
// echoed), required on every GET; the region in the identity document; the role's credentials.
func instanceMetadata(t *testing.T, lifetime time.Duration) *credentialsServer {
	t.Helper()
	const session = "imds-session"
	c := &credentialsServer{fetches: make(chan time.Time, 100)}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /latest/api/token", func(w http.ResponseWriter, r *http.Request) {
		ttl := r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds")
		if ttl == "" {
			http.Error(w, "", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", ttl)
		_, _ = io.WriteString(w, session)
	})
	guarded := func(f func(http.ResponseWriter)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Aws-Ec2-Metadata-Token") != session {
				http.Error(w, "", http.StatusUnauthorized)
				return
			}
			f(w)
		}
	}
	mux.HandleFunc("GET /latest/dynamic/instance-identity/document", guarded(func(w http.ResponseWriter) {
		_ = json.NewEncoder(w).Encode(map[string]string{"region": "us-east-1", "accountId": "123456789012", "instanceId": "i-0123456789abcdef0"})
	}))
	mux.HandleFunc("GET /latest/meta-data/iam/security-credentials/", guarded(func(w http.ResponseWriter) { _, _ = io.WriteString(w, "kinko-role") }))
	mux.HandleFunc("GET /latest/meta-data/iam/security-credentials/kinko-role", guarded(func(w http.ResponseWriter) {
		creds := c.next(lifetime)
		creds["Code"], creds["Type"], creds["LastUpdated"] = "Success", "AWS-HMAC", time.Now().UTC().Format(time.RFC3339)
		_ = json.NewEncoder(w).Encode(creds)
	}))
	c.srv = httptest.NewServer(mux)
	t.Cleanup(c.srv.Close)
	return c
}

// process is a running kinko binary.
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	port   int
	out    *bytes.Buffer // stdout and stderr
	outMu  *sync.Mutex
	done   chan struct{}
	waited error
}

type lockedBuffer struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (l lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (p *process) logs() string { p.outMu.Lock(); defer p.outMu.Unlock(); return p.out.String() }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// tokenFile writes kinko's token where the agent's install script writes it, under dir.
func tokenFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "awssmatoken")
	if err := os.WriteFile(path, []byte(kinkoToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startKinko runs the binary with exactly env (and PATH, HOME), so nothing of the machine's
// AWS setup reaches it.
func startKinko(t *testing.T, env map[string]string, args ...string) *process {
	t.Helper()
	bin, err := kinkoBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{t: t, out: &bytes.Buffer{}, outMu: &sync.Mutex{}, done: make(chan struct{})}
	home := t.TempDir()
	full := map[string]string{"PATH": os.Getenv("PATH"), "HOME": home, "AWS_CONFIG_FILE": filepath.Join(home, "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "none"), "KINKO_DRAIN_MS": strconv.Itoa(int(drainBudget.Milliseconds())),
		// A call held at AWS is cut by the drain, not by its own timeout (2 s by default).
		"SECRETS_MANAGER_TIMEOUT_MILLIS": "10000"}
	for k, v := range env {
		full[k] = v
	}
	if port, err := strconv.Atoi(full["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"]); err == nil {
		p.port = port
	}
	p.cmd = exec.Command(bin, args...)
	for k, v := range full {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	w := lockedBuffer{p.outMu, p.out}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waited = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("kinko's output:\n%s", redact(p.logs()))
		}
	})
	return p
}

// redact hides every value the test planted, so a failure never prints one.
func redact(s string) string {
	for _, v := range []string{secretValue, "s3cr3t-outside-0123456789", kinkoToken, standinSecretKey, standinSession, containerAuth} {
		s = strings.ReplaceAll(s, v, "<redacted>")
	}
	return s
}

// waitLog polls kinko's output for a line holding every fragment.
func (p *process) waitLog(fragments ...string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(p.logs(), "\n") {
			all := true
			for _, f := range fragments {
				all = all && strings.Contains(line, f)
			}
			if all {
				return
			}
		}
		select {
		case <-p.done:
			p.t.Fatalf("kinko exited (%v) before logging %q", p.waited, fragments)
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.t.Fatalf("kinko did not log %q within 20s", fragments)
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (p *process) get(path string, hdr map[string]string) answer {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://localhost:%d%s", p.port, path), nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

var withToken = map[string]string{"X-Aws-Parameters-Secrets-Token": kinkoToken}

// terminate sends SIGTERM and returns the exit code and how long kinko took to exit.
func (p *process) terminate() (int, time.Duration) {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(drainBudget + 10*time.Second):
		p.t.Fatalf("kinko did not exit within %s of SIGTERM", drainBudget+10*time.Second)
	}
	took := time.Since(start)
	var exit *exec.ExitError
	if errors.As(p.waited, &exit) {
		return exit.ExitCode(), took
	}
	if p.waited != nil {
		p.t.Fatal(p.waited)
	}
	return 0, took
}

// noValueLogged fails if kinko's output holds the secret, its token or any credential.
func (p *process) noValueLogged() {
	p.t.Helper()
	out := p.logs()
	for name, v := range map[string]string{"the secret's value": "s3cr3t-outside-0123456789", "kinko's token": kinkoToken,
		"the secret access key": standinSecretKey, "the session token": standinSession, "the container authorization token": containerAuth} {
		if strings.Contains(out, v) {
			p.t.Errorf("kinko's output holds %s", name)
		}
	}
}

// waitFetches waits until the credentials endpoint has handed out n sets.
func waitFetches(t *testing.T, c *credentialsServer, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for c.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the credentials endpoint handed out %d sets, want %d", c.count(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkServesAndRefreshes is what both credential sources must show: kinko serves the secret
// signed with the first credentials, and once they near their expiry, fetches new ones and signs
// with those.
func checkServesAndRefreshes(t *testing.T, p *process, u *upstream, creds *credentialsServer, expiresAfter time.Duration) {
	t.Helper()
	p.waitLog(`"msg":"ready"`, `"mode":"process"`)
	p.waitLog(`"msg":"AWS credentials"`) // validate_credentials: the first set, fetched at start
	a := p.get("/secretsmanager/get?secretId="+secretName, withToken)
	var doc struct{ SecretString string }
	if a.status != 200 || json.Unmarshal([]byte(a.body), &doc) != nil || doc.SecretString != secretValue {
		t.Fatalf("GET the secret: %d %s", a.status, redact(a.body))
	}
	if keys := u.signedWith(); len(keys) != 1 || keys[0] != "ASIASTANDIN1" {
		t.Fatalf("calls signed with %v, want one with the first credentials", keys)
	}
	// The first set was fetched at start; once it is within kinko's refresh window, the next
	// call to AWS fetches a second one first.
	first := <-creds.fetches
	time.Sleep(time.Until(first.Add(expiresAfter)) + 200*time.Millisecond)
	if a := p.get("/secretsmanager/get?secretId="+secretName+"&refreshNow=true", withToken); a.status != 200 {
		t.Fatalf("refreshNow after the credentials expired: %d %s", a.status, redact(a.body))
	}
	waitFetches(t, creds, 2)
	if keys := u.signedWith(); len(keys) != 2 || keys[1] != "ASIASTANDIN2" {
		t.Fatalf("calls signed with %v, want the second one with the second credentials", keys)
	}
}

// checkDrainsWithinBudget holds a request at AWS, sends SIGTERM, and wants kinko to answer it
// (503: cut at the budget), exit 0, and take no longer than the budget (and a margin for the
// process itself).
func checkDrainsWithinBudget(t *testing.T, p *process, u *upstream) {
	t.Helper()
	u.mu.Lock()
	u.hold = make(chan struct{})
	u.mu.Unlock()
	defer close(u.hold)
	got := make(chan answer, 1)
	go func() { got <- p.get("/secretsmanager/get?secretId="+secretName+"&refreshNow=true", withToken) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(u.signedWith()) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the held request did not reach AWS")
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, took := p.terminate()
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if took > drainBudget+time.Second {
		t.Errorf("kinko took %s to exit after SIGTERM, over its drain budget of %s", took, drainBudget)
	}
	if a := <-got; a.status != 503 || !strings.Contains(a.body, "ExtensionShuttingDown") {
		t.Errorf("the request held at SIGTERM: %d %s, want 503 ExtensionShuttingDown", a.status, redact(a.body))
	}
	t.Logf("exit %d, %s after SIGTERM with a request held at AWS (drain budget %s)", code, took.Round(time.Millisecond), drainBudget)
}

// ECS task role / EKS Pod Identity: credentials from the container credentials endpoint.
func TestOutsideLambdaWithContainerCredentials(t *testing.T) {
	u := startUpstream(t)
	// Expiring in 5 min 3 s: within kinko's 5-minute refresh window 3 s after they are handed out.
	const lifetime, expiresAfter = 5*time.Minute + 3*time.Second, 3 * time.Second
	creds := containerCredentials(t, lifetime)
	p := startKinko(t, map[string]string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     creds.srv.URL + "/v2/credentials/kinko",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN":      containerAuth,
		"AWS_REGION":                             "us-east-1",
		"AWS_ENDPOINT_URL":                       u.url,
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_TOKEN":                              "file://" + tokenFile(t),
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": strconv.Itoa(freePort(t)),
	})
	checkServesAndRefreshes(t, p, u, creds, expiresAfter)
	// The container authorization token is a credential: it is not the token callers send.
	if a := p.get("/secretsmanager/get?secretId="+secretName, map[string]string{"X-Aws-Parameters-Secrets-Token": containerAuth}); a.status != 401 {
		t.Errorf("the container authorization token as the caller's token: %d", a.status)
	}
	checkDrainsWithinBudget(t, p, u)
	p.noValueLogged()
}

// EC2: region and credentials from the instance metadata (IMDSv2).
func TestOutsideLambdaWithInstanceMetadata(t *testing.T) {
	u := startUpstream(t)
	// Instance credentials are used until they expire (the SDK refreshes earlier only when more
	// than 15 minutes are left); IMDS itself hands out new ones well before.
	const lifetime = 3 * time.Second
	creds := instanceMetadata(t, lifetime)
	p := startKinko(t, map[string]string{
		"AWS_EC2_METADATA_SERVICE_ENDPOINT":      creds.srv.URL,
		"AWS_ENDPOINT_URL":                       u.url,
		"AWS_TOKEN":                              "file://" + tokenFile(t),
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": strconv.Itoa(freePort(t)),
	})
	checkServesAndRefreshes(t, p, u, creds, lifetime)
	checkDrainsWithinBudget(t, p, u)
	p.noValueLogged()
}

// Beyond loopback, without a token of its own, kinko does not start: it exits 1 saying how to
// make one, and binds nothing.
func TestOutsideLambdaRefusesABindBeyondLoopbackWithoutAToken(t *testing.T) {
	port := freePort(t)
	for name, env := range map[string]map[string]string{
		"no token":                 {},
		"a session token":          {"AWS_SESSION_TOKEN": standinSession},
		"the container's token":    {"AWS_CONTAINER_AUTHORIZATION_TOKEN": containerAuth},
		"a short token of its own": {"AWS_TOKEN": "hunter2"},
	} {
		for _, bind := range []string{"0.0.0.0", "[::]", "::ffff:127.0.0.1", "localhost.localdomain"} {
			full := map[string]string{"KINKO_BIND": bind, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
				"AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": strconv.Itoa(port)}
			for k, v := range env {
				full[k] = v
			}
			p := startKinko(t, full)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s, KINKO_BIND=%s: kinko is still running", name, bind)
			}
			var exit *exec.ExitError
			if !errors.As(p.waited, &exit) || exit.ExitCode() != 1 {
				t.Errorf("%s, KINKO_BIND=%s: exit %v, want 1", name, bind, p.waited)
			}
			out := p.logs()
			if !strings.Contains(out, "head -c 32 /dev/urandom | base64 > /run/kinko/token") || !strings.Contains(out, "AWS_TOKEN=file:///run/kinko/token") {
				t.Errorf("%s, KINKO_BIND=%s: the message does not say how to make a token:\n%s", name, bind, redact(out))
			}
			p.noValueLogged()
		}
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		c.Close()
		t.Error("something listens on kinko's port")
	}
}

// The agent's README's own requests: its curl and Python examples, run as written (the token
// file at the path its install script writes, /var/run/awssmatoken, here a file of the test's;
// the secret id and port filled in), answered as the agent answers them: 200 and the
// GetSecretValue output (ARN, Name, VersionId, SecretString, VersionStages, CreatedDate).
func TestAgentReadmeExamples(t *testing.T) {
	u := startUpstream(t)
	token := tokenFile(t)
	port := freePort(t)
	p := startKinko(t, map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": u.url,
		"AWS_TOKEN": "file://" + token, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": strconv.Itoa(port),
	})
	p.waitLog(`"msg":"ready"`)
	fill := func(s string) string {
		s = strings.ReplaceAll(s, "/var/run/awssmatoken", token)
		s = strings.ReplaceAll(s, "<YOUR_SECRET_ID>", secretName)
		return strings.ReplaceAll(s, "localhost:2773", "localhost:"+strconv.Itoa(port))
	}
	want := secretDocument(t, u)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("the agent's curl examples need curl (apt-get install curl): %v", err)
	}
	for _, ex := range []struct{ name, lang, code string }{
		{"curl", "bash", readmeCurl},
		{"curl refreshNow", "bash", readmeCurlRefresh},
		{"Python", "python3", readmePython + "\nprint(get_secret())\n"},
		{"Python refreshNow", "python3", readmePythonRefresh + "\nprint(get_secret())\n"},
	} {
		if _, err := exec.LookPath(ex.lang); err != nil {
			t.Fatalf("%s: %v", ex.name, err)
		}
		if ex.lang == "python3" && exec.Command("python3", "-c", "import requests").Run() != nil {
			t.Fatalf("%s: the agent's example needs Python's requests (pip install requests)", ex.name)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		cmd := exec.CommandContext(ctx, ex.lang, "-c", fill(ex.code))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		if err != nil {
			t.Errorf("%s: %v\n%s", ex.name, err, redact(stderr.String()))
			continue
		}
		var got map[string]any
		if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &got); err != nil {
			t.Errorf("%s printed no JSON document: %s", ex.name, redact(stdout.String()))
			continue
		}
		for _, k := range []string{"ARN", "Name", "VersionId", "SecretString", "VersionStages"} {
			if fmt.Sprint(got[k]) != fmt.Sprint(want[k]) {
				t.Errorf("%s: %s = %s, want %s, as the agent answers", ex.name, k, redact(fmt.Sprint(got[k])), redact(fmt.Sprint(want[k])))
			}
		}
		if _, ok := got["CreatedDate"]; !ok {
			t.Errorf("%s: no CreatedDate", ex.name)
		}
		if ex.lang == "bash" && !strings.Contains(stderr.String(), "< HTTP/1.1 200 OK") {
			t.Errorf("%s: curl -v shows no 200: %s", ex.name, redact(stderr.String()))
		}
	}
	p.noValueLogged()
}

// secretDocument is what GetSecretValue answers for the secret, the fields the agent passes on.
func secretDocument(t *testing.T, u *upstream) map[string]any {
	t.Helper()
	out, err := u.sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretName)})
	if err != nil {
		t.Fatal(err)
	}
	stages := make([]any, len(out.VersionStages))
	for i, s := range out.VersionStages {
		stages[i] = s
	}
	return map[string]any{"ARN": aws.ToString(out.ARN), "Name": aws.ToString(out.Name), "VersionId": aws.ToString(out.VersionId),
		"SecretString": aws.ToString(out.SecretString), "VersionStages": stages}
}

// The examples of AWS Secrets Manager Agent's README (github.com/aws/aws-secretsmanager-agent,
// "Step 3: Retrieve secrets" and "Using the refreshNow parameter"), as written there.

const readmeCurl = `curl -v -H \
    "X-Aws-Parameters-Secrets-Token: $(</var/run/awssmatoken)" \
    'http://localhost:2773/secretsmanager/get?secretId=<YOUR_SECRET_ID>'; \
    echo`

// The README's refreshNow curl lacks the ';' before its echo (curl then also fetches the URL
// "echo", which fails to resolve and makes curl exit 6); the ';' is put back so that the
// request itself decides the exit code.
const readmeCurlRefresh = `curl -v -H \
"X-Aws-Parameters-Secrets-Token: $(</var/run/awssmatoken)" \
'http://localhost:2773/secretsmanager/get?secretId=<YOUR_SECRET_ID>&refreshNow=true'; \
echo`

const readmePython = `import requests
import json

# Function that fetches the secret from Secrets Manager Agent for the provided secret id. 
def get_secret():
    # Construct the URL for the GET request
    url = f"http://localhost:2773/secretsmanager/get?secretId=<YOUR_SECRET_ID>"

    # Get the SSRF token from the token file
    with open('/var/run/awssmatoken') as fp:
        token = fp.read() 

    headers = {
        "X-Aws-Parameters-Secrets-Token": token.strip()
    }

    try:
        # Send the GET request with headers
        response = requests.get(url, headers=headers)

        # Check if the request was successful
        if response.status_code == 200:
            # Return the secret value
            return response.text
        else:
            # Handle error cases
            raise Exception(f"Status code {response.status_code} - {response.text}")

    except Exception as e:
        # Handle network errors
        raise Exception(f"Error: {e}")
`

var readmePythonRefresh = strings.Replace(readmePython, "secretId=<YOUR_SECRET_ID>", "secretId=<YOUR_SECRET_ID>&refreshNow=true", 1)
