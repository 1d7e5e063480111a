package server

import (
	"errors"
	"strconv"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/upstream"
)

// cacheStatus renders the RFC 9211 Cache-Status value for one answer.
func cacheStatus(st cache.Status, err error) string {
	if err != nil {
		s := "kinko; fwd=miss"
		switch st.Outcome {
		case cache.Refreshed:
			s = "kinko; fwd=request"
		case cache.Bypass:
			s = "kinko; fwd=bypass"
		}
		var ue *upstream.Error
		if errors.As(err, &ue) && ue.FromAWS() {
			s += "; fwd-status=" + strconv.Itoa(ue.Status)
		}
		return s
	}
	switch st.Outcome {
	case cache.Hit:
		return "kinko; hit; ttl=" + strconv.FormatInt(int64(st.TTL.Seconds()), 10)
	case cache.StaleIfError:
		return "kinko; hit; detail=stale-if-error"
	case cache.Miss:
		return "kinko; fwd=miss; stored"
	case cache.Collapsed:
		return "kinko; fwd=miss; collapsed"
	case cache.Expired:
		return "kinko; fwd=stale; stored"
	case cache.Refreshed:
		return "kinko; fwd=request; stored"
	}
	return "kinko; fwd=bypass"
}
