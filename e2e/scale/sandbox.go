package scale

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kinko-dev/kinko/e2e/bench"
	"github.com/kinko-dev/kinko/internal/extensionsapitest"
	"github.com/kinko-dev/kinko/internal/syncbuf"
)

// Sandbox is one Lambda execution environment as kinko sees it: the layer's binary as a real
// process, with its own Extensions API stand-in.
type Sandbox struct {
	ID      int
	URL     string // http://127.0.0.1:PORT, kinko's listener
	Token   string
	Started time.Time // exec
	Ready   time.Time // its first /event/next: init over, the function may be invoked

	api  *extensionsapitest.Server
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
	err  error

	stopOnce sync.Once
	stopErr  error
}

// SandboxOptions say how to start one.
type SandboxOptions struct {
	Bin      string // kinko, as in the layer
	Upstream string // the stand-in's URL
	TTL      time.Duration
	Prefetch []string // KINKO_PREFETCH
	Env      map[string]string
}

// errPortTaken is a start that lost its port to another process between our pick and kinko's bind.
var errPortTaken = errors.New("port taken")

// StartSandbox starts sandbox id and returns once kinko has called /event/next. A port lost
// between our pick and kinko's bind (two hundred processes start at once, and the Extensions
// API stand-ins bind free ports too) is picked again, up to three times.
func StartSandbox(ctx context.Context, id int, o SandboxOptions) (*Sandbox, error) {
	var err error
	for range 3 {
		var s *Sandbox
		if s, err = startSandbox(ctx, id, o); err == nil {
			return s, nil
		}
		if !errors.Is(err, errPortTaken) {
			return nil, err
		}
	}
	return nil, err
}

