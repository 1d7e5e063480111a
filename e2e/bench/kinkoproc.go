package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kinko-dev/kinko/internal/extensionsapitest"
	"github.com/kinko-dev/kinko/internal/syncbuf"
)

// KinkoOptions starts kinko as a real process, outside the emulator.
type KinkoOptions struct {
	Bin      string            // the extension binary (stripped, as in the layer)
	Upstream string            // AWS_ENDPOINT_URL: a proxy in front of moto
	Token    string            // AWS_SESSION_TOKEN, the token callers must send
	Env      map[string]string // more variables (KINKO_PREFETCH, TTLs), winning over the defaults
}

// Kinko is a running kinko process with its fake Extensions API.
type Kinko struct {
	URL         string        // http://127.0.0.1:PORT
	Token       string        //
	StartToNext time.Duration // from exec to its first /event/next: kinko's part of Lambda's init
	// StartToRegister is from exec to /register: what Lambda's runtime start waits for.
	StartToRegister time.Duration
	started         time.Time

	api  *extensionsapitest.Server
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
	err  error // cmd.Wait's result, set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// StartKinko runs the binary against a fresh fake Extensions API and returns once kinko has
// called /event/next (init done, as Lambda would see it). Its environment is built from
// scratch: nothing of ours (credentials, profiles) reaches it.
func StartKinko(ctx context.Context, o KinkoOptions) (_ *Kinko, err error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	api := extensionsapitest.NewServer()
	env := map[string]string{
		"PATH":                                   "/usr/bin:/bin",
		"AWS_LAMBDA_RUNTIME_API":                 api.Addr,
		"AWS_LAMBDA_FUNCTION_NAME":               "kinko-bench",
		"AWS_REGION":                             "us-east-1",
		"AWS_ACCESS_KEY_ID":                      "testing",
		"AWS_SECRET_ACCESS_KEY":                  "testing",
		"AWS_SESSION_TOKEN":                      o.Token,
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
	k := &Kinko{URL: "http://127.0.0.1:" + strconv.Itoa(port), Token: o.Token, api: api, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	k.cmd = exec.Command(o.Bin)
	k.cmd.Env = EnvList(env)
	k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
	// Pdeathsig: if the harness dies, kinko does not outlive it.
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	k.started = start
	if err := k.cmd.Start(); err != nil {
		api.Close()
		return nil, fmt.Errorf("start kinko %s: %w", o.Bin, err)
	}
	go func() { // owned by k: Stop waits for done
		k.err = k.cmd.Wait()
		close(k.done)
	}()
	defer func() {
		if err != nil {
			k.Stop()
		}
	}()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-api.FirstNext():
		k.StartToNext = api.FirstNextAt().Sub(start)
		k.StartToRegister = api.RegisterAt().Sub(start)
		return k, nil
	case <-k.done:
		return nil, fmt.Errorf("kinko exited before its first /event/next (%v): %s", k.err, k.out.String())
	case <-t.C:
		return nil, fmt.Errorf("kinko did not call /event/next within 10 s: %s", k.out.String())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Get asks kinko for path with the token and returns its answer.
func (k *Kinko) Get(ctx context.Context, client *http.Client, path string) (Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.URL+path, nil)
	if err != nil {
		return Answer{}, err
	}
	req.Header.Set(TokenHeader, k.Token)
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

// WaitHit polls path until kinko answers it from its cache (the prefetch is done), within limit.
func (k *Kinko) WaitHit(ctx context.Context, client *http.Client, path string, limit time.Duration) (Answer, error) {
	deadline := time.Now().Add(limit)
	for {
		a, err := k.Get(ctx, client, path)
		if err == nil && a.Status == http.StatusOK && strings.Contains(a.Header.Get("Cache-Status"), "; hit") {
			return a, nil
		}
		if time.Now().After(deadline) {
			return Answer{}, fmt.Errorf("kinko did not answer %s from its cache within %s (last: %d %v): %s", path, limit, a.Status, err, k.out.String())
		}
		select {
		case <-ctx.Done():
			return Answer{}, ctx.Err()
		case <-k.done:
			return Answer{}, fmt.Errorf("kinko exited: %v: %s", k.err, k.out.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Memory is a process's resident set now and at its peak, from /proc/PID/status.
type Memory struct {
	RSSKiB, HWMKiB int
	// AnonKiB and FileKiB split RSS: the heap and stacks, and the binary's pages read so far.
	AnonKiB, FileKiB int
}

// Memory reads kinko's VmRSS and VmHWM.
func (k *Kinko) Memory() (Memory, error) {
	return procMemory(k.cmd.Process.Pid)
}

func procMemory(pid int) (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	defer f.Close()
	var m Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		n, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "VmRSS:":
			m.RSSKiB = n
		case "VmHWM:":
			m.HWMKiB = n
		case "RssAnon:":
			m.AnonKiB = n
		case "RssFile:":
			m.FileKiB = n
		}
	}
	if m.RSSKiB == 0 {
		return m, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, sc.Err()
}

// Log is what kinko printed so far.
func (k *Kinko) Log() string { return k.out.String() }

// Serving is from exec to the first HTTP answer on the port, whatever its status. A connection
// made before the extension accepts waits in the listen backlog, so one request measures it.
func (k *Kinko) Serving(ctx context.Context) (time.Duration, error) {
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.URL+"/ping", nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return time.Since(k.started), nil
}

// Stop sends SHUTDOWN through the Extensions API, as Lambda ends a sandbox, waits up to 3 s
// for kinko to exit (then kills it), and stops the API. It returns kinko's exit error, and the
// same again when called more than once.
func (k *Kinko) Stop() error {
	k.stopOnce.Do(func() { k.stopErr = k.stop() })
	return k.stopErr
}

func (k *Kinko) stop() error {
	k.api.ShutdownAll()
	t := time.NewTimer(3 * time.Second)
	defer t.Stop()
	var err error
	select {
	case <-k.done:
		err = k.err
	case <-t.C:
		_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
		<-k.done
		err = fmt.Errorf("kinko did not exit within 3 s of SHUTDOWN; killed it")
	}
	k.api.Close()
	return err
}

// FreePort is a loopback port free now, for a server that binds it a moment later.
func FreePort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// EnvList turns env into a process environment, sorted so runs are alike.
func EnvList(env map[string]string) []string {
	list := make([]string, 0, len(env))
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	sort.Strings(list)
	return list
}
