package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// containerCreds stands in for the container credentials endpoint SnapStart and Managed
// Instances give (AWS_CONTAINER_CREDENTIALS_FULL_URI): it answers the right token only, each
// time with a new access key whose credentials last ttl, or fails as told.
type containerCreds struct {
	url string

	mu         sync.Mutex
	calls      int
	ttl        time.Duration
	failStatus int
	failBody   string
}

func startContainerCreds(t *testing.T, ttl time.Duration) *containerCreds {
	t.Helper()
	c := &containerCreds{ttl: ttl}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.url = "http://" + l.Addr().String() + "/2018-06-01/credentials"
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 64 << 10,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.calls++
			switch {
			case r.Header.Get("Authorization") != testToken:
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `{"code":"AccessDenied","message":"wrong token"}`)
			case c.failStatus != 0:
				w.WriteHeader(c.failStatus)
				fmt.Fprint(w, c.failBody)
			default:
				fmt.Fprintf(w, `{"AccessKeyId":"ASIA-%d","SecretAccessKey":"container-secret","Token":"container-session","Expiration":%q}`,
					c.calls, time.Now().Add(c.ttl).UTC().Format(time.RFC3339))
			}
		})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return c
}

func (c *containerCreds) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.calls }

func (c *containerCreds) fail(status int, body string) {
	c.mu.Lock()
	c.failStatus, c.failBody = status, body
	c.mu.Unlock()
}

// env is a sandbox with credentials from this endpoint only, as SnapStart and Managed Instances
// have them: no AWS_SESSION_TOKEN, the caller's token in AWS_CONTAINER_AUTHORIZATION_TOKEN.
func (c *containerCreds) env(initType string, more ...string) map[string]string {
	env := map[string]string{
		"AWS_LAMBDA_INITIALIZATION_TYPE":     initType,
		"AWS_ACCESS_KEY_ID":                  "",
		"AWS_SECRET_ACCESS_KEY":              "",
		"AWS_SESSION_TOKEN":                  "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": c.url,
		"AWS_CONTAINER_AUTHORIZATION_TOKEN":  testToken,
	}
	for i := 0; i+1 < len(more); i += 2 {
		env[more[i]] = more[i+1]
	}
	return env
}

const (
	beforeSnapshot = "value-from-before-the-snapshot-3b9e"
	afterRestore   = "value-rotated-after-the-snapshot-51c7"
)

