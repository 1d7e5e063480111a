package client

import (
	"container/list"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultCacheSize is how many answers a Client keeps in memory at most: a function reads a
// few secrets, so a small bound is plenty and keeps the memory a sandbox gives it small.
const DefaultCacheSize = 64

// maxTTL bounds the ttl a Cache-Status may give: anything longer is not a real freshness
// lifetime (and would overflow a Duration), so the answer is not kept.
const maxTTL = 1 << 31

// WithCacheSize sets how many answers the client keeps in memory (default DefaultCacheSize);
// 0 switches the client's cache off, so every call goes to the extension.
func WithCacheSize(n int) Option {
	return func(c *Client) error {
		if n < 0 {
			return fmt.Errorf("kinko: cache size %d is negative: pass 0 to switch the client cache off, or a bound like 64", n)
		}
		c.cacheSize = n
		return nil
	}
}

// WithoutCache switches the client's in-memory cache off: every call goes to the extension.
func WithoutCache() Option { return WithCacheSize(0) }

// WithClock sets the clock the client's cache judges freshness by (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *Client) error {
		if now == nil {
			return errors.New("kinko: WithClock(nil): pass a clock like time.Now or leave the option out")
		}
		c.now = now
		return nil
	}
}

type kind uint8

const (
	kindSecret kind = iota + 1
	kindSecretKey
	kindParameter
)

// cacheKey is everything that makes a request, refreshNow aside: two calls with equal keys
// send the same query. Strings and numbers only, so a lookup allocates nothing.
type cacheKey struct {
	kind    kind
	id      string // secretId or parameter name
	stage   string // versionStage, or a parameter's label
	version string // versionId
	pver    int64  // a parameter's version (0: none)
	jsonKey string
	decrypt bool
}

// entry is one kept answer. value is a *SecretValue or *Parameter the caller never sees
// (each hit hands out a copy), or the string of a jsonKey read; nil marks a tombstone left by
// refreshNow, which keeps an answer older than the refresh from being stored after it.
type entry struct {
	key    cacheKey
	stored time.Time     // when the request that gave it was sent
	keep   time.Duration // half of the ttl the extension gave
	value  any
}

// clientCache is a small LRU of answers, each kept for half the freshness the extension
// declared. Safe for concurrent use.
type clientCache struct {
	size int

	mu    sync.Mutex
	items map[cacheKey]*list.Element // of *entry
	order list.List                  // most recently used first
}

func newClientCache(size int) *clientCache {
	return &clientCache{size: size, items: make(map[cacheKey]*list.Element, size)}
}

// left is how long e may still be served at now: judged by monotonic and by wall-clock age,
// whichever is older, so a clock that stood still (a frozen or restored sandbox) never
// makes an old answer fresh.
func (e *entry) left(now time.Time) time.Duration {
	age := now.Sub(e.stored)
	if wall := now.Round(0).Sub(e.stored.Round(0)); wall > age {
		age = wall
	}
	if age < 0 { // a clock that ran backwards: trust nothing
		return 0
	}
	return e.keep - age
}

// get returns the kept value for k and how long it stays fresh, if it is fresh at now.
func (c *clientCache) get(k cacheKey, now time.Time) (any, time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, 0, false
	}
	e := el.Value.(*entry)
	if e.value == nil {
		return nil, 0, false
	}
	left := e.left(now)
	if left <= 0 {
		c.order.Remove(el)
		delete(c.items, k)
		return nil, 0, false
	}
	c.order.MoveToFront(el)
	return e.value, left, true
}

// put records the answer to a request for k sent at sent, whose Cache-Status is status.
// An answer with a ttl is kept for half of it; any other (AWS's extension, stale, no
// ttl) replaces what was kept with nothing. An answer older than what the cache already
// holds for k (a request that overtook it, a refreshNow) changes nothing.
func (c *clientCache) put(k cacheKey, sent time.Time, status []string, value any) {
	keep := keepFor(status)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		e := el.Value.(*entry)
		if sent.Before(e.stored) {
			return
		}
		if keep <= 0 {
			c.order.Remove(el)
			delete(c.items, k)
			return
		}
		e.stored, e.keep, e.value = sent, keep, value
		c.order.MoveToFront(el)
		return
	}
	if keep <= 0 {
		return
	}
	c.insert(&entry{key: k, stored: sent, keep: keep, value: value})
}

// drop forgets what is kept for k, as of now: refreshNow means the caller distrusts it, and
// no answer to a request sent before now may take its place.
func (c *clientCache) drop(k cacheKey, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		e := el.Value.(*entry)
		e.stored, e.keep, e.value = now, 0, nil
		c.order.MoveToFront(el)
		return
	}
	c.insert(&entry{key: k, stored: now})
}

