package query

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// referenceQuery is how Parse read a query before it stopped building url.ParseQuery's map,
// with the bound on the number of parameters it has since.
func referenceQuery(raw string, allowed []string) (map[string]string, []string, error) {
	if n := len(strings.Split(raw, "&")); n > MaxQueryParams {
		return nil, nil, fmt.Errorf("the query string has %d parameters, over the limit of %d; send only the ones the endpoint takes (%s)",
			n, MaxQueryParams, strings.Join(allowed, ", "))
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("the query string is malformed (%v); URL-encode each value", err)
	}
	names := slices.Sorted(maps.Keys(vals))
	values := map[string]string{}
	var unknown []string
	for _, k := range names {
		vs := vals[k]
		if !slices.Contains(allowed, k) {
			if right := respelling(allowed, k); right != "" {
				return nil, nil, fmt.Errorf("query parameter %q is spelled %s: parameter names are case-sensitive", kinko.Clip(k), right)
			}
			unknown = append(unknown, k)
			continue
		}
		if len(vs) > 1 {
			return nil, nil, fmt.Errorf("query parameter %s is given %d times; give it once", k, len(vs))
		}
		values[k] = vs[0]
	}
	return values, unknown, nil
}

// FuzzQuery checks the query parser alone: it accepts only known parameters, each once, with
// exactly url.ParseQuery's values, and its messages stay short whatever the input. It answers
// as the parser over url.ParseQuery's map it replaced (referenceQuery) does, errors included.
func FuzzQuery(f *testing.F) {
	allowed := []string{"secretId", "versionId", "versionStage", "refreshNow", "jsonKey"}
	for _, seed := range []string{"secretId=a;b", "secretId=%zz&x=%", "secretId=a&secret%49d=b&jsonKey=1&jsonKey=2",
		"versionstage=x&SecretId=y", "=x&&b&b=+%20", "z=1&y=2&y=3&secretId=a", strings.Repeat("a=1&", 150) + "secretId=a"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := Parse(raw, allowed...)
		refValues, refUnknown, refErr := referenceQuery(raw, allowed)
		switch {
		case (err == nil) != (refErr == nil) || err != nil && err.Error() != refErr.Error():
			t.Fatalf("error %v, the reference's %v", err, refErr)
		case !slices.Equal(q.unknown, refUnknown):
			t.Fatalf("ignored names %q, the reference's %q", q.unknown, refUnknown)
		}
		for k, v := range refValues {
			if got, given := q.Get(k); !given || got != v {
				t.Fatalf("parameter %q: %q, %v; the reference has %q", k, got, given, v)
			}
		}
		if err != nil {
			if len(err.Error()) > 1024 {
				t.Fatalf("error message of %d bytes", len(err.Error()))
			}
			return
		}
		want, perr := url.ParseQuery(raw)
		if perr != nil {
			t.Fatalf("accepted a query url.ParseQuery refuses: %v", perr)
		}
		values := map[string]string{}
		for i, k := range allowed {
			if v, given := q.Get(k); given {
				values[k] = v
			} else if q.given[i] || q.value[i] != "" {
				t.Fatalf("parameter %q not given but holds a value", k)
			}
		}
		if len(want) != len(values)+len(q.unknown) {
			t.Fatalf("%d parameters kept and %d ignored of %d", len(values), len(q.unknown), len(want))
		}
		if !slices.IsSorted(q.unknown) {
			t.Fatal("ignored names not sorted")
		}
		for k, v := range values {
			if !slices.Contains(allowed, k) || len(want[k]) != 1 || want[k][0] != v {
				t.Fatalf("parameter %q kept though unknown or repeated, or its value changed", k)
			}
		}
		// Ignored only when no known name matches it in another case: that one is an error.
		for _, k := range q.unknown {
			if respelling(allowed, k) != "" {
				t.Fatalf("parameter %q ignored though it is a known name in another case", kinko.Clip(k))
			}
		}
		if id, err := q.ID("secretId", "example"); err == nil {
			if kinko.CheckID(id) != nil || id != values["secretId"] {
				t.Fatal("q.ID accepted an id CheckID refuses")
			}
		} else if len(err.Error()) > 1024 {
			t.Fatalf("error message of %d bytes", len(err.Error()))
		}
		if a, b, err := q.Exclusive("versionId", "versionStage"); err == nil {
			if a != "" && b != "" || len(a) > kinko.MaxIDBytes || len(b) > kinko.MaxIDBytes {
				t.Fatal("exclusive accepted both, or an over-long value")
			}
		}
		if v, err := q.Bool("refreshNow", true); err == nil && v != (strings.EqualFold(values["refreshNow"], "true") || values["refreshNow"] == "1") {
			t.Fatal("refreshNow read wrong")
		}
	})
}
