package server

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/kinko-dev/kinko/extension/internal/config"
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

// query is a validated query string: the endpoint's parameters, each at most once, and the
// names of the others, which are ignored.
type query struct {
	values  map[string]string
	unknown []string
}

func parseQuery(raw string, allowed ...string) (query, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return query{}, fmt.Errorf("the query string is malformed (%v); URL-encode each value", err)
	}
	// Sorted, so that a query with two problems always reports the same one.
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	slices.Sort(names)
	q := query{values: make(map[string]string, len(vals))}
	for _, k := range names {
		vs := vals[k]
		if !slices.Contains(allowed, k) {
			if right := respelling(allowed, k); right != "" {
				return query{}, fmt.Errorf("query parameter %q is spelled %s: parameter names are case-sensitive", clip(k), right)
			}
			q.unknown = append(q.unknown, k)
			continue
		}
		if len(vs) > 1 {
			return query{}, fmt.Errorf("query parameter %s is given %d times; give it once", k, len(vs))
		}
		q.values[k] = vs[0]
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

// id returns the required id parameter name, checked as config.CheckID checks prefetch ids.
func (q query) id(name, example string) (string, error) {
	v, ok := q.values[name]
	if !ok {
		return "", fmt.Errorf("%s is missing; ask %s", name, example)
	}
	if err := config.CheckID(v); err != nil {
		return "", fmt.Errorf("%s %s", name, err)
	}
	return v, nil
}

// exclusive returns two optional parameters of which at most one may be given.
func (q query) exclusive(a, b string) (string, string, error) {
	va, hasA := q.values[a]
	vb, hasB := q.values[b]
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
		case len(p.value) > config.MaxIDBytes:
			return "", "", fmt.Errorf("%s is over %d bytes", p.name, config.MaxIDBytes)
		}
	}
	return va, vb, nil
}

// bool reads an optional true/false parameter, in any case; absent is false. digits also
// accepts 1 and 0, as AWS Secrets Manager Agent does for refreshNow.
func (q query) bool(name string, digits bool) (bool, error) {
	v, ok := q.values[name]
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
