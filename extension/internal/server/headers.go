package server

import (
	"sync/atomic"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/cache"
)

// headerValues are the header values of answers, rendered once and shared, so that a cache
// hit allocates nothing for its headers (a Header.Set allocates a one-element slice each
// time). Sharing is safe: net/http only reads a response's header slices, Set replaces them,
// and Add appends to a slice whose length is its capacity, which copies it.
type headerValues struct {
	noStore, bypass, json, text []string
	// statuses holds recent Cache-Status values of successful answers, by status with its
	// TTL in whole seconds: every hit on a key within one second shares one rendering.
	statuses [64]atomic.Pointer[renderedStatus]
}

type renderedStatus struct {
	st    cache.Status
	value []string
}

func newHeaderValues() *headerValues {
	return &headerValues{
		noStore: one("no-store"),
		bypass:  one("kinko; fwd=bypass"),
		json:    one("application/json"),
		text:    one("text/plain; charset=utf-8"),
	}
}

// one is a one-element slice at capacity: an Add to it copies instead of writing into it.
func one(v string) []string { return []string{v}[:1:1] }

// cacheStatus is cacheStatus(st, err) as a header value, shared when err is nil. The value
// depends on the TTL in whole seconds only, and on whether there is one (a value stored with
// under a second left is not one never stored), so the key drops the rest.
func (hv *headerValues) cacheStatus(st cache.Status, err error) []string {
	if err != nil {
		return one(cacheStatus(st, err))
	}
	if ttl := st.TTL.Truncate(time.Second); ttl > 0 || st.TTL <= 0 {
		st.TTL = ttl
	} else {
		st.TTL = time.Nanosecond
	}
	slot := &hv.statuses[(uint64(st.Outcome)*31+uint64(st.TTL/time.Second))%uint64(len(hv.statuses))]
	if r := slot.Load(); r != nil && r.st == st {
		return r.value
	}
	r := &renderedStatus{st: st, value: one(cacheStatus(st, nil))}
	slot.Store(r)
	return r.value
}
