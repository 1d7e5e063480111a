package jsonfield

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestElements(t *testing.T) {
	for doc, want := range map[string][]string{
		`[]`:                                    {},
		` [ ] `:                                 {},
		`[{"Name":"/a/B","Value":"x"}, 1 ,"s"]`: {`{"Name":"/a/B","Value":"x"}`, `1`, `"s"`},
		`[[1,[2]],null,{"o":{}}]`:               {`[1,[2]]`, `null`, `{"o":{}}`},
	} {
		got, err := Elements([]byte(doc))
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Elements(%s) = %q, %v; want %q", doc, got, err, want)
		}
	}
	for _, bad := range []string{``, `{}`, `"s"`, `[`, `[1,]`, `[1 2]`, `[1] x`, `null`} {
		if _, err := Elements([]byte(bad)); err == nil {
			t.Errorf("Elements(%q) accepted it", bad)
		}
	}
}

// FuzzElements holds Elements to encoding/json: whenever encoding/json reads doc as an array,
// Elements finds as many elements, each the same JSON text.
func FuzzElements(f *testing.F) {
	for _, s := range []string{`[]`, `[{"Name":"/a","Value":"v"},{"Name":"/b","Value":"\u00e9"}]`, `[1,"a",null,[true]]`, ` [ {} ] `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var ref []json.RawMessage
		if json.Unmarshal(doc, &ref) != nil || ref == nil {
			return
		}
		got, err := Elements(doc)
		if err != nil || len(got) != len(ref) {
			t.Fatalf("encoding/json reads %d elements, Elements %d (%v)", len(ref), len(got), err)
		}
		for i := range ref {
			if got[i] != string(ref[i]) {
				t.Fatalf("element %d differs from encoding/json's", i)
			}
		}
	})
}