func (c *clientCache) insert(e *entry) {
	c.items[e.key] = c.order.PushFront(e)
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*entry).key)
	}
}

// keepFor is how long an answer with these Cache-Status field lines may be kept: half
// the ttl of the cache nearest the client (the list's last member), 0 for none. RFC 9211:
// the field is a Structured Fields list of caches, each a token or string with
// parameters; ttl is an integer, the seconds of freshness left (negative when stale).
// Anything malformed, or a member calling itself stale, keeps nothing.
func keepFor(lines []string) time.Duration {
	if len(lines) == 0 {
		return 0
	}
	field := lines[len(lines)-1]
	if len(lines) > 1 {
		field = strings.Join(lines, ",")
	}
	member, ok := lastMember(field)
	if !ok {
		return 0
	}
	ttl := int64(-1)
	for len(member) > 0 {
		var name, value string
		if name, value, member, ok = nextParam(member); !ok {
			return 0
		}
		switch name {
		case "ttl":
			n, ok := sfInteger(value)
			if !ok {
				return 0
			}
			ttl = n
		case "detail":
			if strings.Contains(unquote(value), "stale") {
				return 0
			}
		}
	}
	if ttl <= 0 || ttl > maxTTL {
		return 0
	}
	return time.Duration(ttl) * time.Second / 2
}

// lastMember returns the parameters of the field's last list member (from its first ';',
// or "" when it has none), skipping commas inside quoted strings.
func lastMember(field string) (string, bool) {
	start, inQuote := 0, false
	for i := 0; i < len(field); i++ {
		switch b := field[i]; {
		case inQuote && b == '\\':
			i++
		case b == '"':
			inQuote = !inQuote
		case !inQuote && b == ',':
			start = i + 1
		}
	}
	if inQuote {
		return "", false
	}
	m := strings.Trim(field[start:], " \t")
	// The member's item: a token or a quoted string (an inner list is no cache name).
	var rest string
	switch {
	case m == "":
		return "", false
	case m[0] == '"':
		end := quotedEnd(m)
		if end < 0 {
			return "", false
		}
		rest = m[end:]
	default:
		i := strings.IndexByte(m, ';')
		if i < 0 {
			i = len(m)
		}
		if !isToken(m[:i]) {
			return "", false
		}
		rest = m[i:]
	}
	return rest, true
}

// nextParam reads ";key[=value]" from the front of s.
func nextParam(s string) (name, value, rest string, ok bool) {
	if s[0] != ';' {
		return "", "", "", false
	}
	s = strings.TrimLeft(s[1:], " ")
	i := 0
	for i < len(s) && s[i] != '=' && s[i] != ';' {
		i++
	}
	name = s[:i]
	if !isKey(name) {
		return "", "", "", false
	}
	if i == len(s) || s[i] == ';' {
		return name, "?1", s[i:], true // a bare key is boolean true
	}
	s = s[i+1:]
	if s != "" && s[0] == '"' {
		end := quotedEnd(s)
		if end < 0 {
			return "", "", "", false
		}
		value, rest = s[:end], s[end:]
	} else {
		j := strings.IndexByte(s, ';')
		if j < 0 {
			j = len(s)
		}
		value, rest = strings.TrimRight(s[:j], " "), s[j:]
	}
	if value == "" {
		return "", "", "", false
	}
	return name, value, strings.TrimRight(rest, " "), true
}

// quotedEnd is the index just past the closing quote of the string s starts with, or -1.
func quotedEnd(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' {
		return strings.ReplaceAll(v[1:len(v)-1], `\`, "")
	}
	return v
}

// sfInteger parses a Structured Fields integer: an optional '-' and 1 to 15 digits.
func sfInteger(v string) (int64, bool) {
	digits := strings.TrimPrefix(v, "-")
	if len(digits) == 0 || len(digits) > 15 {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

func isKey(s string) bool {
	if s == "" || !(s[0] == '*' || 'a' <= s[0] && s[0] <= 'z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '_' || b == '-' || b == '.' || b == '*') {
			return false
		}
	}
	return true
}

func isToken(s string) bool {
	if s == "" || !(s[0] == '*' || 'a' <= s[0]|0x20 && s[0]|0x20 <= 'z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b >= 0x7f || strings.IndexByte(`"(),;<=>?@[\]{}`, b) >= 0 {
			return false
		}
	}
	return true
}

// clientStatus is the Cache-Status of an answer served from the client's memory.
func clientStatus(left time.Duration) string {
	return "client; hit; ttl=" + strconv.FormatInt(int64(left/time.Second), 10)
}
