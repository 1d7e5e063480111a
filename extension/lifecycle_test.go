package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/internal/extensionsapitest"
)

// drainOutcome is how one request in flight at SHUTDOWN ended.
type drainOutcome string

const (
	finished       drainOutcome = "200 with the value"
	shuttingDown   drainOutcome = "503 ExtensionShuttingDown"
	closedUnserved drainOutcome = "connection closed before any answer"
)

// inFlight asks for path and classifies the end. A partial answer, or any other answer, fails.
func inFlight(x *extension, path, value string) (drainOutcome, error) {
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", x.port, path), nil)
	req.Header.Set("X-Aws-Parameters-Secrets-Token", testToken)
	resp, err := x.client.Do(req)
	if err != nil {
		// No status line came back: the connection was refused or closed unanswered.
		return closedUnserved, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return "", fmt.Errorf("answer %d cut short: %v", resp.StatusCode, err)
	case resp.StatusCode == 200 && strings.Contains(string(body), value):
		return finished, nil
	case resp.StatusCode == 503 && strings.Contains(string(body), `"__type":"ExtensionShuttingDown"`):
		return shuttingDown, nil
	}
	return "", fmt.Errorf("unexpected answer %d (%d bytes)", resp.StatusCode, len(body))
}

// shutdownIn sends SHUTDOWN with a deadline d away and returns how long run took to return.
func (x *extension) shutdownIn(t *testing.T, d time.Duration) (time.Duration, time.Time) {
	t.Helper()
	took, deadline, _ := x.shutdownTimed(t, d)
	return took, deadline
}

// shutdownTimed is shutdownIn that also says how late this machine woke sleeping goroutines
// meanwhile (timerLateness): kinko's drain runs on timers too, so on a loaded machine its exit
// comes that much later, whatever its code does.
func (x *extension) shutdownTimed(t *testing.T, d time.Duration) (time.Duration, time.Time, time.Duration) {
	t.Helper()
	lateness := timerLateness()
	defer lateness()
	start := time.Now()
	deadline := start.Add(d)
	x.lambda.Send(extensionsapitest.Event{EventType: "SHUTDOWN", ShutdownReason: "spindown", DeadlineMs: deadline.UnixMilli()})
	select {
	case err := <-x.done:
		x.done <- err
		if err != nil {
			t.Errorf("run returned %v after SHUTDOWN", err)
		}
	case <-time.After(d + 5*time.Second):
		t.Fatalf("run did not return within %s of SHUTDOWN", d+5*time.Second)
	}
	took := time.Since(start)
	return took, deadline, lateness()
}

// timerLateness starts sampling how late a 5 ms sleep wakes up, over and over; the function it
// returns stops the sampling and returns the worst lateness seen (later calls return it again).
// On a quiet machine that is about a millisecond; with the CPUs taken by other work it is what
// every timer of the process under test lost too.
func timerLateness() func() time.Duration {
	done, result := make(chan struct{}), make(chan time.Duration, 1)
	go func() {
		const nap = 5 * time.Millisecond
		var worst time.Duration
		for {
			select {
			case <-done:
				result <- worst
				return
			default:
			}
			start := time.Now()
			time.Sleep(nap)
			worst = max(worst, time.Since(start)-nap)
		}
	}()
	return sync.OnceValue(func() time.Duration { close(done); return <-result })
}

