package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

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
