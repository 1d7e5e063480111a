// Command withmoto runs a command with moto's server beside it: it starts moto on a free
// loopback port, runs the command with AWS_ENDPOINT_URL and dummy credentials pointing at
// it, then stops moto. `make package` uses it so osls can package offline.
//
//	go run ./internal/cmd/withmoto [-hide-js-stack] -- npx osls package
//
// With -hide-js-stack, the JavaScript stack frames in the command's output ("    at f (file:1:2)")
// are left out: osls prints the whole stack of an error thrown while it resolves serverless.yml
// (a bad parameter, caught by layer/sample.js with a message that says what to do), which buries
// that message under fifteen lines of osls's internals.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/kinko-dev/kinko/internal/moto"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "withmoto:", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("withmoto", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hide := fs.Bool("hide-js-stack", false, "leave JavaScript stack frames out of the command's output")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	args = fs.Args()
	if len(args) == 0 {
		return 2, errors.New("usage: withmoto [-hide-js-stack] -- COMMAND [ARG...]")
	}
	srv, err := moto.Start(ctx)
	if err != nil {
		return 1, err
	}
	defer srv.Stop()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	var filters []*stackFilter
	if *hide {
		out, errOut := newStackFilter(stdout), newStackFilter(stderr)
		filters = []*stackFilter{out, errOut}
		cmd.Stdout, cmd.Stderr = out, errOut
	}
	cmd.Env = os.Environ()
	for k, v := range srv.Env() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	runErr := cmd.Run()
	hidden := 0
	for _, f := range filters {
		hidden += f.Close()
	}
	if runErr != nil {
		var exit *exec.ExitError
		if errors.As(runErr, &exit) {
			if hidden > 0 {
				fmt.Fprintf(stderr, "(%d JavaScript stack lines left out; to see them: go run ./internal/cmd/withmoto -- %s)\n", hidden, strings.Join(args, " "))
			}
			return exit.ExitCode(), nil
		}
		return 1, fmt.Errorf("run %s: %w", args[0], runErr)
	}
	return 0, nil
}

// stackFrame is one line of a JavaScript stack: "    at name (/path/file.js:1:2)", "    at async
// /path:3:4", "    at async Promise.all (index 0)".
var stackFrame = regexp.MustCompile(`^\s+at \S`)

// stackFilter copies whole lines to w, except stack frames, which it counts.
type stackFilter struct {
	w      io.Writer
	pw     *io.PipeWriter
	done   chan struct{}
	mu     sync.Mutex
	hidden int
}

func newStackFilter(w io.Writer) *stackFilter {
	pr, pw := io.Pipe()
	f := &stackFilter{w: w, pw: pw, done: make(chan struct{})}
	go func() { // owned by f: Close waits for it
		defer close(f.done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if stackFrame.MatchString(sc.Text()) {
				f.mu.Lock()
				f.hidden++
				f.mu.Unlock()
				continue
			}
			fmt.Fprintln(f.w, sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr) // a line over 1 MB: drain, so the command never blocks
	}()
	return f
}

func (f *stackFilter) Write(p []byte) (int, error) { return f.pw.Write(p) }

// Close flushes what is left and returns how many lines were left out.
func (f *stackFilter) Close() int {
	_ = f.pw.Close()
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hidden
}
