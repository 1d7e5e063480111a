package jsonindex

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
)

// literal is text as a JSON string literal, quotes included, as encoding/json writes it.
func literal(t *testing.T, text string) []byte {
	t.Helper()
	b, err := json.Marshal(text)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The index answers from the literal itself: strings decoded, other values as JSON text, the
// last of duplicate keys, a null as no value. (package document holds every answer to
// encoding/json's, over many texts and a fuzzer.)
func TestGet(t *testing.T) {
	lit := literal(t, `{"a":"s3cr3t\n\u00e9","b":1.5,"c":{"d":[1]},"f":null,"a2":"x","a2":"last"}`)
	var ix Index
	for k, want := range map[string]string{"a": "s3cr3t\né", "b": "1.5", "c": `{"d":[1]}`, "a2": "last"} {
		if got, err := ix.Get(lit, k); err != nil || got != want {
			t.Errorf("%q: %v, value right %t", k, err, got == want)
		}
	}
	if _, err := ix.Get(lit, "f"); !errors.Is(err, ErrNullKey) {
		t.Errorf("null: %v", err)
	}
	if _, err := ix.Get(lit, "missing"); !errors.Is(err, ErrNoKey) {
		t.Errorf("missing: %v", err)
	}
	var other Index
	if _, err := other.Get(literal(t, `["a"]`), "a"); !errors.Is(err, ErrNotObject) {
		t.Errorf("an array: %v", err)
	}
	if n, m := other.Buffers(); n != 0 || m != 0 || !other.Built() {
		t.Errorf("not an object: built %t, holds %d+%d bytes", other.Built(), n, m)
	}
}

// Built once, on the first Get, whoever asks first; Buffers then says what it holds.
func TestBuiltOnceOnDemand(t *testing.T) {
	lit := literal(t, `{"key":"value","other":2}`)
	var ix Index
	if n, m := ix.Buffers(); ix.Built() || n != 0 || m != 0 {
		t.Fatalf("before any Get: built %t, %d+%d bytes", ix.Built(), n, m)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got, err := ix.Get(lit, "key"); err != nil || got != "value" {
				t.Errorf("concurrent first Get: %q %v", got, err)
			}
		})
	}
	wg.Wait()
	if n, m := ix.Buffers(); !ix.Built() || n != len("key")+len("other") || m != 2*memberSize {
		t.Fatalf("after Get: built %t, %d+%d bytes", ix.Built(), n, m)
	}
}
