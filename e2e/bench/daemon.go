package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kinko-dev/kinko/internal/syncbuf"
)

// DaemonOptions starts kinko as a plain process, outside Lambda (no AWS_LAMBDA_RUNTIME_API),
// as it runs in the image, under systemd or as a sidecar.
type DaemonOptions struct {
	Bin      string            // the build for outside Lambda (make image's dist/kinko-linux-*)
	Upstream string            // AWS_ENDPOINT_URL: moto
	Token    string            // AWS_TOKEN, the token callers must send
	Env      map[string]string // more variables, winning over the defaults
}

// Daemon is a running kinko outside Lambda.
type Daemon struct {
	URL, Token string
	started    time.Time

	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
	err  error // cmd.Wait's result, set before done is closed
}

// StartDaemon runs the binary and returns at once (exec done). Its environment is built from
// scratch: static credentials as the SDK's chain reads them from the environment, no IMDS, no
// profile of ours.
func StartDaemon(o DaemonOptions) (*Daemon, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	env := map[string]string{
		"PATH":                                   "/usr/bin:/bin",
		"AWS_REGION":                             "us-east-1",
		"AWS_ACCESS_KEY_ID":                      "testing",
		"AWS_SECRET_ACCESS_KEY":                  "testing",
		"AWS_TOKEN":                              o.Token,
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_CONFIG_FILE":                        "/nonexistent/kinko-bench/config",
		"AWS_SHARED_CREDENTIALS_FILE":            "/nonexistent/kinko-bench/credentials",
		"AWS_ENDPOINT_URL":                       o.Upstream,
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": strconv.Itoa(port),
		"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL": "INFO",
	}
	for k, v := range o.Env {
		env[k] = v
	}
	d := &Daemon{URL: "http://127.0.0.1:" + strconv.Itoa(port), Token: o.Token, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(o.Bin)
	d.cmd.Env = EnvList(env)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	// Pdeathsig: if the harness dies, kinko does not outlive it.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	d.started = time.Now()
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start kinko %s: %w", o.Bin, err)
	}
	go func() { // owned by d: Kill and Terminate wait for done
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// ErrNotDaemon is a binary that stopped at once because it runs only as a Lambda extension
// (a build from before the plain-process lifecycle).
var ErrNotDaemon = errors.New("the binary runs only as a Lambda extension (AWS_LAMBDA_RUNTIME_API is not set)")

// WaitServing polls /ping until kinko answers 200 and returns the time from exec. A refused
// connection (not bound yet) is retried every 100 µs, within limit.
func (d *Daemon) WaitServing(ctx context.Context, limit time.Duration) (time.Duration, error) {
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: limit}
	deadline := d.started.Add(limit)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+"/ping", nil)
		if err != nil {
			return 0, err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(d.started), nil
			}
		}
		select {
		case <-d.done:
			if strings.Contains(d.out.String(), "AWS_LAMBDA_RUNTIME_API is not set") {
				return 0, ErrNotDaemon
			}
			return 0, fmt.Errorf("kinko exited before serving (%v): %s", d.err, d.out.String())
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Microsecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("kinko did not answer /ping within %s: %s", limit, d.out.String())
		}
	}
}

// Get asks kinko for path with the token.
func (d *Daemon) Get(ctx context.Context, client *http.Client, path string) (Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+path, nil)
	if err != nil {
		return Answer{}, err
	}
	req.Header.Set(TokenHeader, d.Token)
	resp, err := client.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Answer{}, err
	}
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// SinceStart is the time from exec to now.
func (d *Daemon) SinceStart() time.Duration { return time.Since(d.started) }

// Memory reads kinko's VmRSS and VmHWM.
func (d *Daemon) Memory() (Memory, error) { return procMemory(d.cmd.Process.Pid) }

// Log is what kinko printed so far.
func (d *Daemon) Log() string { return d.out.String() }

