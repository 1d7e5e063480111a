package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/kinko-dev/kinko/extension/internal/query"
)

// A query string with more parameters than any endpoint takes is refused before its names are
// compared with one another (3,000 unknown names took 36 ms a request, quadratically).
func TestManyQueryParametersAreRefused(t *testing.T) {
	h, logs := newTestHandler(t, newFake(), token)
	var q strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&q, "&u%d=1", i)
	}
	a := do(t, h, "GET", "/secretsmanager/get?secretId=app"+q.String(), withToken())
	if a.status != http.StatusBadRequest || !strings.Contains(a.body, "parameters") {
		t.Fatalf("3,001 query parameters: status %d, want 400 saying there are too many", a.status)
	}
	if n := strings.Count(logs.String(), "unknown query parameter ignored"); n != 0 {
		t.Errorf("%d unknown names logged for a refused request", n)
	}
	// A query at the limit is still answered, its unknown names ignored.
	q.Reset()
	for i := range query.MaxQueryParams - 1 {
		fmt.Fprintf(&q, "&u%d=1", i)
	}
	if a := do(t, h, "GET", "/secretsmanager/get?secretId=app"+q.String(), withToken()); a.status != http.StatusOK {
		t.Fatalf("%d query parameters: status %d, want 200", query.MaxQueryParams, a.status)
	}
}
