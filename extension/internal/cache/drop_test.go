package cache

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// A write through kinko drops every entry a matching key names, aliases included, and nothing
// else; the next read fetches the new value.
func TestDropForgetsMatchingEntriesAndTheirAliases(t *testing.T) {
	u := newUpstream()
	u.set("db", "v1", nil)
	u.set("db#pending", "p1", nil)
	u.set("other", "o1", nil)
	c := newCache(u, func(o *options) {
		o.Aliases = func(k key, _ string) []key {
			if k == "db" {
				return []key{"arn:db"}
			}
			return nil
		}
	})
	defer c.Close()
	for _, k := range []key{"db", "db#pending", "other"} {
		get(t, c, k)
	}
	u.set("db", "v2", nil)
	u.set("arn:db", "v2", nil)
	n := c.Drop(func(k key) bool { return strings.HasPrefix(string(k), "db") })
	if n != 2 || c.Len() != 1 {
		t.Fatalf("Drop removed %d entries, %d left; want 2 removed (db with its ARN, db#pending), 1 left", n, c.Len())
	}
	if v, st, err := get(t, c, "arn:db"); err != nil || v == "v1" || st.Outcome != Miss {
		t.Fatalf("the alias after Drop: %q %+v %v; want a new fetch, never the old value", v, st, err)
	}
	if v, st, _ := get(t, c, "other"); v != "o1" || st.Outcome != Hit {
		t.Fatalf("an unrelated key after Drop: %q %+v, want its cached value", v, st)
	}
}

// A read that was in flight when the write happened may hold the old value: it answers its
// callers but stores nothing, so the next read fetches again.
func TestDropFencesTheAttemptInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("db", "old", nil)
		u.gate = make(chan struct{})
		c := newCache(u, nil)
		defer c.Close()
		var got atomic.Value
		go func() {
			v, _, _ := c.Get(context.Background(), "db")
			got.Store(v)
		}()
		synctest.Wait()
		c.Drop(func(k key) bool { return k == "db" })
		close(u.gate)
		synctest.Wait()
		if got.Load() != "old" {
			t.Fatalf("the caller in flight got %v, want its answer", got.Load())
		}
		u.gate = nil
		u.set("db", "new", nil)
		if v, st, err := get(t, c, "db"); err != nil || v != "new" || st.Outcome != Miss {
			t.Fatalf("after the fenced attempt: %q %+v %v, want a new fetch of the new value", v, st, err)
		}
	})
}

// A remembered not-found ends at a Drop: the write may have created the value.
func TestDropEndsARememberedNotFound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		c := newCache(u, func(o *options) { o.NotFoundTTL = time.Minute })
		defer c.Close()
		if _, _, err := get(t, c, "db"); err == nil {
			t.Fatal("want a not-found")
		}
		u.set("db", "created", nil)
		if _, _, err := get(t, c, "db"); err == nil || u.count("db") != 1 {
			t.Fatalf("within NotFoundTTL: %v after %d calls, want the remembered not-found", err, u.count("db"))
		}
		c.Drop(func(k key) bool { return k == "db" })
		if v, _, err := get(t, c, "db"); err != nil || v != "created" {
			t.Fatalf("after Drop: %q %v, want the created value", v, err)
		}
	})
}

// feeding is a source whose answer for "path" holds the values of "path/a" and "path/b".
type feeding struct {
	source[string]
}

func (f feeding) Feed(k key, v string) []Fed[key, string] {
	if k != "path" {
		return nil
	}
	var out []Fed[key, string]
	for _, part := range strings.Split(v, ",") {
		name, val, _ := strings.Cut(part, "=")
		out = append(out, Fed[key, string]{Key: key("path/" + name), Value: val})
	}
	return out
}

// A path read stores each parameter it holds under the parameter's own key: a read of one
// of them next is a hit.
func TestFeedStoresTheValuesInsideAnAnswer(t *testing.T) {
	u := newUpstream()
	u.set("path", "a=1,b=2", nil)
	c := New[key, string](feeding{source[string]{load: u.load}}, Options[key]{TTL: func(key) time.Duration { return time.Minute }, Size: 10})
	defer c.Close()
	get(t, c, "path")
	for k, want := range map[key]string{"path/a": "1", "path/b": "2"} {
		if v, st, err := get(t, c, k); err != nil || v != want || st.Outcome != Hit {
			t.Fatalf("%s after the path read: %q %+v %v, want a hit on %q", k, v, st, err, want)
		}
	}
	if u.count("path/a")+u.count("path/b") != 0 || c.Len() != 3 {
		t.Fatalf("%d upstream calls for the parameters, %d entries; want 0 and 3", u.count("path/a")+u.count("path/b"), c.Len())
	}
}

// A path read in flight at a Drop of the path stores none of the values it holds.
func TestFeedIsFencedWithItsKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream()
		u.set("path", "a=old", nil)
		u.gate = make(chan struct{})
		c := New[key, string](feeding{source[string]{load: u.load}}, Options[key]{TTL: func(key) time.Duration { return time.Minute }, Size: 10})
		defer c.Close()
		go func() { _, _, _ = c.Get(context.Background(), "path") }()
		synctest.Wait()
		c.Drop(func(k key) bool { return strings.HasPrefix(string(k), "path") })
		close(u.gate)
		synctest.Wait()
		if c.Len() != 0 {
			t.Fatalf("%d entries after a fenced path read, want 0", c.Len())
		}
	})
}
