package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kinko-dev/kinko/extension/internal/awsconfig"
	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/core"
	"github.com/kinko-dev/kinko/extension/internal/earlystart"
	"github.com/kinko-dev/kinko/extension/internal/lambda"
)

// run is kinko's whole life: load the configuration, build the serving core, and hand both to
// a lifecycle. In Lambda (AWS_LAMBDA_RUNTIME_API set) that is the Lambda lifecycle, which binds,
// registers, serves, waits for SHUTDOWN (or SIGTERM, which cancels ctx) and drains; elsewhere
// the plain process's (runProcess: package daemon, in every build but the layer's). It returns
// nil on a clean shutdown. environ is the whole environment (getenv's), searched for kinko:
// references to prefetch; early is what the early start settled (earlystart.Take), nil if
// nothing.
func run(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout io.Writer, early *earlystart.State) error {
	if getenv("AWS_LAMBDA_RUNTIME_API") == "" {
		return runProcess(ctx, args, getenv, environ, stdout)
	}
	return runWith(ctx, args, getenv, environ, stdout, early, lambda.SystemClocks())
}

// runWith is run in Lambda, with the clocks a SnapStart restore is seen in (tests move them).
func runWith(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout io.Writer,
	early *earlystart.State, clk lambda.Clocks) error {
	start := time.Now()
	cfg, awsCfg, err := load(getenv, environ)
	out := &lockedWriter{w: stdout}
	logger := newLogger(out, cfg)
	ext := &lambda.Extension{Name: filepath.Base(args[0]), RuntimeAPI: getenv("AWS_LAMBDA_RUNTIME_API"), Config: cfg,
		Early: early, Logger: logger, Clocks: clk, Start: start}
	if err != nil {
		return ext.FailInit(ctx, err)
	}
	k := core.New(cfg, core.Deps{AWS: awsCfg, Getenv: getenv, Logger: logger, Metrics: out,
		FunctionName: getenv("AWS_LAMBDA_FUNCTION_NAME"), Version: version, Start: start})
	return ext.Run(ctx, k)
}

// load reads kinko's configuration, with the kinko: references of environ to prefetch, and the
// AWS one. The AWS configuration is checked here, with the rest, so a missing region or missing
// credentials fails init with /init/error; building it does no I/O (microseconds).
func load(getenv func(string) string, environ []string) (config.Config, aws.Config, error) {
	cfg, err := config.Load(getenv)
	cfg.Prefetch = config.AddReferences(cfg.Prefetch, environ)
	awsCfg, awsErr := awsconfig.Load(getenv)
	if err == nil && awsErr != nil {
		err = &config.Error{Variable: "AWS environment", Problem: awsErr.Error()}
	}
	return cfg, awsCfg, err
}

func newLogger(w io.Writer, cfg config.Config) *slog.Logger {
	if cfg.LogNone {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.Level(cfg.LogLevel)})).With("extension", "kinko")
}

// lockedWriter lets the logger and the metrics line share stdout without interleaving.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
