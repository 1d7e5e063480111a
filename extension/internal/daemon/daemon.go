// Package daemon is kinko's life as a plain process, outside Lambda (CONTRACT.md section 11):
// a sidecar in an ECS task or a Kubernetes pod, or a service on an EC2 instance. It binds what
// KINKO_BIND names (loopback by default; beyond it only with a dedicated token, TLS or a Unix
// socket), serves through the core (package core) until ctx ends (SIGTERM, SIGINT), and drains
// as Lambda's SHUTDOWN does, within the drain budget. Its settings (Load) come from the
// environment and AWS Secrets Manager Agent's configuration file (package agentconfig); its AWS
// credentials from the SDK's default chain (awsconfig.LoadChain).
package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kinko-dev/kinko/extension/internal/core"
)

// drainMargin is kept back from the drain budget: the core may run that long past the deadline
// it is given, to answer the requests it cancelled there.
const drainMargin = 150 * time.Millisecond

// Process is one run of kinko as a plain process.
type Process struct {
	Settings Settings
	Logger   *slog.Logger
	// Credentials are the AWS credentials the core signs with; with Settings.ValidateCredentials
	// they are fetched once at start, and where they came from is logged.
	Credentials aws.CredentialsProvider
	Start       time.Time // the process's start
}

// Run binds, serves through k, warms it, and waits for ctx to end; then it drains within the
// drain budget and returns nil. It returns an error, having served nothing, if an address cannot
// be bound.
func (p *Process) Run(ctx context.Context, k *core.Core) error {
	listeners, err := Listen(p.Settings, p.Logger)
	if err != nil {
		p.Logger.Error("start failed", "error", err)
		return err
	}
	for _, w := range p.Settings.Warnings {
		p.Logger.Warn(w)
	}
	k.Serve(listeners)
	addrs := make([]string, len(listeners))
	for i, l := range listeners {
		addrs[i] = l.Addr().Network() + ":" + l.Addr().String()
	}
	k.Go(func(ctx context.Context) {
		k.Warm(ctx, "mode", "process", "listeners", addrs, "tls", p.Settings.TLS != nil,
			"token", p.Settings.Token.Source(), "drain_ms", p.Settings.Drain.Milliseconds(),
			"max_client_connections", p.Settings.MaxConns)
	})
	if p.Settings.ValidateCredentials && p.Credentials != nil {
		k.Go(p.checkCredentials)
	}

	<-ctx.Done()
	p.Logger.Info("signal received; shutting down", "drain_budget_ms", p.Settings.Drain.Milliseconds())
	stopped := time.Now()
	k.Drain(stopped.Add(max(0, p.Settings.Drain-drainMargin)))
	p.Logger.Info("shutdown complete", "reason", "signal", "drain_ms", float64(time.Since(stopped).Microseconds())/1000)
	return nil
}

// checkCredentials gets the credentials once, as the agent's validate_credentials does, and
// logs where they came from and when they expire (never a key); a failure is logged, not fatal:
// the credentials may come later (a web identity token mounted after the start).
func (p *Process) checkCredentials(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := p.Credentials.Retrieve(ctx)
	if err != nil {
		p.Logger.Warn("no AWS credentials yet; kinko asks again on the next request", "error", err)
		return
	}
	attrs := []any{"source", c.Source, "can_expire", c.CanExpire}
	if c.CanExpire {
		attrs = append(attrs, "expires", c.Expires.UTC().Format(time.RFC3339))
	}
	p.Logger.Info("AWS credentials", attrs...)
}
