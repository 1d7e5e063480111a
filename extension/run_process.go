//go:build !lambda

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/agentconfig"
	"github.com/kinko-dev/kinko/extension/internal/awsconfig"
	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/core"
	"github.com/kinko-dev/kinko/extension/internal/daemon"
)

const usage = `kinko serves secrets from AWS Secrets Manager and parameters from SSM Parameter Store, cached,
on localhost:2773, with the API of AWS's Parameters and Secrets Lambda extension and of AWS Secrets
Manager Agent. In Lambda it runs from the layer as an extension; elsewhere as a plain process:

  kinko [--config FILE]   serve until SIGTERM or SIGINT, then drain (KINKO_DRAIN_MS) and exit 0
  kinko --ping            ask the kinko configured here for /ping: exit 0 if healthy (a health check)
  kinko --version         print the version

--config FILE reads AWS Secrets Manager Agent's TOML file (its flat keys or the Workload Credentials
Provider's [capabilities.secrets_manager] tables); kinko's own variables win over it.
Outside Lambda: KINKO_BIND (default 127.0.0.1,[::1]; an address beyond loopback needs a token of
at least 32 random bytes in AWS_TOKEN), KINKO_TLS_CERT and KINKO_TLS_KEY, KINKO_MAX_CLIENT_CONNECTIONS,
KINKO_DRAIN_MS; the token from AWS_TOKEN, AWS_SESSION_TOKEN or AWS_CONTAINER_AUTHORIZATION_TOKEN
(file:///path reads a file); AWS credentials from the SDK's default chain. README "Outside Lambda".
`

// options are the command line outside Lambda.
type options struct {
	config  string
	ping    bool
	version bool
	help    bool
}

func parseArgs(args []string) (options, error) {
	var o options
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			return o, fmt.Errorf("unexpected argument %q; kinko takes --config FILE, --ping, --version, --help", a)
		}
		switch name {
		case "config":
			if !hasValue {
				if i+1 == len(args) {
					return o, errors.New("--config needs a file: kinko --config /etc/kinko/agent.toml")
				}
				i++
				value = args[i]
			}
			o.config = value
		case "ping":
			o.ping = true
		case "version":
			o.version = true
		case "help", "h":
			o.help = true
		default:
			return o, fmt.Errorf("unknown option %q; kinko takes --config FILE, --ping, --version, --help", a)
		}
		if hasValue && name != "config" {
			return o, fmt.Errorf("%s takes no value", name)
		}
	}
	return o, nil
}

// runProcess is kinko outside Lambda (package daemon): the configuration from the environment
// and the agent's file, the AWS configuration from the SDK's default chain, the core, and the
// process's lifecycle. A problem with the configuration is returned before anything is bound.
func runProcess(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout io.Writer) error {
	start := time.Now()
	opts, err := parseArgs(args[1:])
	switch {
	case err != nil:
		return err
	case opts.help:
		_, err := io.WriteString(stdout, usage)
		return err
	case opts.version:
		_, err := fmt.Fprintln(stdout, "kinko", version)
		return err
	}
	var file *agentconfig.File
	if opts.config != "" {
		if file, err = agentconfig.Read(opts.config); err != nil {
			return err
		}
	}
	withFile := file.Overlay(getenv)
	cfg, err := config.Load(withFile)
	if err != nil {
		return err
	}
	cfg.Prefetch = config.AddReferences(cfg.Prefetch, environ)
	settings, err := daemon.Load(withFile, file, cfg)
	if err != nil {
		return err
	}
	if opts.ping {
		return daemon.Ping(ctx, settings)
	}
	cfg.Token = settings.Token.Value

	out := &lockedWriter{w: stdout}
	logger := newLogger(out, cfg)
	if file != nil {
		for _, v := range file.Overridden(getenv) {
			logger.Warn("the environment's "+v+" wins over the --config file's setting", "file", file.Path)
		}
	}
	awsCfg, err := awsconfig.LoadChain(ctx, settings.Region)
	if err != nil {
		logger.Error("start failed", "error", err)
		return err
	}
	k := core.New(cfg, core.Deps{AWS: awsCfg, Getenv: getenv, Logger: logger, Metrics: out,
		Version: version, Start: start, HTTP: settings.HTTP(time.Now), MaxRoles: settings.MaxRoles})
	p := &daemon.Process{Settings: settings, Logger: logger, Credentials: awsCfg.Credentials, Start: start}
	return p.Run(ctx, k)
}
