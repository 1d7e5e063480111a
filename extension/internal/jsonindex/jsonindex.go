// Package jsonindex reads the top-level keys of a JSON object held as the text of a JSON string
// literal: a secret's SecretString where it lies, escaped, in the document kinko serves. The
// text is parsed once, on the first lookup, into an index of where each key's value lies in the
// literal; a lookup then costs the key's value, not the secret's size, and no second copy of
// the text is kept. The answers are encoding/json's (Unmarshal into a map, then the key's value).
package jsonindex

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf16"
	"unicode/utf8"
)

// The ways a lookup fails (Index.Get). Their words follow "the secret" in kinko's messages.
var (
	ErrNotObject = errors.New("is not a JSON object")
	ErrNoKey     = errors.New("has no such top-level key")
	ErrNullKey   = errors.New("has the top-level key set to null")
)

// Index is where each top-level key's value lies in one literal. The zero value is ready: it
// is built on the first Get, once, and is safe for concurrent use. The fields below once are
// written inside it and read after it.
type Index struct {
	once sync.Once
	done atomic.Bool // set once built, for Built
	// The lengths of names and members once built, for Buffers (read without waiting for once).
	sizes struct{ names, members atomic.Int64 }

	notObject bool
	names     string   // every key's name, one after the other, in the members' order
	members   []member // sorted by name, one per name (the last of duplicates, as encoding/json)
}

// Get returns the value of top-level key k of the text that lit, a JSON string literal (quotes
// included), holds, read as a JSON object: a string decoded, anything else as its JSON text.
// Every call on one Index must pass the same literal. Errors never quote the text.
func (ki *Index) Get(lit []byte, k string) (string, error) {
	ki.once.Do(func() { ki.build(lit) })
	if ki.notObject {
		return "", ErrNotObject
	}
	i, found := ki.find(k)
	if !found {
		return "", ErrNoKey
	}
	m := ki.members[i]
	raw, ok := Unquote(lit[m.start:m.end])
	switch {
	case !ok:
		return "", ErrNotObject // the index was built from this very text: cannot happen
	case string(raw) == "null":
		// A null holds no value: answering it as an empty 200 (or as the text "null") would
		// hand the caller a credential that is not one.
		return "", ErrNullKey
	case raw[0] != '"':
		return string(raw), nil // a number, boolean, object or array, as JSON text
	}
	if s, ok := Unquote(raw[1 : len(raw)-1]); ok {
		return string(s), nil
	}
	return "", ErrNotObject
}

// Built reports whether the index has been built (its bytes then count in Size).
func (ki *Index) Built() bool { return ki.done.Load() }

// Buffers are the lengths of what the index holds once built, for the caller's accounting: its
// keys' names, and its members (where each value lies); 0 before, or for a text that is not
// an object.
func (ki *Index) Buffers() (names, members int) {
	return int(ki.sizes.names.Load()), int(ki.sizes.members.Load())
}

// member is one key: where its name ends in names (it starts where the previous one's ends),
// and where its value's JSON text lies in the literal, still escaped as the literal has it.
// Offsets are 32 bits: a secret is at most 64 KiB, a parameter 8 KiB.
type member struct{ nameEnd, start, end uint32 }

// memberSize is the bytes of one member.
const memberSize = 12

func (ki *Index) name(i int) string {
	start := uint32(0)
	if i > 0 {
		start = ki.members[i-1].nameEnd
	}
	return ki.names[start:ki.members[i].nameEnd]
}

// find returns the index of the member named k.
func (ki *Index) find(k string) (int, bool) {
	i, j := 0, len(ki.members)
	for i < j {
		h := int(uint(i+j) >> 1)
		if ki.name(h) < k {
			i = h + 1
		} else {
			j = h
		}
	}
	return i, i < len(ki.members) && ki.name(i) == k
}

// found is one member as the text is scanned: its name, and its value's offsets in the text.
type found struct {
	name       string
	start, end int
}

// build indexes lit, the text's JSON string literal. The text is decoded once, into a buffer
// dropped at the end; the index keeps the names and offsets into lit.
func (ki *Index) build(lit []byte) {
	defer ki.done.Store(true)
	text, ok := Unquote(lit[1 : len(lit)-1])
	var all []found
	if ok {
		all, ok = topLevel(text)
	}
	if !ok || uint64(len(lit)) > math.MaxUint32 {
		ki.notObject = true
		return
	}
	// Offsets in text become offsets in lit: one walk of the literal, in the text's order.
	want := make([]int, 0, 2*len(all))
	for _, m := range all {
		want = append(want, m.start, m.end)
	}
	at, ok := literalOffsets(lit, want)
	if !ok {
		ki.notObject = true
		return
	}
	for i := range all {
		all[i].start, all[i].end = at[2*i], at[2*i+1]
	}
	// Sorted by name; of equal names the last in the text wins (the sort is stable).
	slices.SortStableFunc(all, func(a, b found) int { return strings.Compare(a.name, b.name) })
	kept := all[:0]
	for i, m := range all {
		if i+1 < len(all) && all[i+1].name == m.name {
			continue
		}
		kept = append(kept, m)
	}
	var names strings.Builder
	n := 0
	for _, m := range kept {
		n += len(m.name)
	}
	names.Grow(n) // exactly: the index keeps this string
	members := make([]member, len(kept))
	for i, m := range kept {
		names.WriteString(m.name)
		members[i] = member{nameEnd: uint32(names.Len()), start: uint32(m.start), end: uint32(m.end)}
	}
	ki.names = names.String()
	ki.members = members
	ki.sizes.names.Store(int64(len(ki.names)))
	ki.sizes.members.Store(int64(memberSize * len(members)))
}

