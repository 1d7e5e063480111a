package jsonfield

// Elements returns the JSON text of each element of the array doc, in order (kinko-exec reads a
// GetParametersByPath answer's Parameters with it, then each one's fields with Field). Errors
// never quote doc.
func Elements(doc []byte) ([]string, error) {
	p := &scanner{s: doc}
	p.ws()
	if !p.eat('[') {
		return nil, errNotArray
	}
	out := []string{}
	p.ws()
	if p.eat(']') {
		return out, p.end()
	}
	for {
		p.ws()
		start := p.i
		if err := p.skip(0); err != nil {
			return nil, err
		}
		out = append(out, string(p.s[start:p.i]))
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			return out, p.end()
		}
		return nil, errSyntax
	}
}
