package roles

import "testing"

// xmlText reads the elements of STS's answers: entities decoded, markup or an unknown entity
// refused rather than read as text.
func TestXMLText(t *testing.T) {
	doc := []byte(`<?xml version="1.0"?><R xmlns="x"><A>plain+/=</A><B>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233;&#x1F511;</B>` +
		`<C><D>nested</D></C><E>&bogus;</E><F></F><G>&#xZZ;</G></R>`)
	for tag, want := range map[string]struct {
		text string
		ok   bool
	}{
		"A": {"plain+/=", true},
		"B": {`a & b <c> "d" 'e' é🔑`, true},
		"C": {"", false}, // holds an element, not text
		"D": {"nested", true},
		"E": {"", false},
		"F": {"", true},
		"G": {"", false},
		"H": {"", false},
	} {
		if got, ok := xmlText(doc, tag); got != want.text || ok != want.ok {
			t.Errorf("%s: %q %t, want %q %t", tag, got, ok, want.text, want.ok)
		}
	}
}