// CONTRACT.md section 2 point 5: under SnapStart no secret value crosses the snapshot. These
// functions opted in to reads during init (KINKO_SNAPSTART_INIT_READS=allow): such a read is
// answered and not kept. TestSnapStartRefusesReadsDuringInit is the default.
func TestSnapStart(t *testing.T) {
	a := startAWS(t)

	// No prefetch in init, a request in init answered and not kept; at the restore (the first
	// INVOKE) the credentials are fetched again and the prefetch runs; it then answers hits.
	t.Run("with KINKO_PREFETCH", func(t *testing.T) {
		a := a.withOwnProxy(t)
		a.createSecret(t, "snap/prefetched", beforeSnapshot)
		creds := startContainerCreds(t, time.Hour)
		x := startExtension(t, a, creds.env("snap-start", "KINKO_PREFETCH", "snap/prefetched", "KINKO_SNAPSTART_INIT_READS", "allow"))
		x.waitLog(`"msg":"ready"`, `"init_type":"snap-start"`, `"prefetch":0`, `"prefetch_after_restore":1`)
		waitFor(t, "the first /event/next", 10*time.Second, func() bool { return x.lambda.next() == 1 })
		if n, c := a.proxy.Calls("GetSecretValue"), creds.count(); n != 0 || c != 0 {
			t.Fatalf("during SnapStart init with no request: %d calls to AWS, %d to the credentials endpoint; want none", n, c)
		}

		// Asked during init: answered, from AWS, and not stored (so not in the snapshot).
		for i := range 2 {
			r := x.get("/secretsmanager/get?secretId=snap/prefetched")
			if r.status != 200 || r.cacheStatus != "kinko; fwd=bypass" || !strings.Contains(r.body, beforeSnapshot) {
				t.Fatalf("request %d during init: %d %q, want 200 fetched, not stored (body %s)", i, r.status, r.cacheStatus, redact(r.body))
			}
		}
		if n := a.proxy.Calls("GetSecretValue"); n != 2 {
			t.Fatalf("%d calls to AWS for two requests during init, want 2: nothing is kept before the restore", n)
		}
		rotate(t, a, "snap/prefetched", afterRestore)
		credsBefore := creds.count()

		x.lambda.events <- eventInvoke() // the restore
		x.waitLog(`"msg":"prefetched after the restore"`, `"prefetch_failed":0`)
		if n := a.proxy.Calls("GetSecretValue"); n != 3 {
			t.Fatalf("%d calls to AWS after the restore's prefetch, want 3", n)
		}
		if c := creds.count(); c <= credsBefore {
			t.Fatalf("the credentials endpoint was not asked again after the restore (%d calls before, %d after)", credsBefore, c)
		}
		for i := range 2 {
			r := x.get("/secretsmanager/get?secretId=snap/prefetched")
			if r.status != 200 || !strings.HasPrefix(r.cacheStatus, "kinko; hit; ttl=") || !strings.Contains(r.body, afterRestore) {
				t.Fatalf("request %d after the restore: %d %q, want a hit on the value fetched after it (body %s)", i, r.status, r.cacheStatus, redact(r.body))
			}
		}
		if n := a.proxy.Calls("GetSecretValue"); n != 3 {
			t.Fatalf("%d calls to AWS, want still 3", n)
		}
		if err := x.stop(); err != nil {
			t.Fatal(err)
		}
		x.assertNoSecrets(a, beforeSnapshot, afterRestore)
	})

	// Without a prefetch: after the restore the next request makes a new upstream call (not a
	// hit, not the value from before), the one after is a hit.
	t.Run("on demand", func(t *testing.T) {
		a := a.withOwnProxy(t)
		a.createSecret(t, "snap/demand", beforeSnapshot)
		creds := startContainerCreds(t, time.Hour)
		clk := newJumpClocks()
		x := startExtensionClocked(t, startLambda(t), a, creds.env("snap-start", "KINKO_SNAPSTART_INIT_READS", "allow"), &syncBuffer{}, clk.clocks())
		x.waitLog(`"msg":"ready"`)
		if r := x.get("/secretsmanager/get?secretId=snap/demand"); r.status != 200 || !strings.Contains(r.body, beforeSnapshot) {
			t.Fatalf("request during init: %d %q", r.status, r.cacheStatus)
		}
		if n, c := a.proxy.Calls("GetSecretValue"), creds.count(); n != 1 || c != 1 {
			t.Fatalf("after one request during init: %d calls to AWS, %d to the credentials endpoint; want 1 and 1", n, c)
		}
		rotate(t, a, "snap/demand", afterRestore)

		x.lambda.events <- eventInvoke() // the restore, with no request to see it first
		x.waitLog(`"msg":"restored from a SnapStart snapshot`, `"detected_by":"invoke"`)
		clk.restore(3 * time.Hour) // what the clocks show after it: no second restore
		first := x.get("/secretsmanager/get?secretId=snap/demand")
		if first.status != 200 || !strings.HasPrefix(first.cacheStatus, "kinko; fwd=miss; stored; ttl=") || !strings.Contains(first.body, afterRestore) {
			t.Fatalf("first request after the restore: %d %q, want a new upstream call with the rotated value (body %s)",
				first.status, first.cacheStatus, redact(first.body))
		}
		if n, c := a.proxy.Calls("GetSecretValue"), creds.count(); n != 2 || c != 2 {
			t.Fatalf("after the restore's first request: %d calls to AWS, %d to the credentials endpoint; want 2 and 2 (fresh credentials)", n, c)
		}
		second := x.get("/secretsmanager/get?secretId=snap/demand")
		if second.status != 200 || !strings.HasPrefix(second.cacheStatus, "kinko; hit; ttl=") || second.body != first.body {
			t.Fatalf("second request after the restore: %d %q, want a hit", second.status, second.cacheStatus)
		}
		// Only the first INVOKE is a restore: a later one forgets nothing.
		x.lambda.events <- eventInvoke()
		waitFor(t, "the second INVOKE to be taken", 10*time.Second, func() bool { return x.lambda.next() == 3 })
		if r := x.get("/secretsmanager/get?secretId=snap/demand"); !strings.HasPrefix(r.cacheStatus, "kinko; hit; ttl=") {
			t.Fatalf("after a second INVOKE: %q, want still a hit", r.cacheStatus)
		}
		if n := a.proxy.Calls("GetSecretValue"); n != 2 {
			t.Fatalf("%d calls to AWS, want still 2", n)
		}
		if err := x.stop(); err != nil {
			t.Fatal(err)
		}
		x.assertNoSecrets(a, beforeSnapshot, afterRestore)
	})
}

