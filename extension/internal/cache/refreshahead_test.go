package cache

import (
	"testing"
	"testing/synctest"
	"time"
)

// Issue 22 point 7: a KINKO_REFRESH_AHEAD the user sets is used as given, not raised to
// 1/1.2 of the TTL: at 0.5 a hit half-way through the value's life refreshes it.
func TestExplicitRefreshAheadIsUsedAsGiven(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v1", nil)
		c := newCache(u, func(o *options) { o.RefreshAhead = 0.5 }) // lifetime = TTL = 100 s
		defer c.Close()
		get(t, c, "a")
		time.Sleep(49 * time.Second)
		get(t, c, "a")
		synctest.Wait()
		if n := u.count("a"); n != 1 {
			t.Fatalf("before half the lifetime: %d calls, want 1", n)
		}
		time.Sleep(time.Second)
		u.set("a", "v2", nil)
		if v, st, _ := get(t, c, "a"); v != "v1" || st.Outcome != Hit {
			t.Fatalf("at half the lifetime: %q %+v, want the cached v1", v, st)
		}
		synctest.Wait()
		if v, st, _ := get(t, c, "a"); u.count("a") != 2 || v != "v2" || st.TTL != 100*time.Second {
			t.Fatalf("after the hit at 0.5: %d calls, %q %+v; want one background refresh that stored v2", u.count("a"), v, st)
		}
	})
}

// The default (RefreshAhead unset) refreshes at a jittered point no earlier than 1/1.2 of the TTL.
func TestDefaultRefreshAheadIsNoEarlierThanTheFloor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("a", "v", nil)
		c := newCache(u, func(o *options) { o.RefreshAhead = 0 })
		defer c.Close()
		get(t, c, "a")
		time.Sleep(83 * time.Second) // under 100/1.2 s
		get(t, c, "a")
		synctest.Wait()
		if n := u.count("a"); n != 1 {
			t.Fatalf("before 1/1.2 of the TTL: %d calls, want 1", n)
		}
		time.Sleep(time.Second) // the earliest point (a draw of 0)
		get(t, c, "a")
		synctest.Wait()
		if n := u.count("a"); n != 2 {
			t.Fatalf("at 1/1.2 of the TTL with a draw of 0: %d calls, want 2", n)
		}
	})
}
