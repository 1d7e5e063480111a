// Package query reads the query string of kinko's GET API (CONTRACT.md section 3) as AWS's
// extension does, and stricter where leniency would answer the wrong value: each parameter an
// endpoint takes is given at most once, a known name in another case is an error (ignoring
// versionstage would silently answer another version), any other name is ignored (and listed),
// and a query of more than MaxQueryParams parameters is refused. A hit parses its query without
// allocating: the values sit in arrays indexed like the endpoint's names.
package query

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// MaxParams is the most parameters an endpoint takes (the parameter route: six, and roleArn).
const MaxParams = 7

// MaxQueryParams bounds the parameters of one query string, known or not: real code sends a
// handful, and every name is checked against the endpoint's and logged once if unknown, so a
// query of thousands of names must not cost thousands of times that (3,000 names took 36 ms).
const MaxQueryParams = 64

// Query is a validated query string: the endpoint's parameters, each at most once, and the
// names of the others, which are ignored. The values sit in arrays indexed like allowed, not
// in maps: a hit then parses its query without allocating (url.ParseQuery made a map, a slice
// per name, and the names' sort a third).
type Query struct {
	allowed []string
	value   [MaxParams]string
	given   [MaxParams]bool
	unknown []string // sorted, each once
}

// Unknown is the names given that the endpoint does not take, sorted, each once: ignored.
func (q *Query) Unknown() []string { return q.unknown }

// Get returns the value of parameter name, and whether it was given.
func (q *Query) Get(name string) (string, bool) {
	if i := slices.Index(q.allowed, name); i >= 0 {
		return q.value[i], q.given[i]
	}
	return "", false
}

// Parse reads raw as url.ParseQuery does (the same values, the same errors) into a query
// for an endpoint that takes allowed; a query of more than MaxQueryParams parameters is refused.
func Parse(raw string, allowed ...string) (Query, error) {
	if len(allowed) > MaxParams {
		panic("query: an endpoint takes more than MaxParams parameters")
	}
	q := Query{allowed: allowed}
	var counts [MaxParams]int
	if n := strings.Count(raw, "&") + 1; n > MaxQueryParams {
		return Query{}, fmt.Errorf("the query string has %d parameters, over the limit of %d; send only the ones the endpoint takes (%s)",
			n, MaxQueryParams, strings.Join(allowed, ", "))
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
		return Query{}, fmt.Errorf("the query string is malformed (%v); URL-encode each value", err)
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
			report(k, fmt.Errorf("query parameter %q is spelled %s: parameter names are case-sensitive", kinko.Clip(k), right))
		}
	}
	for i, n := range counts[:len(allowed)] {
		if n > 1 {
			report(allowed[i], fmt.Errorf("query parameter %s is given %d times; give it once", allowed[i], n))
		}
	}
	if problem != nil {
		return Query{}, problem
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

// ID returns the required id parameter name, checked by kinko.CheckID (as prefetch ids are);
// example, in the message when it is missing, shows how to ask.
func (q *Query) ID(name, example string) (string, error) {
	v, ok := q.Get(name)
	if !ok {
		return "", fmt.Errorf("%s is missing; ask %s", name, example)
	}
	if err := kinko.CheckID(v); err != nil {
		return "", fmt.Errorf("%s %s", name, err)
	}
	return v, nil
}

// Exclusive returns two optional parameters of which at most one may be given.
func (q *Query) Exclusive(a, b string) (string, string, error) {
	va, hasA := q.Get(a)
	vb, hasB := q.Get(b)
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

// Bool reads an optional true/false parameter, in any case; absent is false. digits also
// accepts 1 and 0, as AWS Secrets Manager Agent does for refreshNow.
func (q *Query) Bool(name string, digits bool) (bool, error) {
	v, ok := q.Get(name)
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
		return false, fmt.Errorf("%s=%q is not true, false, 1 or 0", name, kinko.Clip(v))
	}
	return false, fmt.Errorf("%s=%q is not true or false", name, kinko.Clip(v))
}
