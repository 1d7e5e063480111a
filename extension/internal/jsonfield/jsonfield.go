// Package jsonfield reads one top-level field of a JSON object without encoding/json, for the
// binaries and code paths that must stay small and early: /opt/kinko-exec, and kinko's
// registration during package initialisation (package earlystart).
package jsonfield

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// Field finds top-level key k of the JSON object doc. For a string it returns the decoded text
// and isString; for any other value its JSON text. The last of duplicate keys wins, as in
// encoding/json, which this replaces to keep the wrapper small (a fuzz test holds the two to the
// same answers). Errors never quote doc: it holds a secret.
func Field(doc []byte, k string) (value string, isString, found bool, err error) {
	p := &scanner{s: doc}
	p.ws()
	if !p.eat('{') {
		return "", false, false, errNotObject
	}
	p.ws()
	if p.eat('}') {
		return "", false, false, p.end()
	}
	for {
		p.ws()
		key, err := p.str()
		if err != nil {
			return "", false, false, err
		}
		p.ws()
		if !p.eat(':') {
			return "", false, false, errSyntax
		}
		p.ws()
		start := p.i
		if p.i < len(p.s) && p.s[p.i] == '"' {
			s, err := p.str()
			if err != nil {
				return "", false, false, err
			}
			if key == k {
				value, isString, found = s, true, true
			}
		} else {
			if err := p.skip(0); err != nil {
				return "", false, false, err
			}
			if key == k {
				value, isString, found = string(p.s[start:p.i]), false, true
			}
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			return value, isString, found, p.end()
		}
		return "", false, false, errSyntax
	}
}

var (
	errNotObject = errors.New("not a JSON object")
	errNotArray  = errors.New("not a JSON array")
	errSyntax    = errors.New("not valid JSON")
)

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

type scanner struct {
	s []byte
	i int
}

func (p *scanner) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *scanner) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *scanner) end() error {
	p.ws()
	if p.i != len(p.s) {
		return errSyntax
	}
	return nil
}

// skip passes over one value of any kind.
func (p *scanner) skip(depth int) error {
	if depth > maxDepth {
		return errSyntax
	}
	if p.i >= len(p.s) {
		return errSyntax
	}
	switch c := p.s[p.i]; {
	case c == '"':
		_, err := p.str()
		return err
	case c == '{' || c == '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		p.i++
		p.ws()
		if p.eat(closing) {
			return nil
		}
		for {
			p.ws()
			if c == '{' {
				if _, err := p.str(); err != nil {
					return err
				}
				p.ws()
				if !p.eat(':') {
					return errSyntax
				}
				p.ws()
			}
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat(closing) {
				return nil
			}
			return errSyntax
		}
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	}
	return errSyntax
}

func (p *scanner) literal(w string) error {
	if len(p.s)-p.i < len(w) || string(p.s[p.i:p.i+len(w)]) != w {
		return errSyntax
	}
	p.i += len(w)
	return nil
}

// number checks JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *scanner) number() error {
	p.eat('-')
	digits := func() int {
		n := 0
		for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.eat('0') {
		// a leading zero stands alone
	} else if digits() == 0 {
		return errSyntax
	}
	if p.eat('.') && digits() == 0 {
		return errSyntax
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if digits() == 0 {
			return errSyntax
		}
	}
	return nil
}

// str decodes a string at p.i, as encoding/json does: invalid UTF-8 and lone surrogates
// become U+FFFD.
func (p *scanner) str() (string, error) {
	if !p.eat('"') {
		return "", errSyntax
	}
	// Fast path: no escapes, all printable ASCII or valid UTF-8.
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '"' {
			s := p.s[start:p.i]
			if utf8.Valid(s) {
				p.i++
				return string(s), nil
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	p.i = start
	var b []byte
	for {
		if p.i >= len(p.s) {
			return "", errSyntax
		}
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(b), nil
		case c < 0x20:
			return "", errSyntax
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", errSyntax
			}
			e := p.s[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", errSyntax
				}
				if 0xD800 <= r && r < 0xDC00 {
					// A high surrogate joins a low one right after it; alone it is U+FFFD.
					save := p.i
					if p.eat('\\') && p.eat('u') {
						if r2, ok := p.hex4(); ok && 0xDC00 <= r2 && r2 < 0xE000 {
							b = utf8.AppendRune(b, (r-0xD800)<<10|(r2-0xDC00)+0x10000)
							continue
						}
					}
					p.i = save
					r = utf8.RuneError
				} else if 0xDC00 <= r && r < 0xE000 {
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", errSyntax
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.i++
		default:
			r, size := utf8.DecodeRune(p.s[p.i:])
			p.i += size
			b = utf8.AppendRune(b, r) // RuneError for invalid bytes, as encoding/json
		}
	}
}

func (p *scanner) hex4() (rune, bool) {
	if len(p.s)-p.i < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.s[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(n), true
}
