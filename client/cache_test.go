package client

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/client/internal/memo"
)

// fakeClock is the clock the client and fakeKinko share, moved by the test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeKinko answers like kinko on the fake clock: one value per request key, stored for
// life, answered with kinko's Cache-Status (ttl = whole seconds left, rounded down, as the
// server does), refreshed ahead once a hit comes past 0.8 of life. mode switches it to a
// stale, error or AWS-extension answer. The value is "<id>/<key>/v<n>", n the upstream
// version, so a test can tell which version and which request an answer belongs to.
type fakeKinko struct {
	t     *testing.T
	clock *fakeClock
	life  time.Duration
	srv   *httptest.Server

	mu       sync.Mutex
	version  int // the upstream's current version
	entries  map[string]*fakeEntry
	mode     string // "" normal; "stale", "error", "aws"
	requests int
	fetches  int // upstream calls
	expired  int // requests that found their entry expired: a stall kinko's refresh ahead should prevent
	queries  []string
}

type fakeEntry struct {
	version   int
	stored    time.Time
	refreshed bool // refresh ahead started
}

func newFakeKinko(t *testing.T, clock *fakeClock, life time.Duration) *fakeKinko {
	k := &fakeKinko{t: t, clock: clock, life: life, version: 1, entries: map[string]*fakeEntry{}}
	k.srv = httptest.NewServer(http.HandlerFunc(k.serve))
	t.Cleanup(k.srv.Close)
	return k
}

func (k *fakeKinko) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := k.clock.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.requests++
	k.queries = append(k.queries, r.URL.Path+"?"+r.URL.RawQuery)
	if r.Header.Get(TokenHeader) != testToken {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	id := q.Get("secretId") + q.Get("name")
	key := r.URL.Path + "?" + strings.NewReplacer("refreshNow=true&", "", "&refreshNow=true", "").Replace(r.URL.RawQuery)
	var status string
	e := k.entries[key]
	switch {
	case k.mode == "error":
		w.Header().Set("Cache-Status", "kinko; fwd=miss")
		writeJSON(w, 500, map[string]string{"__type": "InternalServiceError", "message": "upstream failed"})
		return
	case k.mode == "stale" && e != nil:
		status = "kinko; hit; detail=stale-if-error"
	case q.Get("refreshNow") == "true":
		k.fetches++
		e = &fakeEntry{version: k.version, stored: now}
		k.entries[key] = e
		status = "kinko; fwd=request; stored; ttl=" + strconv.Itoa(int(k.life/time.Second))
	case e == nil || now.Sub(e.stored) >= k.life:
		if e != nil {
			k.expired++
		}
		k.fetches++
		e = &fakeEntry{version: k.version, stored: now}
		k.entries[key] = e
		status = "kinko; fwd=miss; stored; ttl=" + strconv.Itoa(int(k.life/time.Second))
	default:
		left := k.life - now.Sub(e.stored)
		status = "kinko; hit; ttl=" + strconv.FormatInt(int64(left/time.Second), 10)
		if age := now.Sub(e.stored); age >= k.life*8/10 && !e.refreshed {
			// Refresh ahead: answer this hit from the entry, store the fetch for the next.
			e.refreshed = true
			k.fetches++
			defer func() { k.entries[key] = &fakeEntry{version: k.version, stored: now} }()
		}
	}
	if k.mode == "aws" {
		status = ""
	}
	if status != "" {
		w.Header().Set("Cache-Status", status)
	}
	value := id + "/" + q.Get("jsonKey") + "/v" + strconv.Itoa(e.version)
	switch {
	case q.Has("jsonKey"):
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, value)
	case r.URL.Path == "/systemsmanager/parameters/get":
		writeJSON(w, 200, map[string]any{"Parameter": map[string]any{"Name": id, "Value": value, "Version": e.version}})
	default:
		writeJSON(w, 200, map[string]any{"Name": id, "SecretString": value, "SecretBinary": []byte{1, 2, 3},
			"VersionId": "v" + strconv.Itoa(e.version), "VersionStages": []string{"AWSCURRENT"}})
	}
}

func (k *fakeKinko) setMode(m string) {
	k.mu.Lock()
	k.mode = m
	k.mu.Unlock()
}

