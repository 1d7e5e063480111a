// Command gotool installs a Go program at the version and module hash the Makefile pins and
// prints the binary's path. `make bench` and `make vulncheck` use it instead of `@latest`.
//
//	go run ./internal/cmd/gotool -module golang.org/x/perf -sum h1:... -dir build/tools \
//	    golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
//
// A binary already installed is reused only when its build information names the same module,
// version and hash. Exit status 3 means the module could not be had at all (no module proxy, not
// in the module cache), so a caller may skip; 1 is any other failure, a hash mismatch included.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kinko-dev/kinko/internal/gotool"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gotool", flag.ContinueOnError)
	fs.SetOutput(stderr)
	module := fs.String("module", "", "the module that holds the package")
	sum := fs.String("sum", "", "the module's pinned hash (h1:..., as go.sum writes it)")
	dir := fs.String("dir", "build/tools", "install under DIR/NAME@VERSION/")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: gotool -module MODULE -sum h1:... [-dir DIR] PACKAGE@VERSION")
		return 2
	}
	tool, err := gotool.Parse(fs.Arg(0), *module, *sum)
	if err != nil {
		fmt.Fprintln(stderr, "gotool:", err)
		return 2
	}
	bin, err := gotool.Installer{Dir: *dir}.Install(ctx, tool)
	if err != nil {
		fmt.Fprintln(stderr, "gotool:", err)
		if errors.Is(err, gotool.ErrUnavailable) {
			return 3
		}
		return 1
	}
	fmt.Fprintln(stdout, bin)
	return 0
}
