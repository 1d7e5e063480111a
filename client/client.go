// Package client is a small client for the kinko Lambda extension and for AWS's
// Parameters and Secrets Lambda Extension, which share one HTTP API on
// localhost:2773. It is a module of its own (github.com/kinko-dev/kinko/client), so a
// function that imports it inherits nothing of kinko's other dependencies: it needs the
// standard library only.
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
// a read before its own refresh; see WithCacheSize.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
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

	cacheSize int              // from WithCacheSize; 0 is off
	now       func() time.Time // the cache's clock
	cache     *clientCache     // nil when off
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
		c.cache = newClientCache(c.cacheSize)
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

// SecretValue is the extension's GetSecretValue answer.
type SecretValue struct {
	ARN           string
	Name          string
	VersionId     string // the wire name, as in the AWS SDK
	SecretString  string
	SecretBinary  []byte
	VersionStages []string
	CreatedDate   time.Time // zero when the extension sent none or an unreadable one
	// CacheStatus is the answer's Cache-Status header, e.g. "kinko; hit; ttl=287", or
	// "client; hit; ttl=120" when the client answered from its own memory.
	CacheStatus string
}

// clone copies v with slices of its own, so what a caller does to its copy never reaches
// the one the cache keeps.
func (v *SecretValue) clone() *SecretValue {
	c := *v
	if v.SecretBinary != nil {
		c.SecretBinary = append([]byte(nil), v.SecretBinary...)
	}
	if v.VersionStages != nil {
		c.VersionStages = append([]string(nil), v.VersionStages...)
	}
	return &c
}

// SecretOption selects a version or bypasses the cache.
type SecretOption func(*secretQuery)

type secretQuery struct {
	stage, id string
	refresh   bool
	status    *string // where CacheStatusTo stores the answer's Cache-Status
}

// VersionStage asks for the version with this staging label, e.g. "AWSPREVIOUS".
func VersionStage(stage string) SecretOption { return func(q *secretQuery) { q.stage = stage } }

// VersionID asks for this version id.
func VersionID(id string) SecretOption { return func(q *secretQuery) { q.id = id } }

// RefreshNow bypasses the client's and the extension's caches: use it when the cached value
// was rejected. The answer replaces what the client kept.
func RefreshNow() SecretOption { return func(q *secretQuery) { q.refresh = true } }

// CacheStatusTo stores the Cache-Status of a successful answer in *dst (e.g. "kinko; hit;
// ttl=287", or "client; hit; ttl=120" from the client's memory), for calls like
// SecretJSONKey whose result has no field for it. It says how the answer was served, never
// what the secret holds.
func CacheStatusTo(dst *string) SecretOption { return func(q *secretQuery) { q.status = dst } }

func secretQueryOf(id string, opts []SecretOption) (secretQuery, error) {
	if id == "" {
		return secretQuery{}, errors.New("kinko: empty secret id: pass a secret name or ARN")
	}
	if len(opts) == 0 {
		return secretQuery{}, nil // no option func to hand &q to: q stays off the heap
	}
	return secretQueryWith(id, opts)
}

func secretQueryWith(id string, opts []SecretOption) (secretQuery, error) {
	var q secretQuery
	for _, o := range opts {
		o(&q)
	}
	if q.stage != "" && q.id != "" {
		return q, fmt.Errorf("kinko: secret %q: VersionStage and VersionID exclude each other; pass one", id)
	}
	return q, nil
}

func (q *secretQuery) values(id string) url.Values {
	v := url.Values{"secretId": {id}}
	if q.stage != "" {
		v.Set("versionStage", q.stage)
	}
	if q.id != "" {
		v.Set("versionId", q.id)
	}
	if q.refresh {
		v.Set("refreshNow", "true")
	}
	return v
}

// cached looks k up in the client's cache, unless the call bypasses it; a refreshNow call
// drops what was kept. sent is the time to store the answer under.
func (c *Client) cached(k cacheKey, refresh bool) (value any, left time.Duration, sent time.Time, ok bool) {
	if c.cache == nil {
		return nil, 0, time.Time{}, false
	}
	now := c.now()
	if refresh {
		c.cache.drop(k, now)
		return nil, 0, now, false
	}
	value, left, ok = c.cache.get(k, now)
	return value, left, now, ok
}