func (k *fakeKinko) rotate() {
	k.mu.Lock()
	k.version++
	k.mu.Unlock()
}

func (k *fakeKinko) counts() (requests, fetches, expired int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.requests, k.fetches, k.expired
}

func (k *fakeKinko) lastQuery() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.queries) == 0 {
		return ""
	}
	return k.queries[len(k.queries)-1]
}

func cachingClient(t *testing.T, k *fakeKinko, opts ...Option) *Client {
	t.Helper()
	return newClient(t, k.srv.URL, sessionEnv(), append([]Option{WithClock(k.clock.Now)}, opts...)...)
}

// readKey reads id's key through c and returns the version it got and the Cache-Status.
// Failures name the version, never a value.
func readKey(t *testing.T, c *Client, id string, opts ...SecretOption) (version int, status string) {
	t.Helper()
	v, err := c.SecretJSONKey(t.Context(), id, "k", append(opts, CacheStatusTo(&status))...)
	if err != nil {
		t.Fatalf("SecretJSONKey(%s): %v", id, err)
	}
	prefix := id + "/k/v"
	n, err := strconv.Atoi(strings.TrimPrefix(v, prefix))
	if !strings.HasPrefix(v, prefix) || err != nil {
		t.Fatalf("SecretJSONKey(%s) answered another request's value (%d bytes; not printed)", id, len(v))
	}
	return n, status
}

func TestCacheServesFromMemoryInsideHalfTheTTL(t *testing.T) {
	clock := newFakeClock()
	k := newFakeKinko(t, clock, 300*time.Second)
	c := cachingClient(t, k)

	if _, st := readKey(t, c, "app"); st != "kinko; fwd=miss; stored; ttl=300" {
		t.Fatalf("first read: Cache-Status %q, want kinko's miss", st)
	}
	clock.Advance(149 * time.Second)
	if _, st := readKey(t, c, "app"); st != "client; hit; ttl=1" {
		t.Errorf("at 149 s: Cache-Status %q, want the client's own hit with 1 s left", st)
	}
	if n, _, _ := k.counts(); n != 1 {
		t.Fatalf("kinko got %d requests inside the window, want 1", n)
	}
	clock.Advance(time.Second) // 150 s: half of kinko's ttl=300 is over
	if _, st := readKey(t, c, "app"); st != "kinko; hit; ttl=150" {
		t.Errorf("at 150 s: Cache-Status %q, want kinko's hit", st)
	}
	// kinko said 150 s are left: the client keeps it 75 s more.
	clock.Advance(74 * time.Second)
	if _, st := readKey(t, c, "app"); st != "client; hit; ttl=1" {
		t.Errorf("at 224 s: Cache-Status %q, want the client's hit", st)
	}
	clock.Advance(time.Second)
	if _, st := readKey(t, c, "app"); st != "kinko; hit; ttl=75" {
		t.Errorf("at 225 s: Cache-Status %q, want kinko's hit", st)
	}
	if n, _, _ := k.counts(); n != 3 {
		t.Errorf("kinko got %d requests, want 3", n)
	}
}

