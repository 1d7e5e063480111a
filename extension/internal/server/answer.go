package server

// The answer to a read: the cache (the role's, for roleArn), then the document, the jsonKey
// value or the error, with Cache-Control and Cache-Status.

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
	"github.com/kinko-dev/kinko/extension/internal/query"
)

// answer reads req through the cache (the role's, for roleArn) and writes the document, the
// jsonKey value or the error.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, q query.Query, req kinko.Request) {
	refresh, err := q.Bool("refreshNow", true)
	jsonKey, hasKey := q.Get("jsonKey")
	if err == nil && hasKey && jsonKey == "" {
		err = errors.New("jsonKey is empty; name a top-level key of the JSON value, or drop the parameter")
	}
	if err != nil {
		fail(w, kinko.BadRequest, err.Error())
		return
	}
	c := h.cache
	role, hasRole := q.Get(roleArn)
	if hasRole {
		var release func()
		if c, release, err = h.roleCache(role); err != nil {
			var e *kinko.Error
			if !errors.As(err, &e) {
				e = &kinko.Error{Code: kinko.Internal, Message: "unexpected failure; see kinko's log"}
				h.logger.Error("unexpected error", "role", kinko.Clip(role), "error", fmt.Sprintf("%T", err))
			}
			writeFailure(w, e)
			return
		}
		defer release()
	}
	// The clock is read only for the debug lines that report the time taken.
	debug := h.logger.Enabled(r.Context(), slog.LevelDebug)
	var start time.Time
	if debug {
		start = time.Now()
	}
	get := c.Get
	if refresh {
		get = c.Refresh
	}
	v, st, err := get(r.Context(), req)
	if errors.Is(err, cache.ErrCallerGone) {
		// net/http ended the request's context: the caller hung up, or only closed its sending
		// side (a half-close reads as the same EOF) and still reads. Writing nothing would make
		// net/http answer an empty 200, which reads as an empty secret: say what happened.
		if debug {
			h.logger.Debug("caller went away before the answer", "request", req, "took_us", time.Since(start).Microseconds())
		}
		w.Header()["Cache-Status"] = h.hv.status.Header(st, err)
		fail(w, kinko.CallerGone,
			"the connection was closed or half-closed (shutdown for writing) before the answer was ready, so kinko stopped "+
				"waiting for it; keep the connection open for writing until the answer arrives")
		return
	}
	cs := h.hv.status.Header(st, err)
	w.Header()["Cache-Status"] = cs
	if debug {
		// The header as the caller got it: make run prints it for each read of the function's.
		attrs := []any{"request", req, "outcome", st.Outcome.String(), "cache_status", cs[0], "took_us", time.Since(start).Microseconds()}
		if err != nil {
			attrs = append(attrs, "error", err)
		}
		h.logger.Debug("request", attrs...)
	}
	if err != nil {
		h.upstreamError(w, req, role, err)
		return
	}
	if req.Path != 0 {
		// A path read is cached as the list of its parameters (document.RenderPath); this route
		// answers it as GetParametersByPath's output, its pages joined.
		w.Header()["Content-Type"] = h.hv.json
		_, _ = w.Write(pathHead)
		_, _ = w.Write(v.Body)
		_, _ = w.Write(pathTail)
		return
	}
	if !hasKey {
		w.Header()["Content-Type"] = h.hv.json
		_, _ = w.Write(v.Body)
		return
	}
	value, code, problem := lookupJSONKey(v, jsonKey, func() { c.Recount(req) })
	if problem != "" {
		fail(w, code, fmt.Sprintf("%s %q %s", req.Kind.Noun(), kinko.Clip(req.ID), problem))
		return
	}
	w.Header()["Content-Type"] = h.hv.text
	// net/http's writer takes the string as is; w.Write([]byte(value)) copied it first.
	_, _ = io.WriteString(w, value)
}

// roleCache is the cache of the role roleArn names: the caller asked for that role's
// identity, so an empty or malformed ARN is refused, never read with the sandbox's own role.
func (h *Handler) roleCache(arn string) (Cache, func(), error) {
	switch {
	case arn == "":
		return nil, nil, &kinko.Error{Code: kinko.BadRequest,
			Message: "roleArn is empty; give the ARN of the role to read with (arn:aws:iam::123456789012:role/NAME), or drop the parameter"}
	case h.opts.Roles == nil:
		return nil, nil, &kinko.Error{Code: kinko.BadRequest,
			Message: "roleArn is not served here: this server reads with the sandbox's own role only; drop the parameter"}
	}
	return h.opts.Roles.For(arn)
}

func (h *Handler) upstreamError(w http.ResponseWriter, req kinko.Request, role string, err error) {
	e, ok := failure(req, err)
	if !ok {
		h.logger.Error("unexpected error", "service", req.Kind.String(), "id", req.ID, "role", role, "error", fmt.Sprintf("%T", err))
		fail(w, kinko.Internal, "unexpected failure; see kinko's log")
		return
	}
	attrs := []any{"service", req.Kind.String(), "id", req.ID, "status", statusOf(e), "code", e.Type(), "message", e.Message}
	if role != "" {
		attrs = append(attrs, "role", role)
	}
	h.logger.Warn("upstream error", attrs...)
	writeFailure(w, e)
}

// lookupJSONKey returns the string value of top-level key k of v's JSON text, or what is wrong
// (problem, and its code), described without quoting the value. The value keeps its own index of the text's keys (built
// on the first jsonKey request, then counted in the cache's byte budget: recount asks the cache
// to count it), so a hit costs the key's value, not a parse of the whole secret.
func lookupJSONKey(v document.Value, k string, recount func()) (value string, code kinko.Code, problem string) {
	indexed := v.Indexed()
	value, err := v.JSONKey(k)
	if !indexed && v.Indexed() {
		recount()
	}
	switch {
	case err == nil:
		return value, 0, ""
	case errors.Is(err, document.ErrNoText):
		return "", kinko.BadRequest, "holds binary data, not a JSON object; drop jsonKey to read it whole"
	case errors.Is(err, document.ErrNoKey):
		return "", kinko.KeyNotFound, fmt.Sprintf("has no top-level key %q", kinko.Clip(k))
	case errors.Is(err, document.ErrNullKey):
		return "", kinko.KeyNotFound, fmt.Sprintf("has top-level key %q set to null: it holds no value", kinko.Clip(k))
	}
	return "", kinko.BadRequest, "is not a JSON object; drop jsonKey to read the whole string"
}