// keep stores an answer sent at sent (from cached) in the client's cache, if kinko's
// Cache-Status allows it.
func (c *Client) keep(k cacheKey, sent time.Time, hdr http.Header, value any) {
	if c.cache != nil {
		c.cache.put(k, sent, hdr.Values("Cache-Status"), value)
	}
}

// wireSecret is the JSON shape; dates are decoded leniently (RFC 3339 or epoch seconds).
type wireSecret struct {
	ARN           string
	Name          string
	VersionId     string
	SecretString  string
	SecretBinary  []byte
	VersionStages []string
	CreatedDate   json.RawMessage
}

// Secret returns the secret's current value (or the version the options select).
func (c *Client) Secret(ctx context.Context, id string, opts ...SecretOption) (*SecretValue, error) {
	q, err := secretQueryOf(id, opts)
	if err != nil {
		return nil, err
	}
	k := cacheKey{kind: kindSecret, id: id, stage: q.stage, version: q.id}
	v, left, sent, hit := c.cached(k, q.refresh)
	if hit {
		s := v.(*SecretValue).clone()
		s.CacheStatus = clientStatus(left)
		if q.status != nil {
			*q.status = s.CacheStatus
		}
		return s, nil
	}
	what := fmt.Sprintf("secret %q", id)
	body, hdr, err := c.get(ctx, "/secretsmanager/get", q.values(id), what)
	if err != nil {
		return nil, err
	}
	if q.status != nil {
		*q.status = hdr.Get("Cache-Status")
	}
	var w wireSecret
	if err := json.Unmarshal(body, &w); err != nil {
		// The decoder's message may quote part of the body, which holds the secret: say only where.
		return nil, fmt.Errorf("kinko: %s: the answer is not a GetSecretValue JSON document (%d bytes, Content-Type %q)",
			what, len(body), hdr.Get("Content-Type"))
	}
	s := &SecretValue{
		ARN:           w.ARN,
		Name:          w.Name,
		VersionId:     w.VersionId,
		SecretString:  w.SecretString,
		SecretBinary:  w.SecretBinary,
		VersionStages: w.VersionStages,
		CreatedDate:   parseTime(w.CreatedDate),
		CacheStatus:   hdr.Get("Cache-Status"),
	}
	c.keep(k, sent, hdr, s.clone())
	return s, nil
}

// SecretJSONKey returns the string value of top-level key of a JSON SecretString,
// using kinko's jsonKey parameter. kinko answers 404 (*Error) when the key is absent
// and 400 when the secret is not a JSON object.
func (c *Client) SecretJSONKey(ctx context.Context, id, key string, opts ...SecretOption) (string, error) {
	if key == "" {
		return "", fmt.Errorf("kinko: secret %q: empty JSON key: pass the name of a top-level key", id)
	}
	q, err := secretQueryOf(id, opts)
	if err != nil {
		return "", err
	}
	k := cacheKey{kind: kindSecretKey, id: id, stage: q.stage, version: q.id, jsonKey: key}
	v, left, sent, hit := c.cached(k, q.refresh)
	if hit {
		if q.status != nil {
			*q.status = clientStatus(left)
		}
		return v.(string), nil
	}
	vals := q.values(id)
	vals.Set("jsonKey", key)
	what := fmt.Sprintf("secret %q key %q", id, key)
	body, hdr, err := c.get(ctx, "/secretsmanager/get", vals, what)
	if err != nil {
		return "", err
	}
	if q.status != nil {
		*q.status = hdr.Get("Cache-Status")
	}
	if !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		s := string(body) // kinko's text/plain answer
		c.keep(k, sent, hdr, s)
		return s, nil
	}
	// An extension without jsonKey (AWS's) may ignore it and send the whole document:
	// pick the key here, with the errors kinko would have answered.
	var doc struct{ SecretString string }
	if json.Unmarshal(body, &doc) != nil {
		return "", fmt.Errorf("kinko: %s: the answer is neither text nor a GetSecretValue JSON document (%d bytes)", what, len(body))
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(doc.SecretString), &obj) != nil || obj == nil {
		return "", fmt.Errorf("%s: %w", what, &Error{Status: http.StatusBadRequest, Message: "the secret is not a JSON object"})
	}
	var s string
	if raw, ok := obj[key]; !ok || json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("%s: %w", what, &Error{Status: http.StatusNotFound, Message: "the secret has no string key " + strconv.Quote(key)})
	}
	c.keep(k, sent, hdr, s)
	return s, nil
}