// topLevel returns the members of the JSON object text, with the offsets of each value's JSON
// text in text, in order; false if text is not a JSON object (encoding/json's judgement: a
// syntax error anywhere, or any other kind of value, null included).
func topLevel(text []byte) ([]found, bool) {
	if !json.Valid(text) {
		return nil, false
	}
	i := skipSpace(text, 0)
	if text[i] != '{' {
		return nil, false
	}
	var out []found
	for i = skipSpace(text, i+1); text[i] != '}'; {
		ke := StringEnd(text, i)
		name, ok := key(text[i:ke])
		if !ok {
			return nil, false
		}
		i = skipSpace(text, ke)
		i = skipSpace(text, i+1) // the colon
		ve := valueEnd(text, i)
		out = append(out, found{name: name, start: i, end: ve})
		i = skipSpace(text, ve)
		if text[i] == ',' {
			i = skipSpace(text, i+1)
		}
	}
	return out, true
}

// key decodes a key's literal, as encoding/json decodes a map's keys.
func key(lit []byte) (string, bool) {
	body := lit[1 : len(lit)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body), true
	}
	t, ok := Unquote(body)
	return string(t), ok
}

// The scanners below read text already known to be valid JSON (topLevel checks first).

func skipSpace(s []byte, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// StringEnd returns the offset after the string literal that starts at s[i].
func StringEnd(s []byte, i int) int {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(s)
}

// valueEnd returns the offset after the value that starts at s[i].
func valueEnd(s []byte, i int) int {
	switch s[i] {
	case '"':
		return StringEnd(s, i)
	case '{', '[':
		depth := 0
		for i < len(s) {
			switch s[i] {
			case '"':
				i = StringEnd(s, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(s)
	}
	for i < len(s) {
		switch s[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return len(s)
}

// Unquote decodes the content of a JSON string literal (quotes excluded) as encoding/json does:
// invalid UTF-8 and lone surrogates become U+FFFD.
func Unquote(s []byte) ([]byte, bool) {
	if bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return s, true
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		var ok bool
		if out, i, ok = decodeChar(out, s, i); !ok {
			return nil, false
		}
	}
	return out, true
}

// decodeChar appends the character that starts at s[i], inside a string literal, to dst, and
// returns the offset after it.
func decodeChar(dst, s []byte, i int) ([]byte, int, bool) {
	c := s[i]
	if c == '"' || c < 0x20 {
		return dst, i, false
	}
	if c != '\\' {
		if c < utf8.RuneSelf {
			return append(dst, c), i + 1, true
		}
		r, n := utf8.DecodeRune(s[i:])
		return utf8.AppendRune(dst, r), i + n, true
	}
	if i+1 >= len(s) {
		return dst, i, false
	}
	switch e := s[i+1]; e {
	case '"', '\\', '/':
		return append(dst, e), i + 2, true
	case 'b':
		return append(dst, '\b'), i + 2, true
	case 'f':
		return append(dst, '\f'), i + 2, true
	case 'n':
		return append(dst, '\n'), i + 2, true
	case 'r':
		return append(dst, '\r'), i + 2, true
	case 't':
		return append(dst, '\t'), i + 2, true
	case 'u':
		r, ok := hex4(s, i+2)
		if !ok {
			return dst, i, false
		}
		if utf16.IsSurrogate(r) {
			// A high surrogate joins the low one right after it; anything else is U+FFFD,
			// and what follows is read on its own.
			if r2, ok := hex4(s, i+8); ok && s[i+6] == '\\' && s[i+7] == 'u' {
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					return utf8.AppendRune(dst, d), i + 12, true
				}
			}
			r = utf8.RuneError
		}
		return utf8.AppendRune(dst, r), i + 6, true
	}
	return dst, i, false
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// literalOffsets maps offsets in the decoded text of lit (a string literal, quotes included)
// to offsets in lit, for want in increasing order. Every offset wanted is a boundary between
// characters of the text (JSON's structure is ASCII), so it has an exact place in the literal.
func literalOffsets(lit []byte, want []int) ([]int, bool) {
	out := make([]int, 0, len(want))
	var scratch [utf8.UTFMax]byte
	i, t := 1, 0 // in lit (after the opening quote), in the text
	for _, w := range want {
		for t < w {
			d, next, ok := decodeChar(scratch[:0], lit[:len(lit)-1], i)
			if !ok {
				return nil, false
			}
			i, t = next, t+len(d)
		}
		if t != w {
			return nil, false
		}
		out = append(out, i)
	}
	return out, true
}
