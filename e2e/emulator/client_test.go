package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRIE answers invokes like the emulator, and records how many ran at once.
type fakeRIE struct {
	srv               *httptest.Server
	inFlight, maxSeen atomic.Int32
	release           chan struct{} // when not nil, each invoke waits for a value
}

func newFakeRIE(t *testing.T, release chan struct{}) *fakeRIE {
	f := &fakeRIE{release: release}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != InvokePath || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		n := f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		for {
			m := f.maxSeen.Load()
			if n <= m || f.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		body, _ := io.ReadAll(r.Body)
		if f.release != nil {
			<-f.release
		} else {
			time.Sleep(2 * time.Millisecond) // long enough for a second invoke to overlap, were it let through
		}
		w.Write(body) // echo
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func TestInvokesRunOneAtATime(t *testing.T) {
	f := newFakeRIE(t, nil)
	c := NewClient(f.srv.URL, 10*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			want := fmt.Sprintf(`{"n":%d}`, i)
			got, err := c.Invoke(t.Context(), []byte(want))
			if err != nil || string(got) != want {
				errs <- errors.New("invoke " + want + ": got " + string(got))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if m := f.maxSeen.Load(); m != 1 {
		t.Errorf("the emulator saw %d invokes at once, want 1", m)
	}
}

func TestQueuedInvokeGivesUpWithItsContext(t *testing.T) {
	release := make(chan struct{})
	f := newFakeRIE(t, release)
	c := NewClient(f.srv.URL, 10*time.Second)

	first := make(chan error, 1)
	go func() { _, err := c.Invoke(context.Background(), []byte(`{}`)); first <- err }()
	deadline := time.Now().Add(5 * time.Second)
	for f.inFlight.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Invoke(ctx, []byte(`{}`)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a queued invoke whose context ended: err = %v, want DeadlineExceeded", err)
	}
	release <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

func TestSentInvokeIsNotAbandoned(t *testing.T) {
	release := make(chan struct{})
	f := newFakeRIE(t, release)
	c := NewClient(f.srv.URL, 10*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Invoke(ctx, []byte(`{"a":1}`)); done <- err }()
	deadline := time.Now().Add(5 * time.Second)
	for f.inFlight.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel() // the caller gives up while the emulator works
	select {
	case err := <-done:
		t.Fatalf("Invoke returned (%v) while the emulator was still busy with it", err)
	case <-time.After(50 * time.Millisecond):
	}
	release <- struct{}{}
	if err := <-done; err != nil {
		t.Errorf("the invoke should finish despite the cancelled caller: %v", err)
	}
}

func TestEmulatorErrorStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "init failed")
	}))
	defer srv.Close()
	_, err := NewClient(srv.URL, time.Second).Invoke(t.Context(), []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "502") || !strings.Contains(err.Error(), "init failed") {
		t.Errorf("err = %v, want the status and the body", err)
	}
}
