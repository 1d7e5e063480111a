package bench

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kinko-dev/kinko/e2e/loopback"
)

// ExtensionsAPI is the smallest Lambda Extensions API that kinko runs against outside the
// emulator: register, a blocking /event/next that answers SHUTDOWN when told, and error
// reports. It notes when the first /event/next arrives: the end of kinko's part of init.
type ExtensionsAPI struct {
	Addr string // host:port, for AWS_LAMBDA_RUNTIME_API

	srv       *loopback.Server
	firstNext chan struct{} // closed at the first /event/next
	shutdown  chan struct{} // closed by Shutdown
	stopOnce  sync.Once

	mu        sync.Mutex
	nextAt    time.Time
	nextCount int
	errors    []string // error types reported to /init/error or /exit/error

	registerAt time.Time // the first /register, under mu
}

// StartExtensionsAPI serves the API on a free loopback port.
func StartExtensionsAPI() (*ExtensionsAPI, error) {
	a := &ExtensionsAPI{firstNext: make(chan struct{}), shutdown: make(chan struct{})}
	const base = "/2020-01-01/extension"
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+base+"/register", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		if a.registerAt.IsZero() {
			a.registerAt = time.Now()
		}
		a.mu.Unlock()
		w.Header().Set("Lambda-Extension-Identifier", "bench-extension-id")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"functionName":"kinko-bench","functionVersion":"$LATEST","handler":"bootstrap"}`))
	})
	mux.HandleFunc("GET "+base+"/event/next", a.next)
	report := func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.errors = append(a.errors, r.Header.Get("Lambda-Extension-Function-Error-Type"))
		a.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}
	mux.HandleFunc("POST "+base+"/init/error", report)
	mux.HandleFunc("POST "+base+"/exit/error", report)
	srv, err := loopback.Serve("127.0.0.1:0", mux)
	if err != nil {
		return nil, err
	}
	a.srv, a.Addr = srv, strings.TrimPrefix(srv.URL, "http://")
	return a, nil
}

func (a *ExtensionsAPI) next(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.nextCount++
	if a.nextCount == 1 {
		a.nextAt = time.Now()
		close(a.firstNext)
	}
	a.mu.Unlock()
	select {
	case <-a.shutdown:
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"eventType": "SHUTDOWN", "shutdownReason": "spindown",
		"deadlineMs": time.Now().Add(2 * time.Second).UnixMilli(),
	})
}

// FirstNext is closed when the extension first calls /event/next.
func (a *ExtensionsAPI) FirstNext() <-chan struct{} { return a.firstNext }

// FirstNextAt is when that happened (zero before).
func (a *ExtensionsAPI) FirstNextAt() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nextAt
}

// RegisterAt is when the extension first called /register (zero before).
func (a *ExtensionsAPI) RegisterAt() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.registerAt
}

// Errors are the error types the extension reported.
func (a *ExtensionsAPI) Errors() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.errors...)
}

// Shutdown answers the waiting /event/next (and any later one) with SHUTDOWN.
func (a *ExtensionsAPI) Shutdown() { a.stopOnce.Do(func() { close(a.shutdown) }) }

// Close stops the API (sending SHUTDOWN first, so no /event/next is left hanging).
func (a *ExtensionsAPI) Close() error {
	a.Shutdown()
	return a.srv.Close(5 * time.Second)
}
