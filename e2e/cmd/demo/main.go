// Command demo runs kinko's whole stack on this machine, with no AWS account: the extension
// from the layer and the function under AWS's Lambda emulator, moto as Secrets Manager, a
// local OpenAI-compatible model and an HTTP API in front (see package stack).
//
//	go run ./e2e/cmd/demo        # make demo: a cold request and two warm ones, then stop
//	go run ./e2e/cmd/demo -up    # make up: keep it running; the page is at http://127.0.0.1:3000/
//
// With OPENAI_BASE_URL set (e.g. https://api.openai.com/v1) the function calls that API
// instead of the local model, with the key from OPENAI_API_KEY stored as the demo secret;
// OPENAI_MODEL picks the model.
//
// It exits 0 only if every round trip worked, the extension started and shut down cleanly,
// no log line holds the key, and nothing it started is left running.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kinko-dev/kinko/e2e/emulator"
	"github.com/kinko-dev/kinko/e2e/stack"
	"github.com/kinko-dev/kinko/internal/moto"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	os.Exit(code)
}

type options struct {
	up        bool
	addr      string
	layer     string
	kinkoPort int
	dir       string
	prompt    string
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(out)
	var o options
	fs.BoolVar(&o.up, "up", false, "keep the stack running until Ctrl-C (make up)")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:3000", "loopback address of the HTTP API and the page")
	fs.StringVar(&o.layer, "layer", "", "run the extension from this layer zip (dist/kinko-layer-ARCH.zip) instead of a fresh build")
	fs.IntVar(&o.kinkoPort, "kinko-port", 2773, "kinko's port inside the sandbox (the network is this machine's)")
	fs.StringVar(&o.dir, "dir", "", "where to build (default .e2e/demo in the repository; git-ignored)")
	fs.StringVar(&o.prompt, "prompt", "What does a Lambda extension do?", "the prompt of the three round trips")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if host, _, err := net.SplitHostPort(o.addr); err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintf(out, "demo: -addr %q must be a loopback address like 127.0.0.1:3000\n", o.addr)
		return 2
	}
	if err := demo(ctx, o, getenv, out); err != nil {
		fmt.Fprintf(out, "\ndemo: FAILED: %v\n", err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	return 0
}

func demo(ctx context.Context, o options, getenv func(string) string, out io.Writer) (err error) {
	root, err := stack.FindRoot()
	if err != nil {
		return err
	}
	if o.dir == "" {
		o.dir = filepath.Join(root, ".e2e", "demo")
	}
	// What the machine lacks, before a minute of building.
	if _, err := moto.Command(); err != nil {
		return err
	}
	if err := emulator.Supported(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "==> building into %s\n", rel(root, o.dir))
	bin, err := stack.Build(ctx, root, o.dir, o.layer, prefixed(out, "    "))
	if err != nil {
		return err
	}

	opts := stack.Options{Bin: bin, FrontAddr: o.addr, KinkoPort: o.kinkoPort, OpenAIModel: getenv("OPENAI_MODEL")}
	if base := getenv("OPENAI_BASE_URL"); base != "" {
		opts.OpenAIBaseURL = base
		if opts.Key = getenv("OPENAI_API_KEY"); opts.Key == "" {
			return errors.New("OPENAI_BASE_URL is set but OPENAI_API_KEY is not: set both to use a real API, or neither for the local model")
		}
	} else {
		opts.Key = getenv("OPENAI_API_KEY") // empty: a fresh sk-demo- key
	}
	if o.up {
		opts.Output = out
	}
	mountsBefore, err := optMounts()
	if err != nil {
		return err
	}

	fmt.Fprintln(out, "==> starting the stack")
	st, err := stack.Start(ctx, opts)
	if err != nil {
		return err
	}
	stopped := false
	defer func() { // on every path: Ctrl-C, a failed check, a panic in between
		if !stopped {
			_ = st.Close()
		}
		if err != nil && !o.up {
			// The front and the emulator answer a failed init with a bare 502: the reason is in
			// the lines the extension, the function and the emulator wrote.
			if lines := problemLines(st.EmulatorLog()); len(lines) > 0 {
				fmt.Fprintln(out, "\n==> what the sandbox logged about it (warnings and errors)")
				for _, l := range lines {
					fmt.Fprintf(out, "    %-9s | %s\n", stack.Source(l), l)
				}
			}
		}
	}()
	model := "local OpenAI-compatible model (accepts only the demo key)"
	if st.OpenAI == nil {
		model = "OpenAI-compatible API from OPENAI_BASE_URL"
	}
	fmt.Fprintf(out, "    moto (Secrets Manager)   %s   secret %q created\n", st.Moto.URL, st.SecretName)
	fmt.Fprintf(out, "    counting proxy           %s   (kinko's AWS_ENDPOINT_URL)\n", st.Proxy.URL)
	fmt.Fprintf(out, "    %-24s %s\n", "model", st.OpenAIURL+"   "+model)
	fmt.Fprintf(out, "    Lambda emulator          %s   function + layer at /opt (private namespace), kinko on %s\n", st.Emulator.URL, st.KinkoURL)
	fmt.Fprintf(out, "    HTTP API front           %s/\n", st.FrontURL)

	if o.up {
		return up(ctx, st, out)
	}

	fmt.Fprintf(out, "\n==> POST %s/invoke-openai  %s\n", st.FrontURL, stack.Prompt(o.prompt))
	var problems []string
	for i, name := range []string{"cold", "warm", "warm"} {
		r, err := st.Do(ctx, "POST", "/invoke-openai", stack.Prompt(o.prompt))
		if err != nil {
			return err
		}
		cs := r.Header.Get("X-Kinko-Cache-Status")
		var a struct{ Message, Error string }
		_ = json.Unmarshal(r.Body, &a)
		fmt.Fprintf(out, "    %d. %-4s  HTTP %d  %8.1f ms   Cache-Status: %s\n", i+1, name, r.Status, ms(r.Latency), orNone(cs))
		if a.Error != "" || a.Message == "" {
			fmt.Fprintf(out, "       error: %s\n", strings.TrimSpace(string(r.Body)))
		} else {
			fmt.Fprintf(out, "       answer: %s\n", a.Message)
		}
		switch {
		case r.Status != 200:
			problems = append(problems, fmt.Sprintf("request %d answered %d", i+1, r.Status))
		case st.OpenAI != nil && a.Message != stack.ExpectedAnswer(o.prompt):
			problems = append(problems, fmt.Sprintf("request %d: answer %q, want %q", i+1, a.Message, stack.ExpectedAnswer(o.prompt)))
		case name == "warm" && !stack.IsHit(cs):
			problems = append(problems, fmt.Sprintf("request %d: a warm request was not a cache hit (%q)", i+1, cs))
		}
	}
	page, err := st.Do(ctx, "GET", "/", "")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "    page: GET %s/ -> HTTP %d, %s, %d bytes (while the stack runs; make up keeps it running)\n", st.FrontURL, page.Status, page.Header.Get("Content-Type"), len(page.Body))
	if page.Status != 200 || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
		problems = append(problems, "the page did not load")
	}
	calls := st.Proxy.Calls("GetSecretValue")
	fmt.Fprintf(out, "    moto saw %d GetSecretValue call(s) in the whole run (kinko prefetched the secret and cached it)\n", calls)
	if calls != 1 {
		problems = append(problems, fmt.Sprintf("moto saw %d GetSecretValue calls, want 1", calls))
	}

	fmt.Fprintln(out, "\n==> stopping (the emulator sends SHUTDOWN to the extension)")
	closeErr := st.Close()
	stopped = true
	if closeErr != nil {
		problems = append(problems, "stopping: "+closeErr.Error())
	}

	fmt.Fprintln(out, "\n==> the emulator's lines about the extension")
	registered := false
	for _, l := range st.Lines(stack.FromEmulator) {
		if strings.Contains(l, "kinko") || strings.Contains(l, "INIT REPORT") || strings.Contains(l, "SandboxTerminated") {
			fmt.Fprintf(out, "    %s\n", l)
			registered = registered || strings.Contains(l, "External agent kinko")
		}
	}
	if !registered {
		problems = append(problems, "the emulator's log does not show kinko registering")
	}
	fmt.Fprintln(out, "\n==> the extension's log lines")
	ext := st.Lines(stack.FromExtension)
	for _, l := range ext {
		fmt.Fprintf(out, "    %s\n", l)
	}
	joined := strings.Join(ext, "\n")
	for _, want := range []string{`"msg":"ready"`, `"msg":"shutdown complete"`, `"msg":"metrics"`} {
		if !strings.Contains(joined, want) {
			problems = append(problems, "the extension's log has no "+want+" line")
		}
	}
	problems = append(problems, checkClean(st, mountsBefore)...)

	fmt.Fprintln(out)
	if len(problems) > 0 {
		return fmt.Errorf("%d problem(s):\n  - %s", len(problems), strings.Join(problems, "\n  - "))
	}
	fmt.Fprintln(out, "demo: OK (no key in any log; every process stopped; /opt untouched)")
	fmt.Fprintf(out, "\nThe stack is stopped now: %s/ no longer answers.\n", st.FrontURL)
	fmt.Fprintln(out, "  make up                    the same stack, kept running until Ctrl-C: open http://127.0.0.1:3000/")
	fmt.Fprintln(out, "  make run FN=your/function  your own function with the layer, against moto (README: Try it locally)")
	return nil
}

