// Package upstream fetches secrets from AWS Secrets Manager and parameters from SSM Parameter
// Store, one attempt a call, and renders each answer once (package document), as the JSON
// document kinko serves, so a cache hit only writes bytes. Errors come back as *kinko.Error:
// AWS's own code and status when AWS answered, else kinko's code for what failed on the way,
// with a message safe to show. The SDK's configuration comes from package awsconfig.
package upstream

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/kinko-dev/kinko/extension/internal/awsconfig"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// Observer counts upstream calls (metrics).
type Observer interface {
	UpstreamCall(kind kinko.Kind, took time.Duration, err error)
}

type secretsAPI interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

type parametersAPI interface {
	GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// Client fetches from both services.
type Client struct {
	secrets secretsAPI
	// parameters is built on the first SSM request: most functions read secrets only, and
	// building a client at init touches its code and allocates for nothing.
	parameters func() parametersAPI
	timeout    func(kinko.Kind) time.Duration
	observer   Observer
	logger     *slog.Logger
	// invalidate drops the cached credentials, so the next call fetches fresh ones.
	invalidate func()
	conns      *openConns // nil in tests that build a Client by hand

	// For Forward: the credentials and region kinko signs with, each service's HTTP client
	// and where its calls go (built on the first forward).
	creds    aws.CredentialsProvider
	region   string
	http     [3]func() aws.HTTPClient
	endpoint [3]func(context.Context) (string, error)
}

// Options configure a Client.
type Options struct {
	MaxConnections int                            // per service
	Timeout        func(kinko.Kind) time.Duration // per call, retries included; 0 = SDK default
	Endpoints      map[kinko.Kind]string          // endpoint overrides (local emulators); empty = AWS
	Observer       Observer
	Logger         *slog.Logger
	// HTTPClient replaces kinko's pooled client (tests record the requests with it); nil in use.
	HTTPClient aws.HTTPClient
}

// New builds clients for both services from an AWS configuration (awsconfig.Load: FIPS, dual-stack
// and retry settings ride in it) and the endpoint overrides. Each service gets its own
// connection pool, capped at MaxConnections.
func New(cfg aws.Config, o Options) *Client {
	conns := &openConns{open: map[*trackedConn]struct{}{}}
	client := func() aws.HTTPClient {
		if o.HTTPClient != nil {
			return o.HTTPClient
		}
		return httpClient(o.MaxConnections, conns)
	}
	secretsHTTP, parametersHTTP := client(), sync.OnceValue(client)
	secrets := secretsmanager.NewFromConfig(cfg, func(so *secretsmanager.Options) {
		so.HTTPClient = secretsHTTP
		if e := o.Endpoints[kinko.SecretsManager]; e != "" {
			so.BaseEndpoint = aws.String(e)
		}
	})
	parameters := sync.OnceValue(func() *ssm.Client {
		return ssm.NewFromConfig(cfg, func(so *ssm.Options) {
			so.HTTPClient = parametersHTTP()
			if e := o.Endpoints[kinko.SSM]; e != "" {
				so.BaseEndpoint = aws.String(e)
			}
		})
	})
	c := &Client{
		conns:      conns,
		secrets:    secrets,
		parameters: func() parametersAPI { return parameters() },
		timeout:    o.Timeout,
		observer:   o.Observer,
		logger:     o.Logger,
		invalidate: func() { awsconfig.InvalidateCredentials(cfg) },
		creds:      cfg.Credentials,
		region:     cfg.Region,
	}
	c.http[kinko.SecretsManager] = func() aws.HTTPClient { return secretsHTTP }
	c.http[kinko.SSM] = parametersHTTP
	c.endpoint[kinko.SecretsManager] = func(ctx context.Context) (string, error) { return secretsEndpoint(ctx, secrets.Options()) }
	c.endpoint[kinko.SSM] = func(ctx context.Context) (string, error) { return parametersEndpoint(ctx, parameters().Options()) }
	return c
}

// DefaultAttemptTimeout bounds one upstream attempt when *_TIMEOUT_MILLIS is unset or 0: AWS's
// SDK has no timeout of its own, and a hung connection would hold the key's one attempt forever.
// GetSecretValue answers in tens of milliseconds; two attempts fit in the cache's 4 s budget.
const DefaultAttemptTimeout = 2 * time.Second

// Fetch makes one attempt at the service r names, within its timeout. The SDK tries once
// (oneAttempt): kinko's cache retries per key, with backoff, and knows whether a caller can be
// answered from a value at hand meanwhile; the SDK's retries would multiply its attempts and
// hold callers through their backoff.
func (c *Client) Fetch(ctx context.Context, r kinko.Request) (document.Value, error) {
	timeout := c.timeout(r.Kind)
	if timeout <= 0 {
		timeout = DefaultAttemptTimeout
	}
	// A path read gives each of its pages the timeout (fetchPath).
	if r.Path == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	start := time.Now()
	var (
		v   document.Value
		err error
	)
	switch {
	case r.Kind == kinko.SSM && r.Path != 0:
		v, err = c.fetchPath(ctx, r, timeout)
	case r.Kind == kinko.SSM:
		v, err = c.fetchParameter(ctx, r)
	default:
		v, err = c.fetchSecret(ctx, r)
	}
	took := time.Since(start)
	if err != nil {
		ke, own := err.(*kinko.Error) // kinko's own refusal (a path too large) is already worded
		if !own {
			ke = classify(r.Kind, err, timeout)
		}
		err = about(ke, r)
		// Cancelled with a cause of its own (the caller hung up): say that, not "shutting down".
		if cause := context.Cause(ctx); errors.Is(err, context.Canceled) && cause != nil && !errors.Is(cause, context.Canceled) {
			err = &kinko.Error{Code: kinko.CallerGone, Message: cause.Error(), Err: cause}
		}
		if isExpiredCredentials(err) && c.invalidate != nil {
			// The credentials lapsed (a clock jump, a restore): the next call fetches new ones.
			c.invalidate()
		}
	}
	if c.observer != nil {
		c.observer.UpstreamCall(r.Kind, took, err)
	}
	if c.logger != nil && c.logger.Enabled(ctx, slog.LevelDebug) {
		attrs := []any{"request", r, "took_ms", float64(took.Microseconds()) / 1000}
		if err != nil {
			attrs = append(attrs, "error", err)
		} else {
			attrs = append(attrs, "version", v.Version)
		}
		c.logger.Debug("upstream call", attrs...)
	}
	return v, err
}

func (c *Client) fetchSecret(ctx context.Context, r kinko.Request) (document.Value, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(r.ID)}
	if r.VersionID != "" {
		in.VersionId = aws.String(r.VersionID)
	}
	if r.Stage != "" {
		in.VersionStage = aws.String(r.Stage)
	}
	out, err := c.secrets.GetSecretValue(ctx, in, oneAttempt)
	if err != nil {
		return document.Value{}, err
	}
	return document.RenderSecret(out)
}

func (c *Client) fetchParameter(ctx context.Context, r kinko.Request) (document.Value, error) {
	name := r.ID
	switch {
	case r.VersionID != "":
		name += ":" + r.VersionID
	case r.Stage != "":
		name += ":" + r.Stage
	}
	out, err := c.parameters().GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(r.Decrypt)}, oneAttemptSSM)
	if err != nil {
		return document.Value{}, err
	}
	if out.Parameter == nil {
		return document.Value{}, errMalformed
	}
	return document.RenderParameter(out)
}

// oneAttempt makes the SDK try a call once, unless a number of attempts was set explicitly
// (AWS_MAX_ATTEMPTS, through aws.Config.RetryMaxAttempts): then the user's number wins.
func oneAttempt(o *secretsmanager.Options) {
	if o.RetryMaxAttempts == 0 {
		o.RetryMaxAttempts = 1
	}
}

func oneAttemptSSM(o *ssm.Options) {
	if o.RetryMaxAttempts == 0 {
		o.RetryMaxAttempts = 1
	}
}
