package memo

import (
	"testing"
	"time"
)

// An answer to a request sent before a refreshNow must not replace the refreshed one.
func TestOlderAnswerDoesNotReplaceNewer(t *testing.T) {
	cc := New[string](4)
	const k = "app/k"
	early := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	now := early.Add(time.Second)
	cc.Drop(k, now) // refreshNow sent
	cc.Put(k, early, []string{"kinko; hit; ttl=100"}, "old")
	if _, _, ok := cc.Get(k, now); ok {
		t.Fatal("an answer to a request sent before refreshNow was kept")
	}
	cc.Put(k, now, []string{"kinko; fwd=request; stored; ttl=300"}, "new")
	cc.Put(k, early, []string{"kinko; hit; ttl=100"}, "old")
	if v, _, ok := cc.Get(k, now); !ok || v != "new" {
		t.Errorf("kept %v (%t), want the refreshed answer", v == "new", ok)
	}
}

func TestKeepFor(t *testing.T) {
	half := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	cases := []struct {
		lines []string
		want  time.Duration
	}{
		{[]string{"kinko; hit; ttl=287"}, half(143.5)},
		{[]string{"kinko; fwd=miss; stored; ttl=300"}, half(150)},
		{[]string{"kinko; fwd=miss; collapsed; ttl=300"}, half(150)},
		{[]string{"kinko; fwd=request; stored; ttl=300"}, half(150)},
		{[]string{"kinko; fwd=stale; stored; ttl=300"}, half(150)}, // a fresh value fetched after the old expired
		{[]string{"kinko; hit; ttl=1"}, half(0.5)},
		{[]string{"kinko;hit;ttl=20"}, half(10)},
		{[]string{"kinko; hit; ttl=20 "}, half(10)},
		{[]string{`"kinko cache"; hit; ttl=8`}, half(4)},
		{[]string{`kinko; hit; ttl=10; detail="a,b;c"`}, half(5)},
		{[]string{"origin; fwd=miss; ttl=999, kinko; hit; ttl=10"}, half(5)},
		{[]string{"origin; ttl=999", "kinko; hit; ttl=10"}, half(5)},
		{[]string{"kinko; hit; ttl=10; key=?0; x=1.5; y=:AQ==:; z=tok/en"}, half(5)},
		{[]string{"kinko; hit; ttl=5; ttl=10"}, half(5)}, // the last of a repeated parameter wins
		// Nothing kept:
		{nil, 0},
		{[]string{""}, 0},
		{[]string{"kinko; hit"}, 0},
		{[]string{"kinko; hit; detail=stale-if-error"}, 0},
		{[]string{"kinko; hit; detail=stale-while-revalidate"}, 0},
		{[]string{"kinko; hit; ttl=100; detail=stale-while-revalidate"}, 0},
		{[]string{`kinko; hit; ttl=100; detail="stale-if-error"`}, 0},
		{[]string{"kinko; fwd=miss"}, 0},
		{[]string{"kinko; fwd=bypass"}, 0},
		{[]string{"kinko; hit; ttl=0"}, 0},
		{[]string{"kinko; hit; ttl=-30"}, 0},
		{[]string{"kinko; hit; ttl=1.5"}, 0},
		{[]string{`kinko; hit; ttl="300"`}, 0},
		{[]string{"kinko; hit; ttl="}, 0},
		{[]string{"kinko; hit; TTL=300"}, 0},
		{[]string{"kinko; hit; ttl=999999999999999"}, 0},
		{[]string{"kinko; hit; ttl=1234567890123456"}, 0},
		{[]string{"kinko; hit; ttl=300, client"}, 0}, // the nearest cache gave none
		{[]string{`kinko; hit; ttl=10; detail="unterminated`}, 0},
		{[]string{"(a b); ttl=10"}, 0},
		{[]string{"kinko; ; ttl=10"}, 0},
		{[]string{"kinko, "}, 0},
	}
	for _, tc := range cases {
		if got := KeepFor(tc.lines); got != tc.want {
			t.Errorf("KeepFor(%q) = %v, want %v", tc.lines, got, tc.want)
		}
	}
}