// Terminate sends SIGTERM, as ECS, Kubernetes and systemd stop a container or a service, and
// returns how long kinko took to exit. Not exiting 0 within limit is an error (then it is killed).
func (d *Daemon) Terminate(limit time.Duration) (time.Duration, error) {
	sent := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-d.done:
		took := time.Since(sent)
		if d.err != nil {
			return took, fmt.Errorf("kinko exited with %v after SIGTERM: %s", d.err, d.out.String())
		}
		return took, nil
	case <-t.C:
		d.Kill()
		return 0, fmt.Errorf("kinko did not exit within %s of SIGTERM; killed it", limit)
	}
}

// Kill ends the process group at once and waits for it.
func (d *Daemon) Kill() {
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	<-d.done
}

// DaemonBench is what MeasureDaemon needs.
type DaemonBench struct {
	Bin      string // the build for outside Lambda
	ExtBin   string // optional: the layer's build, measured the same way as a Lambda extension
	Upstream string // moto
	SecretID string // a secret in moto
	Rounds   int
	PerRound int
	Idle     time.Duration // how long after its first answer the idle memory is read
	Log      io.Writer
}

// DaemonResult is kinko's start and idle footprint outside Lambda, and the same figures for the
// layer's build as a Lambda extension when one was given: each figure the median over rounds of
// each round's median, with the spread of those.
type DaemonResult struct {
	Rounds, PerRound int
	Idle             time.Duration
	Daemon, Ext      StartFigures
}

// StartFigures are one way of running kinko.
type StartFigures struct {
	Serving     Summary // ms, exec -> the first 200 on /ping
	FirstSecret Summary // ms, exec -> the first secret's 200 (no prefetch: fetched from AWS)
	Stop        Summary // ms, SIGTERM (or SHUTDOWN) -> exit 0
	RSS, Anon   Summary // KiB, Idle after the first secret: resident set, and its anonymous part
}

// MeasureDaemon starts the daemon (and the extension, alternating) PerRound times per round,
// each a fresh process: exec to /ping, exec to the first secret, SIGTERM to exit; the idle
// memory of the last start of each round.
func MeasureDaemon(ctx context.Context, b DaemonBench) (DaemonResult, error) {
	res := DaemonResult{Rounds: b.Rounds, PerRound: b.PerRound, Idle: b.Idle}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 10 * time.Second}
	path := "/secretsmanager/get?secretId=" + b.SecretID
	type samples struct{ serving, first, stop, rss, anon []float64 }
	var daemon, ext samples // per-round medians (memory: one per round)
	for r := range b.Rounds {
		fmt.Fprintf(b.Log, "  daemon starts, round %d/%d\n", r+1, b.Rounds)
		var ds, es samples
		for i := range b.PerRound {
			last := i == b.PerRound-1
			order := []bool{false, true} // extension first on odd starts: neither always goes first
			if (r+i)%2 == 1 {
				order = []bool{true, false}
			}
			for _, isExt := range order {
				if isExt && b.ExtBin == "" {
					continue
				}
				s := &ds
				run := startDaemonOnce
				if isExt {
					s, run = &es, startExtensionOnce
				}
				one, err := run(ctx, b, client, path, last)
				if err != nil {
					return res, err
				}
				s.serving, s.first, s.stop = append(s.serving, one.serving), append(s.first, one.first), append(s.stop, one.stop)
				if last {
					s.rss, s.anon = append(s.rss, one.rss), append(s.anon, one.anon)
				}
			}
		}
		for _, p := range []struct{ to, from *samples }{{&daemon, &ds}, {&ext, &es}} {
			if len(p.from.serving) == 0 {
				continue
			}
			p.to.serving = append(p.to.serving, Summarize(p.from.serving).Median)
			p.to.first = append(p.to.first, Summarize(p.from.first).Median)
			p.to.stop = append(p.to.stop, Summarize(p.from.stop).Median)
			p.to.rss, p.to.anon = append(p.to.rss, p.from.rss...), append(p.to.anon, p.from.anon...)
		}
	}
	figures := func(s samples) StartFigures {
		return StartFigures{Serving: Summarize(s.serving), FirstSecret: Summarize(s.first), Stop: Summarize(s.stop),
			RSS: Summarize(s.rss), Anon: Summarize(s.anon)}
	}
	res.Daemon, res.Ext = figures(daemon), figures(ext)
	return res, nil
}

