// Package upstream fetches secrets from AWS Secrets Manager and parameters from SSM Parameter
// Store, and renders each answer once, as the JSON document kinko serves, so a cache hit only
// writes bytes. Errors come back as *kinko.Error: AWS's own code and status when AWS answered,
// else kinko's code for what failed on the way, with a message safe to show.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

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

// New builds clients for both services from an AWS configuration (AWSConfig: FIPS, dual-stack
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
	return &Client{
		conns: conns,
		secrets: secretsmanager.NewFromConfig(cfg, func(so *secretsmanager.Options) {
			so.HTTPClient = client()
			if e := o.Endpoints[kinko.SecretsManager]; e != "" {
				so.BaseEndpoint = aws.String(e)
			}
		}),
		parameters: sync.OnceValue(func() parametersAPI {
			return ssm.NewFromConfig(cfg, func(so *ssm.Options) {
				so.HTTPClient = client()
				if e := o.Endpoints[kinko.SSM]; e != "" {
					so.BaseEndpoint = aws.String(e)
				}
			})
		}),
		timeout:    o.Timeout,
		observer:   o.Observer,
		logger:     o.Logger,
		invalidate: func() { InvalidateCredentials(cfg) },
	}
}

// httpClient is a client with the SDK's own transport settings (timeouts, TLS 1.2 and up, HTTP/2,
// the proxy from the environment) that kinko can empty of connections (DropConnections): the SDK's
// buildable client keeps its live transport to itself. As the SDK's client, it follows no redirect.
func httpClient(maxConns int, conns *openConns) *http.Client {
	t := awshttp.NewBuildableClient().GetTransport()
	t.MaxConnsPerHost = maxConns
	t.MaxIdleConnsPerHost = maxConns
	t.DialContext = conns.track(t.DialContext)
	conns.mu.Lock()
	conns.idle = append(conns.idle, t.CloseIdleConnections)
	conns.mu.Unlock()
	return &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// DropConnections closes every connection to AWS. After a SnapStart restore the pooled ones
// lead nowhere: a call on one fails or hangs, then waits a retry's backoff (up to 2 s at the
// first retry), on the very invoke SnapStart was meant to make fast.
func (c *Client) DropConnections() {
	if c.conns != nil {
		c.conns.closeAll()
	}
}

// openConns is the set of connections a Client's pools hold open, and a way to empty the pools:
// closing an idle connection under the transport would leave it in the pool until the transport
// noticed, and the next call could be written on it and fail.
type openConns struct {
	mu   sync.Mutex
	open map[*trackedConn]struct{}
	idle []func() // each transport's CloseIdleConnections
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (o *openConns) track(dial dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: nc, owner: o}
		o.mu.Lock()
		o.open[tc] = struct{}{}
		o.mu.Unlock()
		return tc, nil
	}
}

func (o *openConns) closeAll() {
	o.mu.Lock()
	idle := append([]func(){}, o.idle...)
	o.mu.Unlock()
	for _, f := range idle {
		f() // out of the pools first, so no call is written on a closed one
	}
	o.mu.Lock()
	all := make([]*trackedConn, 0, len(o.open))
	for tc := range o.open {
		all = append(all, tc)
	}
	o.mu.Unlock()
	for _, tc := range all {
		_ = tc.Close() // one in use: its call fails, and the transport does not pool it again
	}
}

func (o *openConns) count() int { o.mu.Lock(); defer o.mu.Unlock(); return len(o.open) }

// trackedConn leaves its set when closed, by anyone.
type trackedConn struct {
	net.Conn
	owner *openConns
	once  sync.Once
}

func (t *trackedConn) Close() error {
	t.once.Do(func() {
		t.owner.mu.Lock()
		delete(t.owner.open, t)
		t.owner.mu.Unlock()
	})
	return t.Conn.Close()
}

// DefaultAttemptTimeout bounds one upstream attempt when *_TIMEOUT_MILLIS is unset or 0: AWS's
// SDK has no timeout of its own, and a hung connection would hold the key's one attempt forever.
// GetSecretValue answers in tens of milliseconds; two attempts fit in the cache's 4 s budget.
const DefaultAttemptTimeout = 2 * time.Second

