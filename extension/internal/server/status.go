package server

import (
	"errors"
	"strconv"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// cacheStatus renders the RFC 9211 Cache-Status value for one answer. Every fresh answer
// carries ttl (whole seconds of freshness left, the value's own jittered lifetime); stale,
// bypassed, unstored and error answers carry none.
func cacheStatus(st cache.Status, err error) string {
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
