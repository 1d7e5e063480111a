package emulator

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// InvokePath is the emulator's invoke endpoint (the Lambda Invoke API, for function "function").
const InvokePath = "/2015-03-31/functions/function/invocations"

// maxResponse is Lambda's limit for a synchronous response payload (6 MB), plus room.
const maxResponse = 7 << 20

// Client invokes an emulator one request at a time: the emulator crashes (nil pointer after
// "ReserveFailed") when a second invoke arrives while one runs. Callers queue in Invoke.
type Client struct {
	url     string
	http    *http.Client
	timeout time.Duration
	slot    chan struct{} // holds one token while an invoke is in flight
}

// NewClient invokes the emulator at baseURL (Process.URL). timeout bounds one invoke once it
// has been sent; make it longer than the function's timeout (AWS_LAMBDA_FUNCTION_TIMEOUT).
func NewClient(baseURL string, timeout time.Duration) *Client {
	return &Client{
		url:     baseURL + InvokePath,
		http:    &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1}},
		timeout: timeout,
		slot:    make(chan struct{}, 1),
	}
}

// Invoke sends one event and returns the function's response payload. It waits its turn while
// ctx allows; once sent, an invoke is not abandoned when ctx ends (the emulator would still be
// busy with it, and the next invoke would crash it): it runs to its answer or to the timeout.
func (c *Client) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	r, err := c.Call(ctx, payload)
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusOK {
		// The emulator answers 502 when init failed, 4xx/5xx when it could not run the invoke.
		return nil, fmt.Errorf("invoke %s: the emulator answered %d: %s (see its log)", c.url, r.Status, snippet(r.Body))
	}
	return r.Body, nil
}

// Result is the emulator's whole answer to one invoke.
type Result struct {
	Status int    // 200 for an answer, a function error and a timeout alike; 502 when init failed
	Body   []byte // the function's payload, its error document, or the emulator's own text
}

// Call is Invoke, with the emulator's status: for callers that report a failed invoke
// themselves (make run). The error is for an invoke that got no answer at all.
func (c *Client) Call(ctx context.Context, payload []byte) (Result, error) {
	select {
	case c.slot <- struct{}{}:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("invoke: gave up waiting for the emulator (one invoke at a time): %w", ctx.Err())
	}
	defer func() { <-c.slot }()

	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodPost, c.url, bytes.NewReader(payload))
	if err != nil {
		return Result{}, fmt.Errorf("invoke: building the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("invoke %s: %w (is the emulator running?)", c.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return Result{}, fmt.Errorf("invoke %s: reading the answer: %w", c.url, err)
	}
	if len(body) > maxResponse {
		return Result{}, fmt.Errorf("invoke %s: the answer exceeds Lambda's 6 MB response limit", c.url)
	}
	return Result{Status: resp.StatusCode, Body: body}, nil
}

func snippet(b []byte) string {
	const max = 300
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