// Parameter is the extension's SSM GetParameter answer.
type Parameter struct {
	ARN              string
	DataType         string
	LastModifiedDate time.Time
	Name             string
	Selector         string
	SourceResult     string
	Type             string
	Value            string
	Version          int64
	CacheStatus      string // the answer's Cache-Status header, or "client; hit; ttl=N" from the client's memory
}

// ParameterOption selects a parameter's version or label, or bypasses the caches.
type ParameterOption func(*paramQuery)

type paramQuery struct {
	version int64
	label   string
	refresh bool
}

// ParameterVersion asks for this version of the parameter (1 or more).
func ParameterVersion(v int64) ParameterOption { return func(q *paramQuery) { q.version = v } }

// ParameterLabel asks for the version with this label.
func ParameterLabel(l string) ParameterOption { return func(q *paramQuery) { q.label = l } }

// ParameterRefreshNow bypasses the client's and the extension's caches, like RefreshNow.
func ParameterRefreshNow() ParameterOption { return func(q *paramQuery) { q.refresh = true } }

// Parameter returns an SSM parameter; withDecryption decrypts a SecureString.
func (c *Client) Parameter(ctx context.Context, name string, withDecryption bool, opts ...ParameterOption) (*Parameter, error) {
	if name == "" {
		return nil, errors.New("kinko: empty parameter name: pass a name, ARN or name:version")
	}
	var pq paramQuery
	for _, o := range opts {
		o(&pq)
	}
	switch {
	case pq.version < 0:
		return nil, fmt.Errorf("kinko: parameter %q: version %d: versions start at 1", name, pq.version)
	case pq.version > 0 && pq.label != "":
		return nil, fmt.Errorf("kinko: parameter %q: ParameterVersion and ParameterLabel exclude each other; pass one", name)
	}
	k := cacheKey{kind: kindParameter, id: name, stage: pq.label, pver: pq.version, decrypt: withDecryption}
	v, left, sent, hit := c.cached(k, pq.refresh)
	if hit {
		p := *v.(*Parameter)
		p.CacheStatus = clientStatus(left)
		return &p, nil
	}
	q := url.Values{"name": {name}}
	if withDecryption {
		q.Set("withDecryption", "true")
	}
	if pq.version > 0 {
		q.Set("version", strconv.FormatInt(pq.version, 10))
	}
	if pq.label != "" {
		q.Set("label", pq.label)
	}
	if pq.refresh {
		q.Set("refreshNow", "true")
	}
	what := fmt.Sprintf("parameter %q", name)
	body, hdr, err := c.get(ctx, "/systemsmanager/parameters/get", q, what)
	if err != nil {
		return nil, err
	}
	var w struct {
		Parameter *struct {
			ARN, DataType, Name, Selector, SourceResult, Type, Value string
			LastModifiedDate                                         json.RawMessage
			Version                                                  int64
		}
	}
	if err := json.Unmarshal(body, &w); err != nil || w.Parameter == nil {
		return nil, fmt.Errorf("kinko: %s: the answer is not a GetParameter JSON document (%d bytes, Content-Type %q)",
			what, len(body), hdr.Get("Content-Type"))
	}
	wp := w.Parameter
	p := &Parameter{
		ARN: wp.ARN, DataType: wp.DataType, Name: wp.Name, Selector: wp.Selector,
		SourceResult: wp.SourceResult, Type: wp.Type, Value: wp.Value, Version: wp.Version,
		LastModifiedDate: parseTime(wp.LastModifiedDate),
		CacheStatus:      hdr.Get("Cache-Status"),
	}
	kept := *p
	c.keep(k, sent, hdr, &kept)
	return p, nil
}

