package server

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/kinko-dev/kinko/extension/internal/config"
)

// query is a validated query string: only known parameters, each at most once.
type query struct {
	values map[string]string
}

func parseQuery(raw string, allowed ...string) (query, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return query{}, fmt.Errorf("the query string is malformed (%v); URL-encode each value", err)
	}
	q := query{values: make(map[string]string, len(vals))}
	for k, vs := range vals {
		if !slices.Contains(allowed, k) {
			return query{}, fmt.Errorf("unknown query parameter %q; this endpoint takes %s", clip(k), strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return query{}, fmt.Errorf("query parameter %s is given %d times; give it once", k, len(vs))
		}
		q.values[k] = vs[0]
	}
	return q, nil
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

// bool reads an optional true/false parameter; absent is false.
func (q query) bool(name string) (bool, error) {
	v, ok := q.values[name]
	if !ok {
		return false, nil
	}
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%s=%q is not true or false", name, clip(v))
}