// Fetch makes one attempt at the service r names, within its timeout. The SDK tries once
// (oneAttempt): kinko's cache retries per key, with backoff, and knows whether a caller can be
// answered from a value at hand meanwhile; the SDK's retries would multiply its attempts and
// hold callers through their backoff.
func (c *Client) Fetch(ctx context.Context, r kinko.Request) (Value, error) {
	timeout := c.timeout(r.Kind)
	if timeout <= 0 {
		timeout = DefaultAttemptTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var (
		v   Value
		err error
	)
	switch r.Kind {
	case kinko.SSM:
		v, err = c.fetchParameter(ctx, r)
	default:
		v, err = c.fetchSecret(ctx, r)
	}
	took := time.Since(start)
	if err != nil {
		err = about(classify(r.Kind, err, timeout), r)
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

func (c *Client) fetchSecret(ctx context.Context, r kinko.Request) (Value, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(r.ID)}
	if r.VersionID != "" {
		in.VersionId = aws.String(r.VersionID)
	}
	if r.Stage != "" {
		in.VersionStage = aws.String(r.Stage)
	}
	out, err := c.secrets.GetSecretValue(ctx, in, oneAttempt)
	if err != nil {
		return Value{}, err
	}
	return RenderSecret(out)
}

// secretDocument is GetSecretValue's output as AWS's extension serves it: PascalCase, its key
// order, nulls kept, dates to the millisecond, SecretBinary in base64 (encoding/json's []byte
// rule), and an empty ResultMetadata last, which AWS's extension always writes.
type secretDocument struct {
	ARN            *string        `json:"ARN"`
	CreatedDate    *string        `json:"CreatedDate"`
	Name           *string        `json:"Name"`
	SecretBinary   []byte         `json:"SecretBinary"`
	SecretString   *string        `json:"SecretString"`
	VersionId      *string        `json:"VersionId"`
	VersionStages  []string       `json:"VersionStages"`
	ResultMetadata resultMetadata `json:"ResultMetadata"`
}

// resultMetadata is the SDK's middleware metadata, which AWS's extension serializes as {}.
type resultMetadata struct{}

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

// RenderSecret renders GetSecretValue's output as the document kinko serves.
func RenderSecret(out *secretsmanager.GetSecretValueOutput) (Value, error) {
	doc := secretDocument{
		ARN:           out.ARN,
		CreatedDate:   date(out.CreatedDate),
		Name:          out.Name,
		SecretBinary:  out.SecretBinary,
		SecretString:  out.SecretString,
		VersionId:     out.VersionId,
		VersionStages: out.VersionStages,
	}
	hint := 512 + len(aws.ToString(out.SecretString)) + len(out.SecretBinary)*4/3
	body, text, err := renderDocument(doc, "SecretString", hint)
	if err != nil {
		return Value{}, fmt.Errorf("render GetSecretValue output: %w", err)
	}
	return newValue(body, text, aws.ToString(out.ARN), aws.ToString(out.Name), aws.ToString(out.VersionId)), nil
}

func (c *Client) fetchParameter(ctx context.Context, r kinko.Request) (Value, error) {
	name := r.ID
	switch {
	case r.VersionID != "":
		name += ":" + r.VersionID
	case r.Stage != "":
		name += ":" + r.Stage
	}
	out, err := c.parameters().GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(r.Decrypt)}, oneAttemptSSM)
	if err != nil {
		return Value{}, err
	}
	if out.Parameter == nil {
		return Value{}, errMalformed
	}
	return RenderParameter(out)
}

type parameterDocument struct {
	Parameter struct {
		ARN              *string `json:"ARN"`
		DataType         *string `json:"DataType"`
		LastModifiedDate *string `json:"LastModifiedDate"`
		Name             *string `json:"Name"`
		Selector         *string `json:"Selector"`
		SourceResult     *string `json:"SourceResult"`
		Type             string  `json:"Type"`
		Value            *string `json:"Value"`
		Version          int64   `json:"Version"`
	} `json:"Parameter"`
	ResultMetadata resultMetadata `json:"ResultMetadata"`
}

// RenderParameter renders GetParameter's output as the document kinko serves.
func RenderParameter(out *ssm.GetParameterOutput) (Value, error) {
	p := out.Parameter
	var doc parameterDocument
	d := &doc.Parameter
	d.ARN, d.DataType, d.LastModifiedDate, d.Name = p.ARN, p.DataType, date(p.LastModifiedDate), p.Name
	d.Selector, d.SourceResult, d.Type, d.Value, d.Version = p.Selector, p.SourceResult, string(p.Type), p.Value, p.Version
	hint := 512 + len(aws.ToString(p.Value)) + len(aws.ToString(p.SourceResult))
	body, text, err := renderDocument(doc, "Value", hint)
	if err != nil {
		return Value{}, fmt.Errorf("render GetParameter output: %w", err)
	}
	return newValue(body, text, aws.ToString(p.ARN), aws.ToString(p.Name), strconv.FormatInt(p.Version, 10)), nil
}

// dateLayout is how AWS's extension writes dates: UTC, always three fractional digits. AWS
// sends epoch seconds with milliseconds, so nothing finer is lost.
const dateLayout = "2006-01-02T15:04:05.000Z"

func date(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(dateLayout)
	return &s
}