type startSample struct{ serving, first, stop, rss, anon float64 }

func startDaemonOnce(ctx context.Context, b DaemonBench, client *http.Client, path string, withMemory bool) (startSample, error) {
	var s startSample
	d, err := StartDaemon(DaemonOptions{Bin: b.Bin, Upstream: b.Upstream, Token: randomToken(), Env: map[string]string{"KINKO_PREFETCH": ""}})
	if err != nil {
		return s, err
	}
	serving, err := d.WaitServing(ctx, 10*time.Second)
	if err != nil {
		d.Kill()
		return s, err
	}
	a, err := d.Get(ctx, client, path)
	if err != nil || a.Status != http.StatusOK {
		d.Kill()
		return s, fmt.Errorf("the daemon's first secret: %d %v: %s", a.Status, err, d.Log())
	}
	s.serving, s.first = Ms(serving), Ms(d.SinceStart())
	if withMemory {
		if s.rss, s.anon, err = idleMemory(ctx, b.Idle, d.Memory); err != nil {
			d.Kill()
			return s, err
		}
	}
	stop, err := d.Terminate(10 * time.Second)
	s.stop = Ms(stop)
	return s, err
}

func startExtensionOnce(ctx context.Context, b DaemonBench, client *http.Client, path string, withMemory bool) (startSample, error) {
	var s startSample
	k, err := StartKinko(ctx, KinkoOptions{Bin: b.ExtBin, Upstream: b.Upstream, Token: randomToken(), Env: map[string]string{"KINKO_PREFETCH": ""}})
	if err != nil {
		return s, err
	}
	serving, err := k.Serving(ctx)
	if err != nil {
		k.Stop()
		return s, err
	}
	a, err := k.Get(ctx, client, path)
	if err != nil || a.Status != http.StatusOK {
		k.Stop()
		return s, fmt.Errorf("the extension's first secret: %d %v: %s", a.Status, err, k.Log())
	}
	s.serving, s.first = Ms(serving), Ms(time.Since(k.started))
	if withMemory {
		if s.rss, s.anon, err = idleMemory(ctx, b.Idle, k.Memory); err != nil {
			k.Stop()
			return s, err
		}
	}
	sent := time.Now()
	if err := k.Stop(); err != nil {
		return s, fmt.Errorf("the extension at SHUTDOWN: %w", err)
	}
	s.stop = Ms(time.Since(sent))
	return s, nil
}

// idleMemory waits idle and reads the resident set and its anonymous part, in KiB.
func idleMemory(ctx context.Context, idle time.Duration, read func() (Memory, error)) (rss, anon float64, err error) {
	select {
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-time.After(idle):
	}
	m, err := read()
	return float64(m.RSSKiB), float64(m.AnonKiB), err
}

// DaemonMarkdown is the result as a table: a figure per row, the daemon and the extension side
// by side, median (min-max over rounds).
func DaemonMarkdown(r DaemonResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d rounds of %d starts each, each a fresh process; medians of the rounds' medians (min–max over rounds); memory %s after the first answer, one start per round.\n\n", r.Rounds, r.PerRound, r.Idle)
	b.WriteString("| | outside Lambda (plain process) | Lambda extension (fake Extensions API) |\n|---|---|---|\n")
	kib := func(v float64) string { return fmt.Sprintf("%.1f MiB", v/1024) }
	row := func(name string, d, e Summary, f func(float64) string) {
		ext := "—"
		if e.N > 0 {
			ext = e.Format(f)
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, d.Format(f), ext)
	}
	row("exec -> first `/ping` answer", r.Daemon.Serving, r.Ext.Serving, msf)
	row("exec -> first secret (fetched from moto)", r.Daemon.FirstSecret, r.Ext.FirstSecret, msf)
	row("idle VmRSS", r.Daemon.RSS, r.Ext.RSS, kib)
	row("idle RssAnon (heap, stacks)", r.Daemon.Anon, r.Ext.Anon, kib)
	row("SIGTERM (SHUTDOWN) -> exit 0", r.Daemon.Stop, r.Ext.Stop, msf)
	return b.String()
}
