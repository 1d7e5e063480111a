// Command front is a local API Gateway HTTP API (payload 2.0) in front of a running Lambda
// emulator (package front): each HTTP request becomes one invoke, one at a time.
//
//	go run ./e2e/cmd/front -addr 127.0.0.1:3000 -emulator http://127.0.0.1:8080
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kinko-dev/kinko/e2e/emulator"
	"github.com/kinko-dev/kinko/e2e/front"
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

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is `make up` running?)", *addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	logger.Info("listening", "url", "http://"+l.Addr().String()+"/", "emulator", *target)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), front.IntegrationTimeout+5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutCtx)
	if serveErr := <-done; !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return err
}