// get performs one logical GET: a bounded retry on refused connections, all inside
// c.timeout and ctx. It returns the body of a 200 answer, or an error without it.
func (c *Client) get(ctx context.Context, path string, q url.Values, what string) ([]byte, http.Header, error) {
	token := c.sessionToken()
	if token == "" {
		return nil, nil, ErrNoToken
	}
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()

	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("kinko: %s: building the request: %w", what, err)
	}
	req.Header.Set(TokenHeader, token)

	resp, err := c.do(callCtx, req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, nil, fmt.Errorf("kinko: %s: %w", what, context.Cause(ctx))
		case callCtx.Err() != nil:
			return nil, nil, fmt.Errorf("kinko: %s: no answer from %s within %v: %w", what, c.base, c.timeout, context.DeadlineExceeded)
		case errors.Is(err, syscall.ECONNREFUSED):
			return nil, nil, fmt.Errorf("%w at %s (%s): is the kinko layer (or AWS's Parameters and Secrets layer) attached? %w",
				ErrUnreachable, c.base, what, unwrapURLError(err))
		default:
			return nil, nil, fmt.Errorf("kinko: %s: request to %s failed: %w", what, c.base, unwrapURLError(err))
		}
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		if callCtx.Err() != nil {
			return nil, nil, fmt.Errorf("kinko: %s: answer not complete within %v: %w", what, c.timeout, context.DeadlineExceeded)
		}
		return nil, nil, fmt.Errorf("kinko: %s: reading the answer: %w", what, unwrapURLError(err))
	}
	if len(body) > maxBody {
		return nil, nil, fmt.Errorf("kinko: %s: answer larger than %d bytes; is something else listening on %s?", what, maxBody, c.base)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, nil, fmt.Errorf("%s: %w", what, c.redirectError(resp))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("%s: %w", what, parseError(resp, body))
	}
	return body, resp.Header, nil
}

// do sends req, retrying only refused connections: nothing reached a server, so a
// retry is always safe, and it covers an extension that is still binding its port.
func (c *Client) do(ctx context.Context, req *http.Request) (*http.Response, error) {
	delay := c.delay
	for attempt := 1; ; attempt++ {
		resp, err := c.http.Do(req)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || attempt >= c.attempts {
			return resp, err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= delay {
			return nil, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		delay = min(2*delay, maxRetryWait)
	}
}

// redirectError explains a 3xx answer, which the client never follows (refuseRedirect).
func (c *Client) redirectError(resp *http.Response) *Error {
	to := resp.Header.Get("Location")
	if r := []rune(to); len(r) > 200 {
		to = string(r[:200]) + "..."
	}
	if to == "" {
		to = "nowhere (no Location)"
	}
	return &Error{Status: resp.StatusCode, Message: fmt.Sprintf(
		"redirect to %s not followed: the session token goes to %s only, and kinko never redirects; is something else listening there?",
		to, c.base)}
}

// parseError turns an error answer into *Error. Bodies are {"__type","message"} from
// kinko; AWS's extension may send plain text.
func parseError(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	var w struct {
		Type     string `json:"__type"`
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	if json.Unmarshal(body, &w) == nil {
		e.Code = w.Type
		e.Message = w.Message
		if e.Message == "" {
			e.Message = w.MessageU
		}
	} else {
		e.Message = strings.Join(strings.Fields(string(body)), " ")
	}
	if e.Code == "" {
		// AWS style: "AccessDeniedException" or "AccessDeniedException:http://internal..."
		e.Code, _, _ = strings.Cut(resp.Header.Get("X-Amzn-Errortype"), ":")
	}
	// AWS codes may carry a namespace prefix: "com.amazonaws...#ResourceNotFoundException".
	if i := strings.LastIndexByte(e.Code, '#'); i >= 0 {
		e.Code = e.Code[i+1:]
	}
	const maxMsg = 300
	if r := []rune(e.Message); len(r) > maxMsg {
		e.Message = string(r[:maxMsg]) + "..."
	}
	return e
}

// unwrapURLError drops *url.Error's "Get <url>:" prefix, which repeats what we already say.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// parseTime reads an RFC 3339 string (kinko, AWS's extension) or epoch seconds
// (the AWS JSON protocol). Metadata should not fail a call, so anything else is zero.
func parseTime(raw json.RawMessage) time.Time {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}
		}
		return t
	}
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
	}
	return time.Time{}
}