func rotate(t *testing.T, a *awsStack, id, value string) {
	t.Helper()
	if _, err := a.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(value)}); err != nil {
		t.Fatalf("rotate %s: %v", id, err)
	}
}

// jumpClocks are the process's clocks with a wall clock that a test moves ahead of the
// monotonic one, as a SnapStart restore does: the monotonic clock stood still while the
// snapshot waited, the wall clock did not.
type jumpClocks struct {
	start time.Time
	ahead atomic.Int64 // how far the wall clock runs ahead, in nanoseconds
}

func newJumpClocks() *jumpClocks { return &jumpClocks{start: time.Now()} }

func (j *jumpClocks) clocks() clocks {
	return clocks{
		wall: func() time.Time { return time.Now().Round(0).Add(time.Duration(j.ahead.Load())) },
		mono: func() time.Duration { return time.Since(j.start) },
	}
}

// restore is the snapshot restored after waiting d.
func (j *jumpClocks) restore(d time.Duration) { j.ahead.Add(int64(d)) }

// connCounter counts the connections a server sees opened and closed.
type connCounter struct {
	mu             sync.Mutex
	opened, closed int
}

func (c *connCounter) state(_ net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.opened++
	case http.StateClosed, http.StateHijacked:
		c.closed++
	}
}

func (c *connCounter) get() (opened, closed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened, c.closed
}

