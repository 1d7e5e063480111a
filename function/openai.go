package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sashabaranov/go-openai"
)

const (
	systemPrompt = "プロンプトの内容を元に返信してください。" // "reply based on the prompt"
	userPrefix   = "プロンプト: "
	maxTokens    = 150
)

// complete asks OpenAI's chat completions for a reply to prompt.
func (h *handler) complete(ctx context.Context, key, prompt string) (string, *httpError) {
	cfg := openai.DefaultConfig(key)
	if h.cfg.openAIBaseURL != "" {
		cfg.BaseURL = h.cfg.openAIBaseURL
	}
	cfg.HTTPClient = h.openai
	resp, err := openai.NewClientWithConfig(cfg).CreateChatCompletion(ctx, openai.ChatCompletionRequest{
		Model: h.cfg.model,
		// max_tokens, not max_completion_tokens: every OpenAI-compatible server knows it.
		//lint:ignore SA1019 gpt-4o-mini and compatible servers accept max_tokens
		MaxTokens: maxTokens,
		Messages: []openai.ChatCompletionMessage{
			{Role: openai.ChatMessageRoleSystem, Content: systemPrompt},
			{Role: openai.ChatMessageRoleUser, Content: userPrefix + prompt},
		},
	})
	if err != nil {
		return "", h.openAIError(ctx, err, key, cfg.BaseURL)
	}
	if len(resp.Choices) == 0 {
		return "", fail(http.StatusBadGateway, "OpenAI answered with no choices")
	}
	return strings.TrimSpace(resp.Choices[0].Message.Content), nil
}

// openAIError explains a failed call: 504 when our deadline ran out, else 502. The public
// message says only that OpenAI failed and the status class: OpenAI's text can quote the key
// (its 401 shows the key's start and end) and hints name the configuration, so those go to
// the function's log as attributes. The log gets OpenAI's status, type and code, never its
// message; anything else upstream said is scrubbed of the key first.
func (h *handler) openAIError(ctx context.Context, err error, key, baseURL string) *httpError {
	if ctx.Err() != nil {
		return fail(http.StatusGatewayTimeout,
			"OpenAI did not answer before the deadline: try again, ask for less, or raise the function's timeout")
	}
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	var redirect *redirectRefused
	switch {
	case errors.As(err, &apiErr):
		code, _ := apiErr.Code.(string)
		var hint string
		switch apiErr.HTTPStatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			hint = fmt.Sprintf("check the key stored in secret %q", h.cfg.secretName)
		case http.StatusNotFound:
			hint = fmt.Sprintf("check OPENAI_MODEL (%q)", h.cfg.model)
		case http.StatusTooManyRequests:
			hint = "rate limit or quota: try again later or check the OpenAI account's billing"
		}
		e := upstreamFailed(apiErr.HTTPStatusCode,
			slog.String("upstream_type", apiErr.Type), slog.String("upstream_code", code), slog.String("hint", hint))
		e.keyRejected = apiErr.HTTPStatusCode == http.StatusUnauthorized || apiErr.HTTPStatusCode == http.StatusForbidden
		return e
	case errors.As(err, &reqErr):
		return upstreamFailed(reqErr.HTTPStatusCode, slog.String("hint", fmt.Sprintf(
			"the answer is not an OpenAI error: is OPENAI_BASE_URL (%s) an OpenAI-compatible API?", baseURL)))
	case errors.As(err, &redirect):
		return upstreamFailed(redirect.status, slog.String("hint", redirect.Error()))
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &httpError{status: http.StatusBadGateway, msg: "OpenAI request failed (no answer); the function's log has the details",
			logAttrs: []slog.Attr{slog.String("upstream_error", fmt.Sprintf("request to %s: %s", baseURL, scrub(err.Error(), key)))}}
	}
}

// upstreamFailed is the 502 for an OpenAI answer with this status: the class in public, the
// rest in the log.
func upstreamFailed(status int, attrs ...slog.Attr) *httpError {
	msg := fmt.Sprintf("OpenAI request failed (upstream %dxx); ", status/100)
	if status == http.StatusTooManyRequests || status >= 500 {
		msg += "try again later"
	} else {
		msg += "the function's log has the details"
	}
	return &httpError{status: http.StatusBadGateway, msg: msg,
		logAttrs: append([]slog.Attr{slog.Int("upstream_status", status)}, attrs...)}
}

// redirectRefused is why the OpenAI client stopped at a redirect: its requests carry the key
// (Authorization), which goes to OPENAI_BASE_URL only. Go keeps Authorization on a redirect to
// the same host name, on any port, and to its subdomains.
type redirectRefused struct {
	status   int
	location string
}

func (e *redirectRefused) Error() string {
	return fmt.Sprintf("OpenAI answered %d, a redirect to %s not followed (the key goes to OPENAI_BASE_URL only): "+
		"set OPENAI_BASE_URL to the address that answers", e.status, e.location)
}

// refuseRedirect is the OpenAI HTTP client's CheckRedirect.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	e := &redirectRefused{location: truncate(req.URL.Redacted(), 200)}
	if req.Response != nil {
		e.status = req.Response.StatusCode
	}
	return e
}

func scrub(s, key string) string {
	if key == "" {
		return s
	}
	return strings.ReplaceAll(s, key, "[redacted]")
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "..."
	}
	return s
}

// retryDoer adds to go-openai what it lacks: a few retries on 429 and 5xx,
// honouring Retry-After, and never waiting past the request's deadline.
type retryDoer struct {
	next      openai.HTTPDoer
	attempts  int           // total tries, including the first
	baseDelay time.Duration // first backoff; doubles, with jitter
	maxWait   time.Duration // a server asking for longer is not waited for
}

func newRetryDoer(next openai.HTTPDoer) *retryDoer {
	return &retryDoer{next: next, attempts: 3, baseDelay: 300 * time.Millisecond, maxWait: 5 * time.Second}
}

func (d *retryDoer) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 1; ; attempt++ {
		resp, err := d.next.Do(req)
		if err != nil || attempt >= d.attempts || !retryable(resp) || (req.Body != nil && req.GetBody == nil) {
			return resp, err
		}
		wait, ok := d.backoff(attempt, resp.Header, time.Now())
		if dl, has := ctx.Deadline(); !ok || (has && time.Until(dl) < wait) {
			return resp, nil // the caller reports this answer; waiting would not fit
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		resp.Body.Close()

		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		next := req.Clone(ctx)
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, fmt.Errorf("rewinding the request body for a retry: %w", err)
			}
			next.Body = body
		}
		req = next
	}
}

// retryable is true for 429 and 5xx, except OpenAI's 429 insufficient_quota: an
// account out of credit stays so.
func retryable(resp *http.Response) bool {
	if resp.StatusCode >= 500 {
		return true
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		return false
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
	return !bytes.Contains(b, []byte("insufficient_quota"))
}

// backoff is the server's Retry-After (ok false when it exceeds maxWait), else an
// exponential delay with jitter.
func (d *retryDoer) backoff(attempt int, hdr http.Header, now time.Time) (time.Duration, bool) {
	if w, ok := retryAfter(hdr, now); ok {
		return w, w <= d.maxWait
	}
	w := d.baseDelay << (attempt - 1)
	if half := w / 2; half > 0 {
		w += rand.N(half)
	}
	return min(w, d.maxWait), true
}

// retryAfter reads retry-after-ms (OpenAI's) or Retry-After in seconds or as an HTTP date.
func retryAfter(hdr http.Header, now time.Time) (time.Duration, bool) {
	if v := hdr.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := hdr.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(min(s, 86400)) * time.Second, true // capped: no overflow
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