func TestShutdownWithRequestsInFlight(t *testing.T) {
	const value, n = "drain-secret-value-61f0", 16
	a := startAWS(t)
	a.createSecret(t, "drain/hit", value)
	for i := range n {
		a.createSecret(t, fmt.Sprintf("drain/slow-%d", i), value)
		a.createSecret(t, fmt.Sprintf("drain/held-%d", i), value)
		a.createSecret(t, fmt.Sprintf("drain/base-%d", i), value)
	}
	baseline := runtime.NumGoroutine()

	// Requests that can finish before the deadline do: 300 ms at AWS against 2 s, plus what n
	// fetches take at moto on this machine now (a few ms when it is quiet, a second when loaded).
	t.Run("requests that can finish", func(t *testing.T) {
		x := startExtension(t, a, map[string]string{"PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS": strconv.Itoa(n)})
		x.waitLog(`"msg":"ready"`)
		if r := x.get("/secretsmanager/get?secretId=drain/hit"); r.status != 200 {
			t.Fatalf("priming: %d", r.status)
		}
		start := time.Now()
		if counts := runInFlight(t, x, n, value, func(i int) string { return fmt.Sprintf("/secretsmanager/get?secretId=drain/base-%d", i) })(); counts[finished] != n {
			t.Fatalf("baseline fetches: %v, want all %d finished", counts, n)
		}
		deadline := 2*time.Second + time.Since(start)
		a.proxy.SetDelay(300 * time.Millisecond)
		defer a.proxy.SetDelay(0)
		outcomes := runInFlight(t, x, n, value, func(i int) string { return fmt.Sprintf("/secretsmanager/get?secretId=drain/slow-%d", i) })
		waitFor(t, "the fetches to reach AWS", 10*time.Second, func() bool { return a.proxy.InFlight() == n })
		took, _, late := x.shutdownTimed(t, deadline)
		counts := outcomes()
		if counts[finished] != n {
			t.Errorf("outcomes %v, want all %d finished", counts, n)
		}
		if took > deadline+late {
			t.Errorf("run returned %s after SHUTDOWN, past its %s deadline (and this machine's timers ran up to %s late meanwhile)", took, deadline, late)
		}
		t.Logf("shutdown-row | %d fetches in flight (300 ms at AWS), deadline %s | %v | exited after %s | timers up to %s late |",
			n, deadline.Round(10*time.Millisecond), counts, took.Round(10*time.Millisecond), late.Round(time.Millisecond))
		x.assertNoSecrets(a, value)
	})

	// Requests that cannot finish (AWS holds them) end with a clean error before the deadline.
	t.Run("requests that cannot finish", func(t *testing.T) {
		a.proxy.Hold()
		defer a.proxy.Release()
		x := startExtension(t, a, nil)
		x.waitLog(`"msg":"ready"`)
		outcomes := runInFlight(t, x, n, value, func(i int) string { return fmt.Sprintf("/secretsmanager/get?secretId=drain/held-%d", i) })
		waitFor(t, "the fetches to reach AWS", 10*time.Second, func() bool { return a.proxy.InFlight() >= 3 }) // MAX_CONNECTIONS
		waitFlights(t, n)
		took, _, late := x.shutdownTimed(t, 1500*time.Millisecond)
		counts := outcomes()
		// Cancelled at the deadline, each answers 503 in the grace kept back from it: none is cut unanswered.
		if counts[shuttingDown] != n {
			t.Errorf("outcomes %v, want every request answered 503 ExtensionShuttingDown", counts)
		}
		if took > 1500*time.Millisecond+late {
			t.Errorf("run returned %s after SHUTDOWN, past its 1.5 s deadline (and this machine's timers ran up to %s late meanwhile)", took, late)
		}
		x.waitLog(`requests still in flight at the deadline`)
		t.Logf("shutdown-row | %d fetches held at AWS past the deadline of 1.5 s | %v | exited after %s | timers up to %s late |", n, counts, took.Round(10*time.Millisecond), late.Round(time.Millisecond))
		x.assertNoSecrets(a, value)
	})
	a.proxy.Close()
	settleGoroutines(t, baseline, 10*time.Second)
}

// runInFlight starts n requests and returns a function that waits for them and counts outcomes.
func runInFlight(t *testing.T, x *extension, n int, value string, path func(int) string) func() map[drainOutcome]int {
	results := make(chan drainOutcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			o, err := inFlight(x, path(i), value)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			results <- o
		})
	}
	return func() map[drainOutcome]int {
		wg.Wait()
		close(results)
		counts := map[drainOutcome]int{}
		for o := range results {
			counts[o]++
		}
		x.client.CloseIdleConnections()
		return counts
	}
}

// listenEntry is one listening TCP socket from /proc/net/tcp or /proc/net/tcp6.
type listenEntry struct {
	ip    net.IP
	port  int
	inode string
}

// listeningSockets parses the LISTEN rows (state 0A) of /proc/net/tcp and /proc/net/tcp6: the
// kernel's own view of what this network namespace has bound.
func listeningSockets(t *testing.T) []listenEntry {
	t.Helper()
	var out []listenEntry
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" {
				continue
			}
			addr, portHex, _ := strings.Cut(fields[1], ":")
			raw, err := hex.DecodeString(addr)
			port, perr := strconv.ParseUint(portHex, 16, 16)
			if err != nil || perr != nil || len(raw)%4 != 0 {
				t.Fatalf("%s: cannot parse %q", file, fields[1])
			}
			// The address is printed as 32-bit words in host (little-endian) order.
			for i := 0; i < len(raw); i += 4 {
				raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
			}
			out = append(out, listenEntry{ip: net.IP(raw), port: int(port), inode: fields[9]})
		}
		f.Close()
	}
	return out
}

// ownSocketInodes is the inodes of the sockets this process holds open.
func ownSocketInodes(t *testing.T) map[string]bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	own := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			own[strings.TrimSuffix(inode, "]")] = true
		}
	}
	return own
}

