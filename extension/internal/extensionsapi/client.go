// Package extensionsapi is a client for Lambda's Extensions API: register, wait for events,
// report errors. http://$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension
package extensionsapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/extensionsapi/wire"
)

// Event types.
const (
	Invoke   = wire.Invoke
	Shutdown = wire.Shutdown
)

// Event is one answer of /event/next.
type Event struct {
	EventType          string `json:"eventType"`
	DeadlineMs         int64  `json:"deadlineMs"`
	RequestID          string `json:"requestId"`
	InvokedFunctionArn string `json:"invokedFunctionArn"`
	ShutdownReason     string `json:"shutdownReason"`
}

// Registration is what /register answers.
type Registration struct {
	FunctionName    string `json:"functionName"`
	FunctionVersion string `json:"functionVersion"`
	Handler         string `json:"handler"`
	// AccountID is the function's AWS account, sent because Register asks for the accountId
	// feature; empty where Lambda does not offer it.
	AccountID string `json:"accountId"`
}

// DialFunc opens a connection; tests pass one to see where the client connects.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Client talks to one Extensions API. Register before anything else.
type Client struct {
	base      string
	http      *http.Client // has no timeout: /event/next blocks until the next event
	transport *http.Transport
	id        string
	// resumed is a connection on which the early start sent /event/next (Resume); the first
	// Next reads its answer. Next is called from one goroutine at a time, so it needs no lock.
	resumed net.Conn
}

// New returns a client for runtimeAPI (host:port, from AWS_LAMBDA_RUNTIME_API). dial nil
// means a plain TCP dialer.
func New(runtimeAPI string, dial DialFunc) (*Client, error) {
	if runtimeAPI == "" {
		return nil, errors.New("AWS_LAMBDA_RUNTIME_API is not set: kinko runs as a Lambda extension, from /opt/extensions")
	}
	if dial == nil {
		dial = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	t := &http.Transport{
		// Never a proxy: HTTP_PROXY in the function's environment is for the function's own
		// calls, and the Runtime API address is not always loopback (which Go would exempt).
		// aws-lambda-go clears the proxy on its Runtime API transport for the same reason.
		Proxy:                  nil,
		DialContext:            dial,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		// No ResponseHeaderTimeout and no client Timeout: /event/next answers only when the
		// next event comes, which may be hours away.
	}
	return &Client{base: "http://" + runtimeAPI, http: &http.Client{Transport: t}, transport: t}, nil
}

// Close drops the client's idle connections; call it once the extension is done with the API.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// Register registers the extension for events and keeps its identifier for later calls.
func (c *Client) Register(ctx context.Context, name string, events []string) (Registration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+wire.Register, strings.NewReader(wire.RegisterBody(events)))
	if err != nil {
		return Registration{}, fmt.Errorf("register: %w", err)
	}
	req.Header.Set(wire.Name, name)
	req.Header.Set("Content-Type", "application/json")
	// Ask for the account id: it tells a local secret's ARN from another account's.
	req.Header.Set(wire.AcceptFeature, wire.FeatureAccountID)
	var reg Registration
	resp, err := c.do(req, "register", &reg)
	if err != nil {
		return Registration{}, err
	}
	c.id = resp.Header.Get(wire.Identifier)
	if c.id == "" {
		return Registration{}, errors.New("register: the answer has no Lambda-Extension-Identifier header")
	}
	return reg, nil
}

// Resume takes over a registration made during package initialisation (package earlystart):
// id is its Lambda-Extension-Identifier, and next, if not nil, a connection on which
// /event/next was sent and not yet answered, whose answer the first Next returns.
func (c *Client) Resume(id string, next net.Conn) {
	c.id, c.resumed = id, next
}

// Next blocks until the next event. Cancel ctx to stop waiting.
func (c *Client) Next(ctx context.Context) (Event, error) {
	if conn := c.resumed; conn != nil {
		c.resumed = nil
		return c.nextOn(ctx, conn)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+wire.Next, nil)
	if err != nil {
		return Event{}, fmt.Errorf("event/next: %w", err)
	}
	c.identify(req)
	var ev Event
	if _, err := c.do(req, "event/next", &ev); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// InitError reports a fatal problem during init; Lambda then fails the init phase with it.
func (c *Client) InitError(ctx context.Context, reason string, problem error) error {
	return c.report(ctx, wire.InitError, "init/error", reason, problem)
}

// ExitError reports a fatal problem after init, just before the extension exits.
func (c *Client) ExitError(ctx context.Context, reason string, problem error) error {
	return c.report(ctx, wire.ExitError, "exit/error", reason, problem)
}

// reportTimeout bounds an error report: it is sent on the way out, and a Lambda API that does
// not answer must not keep the extension from exiting.
const reportTimeout = 2 * time.Second

func (c *Client) report(ctx context.Context, path, what, reason string, problem error) error {
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	errorType := "Extension." + reason
	body, _ := json.Marshal(map[string]any{"errorMessage": problem.Error(), "errorType": errorType, "stackTrace": []string{}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	c.identify(req)
	req.Header.Set(wire.ErrorType, errorType)
	req.Header.Set("Content-Type", "application/json")
	_, err = c.do(req, what, nil)
	return err
}

// nextOn reads the answer to the early start's /event/next from conn, then closes it.
func (c *Client) nextOn(ctx context.Context, conn net.Conn) (Event, error) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() }) // unblocks the read
	defer stop()
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4<<10), nil)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return Event{}, fmt.Errorf("event/next (sent during package initialisation): %w", err)
	}
	var ev Event
	if err := decode(resp, "event/next", &ev); err != nil {
		return Event{}, err
	}
	return ev, nil
}

func (c *Client) identify(req *http.Request) {
	req.Header.Set(wire.Identifier, c.id)
}

func (c *Client) do(req *http.Request, what string, into any) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return resp, decode(resp, what, into)
}

// decode reads an answer, closes its body, and unmarshals it into into (nil: only the status
// matters).
func decode(resp *http.Response, what string, into any) error {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", what, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: Lambda answered %s: %s", what, resp.Status, bytes.TrimSpace(body))
	}
	if into != nil && len(body) > 0 {
		if err := json.Unmarshal(body, into); err != nil {
			return fmt.Errorf("%s: decode answer: %w", what, err)
		}
	}
	return nil
}
