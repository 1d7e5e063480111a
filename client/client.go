// Package client is a small client for the kinko Lambda extension and for AWS's
// Parameters and Secrets Lambda Extension, which share one HTTP API on
// localhost:2773. It is a module of its own (github.com/kinko-dev/kinko/client), so a
// function that imports it inherits nothing of kinko's other dependencies: it needs the
// standard library and golang.org/x/sync only.
//
// A Lambda function asks the extension over loopback HTTP instead of linking
// the AWS SDK: the extension caches, so most calls never leave the sandbox.
//
//	c, err := client.New(os.Getenv)
//	...
//	s, err := c.Secret(ctx, "my-secret")
//	var kerr *client.Error
//	if errors.As(err, &kerr) && kerr.Code == "ResourceNotFoundException" { ... }
//
// Errors returned by this package never contain a secret value. The client never follows a
// redirect (its requests carry the session token): a 3xx answer is an *Error saying so.
//
// The client keeps each successful answer in memory for at most half of the freshness kinko
// declared for it (Cache-Status ttl), so a warm read is a memory read while kinko still sees
// a read before its own refresh; never a stale or ttl-less answer, and RefreshNow bypasses it
// (see WithCacheSize). Concurrent misses of one key make one request (singleflight).
//
// The package is about 900 lines with its comments (700 without), over the house's 500: what
// could stand apart did (the memory and its reading of Cache-Status are internal/memo); the
// rest is the public surface, one Client with its options, the three reads and their answers,
// and the one GET they share, which splitting further would only scatter across packages.
package client

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/kinko-dev/kinko/client/internal/memo"
)

// Defaults, chosen for a Lambda sandbox where the extension is one loopback hop away.
const (
	DefaultPort       = 2773
	DefaultTimeout    = 5 * time.Second
	DefaultAttempts   = 5
	DefaultRetryDelay = 10 * time.Millisecond

	// TokenHeader carries the session token; both extensions refuse requests without it.
	TokenHeader = "X-Aws-Parameters-Secrets-Token"

	// maxBody bounds what we read: a secret is at most 64 KiB, 88 KiB once base64-encoded.
	maxBody      = 1 << 20
	maxRetryWait = 200 * time.Millisecond
)

// ErrNoToken means neither AWS_SESSION_TOKEN nor AWS_CONTAINER_AUTHORIZATION_TOKEN is set,
// so the extension would refuse the request; no request is made.
var ErrNoToken = errors.New("kinko: no session token: neither AWS_SESSION_TOKEN nor " +
	"AWS_CONTAINER_AUTHORIZATION_TOKEN is set (Lambda sets one; set it yourself when running locally)")

// ErrUnreachable means nothing accepted a connection at the extension's address,
// even after a few retries: usually the layer is not attached.
var ErrUnreachable = errors.New("kinko: extension unreachable")

// Error is a non-200 answer from the extension. Message is the extension's own
// explanation (the upstream AWS message for AWS errors); it never holds a secret value.
type Error struct {
	Status  int    // HTTP status, e.g. 400 for an AWS ResourceNotFoundException, 401 for a bad token
	Code    string // the body's "__type" (or the x-amzn-errortype header), e.g. "ResourceNotFoundException"
	Message string
}

func (e *Error) Error() string {
	code := e.Code
	if code == "" {
		code = http.StatusText(e.Status)
	}
	if e.Message == "" {
		return fmt.Sprintf("kinko: %d %s", e.Status, code)
	}
	return fmt.Sprintf("kinko: %d %s: %s", e.Status, code, e.Message)
}

// Client calls the extension. It is safe for concurrent use. Create it with New.
type Client struct {
	base     *url.URL
	getenv   func(string) string
	token    string // fixed token from WithToken; else read from getenv on every call
	http     *http.Client
	timeout  time.Duration
	attempts int
	delay    time.Duration

	cacheSize int                   // from WithCacheSize; 0 is off
	now       func() time.Time      // the cache's clock
	cache     *memo.Cache[cacheKey] // nil when off
	flights   singleflight.Group    // concurrent misses of one key, when the cache is on
}

