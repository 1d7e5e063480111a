package roles

import (
	"bytes"
	"strconv"
	"strings"
)

// xmlText is the text of the first element <tag>...</tag> of doc, its entities decoded, and
// whether there is one. STS's query protocol answers small documents of plain elements (no
// attributes on the ones read here, no CDATA), so this is all kinko reads of them; encoding/xml
// would add about 70 KB to a layer held under 4 MB zipped (CONTRACT.md section 8).
func xmlText(doc []byte, tag string) (string, bool) {
	open, end := "<"+tag+">", "</"+tag+">"
	i := bytes.Index(doc, []byte(open))
	if i < 0 {
		return "", false
	}
	rest := doc[i+len(open):]
	j := bytes.Index(rest, []byte(end))
	if j < 0 {
		return "", false
	}
	return unescapeXML(string(rest[:j]))
}

// unescapeXML decodes XML's five named entities and its character references; false if text
// holds markup or an entity it does not know.
func unescapeXML(text string) (string, bool) {
	if strings.IndexByte(text, '<') >= 0 {
		return "", false // a nested element: not a text element
	}
	if strings.IndexByte(text, '&') < 0 {
		return text, true
	}
	var b strings.Builder
	for text != "" {
		amp := strings.IndexByte(text, '&')
		if amp < 0 {
			b.WriteString(text)
			break
		}
		b.WriteString(text[:amp])
		semi := strings.IndexByte(text[amp:], ';')
		if semi < 0 {
			return "", false
		}
		name := text[amp+1 : amp+semi]
		text = text[amp+semi+1:]
		switch name {
		case "amp":
			b.WriteByte('&')
		case "lt":
			b.WriteByte('<')
		case "gt":
			b.WriteByte('>')
		case "quot":
			b.WriteByte('"')
		case "apos":
			b.WriteByte('\'')
		default:
			num, ok := strings.CutPrefix(name, "#")
			if !ok {
				return "", false
			}
			base := 10
			if hex, isHex := strings.CutPrefix(num, "x"); isHex {
				num, base = hex, 16
			}
			r, err := strconv.ParseUint(num, base, 32)
			if err != nil || r > 0x10FFFF {
				return "", false
			}
			b.WriteRune(rune(r))
		}
	}
	return b.String(), true
}