func startSandbox(ctx context.Context, id int, o SandboxOptions) (_ *Sandbox, err error) {
	api := extensionsapitest.NewServer()
	// Picked after the API has its port, so at least those two cannot collide.
	port, err := bench.FreePort()
	if err != nil {
		api.Close()
		return nil, err
	}
	token := fmt.Sprintf("scale-session-%d", id)
	env := map[string]string{
		"PATH":                                   "/usr/bin:/bin",
		"AWS_LAMBDA_RUNTIME_API":                 api.Addr,
		"AWS_LAMBDA_FUNCTION_NAME":               "kinko-scale",
		"AWS_LAMBDA_INITIALIZATION_TYPE":         "on-demand",
		"AWS_REGION":                             "us-east-1",
		"AWS_ACCESS_KEY_ID":                      AccessKeyID(id),
		"AWS_SECRET_ACCESS_KEY":                  "scale-secret-key",
		"AWS_SESSION_TOKEN":                      token,
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_CONFIG_FILE":                        "/nonexistent/kinko-scale/config",
		"AWS_SHARED_CREDENTIALS_FILE":            "/nonexistent/kinko-scale/credentials",
		"AWS_ENDPOINT_URL":                       o.Upstream,
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": strconv.Itoa(port),
		"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL": "WARN",
		"SECRETS_MANAGER_TTL":                    strconv.Itoa(int(o.TTL / time.Second)),
		"KINKO_PREFETCH":                         strings.Join(o.Prefetch, ","),
		"KINKO_METRICS":                          "none",
		// One core's worth each, as a small Lambda sandbox has; two hundred of them share two here.
		"GOMAXPROCS": "1",
	}
	for k, v := range o.Env {
		env[k] = v
	}
	s := &Sandbox{ID: id, URL: "http://127.0.0.1:" + strconv.Itoa(port), Token: token, api: api,
		out: &syncbuf.Buffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(o.Bin)
	s.cmd.Env = bench.EnvList(env)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	// Pdeathsig: if this program dies, no kinko outlives it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	s.Started = time.Now()
	if err := s.cmd.Start(); err != nil {
		api.Close()
		return nil, fmt.Errorf("start kinko %s: %w", o.Bin, err)
	}
	go func() { // owned by s: Stop waits for done
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()
	t := time.NewTimer(20 * time.Second)
	defer t.Stop()
	select {
	case <-api.FirstNext():
		s.Ready = api.FirstNextAt()
		return s, nil
	case <-s.done:
		if strings.Contains(s.out.String(), "address already in use") {
			return nil, fmt.Errorf("sandbox %d: %w", id, errPortTaken)
		}
		return nil, fmt.Errorf("sandbox %d: kinko exited before its first /event/next (%v): %s", id, s.err, s.out.String())
	case <-t.C:
		return nil, fmt.Errorf("sandbox %d: kinko did not call /event/next within 20 s: %s", id, s.out.String())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Log is what kinko printed (WARN and above).
func (s *Sandbox) Log() string { return s.out.String() }

// Stop sends SHUTDOWN as Lambda ends a sandbox, waits up to 3 s for kinko to exit (then kills
// it), and stops the API. Safe to call more than once.
func (s *Sandbox) Stop() error {
	s.stopOnce.Do(func() {
		s.api.ShutdownAll()
		t := time.NewTimer(3 * time.Second)
		defer t.Stop()
		select {
		case <-s.done:
			s.stopErr = s.err
		case <-t.C:
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
			s.stopErr = fmt.Errorf("sandbox %d: kinko did not exit within 3 s of SHUTDOWN; killed it", s.ID)
		}
		s.api.Close()
	})
	return s.stopErr
}

// Fleet is a set of sandboxes started together, in the background: a sandbox may be invoked
// as soon as it is ready, while the others still start.
type Fleet struct {
	Sandboxes []*Sandbox // Sandboxes[i] is set once Ready(i) is closed (nil if it failed)

	ready []chan struct{}
	errs  []error
	wg    sync.WaitGroup
}

// LaunchFleet starts n sandboxes, sandbox i at i*window/n after the call (a deploy spreads its
// starts over a window; 0 starts them as fast as the machine allows), each in its own
// goroutine so a slow start does not hold the others back. opts(i) gives sandbox i's options.
func LaunchFleet(ctx context.Context, n int, window time.Duration, opts func(i int) SandboxOptions) *Fleet {
	f := &Fleet{Sandboxes: make([]*Sandbox, n), ready: make([]chan struct{}, n), errs: make([]error, n)}
	start := time.Now()
	for i := range n {
		f.ready[i] = make(chan struct{})
		f.wg.Go(func() { // owned by f: Wait and Stop wait for it
			defer close(f.ready[i])
			at := start.Add(time.Duration(int64(window) * int64(i) / int64(n)))
			if !sleepUntil(ctx, at) {
				f.errs[i] = ctx.Err()
				return
			}
			f.Sandboxes[i], f.errs[i] = StartSandbox(ctx, i, opts(i))
		})
	}
	return f
}

// Ready is closed when sandbox i has started or failed to.
func (f *Fleet) Ready(i int) <-chan struct{} { return f.ready[i] }

// Wait waits for every start and says which failed.
func (f *Fleet) Wait() error {
	f.wg.Wait()
	return errors.Join(f.errs...)
}

// Stop waits for the starts, then ends every sandbox at once and waits for them all.
func (f *Fleet) Stop() error {
	f.wg.Wait()
	errs := make([]error, len(f.Sandboxes))
	var wg sync.WaitGroup
	for i, s := range f.Sandboxes {
		if s != nil {
			wg.Go(func() { errs[i] = s.Stop() })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// BuildKinko compiles the extension into dir as the Makefile builds the layer (static,
// -trimpath, stripped) for this machine, and returns the binary's path.
func BuildKinko(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "kinko")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "lambda", "-ldflags", "-s -w -buildid= -X main.version=scale", "-o", out, "./extension")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building kinko (go build ./extension): %w\n%s", err, b)
	}
	return out, nil
}

// get asks sandbox s for path with its token.
func (s *Sandbox) get(ctx context.Context, client *http.Client, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(bench.TokenHeader, s.Token)
	return client.Do(req)
}
