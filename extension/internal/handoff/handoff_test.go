package handoff

import (
	"slices"
	"strings"
	"testing"
)

func TestEncodeRoundTrip(t *testing.T) {
	for _, s := range []State{
		{ID: "id-1", FunctionName: "fn", AccountID: "123456789012", Listeners: []int{3, 4}, Next: 5},
		{ID: "id-2", Listeners: []int{7}, Next: -1}, // no account (a Lambda without the feature), no /next
	} {
		env := map[string]string{EnvVar: s.Encode()}
		got, ok, err := FromEnv(func(k string) string { return env[k] })
		if !ok || err != nil || got.ID != s.ID || got.FunctionName != s.FunctionName || got.AccountID != s.AccountID ||
			!slices.Equal(got.Listeners, s.Listeners) || got.Next != s.Next {
			t.Errorf("FromEnv(%q) = %+v, %v, %v; want %+v", env[EnvVar], got, ok, err, s)
		}
	}
}

func TestFromEnv(t *testing.T) {
	if _, ok, err := FromEnv(func(string) string { return "" }); ok || err != nil {
		t.Errorf("no handoff: ok %v, err %v", ok, err)
	}
	for _, v := range []string{
		"x",
		"\nfn\n\n3\n-1",         // no id
		"id\nfn\n\n\n-1",        // no listener
		"id\nfn\n\nx\n-1",       // not a descriptor
		"id\nfn\n\n1\n-1",       // stdout is no listener
		"id\nfn\n\n3\n2",        // stderr is no connection
		"id\nfn\n\n3\n-2",       // below none
		"id\nfn\n\n3\n4\nextra", // too many fields
	} {
		if _, ok, err := FromEnv(func(string) string { return v }); !ok || err == nil || !strings.Contains(err.Error(), EnvVar) {
			t.Errorf("FromEnv(%q): ok %v, err %v; want an error naming %s", v, ok, err, EnvVar)
		}
	}
}
