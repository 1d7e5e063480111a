// Package cachestatus renders the RFC 9211 Cache-Status header of kinko's answers (CONTRACT.md
// section 3): how each answer was produced (a hit, a miss stored, a collapsed wait, a stale
// value and why) and, for every fresh answer, the whole seconds of freshness left. Shared keeps
// recent renderings, so that a cache hit allocates nothing for its header.
package cachestatus

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// Render is the RFC 9211 Cache-Status value for one answer. Every fresh answer
// carries ttl (whole seconds of freshness left, the value's own jittered lifetime); stale,
// bypassed, unstored and error answers carry none.
func Render(st cache.Status, err error) string {
	if err != nil {
		s := "kinko; fwd=miss"
		switch st.Outcome {
		case cache.Hit:
			// A not-found remembered for a few seconds (KINKO_NOT_FOUND_TTL): nothing was forwarded.
			return "kinko; hit; detail=remembered-error"
		case cache.Refreshed:
			s = "kinko; fwd=request"
		case cache.Bypass:
			s = "kinko; fwd=bypass"
		}
		var e *kinko.Error
		if errors.As(err, &e) && e.FromAWS() {
			s += "; fwd-status=" + strconv.Itoa(e.AWSStatus)
		}
		return s
	}
	if st.TTL <= 0 {
		// Fetched and answered, but not stored (a value over the cache's byte budget, or one
		// fetched across a Forget): nothing is promised fresh, as for a bypass.
		switch st.Outcome {
		case cache.Miss:
			return "kinko; fwd=miss"
		case cache.Collapsed:
			return "kinko; fwd=miss; collapsed"
		case cache.Expired:
			return "kinko; fwd=stale"
		case cache.Refreshed:
			return "kinko; fwd=request"
		}
	}
	ttl := "; ttl=" + strconv.FormatInt(int64(st.TTL.Seconds()), 10)
	switch st.Outcome {
	case cache.Hit:
		return "kinko; hit" + ttl
	case cache.StaleIfError:
		return "kinko; hit; detail=stale-if-error"
	case cache.StaleWhileRevalidate:
		return "kinko; hit; detail=stale-while-revalidate"
	case cache.Miss:
		return "kinko; fwd=miss; stored" + ttl
	case cache.Collapsed:
		return "kinko; fwd=miss; collapsed" + ttl
	case cache.Expired:
		return "kinko; fwd=stale; stored" + ttl
	case cache.Refreshed:
		return "kinko; fwd=request; stored" + ttl
	}
	return "kinko; fwd=bypass"
}

// Shared renders the Cache-Status values of successful answers once and shares them. It keeps
// recent renderings by status with its TTL in whole seconds: every hit on a key within one
// second shares one. The zero value is ready; it is safe for concurrent use.
type Shared struct {
	recent [64]atomic.Pointer[rendered]
}

type rendered struct {
	st    cache.Status
	value []string
}

// Header is Render(st, err) as a header value, shared when err is nil: the caller must not
// write into it (net/http only reads a response's header slices; Add to it copies). The value
// depends on the TTL in whole seconds only, and on whether there is one (a value stored with
// under a second left is not one never stored), so the key drops the rest.
func (s *Shared) Header(st cache.Status, err error) []string {
	if err != nil {
		return []string{Render(st, err)}
	}
	if ttl := st.TTL.Truncate(time.Second); ttl > 0 || st.TTL <= 0 {
		st.TTL = ttl
	} else {
		st.TTL = time.Nanosecond
	}
	slot := &s.recent[(uint64(st.Outcome)*31+uint64(st.TTL/time.Second))%uint64(len(s.recent))]
	if r := slot.Load(); r != nil && r.st == st {
		return r.value
	}
	r := &rendered{st: st, value: []string{Render(st, nil)}}
	slot.Store(r)
	return r.value
}
