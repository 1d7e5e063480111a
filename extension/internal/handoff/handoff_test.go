package handoff

import (
	"slices"
	"strings"
	"testing"
)

func TestArgsRoundTrip(t *testing.T) {
	for _, s := range []State{
		{ID: "id-1", FunctionName: "fn", AccountID: "123456789012", Listeners: []int{3, 4}, Next: 5},
		{ID: "id-2", Listeners: []int{7}, Next: -1}, // no account (a Lambda without the feature), no /next
	} {
		args := s.Args("/opt/extensions/kinko")
		if args[0] != "/opt/extensions/kinko" {
			t.Errorf("argv[0] = %q", args[0])
		}
		got, ok, err := Parse(args)
		if !ok || err != nil || got.ID != s.ID || got.FunctionName != s.FunctionName || got.AccountID != s.AccountID ||
			!slices.Equal(got.Listeners, s.Listeners) || got.Next != s.Next {
			t.Errorf("Parse(%q) = %+v, %v, %v; want %+v", args, got, ok, err, s)
		}
	}
}

func TestParse(t *testing.T) {
	if _, ok, err := Parse([]string{"/opt/extensions/kinko"}); ok || err != nil {
		t.Errorf("no handoff: ok %v, err %v", ok, err)
	}
	for _, args := range [][]string{
		{"k", Flag},
		{"k", Flag, "", "fn", "", "3", "-1"},       // no id
		{"k", Flag, "id", "fn", "", "", "-1"},      // no listener
		{"k", Flag, "id", "fn", "", "x", "-1"},     // not a descriptor
		{"k", Flag, "id", "fn", "", "1", "-1"},     // stdout is no listener
		{"k", Flag, "id", "fn", "", "3", "2"},      // stderr is no connection
		{"k", Flag, "id", "fn", "", "3", "-2"},     // below none
		{"k", Flag, "id", "fn", "", "3", "4", "x"}, // too many
	} {
		if _, ok, err := Parse(args); !ok || err == nil || !strings.Contains(err.Error(), Flag) {
			t.Errorf("Parse(%q): ok %v, err %v; want an error naming %s", args, ok, err, Flag)
		}
	}
}
