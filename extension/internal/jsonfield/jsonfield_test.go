package jsonfield

import (
	"encoding/json"
	"testing"
)

func TestField(t *testing.T) {
	doc := `{"ARN":"a","SecretString":"line1\nline2 = \u00e9 \ud83d\ude00 キー","SecretBinary":null,"n":-1.5e3,"o":{"x":[1,true,null]},"SecretString2":"x"}`
	for _, tc := range []struct {
		key, want       string
		isString, found bool
	}{
		{"SecretString", "line1\nline2 = é 😀 キー", true, true},
		{"SecretBinary", "null", false, true},
		{"n", "-1.5e3", false, true},
		{"o", `{"x":[1,true,null]}`, false, true},
		{"secretstring", "", false, false}, // exact keys, unlike encoding/json's struct fields
	} {
		v, isString, found, err := Field([]byte(doc), tc.key)
		if err != nil || v != tc.want || isString != tc.isString || found != tc.found {
			t.Errorf("Field(%q) = %q %v %v %v, want %q %v %v", tc.key, v, isString, found, err, tc.want, tc.isString, tc.found)
		}
	}
	for _, bad := range []string{``, `[]`, `"s"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":01}`, `{"a":"\x"}`, `{"a":"` + "\n" + `"}`, `{"a":tru}`, `{} x`, `{"a":1 "b":2}`} {
		if _, _, _, err := Field([]byte(bad), "a"); err == nil {
			t.Errorf("Field(%q) accepted it", bad)
		}
	}
}

// FuzzField holds field to encoding/json: whenever encoding/json reads doc as an object,
// field finds the same keys with the same values.
func FuzzField(f *testing.F) {
	for _, s := range []string{
		`{"SecretString":"v"}`, `{"a":"\ud800x","b":"\udc00","c":"\ud800\u0041"}`, `{"a":"\xff\xfe"}`,
		`{"a":{"b":[1,2,{"c":null}]},"a":"last"}`, `{"Parameter":{"Value":"x\u0000y"}}`, ` { "k" : 1e-7 } `,
	} {
		f.Add([]byte(s), "a")
	}
	f.Fuzz(func(t *testing.T, doc []byte, key string) {
		var ref map[string]json.RawMessage
		refErr := json.Unmarshal(doc, &ref)
		v, isString, found, err := Field(doc, key)
		if refErr != nil || ref == nil {
			return // field may be more lenient about invalid documents; it only reads kinko's
		}
		if err != nil {
			t.Fatalf("encoding/json reads the document, field says %v", err)
		}
		raw, ok := ref[key]
		if ok != found {
			t.Fatalf("key present: encoding/json %v, field %v", ok, found)
		}
		if !ok {
			return
		}
		var s string
		if json.Unmarshal(raw, &s) == nil && raw[0] == '"' {
			if !isString || v != s {
				t.Fatalf("string value differs from encoding/json's (lengths %d and %d)", len(v), len(s))
			}
		} else if isString || v != string(raw) {
			t.Fatalf("non-string value differs from encoding/json's")
		}
	})
}
