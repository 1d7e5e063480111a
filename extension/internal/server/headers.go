package server

import (
	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/cachestatus"
)

// headerValues are the header values of answers, rendered once and shared, so that a cache
// hit allocates nothing for its headers (a Header.Set allocates a one-element slice each
// time). Sharing is safe: net/http only reads a response's header slices, Set replaces them,
// and Add appends to a slice whose length is its capacity, which copies it.
type headerValues struct {
	noStore, bypass, json, text []string
	status                      cachestatus.Shared // Cache-Status of successful answers
}

func newHeaderValues() *headerValues {
	return &headerValues{
		noStore: one("no-store"),
		bypass:  one(cachestatus.Render(cache.Status{Outcome: cache.Bypass}, nil)),
		json:    one("application/json"),
		text:    one("text/plain; charset=utf-8"),
	}
}

// one is a one-element slice at capacity: an Add to it copies instead of writing into it.
func one(v string) []string { return []string{v}[:1:1] }