func TestListensOnLoopbackOnly(t *testing.T) {
	// The listeners listen() binds, by their own addresses: package lambda's TestListenBindsLoopbackOnly.
	// The whole process, as the kernel sees it: every socket this process listens on (the
	// extension's, and the test's own fakes) is bound to 127.0.0.1 or ::1.
	x := startExtension(t, nil, nil)
	x.waitReachable()
	own := ownSocketInodes(t)
	var ext []string
	for _, e := range listeningSockets(t) {
		if !own[e.inode] {
			continue
		}
		if !e.ip.IsLoopback() {
			t.Errorf("this process listens on %s port %d: not a loopback address", e.ip, e.port)
		}
		if e.port == x.port {
			ext = append(ext, net.JoinHostPort(e.ip.String(), strconv.Itoa(e.port)))
		}
	}
	if len(ext) == 0 || len(ext) > 2 {
		t.Fatalf("kinko's listening sockets on port %d: %v, want 127.0.0.1 and perhaps ::1", x.port, ext)
	}
	t.Logf("loopback-row | /proc/net/tcp{,6}, LISTEN sockets of this process on kinko's port: %v |", ext)
	// Both answer /ping.
	for _, addr := range ext {
		resp, err := http.Get("http://" + addr + "/ping")
		if err != nil {
			t.Errorf("ping %s: %v", addr, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("ping %s: %d", addr, resp.StatusCode)
		}
	}
	if err := x.stop(); err != nil {
		t.Fatal(err)
	}
	// After SHUTDOWN nothing listens on the port any more.
	for _, e := range listeningSockets(t) {
		if e.port == x.port && own[e.inode] {
			t.Errorf("still listening on %s port %d after SHUTDOWN", e.ip, e.port)
		}
	}
}

// Lambda waits after every invoke for each extension subscribed to INVOKE, so kinko takes INVOKE
// only where a feature needs it (CONTRACT.md section 2 point 2).
func TestSubscribesToInvokeOnlyWhenAFeatureNeedsIt(t *testing.T) {
	cases := []struct {
		name   string
		env    map[string]string
		events string
	}{
		{"default", nil, "SHUTDOWN"},
		{"provisioned concurrency", map[string]string{"AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency"}, "SHUTDOWN"},
		{"metrics every N invokes", map[string]string{"KINKO_METRICS_INVOKES": "5"}, "INVOKE,SHUTDOWN"},
		{"SnapStart, to see the restore", map[string]string{"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}, "INVOKE,SHUTDOWN"},
		{"Managed Instances, even with metrics every N invokes",
			map[string]string{"AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances", "KINKO_METRICS_INVOKES": "5"}, "SHUTDOWN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := startExtension(t, nil, tc.env)
			waitFor(t, "the first /event/next", 10*time.Second, func() bool { return x.lambda.NextCalls() == 1 })
			last := x.lambda.LastRegistration()
			body, accept := last.Body, last.Header.Get("Lambda-Extension-Accept-Feature")
			var reg struct{ Events []string }
			if err := json.Unmarshal([]byte(body), &reg); err != nil || strings.Join(reg.Events, ",") != tc.events {
				t.Fatalf("register body %s, want events %s", body, tc.events)
			}
			if accept != "accountId" {
				t.Errorf("Lambda-Extension-Accept-Feature = %q, want accountId", accept)
			}
			x.waitLog(`"msg":"registered"`, `"account":"`+testAccountID+`"`)
			if tc.env["KINKO_METRICS_INVOKES"] != "" && tc.events == "SHUTDOWN" {
				x.waitLog(`"level":"WARN"`, `KINKO_METRICS_INVOKES is ignored`)
			}
			// An INVOKE reaches only an extension that registered for it; either way kinko runs on.
			x.lambda.Send(eventInvoke())
			if tc.events == "SHUTDOWN" {
				waitFor(t, "the fake to drop the INVOKE", 10*time.Second, func() bool { return x.lambda.Dropped() == 1 })
			} else {
				waitFor(t, "the INVOKE to be taken", 10*time.Second, func() bool { return x.lambda.NextCalls() == 2 })
			}
			if err := x.stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The event loop waits for /event/next on run's own goroutine: it starts no goroutine per event
// only to wait for it at once.
func TestEventLoopWaitsOnRunsGoroutine(t *testing.T) {
	x := startExtension(t, nil, nil)
	waitFor(t, "the first /event/next", 10*time.Second, func() bool { return x.lambda.NextCalls() == 1 })
	waitFor(t, "kinko to wait in /event/next", 10*time.Second, func() bool { return goroutinesIn("extensionsapi.(*Client).Next") == 1 })
	if n := goroutinesIn("extensionsapi.(*Client).Next", "extension.runWith("); n != 1 {
		t.Errorf("the goroutine waiting for the next event is not run's own (%d of 1 are)", n)
	}
	if err := x.stop(); err != nil {
		t.Fatal(err)
	}
}
