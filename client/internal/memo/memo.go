// Package memo is the Go client's memory of kinko's answers: a small LRU in which an answer
// lives for half of the freshness kinko declared for it (its Cache-Status ttl), and a stale,
// ttl-less or unreadable answer not at all. Keys are the client's; values are opaque here.
package memo

import (
	"container/list"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxTTL bounds the ttl a Cache-Status may give: anything longer is not a real freshness
// lifetime (and would overflow a Duration), so the answer is not kept.
const maxTTL = 1 << 31

// entry is one kept answer. value is whatever the client stored, never handed out as is by
// the client; nil marks a tombstone left by Drop, which keeps an answer older than the drop
// from being stored after it.
type entry[K comparable] struct {
	key    K
	stored time.Time     // when the request that gave it was sent
	keep   time.Duration // half of the ttl the extension gave
	value  any
}

// Cache is a small LRU of answers, each kept for half the freshness the extension declared.
// Safe for concurrent use.
type Cache[K comparable] struct {
	size int

	mu    sync.Mutex
	items map[K]*list.Element // of *entry[K]
	order list.List           // most recently used first
}

// New returns a Cache that keeps at most size answers (size >= 1).
func New[K comparable](size int) *Cache[K] {
	return &Cache[K]{size: size, items: make(map[K]*list.Element, size)}
}

// left is how long e may still be served at now: judged by monotonic and by wall-clock age,
// whichever is older, so a clock that stood still (a frozen or restored sandbox) never
// makes an old answer fresh.
func (e *entry[K]) left(now time.Time) time.Duration {
	age := now.Sub(e.stored)
	if wall := now.Round(0).Sub(e.stored.Round(0)); wall > age {
		age = wall
	}
	if age < 0 { // a clock that ran backwards: trust nothing
		return 0
	}
	return e.keep - age
}

// Get returns the kept value for k and how long it stays fresh, if it is fresh at now.
func (c *Cache[K]) Get(k K, now time.Time) (any, time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, 0, false
	}
	e := el.Value.(*entry[K])
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

// Put records the answer to a request for k sent at sent, whose Cache-Status field lines are
// status. An answer with a ttl is kept for half of it; any other (AWS's extension, stale, no
// ttl) replaces what was kept with nothing. An answer older than what the cache already
// holds for k (a request that overtook it, a refreshNow) changes nothing.
func (c *Cache[K]) Put(k K, sent time.Time, status []string, value any) {
	keep := KeepFor(status)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		e := el.Value.(*entry[K])
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
	c.insert(&entry[K]{key: k, stored: sent, keep: keep, value: value})
}

// Drop forgets what is kept for k, as of now: refreshNow means the caller distrusts it, and
// no answer to a request sent before now may take its place.
func (c *Cache[K]) Drop(k K, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		e := el.Value.(*entry[K])
		e.stored, e.keep, e.value = now, 0, nil
		c.order.MoveToFront(el)
		return
	}
	c.insert(&entry[K]{key: k, stored: now})
}

func (c *Cache[K]) insert(e *entry[K]) {
	c.items[e.key] = c.order.PushFront(e)
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*entry[K]).key)
	}
}

// KeepFor is how long an answer with these Cache-Status field lines may be kept: half
// the ttl of the cache nearest the client (the list's last member), 0 for none. RFC 9211:
// the field is a Structured Fields list of caches, each a token or string with
// parameters; ttl is an integer, the seconds of freshness left (negative when stale).
// Anything malformed, or a member calling itself stale, keeps nothing.
func KeepFor(lines []string) time.Duration {
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