// The same answer either way: only CacheStatus tells a hit in memory from kinko's answer.
func TestCacheAnswersTheSameAsTheExtension(t *testing.T) {
	clock := newFakeClock()
	k := newFakeKinko(t, clock, 300*time.Second)
	c := cachingClient(t, k)
	off := cachingClient(t, k, WithoutCache())
	ctx := t.Context()

	fromKinko, err := c.Secret(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	fromKinko.SecretBinary[0] = 99 // a caller wiping its copy must not reach the kept one
	fromKinko.VersionStages[0] = "changed"
	fromMemory, err := c.Secret(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	direct, err := off.Secret(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if n, _, _ := k.counts(); n != 2 {
		t.Fatalf("kinko got %d requests, want 2 (the first read, the client without cache)", n)
	}
	if !strings.HasPrefix(fromMemory.CacheStatus, "client; hit; ttl=") || !strings.HasPrefix(direct.CacheStatus, "kinko; hit; ttl=") {
		t.Errorf("CacheStatus from memory %q, direct %q", fromMemory.CacheStatus, direct.CacheStatus)
	}
	fromMemory.CacheStatus, direct.CacheStatus = "", ""
	if fmt.Sprint(*fromMemory) != fmt.Sprint(*direct) {
		// Print the fields that differ by name only: values are secrets.
		t.Errorf("the answer from memory differs from the extension's: %s vs %s",
			describe(fromMemory.SecretString, fromMemory.Name, fromMemory.VersionId, fmt.Sprint(fromMemory.VersionStages), fmt.Sprint(len(fromMemory.SecretBinary))),
			describe(direct.SecretString, direct.Name, direct.VersionId, fmt.Sprint(direct.VersionStages), fmt.Sprint(len(direct.SecretBinary))))
	}

	p1, err := c.Parameter(ctx, "/app/db", true)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := c.Parameter(ctx, "/app/db", true)
	if err != nil {
		t.Fatal(err)
	}
	if p1.Value != p2.Value || p1.Version != p2.Version || !strings.HasPrefix(p2.CacheStatus, "client; hit; ttl=") {
		t.Errorf("parameter from memory: same value %t, versions %d %d, CacheStatus %q", p1.Value == p2.Value, p1.Version, p2.Version, p2.CacheStatus)
	}
}

// A function reading once a second: a rotated value reaches it within kinko's TTL, kinko
// still refreshes ahead (never found expired: no stall), and Secrets Manager sees about
// the calls per TTL it would without the client's cache.
func TestRotationReachesTheFunctionWithinKinkosTTL(t *testing.T) {
	const life = 300 * time.Second
	for _, rotateAt := range []time.Duration{10 * time.Second, 151 * time.Second, 239 * time.Second, 299 * time.Second, 1000 * time.Second} {
		t.Run(rotateAt.String(), func(t *testing.T) {
			clock := newFakeClock()
			k := newFakeKinko(t, clock, life)
			c := cachingClient(t, k)
			start := clock.Now()
			const run = 3000 * time.Second
			var rotated time.Time
			var reached time.Duration = -1
			for elapsed := time.Duration(0); elapsed <= run; elapsed += time.Second {
				if elapsed == rotateAt {
					k.rotate()
					rotated = clock.Now()
				}
				v, _ := readKey(t, c, "app")
				if v == 2 && reached < 0 {
					reached = clock.Now().Sub(rotated)
				}
				if v == 1 && !rotated.IsZero() && clock.Now().Sub(rotated) > life {
					t.Fatalf("%v after the rotation the function still read the old version (kinko's TTL is %v)", clock.Now().Sub(rotated), life)
				}
				clock.Advance(time.Second)
			}
			requests, fetches, expired := k.counts()
			t.Logf("rotated at %v: new value in use %v later; %d reads, kinko saw %d, Secrets Manager %d calls in %v",
				rotateAt, reached, run/time.Second+1, requests, fetches, clock.Now().Sub(start))
			if reached < 0 || reached > life {
				t.Errorf("the rotated value reached the function %v after the rotation, want within %v", reached, life)
			}
			if expired != 0 {
				t.Errorf("kinko found its entry expired %d times: the client's reads came too late for its refresh ahead", expired)
			}
			// Without the client's cache kinko refreshes at 0.8 of life: one call per 240 s.
			if want := int(run/(life*8/10)) + 1; fetches > want+1 || fetches < want-1 {
				t.Errorf("Secrets Manager got %d calls in %v, want about %d (one per 0.8 TTL, as without the client's cache)", fetches, run, want)
			}
			if requests > 100 {
				t.Errorf("kinko saw %d of the %d reads: the client's cache is not holding values", requests, run/time.Second+1)
			}
		})
	}
}

func TestStaleErrorAndAWSAnswersAreNotKept(t *testing.T) {
	for _, mode := range []string{"stale", "error", "aws"} {
		t.Run(mode, func(t *testing.T) {
			clock := newFakeClock()
			k := newFakeKinko(t, clock, 300*time.Second)
			c := cachingClient(t, k)
			readKey(t, c, "app") // fresh, kept for 150 s
			clock.Advance(150 * time.Second)
			k.setMode(mode)
			before, _, _ := k.counts()
			for range 3 {
				var status string
				_, err := c.SecretJSONKey(t.Context(), "app", "k", CacheStatusTo(&status))
				if (err != nil) != (mode == "error") {
					t.Fatalf("err = %v", err)
				}
				if strings.HasPrefix(status, "client;") {
					t.Fatalf("a %s answer was served from the client's memory: %q", mode, status)
				}
				clock.Advance(time.Second)
			}
			if n, _, _ := k.counts(); n-before != 3 {
				t.Errorf("kinko got %d of 3 reads after a %s answer, want all", n-before, mode)
			}
		})
	}
}

func TestRefreshNowBypassesAndReplaces(t *testing.T) {
	clock := newFakeClock()
	k := newFakeKinko(t, clock, 300*time.Second)
	c := cachingClient(t, k)

	readKey(t, c, "app")
	k.rotate()
	if v, st := readKey(t, c, "app"); v != 1 || !strings.HasPrefix(st, "client; hit") {
		t.Fatalf("before refreshNow: version %d, %q; want the kept version 1", v, st)
	}
	v, st := readKey(t, c, "app", RefreshNow())
	if v != 2 || st != "kinko; fwd=request; stored; ttl=300" || !strings.Contains(k.lastQuery(), "refreshNow=true") {
		t.Fatalf("refreshNow: version %d, %q, query %q; want version 2 from kinko", v, st, k.lastQuery())
	}
	if v, st := readKey(t, c, "app"); v != 2 || st != "client; hit; ttl=150" {
		t.Errorf("after refreshNow: version %d, %q; want the refreshed version 2 from memory", v, st)
	}
	if n, _, _ := k.counts(); n != 2 {
		t.Errorf("kinko got %d requests, want 2", n)
	}

	// A refresh that fails, or that the client may not keep, leaves nothing kept: the caller
	// distrusted the old value.
	for _, mode := range []string{"error", "aws"} {
		k.setMode(mode)
		_, _ = c.SecretJSONKey(t.Context(), "app", "k", RefreshNow())
		k.setMode("")
		before, _, _ := k.counts()
		if _, st := readKey(t, c, "app"); strings.HasPrefix(st, "client;") {
			t.Errorf("after a refreshNow answered %s, the next read came from memory (%q)", mode, st)
		}
		if n, _, _ := k.counts(); n != before+1 {
			t.Errorf("after a refreshNow answered %s: kinko got %d requests, want 1", mode, n-before)
		}
	}
}

func TestCacheKeyIsTheWholeRequest(t *testing.T) {
	clock := newFakeClock()
	k := newFakeKinko(t, clock, 300*time.Second)
	c := cachingClient(t, k)
	ctx := t.Context()
	reads := []func() error{
		func() error { _, err := c.Secret(ctx, "app"); return err },
		func() error { _, err := c.Secret(ctx, "app", VersionStage("AWSPREVIOUS")); return err },
		func() error { _, err := c.Secret(ctx, "app", VersionID("v1")); return err },
		func() error { _, err := c.Secret(ctx, "other"); return err },
		func() error { _, err := c.SecretJSONKey(ctx, "app", "k"); return err },
		func() error { _, err := c.SecretJSONKey(ctx, "app", "k2"); return err },
		func() error { _, err := c.SecretJSONKey(ctx, "app", "k", VersionStage("AWSPENDING")); return err },
		func() error { _, err := c.Parameter(ctx, "app", false); return err },
		func() error { _, err := c.Parameter(ctx, "app", true); return err },
		func() error { _, err := c.Parameter(ctx, "app", true, ParameterVersion(3)); return err },
		func() error { _, err := c.Parameter(ctx, "app", true, ParameterLabel("prod")); return err },
	}
	for round := range 2 {
		for i, read := range reads {
			if err := read(); err != nil {
				t.Fatalf("round %d read %d: %v", round, i, err)
			}
		}
		if n, _, _ := k.counts(); n != len(reads) {
			t.Fatalf("after round %d kinko got %d requests, want %d: one per distinct request, the second round from memory", round+1, n, len(reads))
		}
	}
	if q := k.lastQuery(); q != "/systemsmanager/parameters/get?label=prod&name=app&withDecryption=true" {
		t.Errorf("last query = %q", q)
	}
	if _, err := c.Parameter(ctx, "app", true, ParameterVersion(1), ParameterLabel("x")); err == nil {
		t.Error("version and label together: want an error")
	}
	if _, err := c.Parameter(ctx, "app", true, ParameterRefreshNow()); err != nil || !strings.Contains(k.lastQuery(), "refreshNow=true") {
		t.Errorf("ParameterRefreshNow: %v, query %q", err, k.lastQuery())
	}
}

func TestCacheIsBoundedLRU(t *testing.T) {
	clock := newFakeClock()
	k := newFakeKinko(t, clock, 300*time.Second)
	c := cachingClient(t, k, WithCacheSize(2))
	readKey(t, c, "a")
	readKey(t, c, "b")
	readKey(t, c, "a") // a is now the most recently used
	readKey(t, c, "c") // evicts b
	before, _, _ := k.counts()
	if _, st := readKey(t, c, "a"); !strings.HasPrefix(st, "client;") {
		t.Errorf("a: %q, want a hit in memory", st)
	}
	if _, st := readKey(t, c, "b"); strings.HasPrefix(st, "client;") {
		t.Errorf("b: %q, want it evicted", st)
	}
	if n, _, _ := k.counts(); n-before != 1 {
		t.Errorf("kinko got %d requests, want 1 (b)", n-before)
	}
}

func TestCacheSwitchedOff(t *testing.T) {
	clock := newFakeClock()
	k := newFakeKinko(t, clock, 300*time.Second)
	for _, opt := range []Option{WithoutCache(), WithCacheSize(0)} {
		c := cachingClient(t, k, opt)
		before, _, _ := k.counts()
		for range 3 {
			if _, st := readKey(t, c, "app"); strings.HasPrefix(st, "client;") {
				t.Fatalf("switched off, an answer came from memory: %q", st)
			}
		}
		if n, _, _ := k.counts(); n-before != 3 {
			t.Errorf("switched off: kinko got %d of 3 reads", n-before)
		}
	}
	if _, err := New(sessionEnv(), WithCacheSize(-1)); err == nil || !strings.Contains(err.Error(), "0 to switch") {
		t.Errorf("negative size: err = %v, want one saying how to switch off", err)
	}
	if _, err := New(sessionEnv(), WithClock(nil)); err == nil {
		t.Error("nil clock: want an error")
	}
}

// Many goroutines, several keys, the clock moving and rotations: every answer belongs to
// its own request, and run with -race, nothing is shared unsafely.
func TestCacheConcurrentUse(t *testing.T) {
	clock := newFakeClock()
	k := newFakeKinko(t, clock, 10*time.Second)
	c := cachingClient(t, k, WithCacheSize(3))
	var bad atomic.Int32
	var readers sync.WaitGroup
	for g := range 8 {
		readers.Go(func() {
			for i := range 200 {
				clock.Advance(20 * time.Millisecond) // 8 readers: windows of 5 s end every ~30 reads
				if g == 0 && i%40 == 0 {
					k.rotate()
				}
				id := "s" + strconv.Itoa((g+i)%5)
				v, err := c.SecretJSONKey(t.Context(), id, "k")
				if err != nil || !strings.HasPrefix(v, id+"/k/v") {
					bad.Add(1)
				}
				if i%50 == 0 {
					if s, err := c.Secret(t.Context(), id, RefreshNow()); err != nil || !strings.HasPrefix(s.SecretString, id+"//v") {
						bad.Add(1)
					}
				}
			}
		})
	}
	readers.Wait()
	if n := bad.Load(); n != 0 {
		t.Errorf("%d reads failed or answered another request's value", n)
	}
}

func TestClientStatus(t *testing.T) {
	for left, want := range map[time.Duration]string{
		120*time.Second + 999*time.Millisecond: "client; hit; ttl=120",
		999 * time.Millisecond:                 "client; hit; ttl=0",
	} {
		if got := clientStatus(left); got != want || memo.KeepFor([]string{got}) != time.Duration(math.Floor(left.Seconds()))*time.Second/2 {
			t.Errorf("clientStatus(%v) = %q, want %q", left, got, want)
		}
	}
}

func TestNoTokenErrorIsNotKept(t *testing.T) {
	clock := newFakeClock()
	k := newFakeKinko(t, clock, 300*time.Second)
	c := newClient(t, k.srv.URL, env(nil), WithClock(clock.Now))
	for range 2 {
		if _, err := c.Secret(t.Context(), "app"); !errors.Is(err, ErrNoToken) {
			t.Fatalf("err = %v, want ErrNoToken", err)
		}
	}
}
