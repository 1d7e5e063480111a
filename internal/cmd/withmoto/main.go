// Command withmoto runs a command with moto's server beside it: it starts moto on a free
// loopback port, runs the command with AWS_ENDPOINT_URL and dummy credentials pointing at
// it, then stops moto. `make package` uses it so osls can package offline.
//
//	go run ./internal/cmd/withmoto -- npx osls package
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/kinko-dev/kinko/internal/moto"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "withmoto:", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string) (int, error) {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return 2, errors.New("usage: withmoto -- COMMAND [ARG...]")
	}
	srv, err := moto.Start(ctx)
	if err != nil {
		return 1, err
	}
	defer srv.Stop()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = os.Environ()
	for k, v := range srv.Env() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), nil
		}
		return 1, fmt.Errorf("run %s: %w", args[0], err)
	}
	return 0, nil
}
