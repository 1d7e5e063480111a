// Command fakeopenai serves the local OpenAI-compatible chat completions API that the demo
// uses (package fakeopenai): it accepts only the key in OPENAI_API_KEY (from the environment,
// not a flag, so it does not show in ps) and answers deterministically from the prompt.
//
//	OPENAI_API_KEY=sk-demo-... go run ./e2e/cmd/fakeopenai -addr 127.0.0.1:8081
//	# then OPENAI_BASE_URL=http://127.0.0.1:8081/v1
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kinko-dev/kinko/e2e/fakeopenai"
	"github.com/kinko-dev/kinko/e2e/loopback"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "fakeopenai:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("fakeopenai", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "loopback address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key := getenv("OPENAI_API_KEY")
	if key == "" {
		return errors.New("OPENAI_API_KEY is not set: set it to the key stored in the demo secret; it is the only key this server accepts")
	}
	if host, _, err := net.SplitHostPort(*addr); err != nil || !net.ParseIP(host).IsLoopback() {
		return fmt.Errorf("-addr %q must be a loopback address like 127.0.0.1:8081", *addr)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	return serve(ctx, *addr, fakeopenai.New(key, logger), logger)
}

// serve runs h on addr until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	srv, err := loopback.Serve(addr, h)
	if err != nil {
		return err
	}
	logger.Info("listening", "base_url", srv.URL+"/v1")
	select {
	case <-srv.Done():
		return srv.Err()
	case <-ctx.Done():
	}
	return srv.Close(5 * time.Second)
}