// problemLines are the warnings and errors in the emulator's output: the extension's, the
// function's and the emulator's own.
func problemLines(log string) []string {
	var out []string
	for l := range strings.Lines(log) {
		if l = strings.TrimRight(l, "\r\n"); stack.IsProblem(l) {
			out = append(out, l)
		}
	}
	return out
}

// up keeps the stack running until Ctrl-C (or until the emulator dies).
func up(ctx context.Context, st *stack.Stack, out io.Writer) error {
	fmt.Fprintf(out, "\n==> open %s/ in a browser; the logs follow. Ctrl-C stops everything.\n\n", st.FrontURL)
	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "\n==> stopping")
		if err := st.Close(); err != nil {
			return err
		}
		fmt.Fprintln(out, "stopped")
		return nil
	case <-st.Emulator.Done():
		return errors.New("the Lambda emulator exited on its own; see its log above")
	}
}

// checkClean looks for what a run could leave behind.
func checkClean(st *stack.Stack, mountsBefore int) []string {
	var problems []string
	for _, l := range st.Logs() {
		if strings.Contains(l.Text, st.Key) {
			problems = append(problems, "the key appears in the "+l.Name+" log")
		}
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(st.KinkoURL, "http://"), time.Second); err == nil {
		c.Close()
		problems = append(problems, "kinko still listens on "+st.KinkoURL+" after the stop")
	}
	if n, err := optMounts(); err != nil || n != mountsBefore {
		problems = append(problems, fmt.Sprintf("/opt mounts here: %d before, %d after (%v)", mountsBefore, n, err))
	}
	return problems
}

// optMounts counts mounts at /opt in our mount namespace (the emulator's is private: 0 here).
func optMounts() (int, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return 0, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	n := 0
	for l := range strings.Lines(string(b)) {
		if f := strings.Fields(l); len(f) > 4 && f[4] == "/opt" {
			n++
		}
	}
	return n, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// prefixed indents each line written to w.
func prefixed(w io.Writer, prefix string) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		for l := range strings.Lines(string(p)) {
			fmt.Fprint(w, prefix+l)
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
