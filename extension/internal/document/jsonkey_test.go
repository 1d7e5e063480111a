package document

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// referenceJSONKey is how the server read a key before values kept an index: encoding/json
// parsing the whole text into a map on every request.
func referenceJSONKey(text, k string) (string, error) {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(text), &m) != nil || m == nil {
		return "", ErrNotObject
	}
	raw, ok := m[k]
	if !ok {
		return "", ErrNoKey
	}
	if string(raw) == "null" {
		return "", ErrNullKey
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	return string(raw), nil
}

// checkJSONKey compares v.JSONKey(k) with the reference over the text v holds. Failure
// messages name the key and the error, never a value.
func checkJSONKey(t *testing.T, v Value, k string) {
	t.Helper()
	text, ok := v.Text()
	if !ok {
		t.Fatal("the value has no text")
	}
	want, wantErr := referenceJSONKey(text, k)
	got, err := v.JSONKey(k)
	if !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
		t.Fatalf("key %q: error %v, the reference's %v", k, err, wantErr)
	}
	if got != want {
		t.Fatalf("key %q: the value differs from the reference's (%d bytes, want %d)", k, len(got), len(want))
	}
}

var jsonKeyTexts = []string{
	`{"a":"s3cr3t","b":1,"c":{"d":[1,2,{"e":"}"}]},"f":null,"g":"null","h":true,"i":-1.5e3}`,
	` { "a" : "x" , "a" : "last wins" } `,
	`{"esc\u0061ped":"v\"q\\\/\b\f\n\r\t\u00e9\ud83d\ude00","k\"ey":"<>&\u2028"}`,
	`{"lone":"\ud800x","pair":"\ud83d\ude00","low":"\udc00"}`,
	`{"nested":{"a":"b"},"arr":[ "x" , {"y":"]"} ],"s":"{\"inner\":1}"}`,
	`{"ü":"ñ","日本":"語","emoji😀":"😀"}`,
	`{}`, `[]`, `null`, `"str"`, `12`, `{"a":1`, `{"a":1}x`, `{"a":1}{"b":2}`, `{"a":01}`, `not json`, ``, `{"a":"\x"}`,
	`{"a":"` + strings.Repeat("<", 100) + `","b":"` + strings.Repeat(`\"`, 50) + `"}`,
}

func TestJSONKeyAnswersAsEncodingJSON(t *testing.T) {
	for i, text := range jsonKeyTexts {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			v, err := RenderSecret(secretOf("s", text))
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"a", "b", "c", "f", "g", "h", "i", "escaped", `k"ey`, "lone", "pair", "low", "nested", "arr", "s", "ü", "日本", "emoji😀", "missing", ""} {
				checkJSONKey(t, v, k)
			}
		})
	}
}

// The same for a parameter's Value, and whatever the names and ARNs around the text hold: the
// text is found in the document by its key, and a name that holds the key's own spelling does
// not mislead it.
func TestTextIsFoundWhateverTheNames(t *testing.T) {
	tricky := []string{`x","SecretString":"y`, `,"SecretString":"`, `\",\"Value\":\"`, `,"Value":"z"`, "plain"}
	for _, name := range tricky {
		text := `{"a":"s3cr3t-` + name + `"}`
		sv, err := RenderSecret(&secretsmanager.GetSecretValueOutput{ARN: aws.String("arn:" + name), Name: aws.String(name), SecretString: aws.String(text)})
		if err != nil {
			t.Fatal(err)
		}
		pv, err := RenderParameter(&ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{ARN: aws.String("arn:" + name), Name: aws.String(name),
			DataType: aws.String(name), Selector: aws.String(name), SourceResult: aws.String(name), Value: aws.String(text), Type: ssmtypes.ParameterTypeString}})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []Value{sv, pv} {
			if got, ok := v.Text(); !ok || got != text {
				t.Fatalf("name %q: the text read from the document differs from the value's", name)
			}
			checkJSONKey(t, v, "a")
		}
	}
	// No text: a binary secret, a null value.
	bin, _ := RenderSecret(&secretsmanager.GetSecretValueOutput{Name: aws.String(`,"SecretString":"x`), SecretBinary: []byte{1}})
	if _, err := bin.JSONKey("a"); !errors.Is(err, ErrNoText) || bin.HasText() {
		t.Fatalf("binary secret: %v, has text %t", err, bin.HasText())
	}
}

// The index is built on the first jsonKey request, never for a value nobody asks a key of,
// once, and its bytes then count in the value's size, close to what it holds.
func TestJSONKeyIndexIsBuiltOnceOnDemand(t *testing.T) {
	var b strings.Builder
	b.WriteByte('{')
	for i := range 3500 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"key-%04d":"s3cr3t-%04d"`, i, i)
	}
	b.WriteByte('}')
	v, err := RenderSecret(secretOf("many", b.String()))
	if err != nil {
		t.Fatal(err)
	}
	copyOfV := v // as the cache hands out copies
	size := v.Size()
	if v.Indexed() || size > len(v.Body)+8<<10 {
		t.Fatalf("before any jsonKey request: indexed %t, size %d for a %d-byte document", v.Indexed(), size, len(v.Body))
	}
	before := liveHeap()
	if got, err := v.JSONKey("key-1234"); err != nil || got != "s3cr3t-1234" {
		t.Fatalf("key-1234: %v, right value %t", err, got == "s3cr3t-1234")
	}
	grown := int64(liveHeap()) - int64(before)
	if !copyOfV.Indexed() {
		t.Fatal("a copy of the value does not share its index")
	}
	added := int64(copyOfV.Size() - size)
	if added < grown*9/10 || added > grown*3/2 {
		t.Fatalf("the index holds %d KiB of heap, counted as %d KiB", grown>>10, added>>10)
	}
	t.Logf("3,500 keys, %d KiB document: the index holds %d KiB, counted %d KiB", len(v.Body)>>10, grown>>10, added>>10)
	allocs := testing.AllocsPerRun(50, func() { _, _ = copyOfV.JSONKey("key-3499") })
	if allocs > 4 {
		t.Fatalf("a lookup makes %.0f allocations: the index is rebuilt?", allocs)
	}
}

// FuzzJSONKey holds JSONKey to encoding/json's answers for any text and key.
func FuzzJSONKey(f *testing.F) {
	for _, text := range jsonKeyTexts {
		f.Add(text, "a", "name")
	}
	f.Add(`{"a":"\u2028<&>"}`, "a", `x","SecretString":"`)
	f.Fuzz(func(t *testing.T, text, k, name string) {
		v, err := RenderSecret(&secretsmanager.GetSecretValueOutput{Name: aws.String(name), SecretString: aws.String(text)})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := v.Text()
		if !ok || utf8.ValidString(text) && got != text {
			t.Fatal("the text read from the document differs from the value's")
		}
		checkJSONKey(t, v, k)
	})
}