// countingFront is a reverse proxy in front of a's fault proxy that counts kinko's connections.
func countingFront(t *testing.T, a *awsStack) (string, *connCounter) {
	t.Helper()
	target, err := url.Parse(a.proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	cc := &connCounter{}
	srv := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	srv.Config.ConnState = cc.state
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, cc
}

// CONTRACT.md section 2 point 5: a read during a SnapStart init is refused with 503 and a message
// saying why, on every route and with refreshNow too: even a value answered and never stored
// leaves copies in freed memory, which the snapshot keeps. Nothing reaches AWS or the
// credentials endpoint. After the restore the same reads are answered.
func TestSnapStartRefusesReadsDuringInit(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "snap/refused", beforeSnapshot)
	creds := startContainerCreds(t, time.Hour)
	x := startExtension(t, a, creds.env("snap-start"))
	x.waitLog(`"msg":"ready"`)
	for _, path := range []string{
		"/secretsmanager/get?secretId=snap/refused",
		"/secretsmanager/get?secretId=snap/refused&refreshNow=true",
		"/v1/snap/refused",
		"/systemsmanager/parameters/get?name=/snap/p&withDecryption=true",
	} {
		r := x.get(path)
		if r.status != 503 || !strings.Contains(r.body, `"__type":"SnapStartInitRead"`) {
			t.Fatalf("%s during SnapStart init: %d %q %s, want 503 SnapStartInitRead", path, r.status, r.cacheStatus, redact(r.body))
		}
		for _, want := range []string{"snapshot", "KINKO_SNAPSTART_INIT_READS=allow", "after the restore"} {
			if !strings.Contains(r.body, want) {
				t.Errorf("%s: body %s lacks %q", path, redact(r.body), want)
			}
		}
		if strings.Contains(r.cacheStatus, "fwd-status") {
			t.Errorf("%s: Cache-Status %q claims AWS answered", path, r.cacheStatus)
		}
	}
	if n, c := a.proxy.Calls("GetSecretValue")+a.proxy.Calls("GetParameter"), creds.count(); n != 0 || c != 0 {
		t.Fatalf("refused reads made %d calls to AWS and %d to the credentials endpoint, want none", n, c)
	}
	x.lambda.events <- eventInvoke() // the restore, at the latest
	x.waitLog(`"msg":"restored from a SnapStart snapshot`)
	if r := x.get("/secretsmanager/get?secretId=snap/refused"); r.status != 200 || !isFresh(r.cacheStatus, "kinko; fwd=miss; stored") {
		t.Fatalf("after the restore: %d %q, want a fetched and stored answer", r.status, r.cacheStatus)
	}
	if err := x.stop(); err != nil {
		t.Fatal(err)
	}
	x.assertNoSecrets(a, beforeSnapshot)
}

// Python's and Java's after-restore hooks run before Lambda sends INVOKE: kinko sees the restore
// where it happens, in the request (the wall clock ran ahead of the monotonic one), and runs the
// restore's steps then: the value from before is not served, the credentials and the connections
// from before the snapshot are dropped, the prefetch runs. The first INVOKE after that, and a
// later clock jump, restore nothing again.
func TestSnapStartRestoreBeforeInvoke(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "snap/hook", beforeSnapshot)
	a.createSecret(t, "snap/pre", beforeSnapshot)
	endpoint, conns := countingFront(t, a)
	creds := startContainerCreds(t, time.Hour)
	clk := newJumpClocks()
	// The function opted in to reads during init, so values, credentials and a connection from
	// before the snapshot are all there to be dropped.
	x := startExtensionClocked(t, startLambda(t), a, creds.env("snap-start", "KINKO_SNAPSTART_INIT_READS", "allow",
		"KINKO_PREFETCH", "snap/pre", "AWS_ENDPOINT_URL", endpoint), &syncBuffer{}, clk.clocks())
	x.waitLog(`"msg":"ready"`)
	waitFor(t, "the first /event/next", 10*time.Second, func() bool { return x.lambda.next() == 1 })
	if r := x.get("/secretsmanager/get?secretId=snap/hook"); r.status != 200 || r.cacheStatus != "kinko; fwd=bypass" {
		t.Fatalf("read during init (opted in): %d %q, want 200 fetched and not stored", r.status, r.cacheStatus)
	}
	if n, c := a.proxy.Calls("GetSecretValue"), creds.count(); n != 1 || c != 1 {
		t.Fatalf("after one read during init: %d calls to AWS, %d to the credentials endpoint; want 1 and 1", n, c)
	}
	rotate(t, a, "snap/hook", afterRestore)
	rotate(t, a, "snap/pre", afterRestore)
	if opened, closed := conns.get(); opened-closed != 1 {
		t.Fatalf("before the snapshot: %d connections to AWS opened, %d closed; want one open", opened, closed)
	}
	_, closedBefore := conns.get()

	clk.restore(3 * time.Hour)
	// The hook's read, before any INVOKE.
	first := x.get("/secretsmanager/get?secretId=snap/hook")
	if first.status != 200 || !isFresh(first.cacheStatus, "kinko; fwd=miss; stored") || !strings.Contains(first.body, afterRestore) {
		t.Fatalf("read after the restore, before INVOKE: %d %q, want the rotated value fetched and stored (body %s)",
			first.status, first.cacheStatus, redact(first.body))
	}
	x.waitLog(`"msg":"restored from a SnapStart snapshot`, `"detected_by":"clock"`)
	if c := creds.count(); c != 2 {
		t.Fatalf("%d calls to the credentials endpoint, want 2: the credentials from before the snapshot are dropped", c)
	}
	if opened, closed := conns.get(); opened < 2 || closed <= closedBefore {
		t.Fatalf("connections to AWS: %d opened, %d closed (%d before the restore); want the one from before the snapshot closed and a new one",
			opened, closed, closedBefore)
	}
	x.waitLog(`"msg":"prefetched after the restore"`, `"prefetch_failed":0`)
	for _, id := range []string{"snap/hook", "snap/pre"} {
		if r := x.get("/secretsmanager/get?secretId=" + id); r.status != 200 || !isFresh(r.cacheStatus, "kinko; hit") || !strings.Contains(r.body, afterRestore) {
			t.Fatalf("%s after the restore: %d %q, want a hit on the value fetched after it", id, r.status, r.cacheStatus)
		}
	}
	calls := a.proxy.Calls("GetSecretValue")

	// The INVOKE that follows, and a later jump of the clock, are no restore.
	x.lambda.events <- eventInvoke()
	waitFor(t, "the INVOKE to be taken", 10*time.Second, func() bool { return x.lambda.next() == 2 })
	clk.restore(time.Hour)
	if r := x.get("/secretsmanager/get?secretId=snap/hook"); !isFresh(r.cacheStatus, "kinko; hit") {
		t.Fatalf("after the INVOKE and a later clock jump: %q, want still a hit", r.cacheStatus)
	}
	if n, c := a.proxy.Calls("GetSecretValue"), creds.count(); n != calls || c != 2 {
		t.Fatalf("%d calls to AWS (want %d) and %d to the credentials endpoint (want 2): something restored twice", n, calls, c)
	}
	if err := x.stop(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(x.logs.String(), `"msg":"restored from a SnapStart snapshot`); n != 1 {
		t.Fatalf("%d restore lines in the log, want exactly 1", n)
	}
	x.assertNoSecrets(a, beforeSnapshot, afterRestore)
}

