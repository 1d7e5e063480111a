package server

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// The query parameters each endpoint takes. Any other name is ignored (real code sends
// withDecryption=true to /secretsmanager/get, and AWS's extension answers it), except one of
// these in another case: ignoring versionstage would silently answer another version.
var (
	secretParams    = []string{"secretId", "versionId", "versionStage", "refreshNow", "jsonKey"}
	parameterParams = []string{"name", "withDecryption", "version", "label", "refreshNow", "jsonKey"}
	// The agent's path style takes the id from the path; secretId is named so that giving it
	// too is an error rather than a second id quietly ignored.
	agentParams = []string{"secretId", "versionId", "versionStage", "refreshNow", "jsonKey"}
)

// maxParams is the most parameters an endpoint takes (parameterParams).
const maxParams = 6

// maxQueryParams bounds the parameters of one query string, known or not: real code sends a
// handful, and every name is checked against the endpoint's and logged once if unknown, so a
// query of thousands of names must not cost thousands of times that (3,000 names took 36 ms).
const maxQueryParams = 64

// query is a validated query string: the endpoint's parameters, each at most once, and the
// names of the others, which are ignored. The values sit in arrays indexed like allowed, not
// in maps: a hit then parses its query without allocating (url.ParseQuery made a map, a slice
// per name, and the names' sort a third).
type query struct {
	allowed []string
	value   [maxParams]string
	given   [maxParams]bool
	unknown []string // sorted, each once
}

// get returns the value of parameter name, and whether it was given.
func (q *query) get(name string) (string, bool) {
	if i := slices.Index(q.allowed, name); i >= 0 {
		return q.value[i], q.given[i]
	}
	return "", false
}

// parseQuery reads raw as url.ParseQuery does (the same values, the same errors) into a query
// for an endpoint that takes allowed; a query of more than maxQueryParams parameters is refused.
func parseQuery(raw string, allowed ...string) (query, error) {
	if len(allowed) > maxParams {
		panic("server: an endpoint takes more than maxParams parameters")
	}
	q := query{allowed: allowed}
	var counts [maxParams]int
	if n := strings.Count(raw, "&") + 1; n > maxQueryParams {
		return query{}, fmt.Errorf("the query string has %d parameters, over the limit of %d; send only the ones the endpoint takes (%s)",
			n, maxQueryParams, strings.Join(allowed, ", "))
	}
	// (url.ParseQuery's own limit on parameters, set by GODEBUG, is far above this one.)
	malformed := false
	for rest := raw; rest != "" && !malformed; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		var kerr, verr error
		k, kerr = url.QueryUnescape(k)
		v, verr = url.QueryUnescape(v)
		if strings.Contains(part, ";") || kerr != nil || verr != nil {
			malformed = true
			break
		}
		if i := slices.Index(allowed, k); i >= 0 {
			if counts[i]++; counts[i] == 1 {
				q.value[i], q.given[i] = v, true
			}
		} else {
			q.unknown = append(q.unknown, k)
		}
	}
	if malformed {
		// Its own words for what is wrong: it reads the query as the loop above does.
		_, err := url.ParseQuery(raw)
		return query{}, fmt.Errorf("the query string is malformed (%v); URL-encode each value", err)
	}
	// Each unknown name once, sorted: O(n log n), not a search of the list for each name.
	slices.Sort(q.unknown)
	q.unknown = slices.Compact(q.unknown)
	// Of several problems, the one of the first name in sorted order, so that a query with two
	// always reports the same one.
	var problem error
	var first string
	report := func(name string, err error) {
		if problem == nil || name < first {
			problem, first = err, name
		}
	}
	for _, k := range q.unknown {
		if right := respelling(allowed, k); right != "" {
			report(k, fmt.Errorf("query parameter %q is spelled %s: parameter names are case-sensitive", clip(k), right))
		}
	}
	for i, n := range counts[:len(allowed)] {
		if n > 1 {
			report(allowed[i], fmt.Errorf("query parameter %s is given %d times; give it once", allowed[i], n))
		}
	}
	if problem != nil {
		return query{}, problem
	}
	return q, nil
}

// respelling returns the allowed name that k is in another case, or "".
func respelling(allowed []string, k string) string {
	for _, a := range allowed {
		if strings.EqualFold(a, k) {
			return a
		}
	}
	return ""
}

// id returns the required id parameter name, checked by kinko.CheckID (as prefetch ids are).
func (q *query) id(name, example string) (string, error) {
	v, ok := q.get(name)
	if !ok {
		return "", fmt.Errorf("%s is missing; ask %s", name, example)
	}
	if err := kinko.CheckID(v); err != nil {
		return "", fmt.Errorf("%s %s", name, err)
	}
	return v, nil
}

// exclusive returns two optional parameters of which at most one may be given.
func (q *query) exclusive(a, b string) (string, string, error) {
	va, hasA := q.get(a)
	vb, hasB := q.get(b)
	if hasA && hasB {
		return "", "", fmt.Errorf("give %s or %s, not both", a, b)
	}
	for _, p := range []struct {
		name, value string
		given       bool
	}{{a, va, hasA}, {b, vb, hasB}} {
		switch {
		case p.given && p.value == "":
			return "", "", fmt.Errorf("%s is empty; give a value or drop the parameter", p.name)
		case len(p.value) > kinko.MaxIDBytes:
			return "", "", fmt.Errorf("%s is over %d bytes", p.name, kinko.MaxIDBytes)
		}
	}
	return va, vb, nil
}

// bool reads an optional true/false parameter, in any case; absent is false. digits also
// accepts 1 and 0, as AWS Secrets Manager Agent does for refreshNow.
func (q *query) bool(name string, digits bool) (bool, error) {
	v, ok := q.get(name)
	if !ok {
		return false, nil
	}
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "1":
		if digits {
			return true, nil
		}
	case "0":
		if digits {
			return false, nil
		}
	}
	if digits {
		return false, fmt.Errorf("%s=%q is not true, false, 1 or 0", name, clip(v))
	}
	return false, fmt.Errorf("%s=%q is not true or false", name, clip(v))
}
