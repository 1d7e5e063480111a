package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/config"
)

// healthCommand is the first argument that makes kinko a health check instead of a server.
const healthCommand = "health"

// health is `kinko health [-port N] [-timeout D]`: a container health check for an image that
// has no shell and no curl (ECS's healthCheck, Docker's HEALTHCHECK). It GETs /ping over
// loopback on kinko's configured port (PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, as the server
// reads it; -port overrides) and returns the exit status: 0 when kinko answers 200, 1 otherwise,
// with the reason on stderr. /ping needs no token, so the check carries none.
func health(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	url, timeout, err := healthTarget(args, getenv, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "kinko health:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := ping(ctx, url); err != nil {
		fmt.Fprintf(stderr, "kinko health: %s: %v\n", url, err)
		return 1
	}
	return 0
}

func healthTarget(args []string, getenv func(string) string, stderr io.Writer) (string, time.Duration, error) {
	fs := flag.NewFlagSet("kinko health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 0, "the port kinko listens on (default: PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, else 2773)")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return "", 0, err
	}
	if fs.NArg() > 0 {
		return "", 0, fmt.Errorf("unexpected argument %q (usage: kinko health [-port N] [-timeout D])", fs.Arg(0))
	}
	if *timeout <= 0 {
		return "", 0, fmt.Errorf("-timeout %v: want a positive duration such as 2s", *timeout)
	}
	if *port == 0 {
		// The server's own reading of the variable: the check asks the port kinko listens on.
		cfg, err := config.Load(getenv)
		var cerr *config.Error
		if errors.As(err, &cerr) && cerr.Variable == "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT" {
			return "", 0, err
		}
		*port = cfg.Port
	}
	if *port < 1 || *port > 65535 {
		return "", 0, fmt.Errorf("port %d: want 1 to 65535 (-port, or PARAMETERS_SECRETS_EXTENSION_HTTP_PORT)", *port)
	}
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)) + "/ping", *timeout, nil
}

func ping(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// Straight to loopback: no proxy from the environment, no connection kept.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answered %s, want 200", resp.Status)
	}
	return nil
}
