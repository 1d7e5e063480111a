// Package emulator runs AWS's Lambda Runtime Interface Emulator (aws-lambda-rie) with a
// function and a layer, the way Lambda would, on this machine:
//
//   - the layer directory is bind-mounted at /opt inside a private mount namespace, so the
//     emulator finds /opt/extensions/* (a path it does not let us change) while the real /opt
//     is never written to or even shadowed outside;
//   - the emulator is the first process of a new PID namespace, so when it ends, however it
//     ends, the kernel ends the extension and the function with it (the emulator starts them in
//     process groups of their own, out of reach of a process-group kill);
//   - it listens on loopback only, with its Runtime API on a free port (not the fixed 9001), so
//     two emulators can run at once.
//
// Client invokes it one request at a time: two invokes at once crash the emulator.
package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoNamespace means this machine cannot give the emulator a private /opt: not root, and
// unprivileged user namespaces are off (or unshare is missing).
var ErrNoNamespace = errors.New("cannot create a private mount namespace for /opt: " +
	"run as root, or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; " +
	"on Ubuntu also kernel.apparmor_restrict_unprivileged_userns=0), and install util-linux's unshare")

// Options says what to run.
type Options struct {
	RIE       string   // the aws-lambda-rie binary
	Bootstrap string   // the function's executable
	Opt       string   // directory mounted at /opt: holds extensions/NAME (mode 0755)
	Env       []string // the emulator's whole environment; it hands it to the function and the extensions
	// Output receives everything the emulator, the extensions and the function print.
	Output io.Writer
	// Ready bounds how long Start waits for the emulator to listen (default 15 s).
	Ready time.Duration
}

// Process is a running emulator.
type Process struct {
	URL        string // http://127.0.0.1:PORT: the invoke API
	RuntimeAPI string // 127.0.0.1:PORT: the Runtime and Extensions API it gives the sandbox

	cmd  *exec.Cmd
	done chan struct{}
	err  error // cmd.Wait's result; set before done is closed
}

// Start runs the emulator and returns once its invoke API accepts connections. Nothing runs in
// the sandbox yet: the emulator starts the extensions and the function on the first invoke.
func Start(ctx context.Context, o Options) (*Process, error) {
	for name, path := range map[string]string{"RIE": o.RIE, "Bootstrap": o.Bootstrap} {
		if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("emulator: %s %q is not an executable file: build it first", name, path)
		}
	}
	if fi, err := os.Stat(o.Opt + "/extensions"); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("emulator: %q has no extensions/ directory: lay the layer out there first", o.Opt)
	}
	if fi, err := os.Stat("/opt"); err != nil || !fi.IsDir() {
		// Creating it would write to the real root file system, which this package never does.
		return nil, errors.New("emulator: /opt does not exist on this machine: create it (empty) as root once; " +
			"the layer is mounted over it only inside the emulator's namespace")
	}
	prefix, err := namespacePrefix(ctx)
	if err != nil {
		return nil, err
	}
	if o.Output == nil {
		o.Output = io.Discard
	}
	if o.Ready <= 0 {
		o.Ready = 15 * time.Second
	}
	// A port found free can be taken before the emulator binds it: try again with new ones.
	var lastErr error
	for range 3 {
		p, err := start(ctx, o, prefix)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return nil, lastErr
}

var errPortTaken = errors.New("port taken")

func start(ctx context.Context, o Options, prefix []string) (*Process, error) {
	invokeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	runtimeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// Positional parameters, not string splicing: paths may hold spaces or quotes.
	script := `mount --bind "$1" /opt && exec "$2" --runtime-interface-emulator-address "$3" --runtime-api-address "$4" "$5"`
	args := slices.Concat(prefix[1:], []string{"sh", "-c", script, "sh", o.Opt, o.RIE, invokeAddr, runtimeAddr, o.Bootstrap})
	cmd := exec.Command(prefix[0], args...)
	cmd.Env = o.Env
	tail := &tailBuffer{max: 16 << 10}
	out := io.MultiWriter(o.Output, tail)
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group: a terminal's Ctrl-C reaches our process, which stops the emulator in
	// order, instead of reaching the emulator directly. Pdeathsig: if we die, unshare dies, and
	// --kill-child takes the namespace down with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("emulator: start %s: %w", prefix[0], err)
	}
	p := &Process{URL: "http://" + invokeAddr, RuntimeAPI: runtimeAddr, cmd: cmd, done: make(chan struct{})}
	go func() { // owned by p: Stop and Kill wait for done
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := p.waitListening(ctx, invokeAddr, o.Ready, tail); err != nil {
		p.Kill()
		if strings.Contains(tail.String(), "address already in use") {
			return nil, fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return nil, err
	}
	return p, nil
}

func (p *Process) waitListening(ctx context.Context, addr string, limit time.Duration, tail *tailBuffer) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("emulator exited before listening on %s (%v); its output:\n%s", addr, p.err, tail.String())
		case <-ctx.Done():
			return fmt.Errorf("emulator: waiting for %s: %w", addr, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("emulator did not listen on %s within %s; its output:\n%s", addr, limit, tail.String())
		}
	}
}

// Done is closed when the emulator has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop sends SIGTERM, which makes the emulator send SHUTDOWN to the extensions and wait for
// them, and waits up to grace for it to exit; then it kills. It returns how long the exit took.
func (p *Process) Stop(grace time.Duration) (time.Duration, error) {
	start := time.Now()
	select {
	case <-p.done:
		return 0, nil
	default:
	}
	// To the group: unshare itself ignores SIGTERM while it waits for its child; the emulator,
	// in the same group, gets it.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return time.Since(start), nil
	case <-t.C:
		p.Kill()
		return time.Since(start), fmt.Errorf("emulator did not exit within %s of SIGTERM; killed it", grace)
	}
}

// Kill ends the emulator at once (and, through its PID namespace, everything it started) and
// waits for it.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// namespacePrefix is the unshare command that gives the emulator its own mount and PID
// namespaces: plain as root, inside a user namespace otherwise. It is tried once with `true`,
// since root in a container may lack the capability and a user may lack user namespaces.
func namespacePrefix(ctx context.Context) ([]string, error) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return nil, fmt.Errorf("emulator: unshare not found (apt-get install util-linux): %w", ErrNoNamespace)
	}
	// --kill-child: if unshare dies, its child (the emulator, PID 1 of the new namespace) is
	// killed, and with it every process in the namespace.
	prefix := []string{unshare, "--mount", "--pid", "--kill-child", "--propagation", "private"}
	if os.Geteuid() != 0 {
		prefix = slices.Insert(prefix, 1, "--user", "--map-root-user")
	}
	probe, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(probe, prefix[0], slices.Concat(prefix[1:], []string{"true"})...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("emulator: %s true: %v %s: %w", strings.Join(prefix, " "), err, bytes.TrimSpace(out), ErrNoNamespace)
	}
	return prefix, nil
}

// Supported says whether Start can run here; the error says why not and what to do.
func Supported(ctx context.Context) error {
	_, err := namespacePrefix(ctx)
	return err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("emulator: find a free loopback port: %w", err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// tailBuffer keeps the last max bytes written, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