// Option configures a Client.
type Option func(*Client) error

// WithHTTPClient sets the HTTP client. The default has its own transport with no
// proxy (the extension is on loopback and refuses proxied requests). Whatever hc's
// CheckRedirect says, the client never follows a redirect: the request carries the session
// token, which must reach the extension's address only. hc itself is not changed.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("kinko: WithHTTPClient(nil): pass an *http.Client or leave the option out")
		}
		own := *hc // a copy: the caller's client keeps its own redirect policy for its other uses
		own.CheckRedirect = refuseRedirect
		c.http = &own
		return nil
	}
}

// refuseRedirect makes http.Client hand back a 3xx answer instead of following it: Go copies
// custom headers such as the token to the new address, even on another host.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// WithBaseURL overrides the address, e.g. "http://127.0.0.1:2773" or an httptest server URL.
func WithBaseURL(raw string) Option {
	return func(c *Client) error {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("kinko: base URL %q is not an absolute http URL like http://localhost:2773", raw)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		c.base = u
		return nil
	}
}

// WithToken sets the token instead of reading AWS_SESSION_TOKEN / AWS_CONTAINER_AUTHORIZATION_TOKEN.
func WithToken(token string) Option {
	return func(c *Client) error {
		c.token = token
		return nil
	}
}

// WithTimeout bounds each call, retries included (default 5 s). The caller's ctx
// deadline still applies when it is sooner.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return fmt.Errorf("kinko: timeout %v must be positive", d)
		}
		c.timeout = d
		return nil
	}
}

// WithRetry sets how many times a refused connection is tried (default 5) and the
// first delay between tries (default 10 ms, doubling, at most 200 ms). Only refused
// connections are retried: at cold start the extension may still be binding its port.
func WithRetry(attempts int, delay time.Duration) Option {
	return func(c *Client) error {
		if attempts < 1 || delay < 0 {
			return fmt.Errorf("kinko: retry attempts %d must be at least 1 and delay %v not negative", attempts, delay)
		}
		c.attempts, c.delay = attempts, delay
		return nil
	}
}

// New returns a Client. getenv (usually os.Getenv) supplies
// PARAMETERS_SECRETS_EXTENSION_HTTP_PORT for the default address and the session token.
func New(getenv func(string) string, opts ...Option) (*Client, error) {
	if getenv == nil {
		return nil, errors.New("kinko: New(nil): pass os.Getenv or a lookup function")
	}
	port := DefaultPort
	if p := getenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("kinko: PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=%q is not a port number (1-65535)", p)
		}
		port = n
	}
	c := &Client{
		base:      &url.URL{Scheme: "http", Host: net.JoinHostPort("localhost", strconv.Itoa(port))},
		getenv:    getenv,
		timeout:   DefaultTimeout,
		attempts:  DefaultAttempts,
		delay:     DefaultRetryDelay,
		cacheSize: DefaultCacheSize,
		now:       time.Now,
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.cacheSize > 0 {
		c.cache = memo.New[cacheKey](c.cacheSize)
	}
	if c.http == nil {
		c.http = &http.Client{
			Transport: &http.Transport{
				Proxy:               nil,
				DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
				MaxIdleConnsPerHost: 4,
				IdleConnTimeout:     90 * time.Second,
			},
			CheckRedirect: refuseRedirect,
		}
	}
	return c, nil
}

// BaseURL is the address the client calls, for messages.
func (c *Client) BaseURL() string { return c.base.String() }

func (c *Client) sessionToken() string {
	if c.token != "" {
		return c.token
	}
	if t := c.getenv("AWS_SESSION_TOKEN"); t != "" {
		return t
	}
	return c.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
}
