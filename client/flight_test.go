package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
)

// heldKinko is an in-memory transport answering as kinko does, holding every request until the
// test releases it: inside a synctest bubble, synctest.Wait then returns once every caller is
// either in a held request or waiting for another's, so the test counts requests, not time.
type heldKinko struct {
	release chan struct{} // closed by the test: every held request (and every later one) is answered

	mu       sync.Mutex
	requests []string // path and query of each request that reached kinko
}

func newHeldKinko() *heldKinko { return &heldKinko{release: make(chan struct{})} }

func (h *heldKinko) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.requests = append(h.requests, r.URL.Path+"?"+r.URL.RawQuery)
	h.mu.Unlock()
	select {
	case <-h.release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	q := r.URL.Query()
	hdr := http.Header{"Cache-Status": {"kinko; fwd=miss; stored; ttl=300"}, "Content-Type": {"application/json"}}
	var body string
	switch {
	case q.Has("jsonKey"):
		hdr.Set("Content-Type", "text/plain")
		body = testSecret
	case r.URL.Path == "/systemsmanager/parameters/get":
		body = `{"Parameter":{"Name":"p","Value":"` + testSecret + `","Version":1}}`
	default:
		body = `{"Name":"app","SecretString":"` + testSecret + `","SecretBinary":"AQID","VersionStages":["AWSCURRENT"]}`
	}
	return &http.Response{StatusCode: http.StatusOK, Header: hdr, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

func (h *heldKinko) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.requests)
}

func heldClient(t *testing.T, h *heldKinko, opts ...Option) *Client {
	t.Helper()
	return newClient(t, "http://127.0.0.1:2773", sessionEnv(), append([]Option{WithHTTPClient(&http.Client{Transport: h})}, opts...)...)
}

// Concurrent misses of one key in one process make one request: the others wait for its
// answer (and the client's memory then holds it), each with a copy of its own.
func TestConcurrentMissesOfOneKeyMakeOneRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHeldKinko()
		c := heldClient(t, h)
		const callers = 8
		got := make([]*SecretValue, callers)
		keys := make([]string, callers)
		params := make([]*Parameter, callers)
		errs := make(chan error, 3*callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				var err error
				got[i], err = c.Secret(t.Context(), "app")
				errs <- err
			})
			wg.Go(func() {
				var err error
				keys[i], err = c.SecretJSONKey(t.Context(), "app", "k")
				errs <- err
			})
			wg.Go(func() {
				var err error
				params[i], err = c.Parameter(t.Context(), "p", true)
				errs <- err
			})
		}
		synctest.Wait()
		if n := h.count(); n != 3 {
			t.Errorf("%d callers each of three keys made %d requests, want one per key", callers, n)
		}
		close(h.release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for i := range callers {
			if got[i].SecretString != testSecret || keys[i] != testSecret || params[i].Value != testSecret {
				t.Fatalf("caller %d got another answer (values not printed)", i)
			}
			if got[i].CacheStatus != "kinko; fwd=miss; stored; ttl=300" {
				t.Errorf("caller %d: CacheStatus %q, want kinko's", i, got[i].CacheStatus)
			}
		}
		got[0].SecretBinary[0], got[0].VersionStages[0] = 99, "changed" // one caller wiping its copy reaches no other
		for i := 1; i < callers; i++ {
			if got[i].SecretBinary[0] != 1 || got[i].VersionStages[0] != "AWSCURRENT" {
				t.Fatalf("caller %d shares its answer's slices with caller 0", i)
			}
		}
		if s, err := c.Secret(t.Context(), "app"); err != nil || s.SecretBinary[0] != 1 || !strings.HasPrefix(s.CacheStatus, "client; hit;") {
			t.Errorf("the next read: %v, CacheStatus %q; want the kept answer, untouched, from memory", err, s.CacheStatus)
		}
		if n := h.count(); n != 3 {
			t.Errorf("kinko got %d requests, want 3", n)
		}
	})
}

// A refreshNow never joins a request that started before it asked, nor is joined, and with the
// client's cache off every call is a request of its own, as WithoutCache says.
func TestRefreshNowAndCacheOffAreNotCollapsed(t *testing.T) {
	for name, tc := range map[string]struct {
		opts []Option
		read func(c *Client, ctx context.Context) error
	}{
		"refreshNow": {read: func(c *Client, ctx context.Context) error { _, err := c.Secret(ctx, "app", RefreshNow()); return err }},
		"cache off":  {opts: []Option{WithoutCache()}, read: func(c *Client, ctx context.Context) error { _, err := c.Secret(ctx, "app"); return err }},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHeldKinko()
				c := heldClient(t, h, tc.opts...)
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						if err := tc.read(c, t.Context()); err != nil {
							t.Error(err)
						}
					})
				}
				synctest.Wait()
				if n := h.count(); n != 4 {
					t.Errorf("4 calls made %d requests, want 4", n)
				}
				close(h.release)
				wg.Wait()
			})
		})
	}
}

// Each caller waits for a shared request only as long as its own context lets it; the one whose
// request it is may leave, and the others then ask again rather than fail with its cancellation.
func TestCallersLeaveASharedRequestOnTheirOwnContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHeldKinko()
		c := heldClient(t, h)
		first, cancelFirst := context.WithCancel(t.Context())
		firstErr := make(chan error, 1)
		go func() {
			_, err := c.Secret(first, "app")
			firstErr <- err
		}()
		synctest.Wait() // the first caller's request is held: it leads
		impatient, cancelImpatient := context.WithCancel(t.Context())
		impatientErr := make(chan error, 1)
		go func() {
			_, err := c.Secret(impatient, "app")
			impatientErr <- err
		}()
		patientErr := make(chan error, 1)
		var patient *SecretValue
		go func() {
			var err error
			patient, err = c.Secret(t.Context(), "app")
			patientErr <- err
		}()
		synctest.Wait()
		if n := h.count(); n != 1 {
			t.Fatalf("three callers made %d requests, want 1", n)
		}

		cancelImpatient()
		if err := <-impatientErr; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `secret "app"`) {
			t.Errorf("a waiter whose context ended: err = %v, want context.Canceled naming the secret", err)
		}
		cancelFirst()
		if err := <-firstErr; !errors.Is(err, context.Canceled) {
			t.Errorf("the leader whose context ended: err = %v, want context.Canceled", err)
		}
		synctest.Wait()
		if n := h.count(); n != 2 {
			t.Fatalf("after the leader left, kinko got %d requests, want 2: the patient caller asks again", n)
		}
		select {
		case err := <-patientErr:
			t.Fatalf("the patient caller returned before its own request was answered: %v", err)
		default:
		}
		close(h.release)
		if err := <-patientErr; err != nil || patient.SecretString != testSecret {
			t.Fatalf("the patient caller: %v (value matches %t)", err, patient != nil && patient.SecretString == testSecret)
		}
	})
}
