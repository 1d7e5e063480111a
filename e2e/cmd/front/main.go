// Command front is a local API Gateway HTTP API (payload 2.0) in front of a running Lambda
// emulator (package front): each HTTP request becomes one invoke, one at a time.
//
//	go run ./e2e/cmd/front -addr 127.0.0.1:3000 -emulator http://127.0.0.1:8080
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kinko-dev/kinko/e2e/emulator"
	"github.com/kinko-dev/kinko/e2e/front"
	"github.com/kinko-dev/kinko/e2e/loopback"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "front:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("front", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:3000", "loopback address to listen on")
	target := fs.String("emulator", "http://127.0.0.1:8080", "the Lambda emulator's address (its --runtime-interface-emulator-address)")
	timeout := fs.Duration("invoke-timeout", 5*time.Minute, "longest one invoke may take once sent (above the function's timeout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if host, _, err := net.SplitHostPort(*addr); err != nil || !net.ParseIP(host).IsLoopback() {
		return fmt.Errorf("-addr %q must be a loopback address like 127.0.0.1:3000", *addr)
	}
	if u, err := url.Parse(*target); err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("-emulator %q is not a URL like http://127.0.0.1:8080", *target)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	h := front.New(emulator.NewClient(*target, *timeout), logger)

	srv, err := loopback.Serve(*addr, h)
	if err != nil {
		return fmt.Errorf("%w (is `make up` running?)", err)
	}
	logger.Info("listening", "url", srv.URL+"/", "emulator", *target)
	select {
	case <-srv.Done():
		return srv.Err()
	case <-ctx.Done():
	}
	// Let an invoke in flight finish: the front waits up to API Gateway's integration timeout.
	return srv.Close(front.IntegrationTimeout + 5*time.Second)
}