// fakeClocks are clocks a unit test moves by hand.
type fakeClocks struct {
	mu    sync.Mutex
	wall  time.Time
	mono  time.Duration
	reads int
}

func (f *fakeClocks) clocks() clocks {
	return clocks{
		wall: func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); f.reads++; return f.wall },
		mono: func() time.Duration { f.mu.Lock(); defer f.mu.Unlock(); return f.mono },
	}
}

// pass moves both clocks by d, as a running sandbox sees time pass; ahead moves the wall clock
// alone, as a restore (or a correction of the clock) does.
func (f *fakeClocks) pass(d time.Duration) {
	f.mu.Lock()
	f.wall, f.mono = f.wall.Add(d), f.mono+d
	f.mu.Unlock()
}
func (f *fakeClocks) ahead(d time.Duration) { f.mu.Lock(); f.wall = f.wall.Add(d); f.mu.Unlock() }
func (f *fakeClocks) readings() int         { f.mu.Lock(); defer f.mu.Unlock(); return f.reads }

// The restore's steps run exactly once, at its first sign: a read that sees the wall clock run
// ahead of the monotonic one by more than restoreClockJump, or the first INVOKE, whichever
// comes first; never at a smaller jump, and never again after.
func TestSnapStartRestoreRunsOnce(t *testing.T) {
	start := func(t *testing.T, allow bool) (*snapStart, *fakeClocks, *[]restoreCause) {
		f := &fakeClocks{wall: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), mono: time.Hour}
		var mu sync.Mutex
		var runs []restoreCause
		s := newSnapStart(f.clocks(), allow, func(c restoreCause) { mu.Lock(); runs = append(runs, c); mu.Unlock() },
			slog.New(slog.DiscardHandler))
		return s, f, &runs
	}

	t.Run("a read first", func(t *testing.T) {
		s, f, runs := start(t, false)
		f.pass(time.Minute)
		f.ahead(restoreClockJump) // a correction: no restore
		if err := s.beforeRead(); err == nil || s.Restored() || len(*runs) != 0 {
			t.Fatalf("wall clock %s ahead: read allowed=%t restored=%t steps=%d; want refused, not restored", restoreClockJump, err == nil, s.Restored(), len(*runs))
		}
		f.pass(time.Minute)
		f.ahead(restoreClockJump + time.Millisecond) // the restore
		// Many reads at once, as hooks of several threads: one runs the steps, all are answered.
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() { errs <- s.beforeRead() })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("read after the restore: %v", err)
			}
		}
		select {
		case <-s.Done():
		default:
			t.Fatal("Done not closed after the restore")
		}
		s.invoked()
		f.ahead(24 * time.Hour) // frozen between invokes, or anything else: no second restore
		if err := s.beforeRead(); err != nil {
			t.Fatal(err)
		}
		if len(*runs) != 1 || (*runs)[0].by != "clock" || (*runs)[0].ahead != restoreClockJump+time.Millisecond {
			t.Fatalf("steps ran %v, want once, by the clock, %s ahead", *runs, restoreClockJump+time.Millisecond)
		}
	})

	t.Run("INVOKE first", func(t *testing.T) {
		s, f, runs := start(t, false)
		f.pass(time.Second)
		s.invoked()
		if !s.Restored() || len(*runs) != 1 || (*runs)[0].by != "invoke" {
			t.Fatalf("after the first INVOKE: restored=%t steps %v, want restored once by invoke", s.Restored(), *runs)
		}
		readings := f.readings()
		f.ahead(time.Hour)
		s.invoked()
		if err := s.beforeRead(); err != nil || len(*runs) != 1 {
			t.Fatalf("read after the restore and a clock jump: %v, steps %d; want answered, steps once", err, len(*runs))
		}
		if f.readings() != readings {
			t.Error("the clocks were read after the restore; a restored sandbox has no use for them")
		}
	})

	t.Run("opted in", func(t *testing.T) {
		s, f, runs := start(t, true)
		f.pass(time.Second)
		if err := s.beforeRead(); err != nil || s.Restored() {
			t.Fatalf("read during init with KINKO_SNAPSTART_INIT_READS=allow: %v restored=%t; want answered, not restored", err, s.Restored())
		}
		f.ahead(time.Hour)
		if err := s.beforeRead(); err != nil || !s.Restored() || len(*runs) != 1 {
			t.Fatalf("after the restore: %v restored=%t steps %d", err, s.Restored(), len(*runs))
		}
	})
}

// The refusal is a 503 the server renders as kinko's own error: the reason, the variable, and no
// claim that AWS answered.
func TestSnapStartRefusalIsKinkos(t *testing.T) {
	f := &fakeClocks{wall: time.Unix(1e9, 0)}
	s := newSnapStart(f.clocks(), false, func(restoreCause) {}, slog.New(slog.DiscardHandler))
	err := s.beforeRead()
	// (The server answers kinko.SnapStartInit with 503: server's TestErrorStatuses; over HTTP,
	// TestSnapStartRefusesReadsDuringInit.)
	var ue *kinko.Error
	if !errors.As(err, &ue) || ue.Code != kinko.SnapStartInit || ue.Type() != "SnapStartInitRead" || ue.FromAWS() || ue.Transient() {
		t.Fatalf("refusal %#v, want 503 SnapStartInitRead, not from AWS, not transient", err)
	}
	for _, want := range []string{"SnapStart init", "snapshot", "KINKO_SNAPSTART_INIT_READS=allow"} {
		if !strings.Contains(ue.Message, want) {
			t.Errorf("message %q lacks %q", ue.Message, want)
		}
	}
}
