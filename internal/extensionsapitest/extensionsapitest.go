// Package extensionsapitest is Lambda's side of the Extensions API, on loopback, for every test
// and lab program that runs kinko outside Lambda: /register, a blocking /event/next that answers
// the events the caller sends, /init/error and /exit/error, each recorded.
//
// It spells the API as AWS documents it ("Lambda Extensions API") rather than importing kinko's
// own constants (package wire): a fake that shares the client's spelling would agree with a
// wrong one. It lives at the module's root, not under extension/, so that the lab (e2e/bench,
// e2e/scale) can import it too.
package extensionsapitest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// What the fake answers /register with.
const (
	Identifier   = "ext-id-1"     // Lambda-Extension-Identifier
	FunctionName = "fn"           // functionName
	AccountID    = "123456789012" // accountId, for an extension that asks for the feature (moto's account)
)

const base = "/2020-01-01/extension"

// Event is one answer of /event/next.
type Event struct {
	EventType          string `json:"eventType"`
	DeadlineMs         int64  `json:"deadlineMs"`
	RequestID          string `json:"requestId,omitempty"`
	InvokedFunctionArn string `json:"invokedFunctionArn,omitempty"`
	ShutdownReason     string `json:"shutdownReason,omitempty"`
}

// Invoke is an INVOKE whose deadline is a minute away.
func Invoke() Event {
	return Event{EventType: "INVOKE", RequestID: "req-1", DeadlineMs: time.Now().Add(time.Minute).UnixMilli(),
		InvokedFunctionArn: "arn:aws:lambda:us-east-1:" + AccountID + ":function:" + FunctionName}
}

// Shutdown is a SHUTDOWN (reason spindown) whose deadline is in away.
func Shutdown(in time.Duration) Event {
	return Event{EventType: "SHUTDOWN", ShutdownReason: "spindown", DeadlineMs: time.Now().Add(in).UnixMilli()}
}

// Registration is one /register call.
type Registration struct {
	Header http.Header
	Body   string
	Events []string // the body's events
	At     time.Time
}

// Report is one /init/error or /exit/error call.
type Report struct {
	ErrorType string // Lambda-Extension-Function-Error-Type
	Body      string
}

// Server is a fake Extensions API. Its zero value is not usable: call NewServer.
type Server struct {
	// Addr is host:port, for AWS_LAMBDA_RUNTIME_API.
	Addr string

	srv       *httptest.Server
	events    chan Event
	firstNext chan struct{} // closed at the first /event/next
	shutdown  chan struct{} // closed by ShutdownAll
	stopOnce  sync.Once

	mu             sync.Mutex
	registrations  []Registration
	subscribed     map[string]bool // the events of the last /register
	dropped        int
	nextIDs        []string // Lambda-Extension-Identifier of every /event/next
	nextCalls      int      // of them, with the identifier /register gave
	firstNextAt    time.Time
	requests       []string // "METHOD path" of every request
	initErrors     []Report
	exitErrors     []Report
	registerStatus int
	noAccountID    bool
	failNext       bool
	stallReports   bool
}

// NewServer starts a fake on a free loopback port. Close it when done.
func NewServer() *Server {
	s := &Server{events: make(chan Event, 8), firstNext: make(chan struct{}), shutdown: make(chan struct{}),
		registerStatus: http.StatusOK}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+base+"/register", s.register)
	mux.HandleFunc("GET "+base+"/event/next", s.next)
	mux.HandleFunc("POST "+base+"/init/error", func(w http.ResponseWriter, r *http.Request) { s.report(w, r, &s.initErrors) })
	mux.HandleFunc("POST "+base+"/exit/error", func(w http.ResponseWriter, r *http.Request) { s.report(w, r, &s.exitErrors) })
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.Path)
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	s.srv.Config.ReadHeaderTimeout = 5 * time.Second
	s.srv.Config.MaxHeaderBytes = 64 << 10
	s.srv.Start()
	s.Addr = strings.TrimPrefix(s.srv.URL, "http://")
	return s
}

// Close answers every /event/next with SHUTDOWN (so none is left waiting), then stops the
// server once every call in progress has been answered.
func (s *Server) Close() {
	s.ShutdownAll()
	s.srv.Close()
}

// Send queues ev for /event/next. An event the extension did not register for is dropped, as
// Lambda does, and the /event/next waits on for the next one.
func (s *Server) Send(ev Event) { s.events <- ev }

// ShutdownAll answers the waiting /event/next, and every later one, with SHUTDOWN, its deadline
// two seconds from the answer.
func (s *Server) ShutdownAll() { s.stopOnce.Do(func() { close(s.shutdown) }) }

// RefuseRegister makes /register answer status from now on.
func (s *Server) RefuseRegister(status int) { s.mu.Lock(); s.registerStatus = status; s.mu.Unlock() }

// OmitAccountID answers /register without the account id, as a Lambda without the feature.
func (s *Server) OmitAccountID() { s.mu.Lock(); s.noAccountID = true; s.mu.Unlock() }

// FailNext makes every /event/next from now on answer 500, as a broken Lambda API would,
// including the one waiting, at its next event.
func (s *Server) FailNext() { s.mu.Lock(); s.failNext = true; s.mu.Unlock() }

// StallReports leaves every /init/error and /exit/error from now on unanswered until Close, as
// a Lambda API that does not answer.
func (s *Server) StallReports() { s.mu.Lock(); s.stallReports = true; s.mu.Unlock() }

// Registrations are the /register calls so far.
func (s *Server) Registrations() []Registration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Registration(nil), s.registrations...)
}

// LastRegistration is the latest /register call (zero before the first).
func (s *Server) LastRegistration() Registration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.registrations) == 0 {
		return Registration{Header: http.Header{}}
	}
	return s.registrations[len(s.registrations)-1]
}

// RegisterAt is when the first /register came (zero before).
func (s *Server) RegisterAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.registrations) == 0 {
		return time.Time{}
	}
	return s.registrations[0].At
}

// NextCalls is how many /event/next calls with the identifier /register gave came so far,
// waiting ones included. A call with another is refused (403) and not counted.
func (s *Server) NextCalls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.nextCalls }

// NextIdentifiers are the Lambda-Extension-Identifier headers of every /event/next so far,
// refused ones included.
func (s *Server) NextIdentifiers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.nextIDs...)
}

// FirstNext is closed when the first /event/next comes: the end of the extension's init.
func (s *Server) FirstNext() <-chan struct{} { return s.firstNext }

// FirstNextAt is when the first /event/next came (zero before).
func (s *Server) FirstNextAt() time.Time { s.mu.Lock(); defer s.mu.Unlock(); return s.firstNextAt }

// Dropped is how many events sent were dropped: the extension had not registered for them.
func (s *Server) Dropped() int { s.mu.Lock(); defer s.mu.Unlock(); return s.dropped }

// InitErrors are the /init/error reports so far.
func (s *Server) InitErrors() []Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Report(nil), s.initErrors...)
}

// ExitErrors are the /exit/error reports so far.
func (s *Server) ExitErrors() []Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Report(nil), s.exitErrors...)
}

// Requests are "METHOD path" of every call so far, in order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var reg struct{ Events []string }
	_ = json.Unmarshal(body, &reg)
	s.mu.Lock()
	s.registrations = append(s.registrations, Registration{Header: r.Header.Clone(), Body: string(body), Events: reg.Events, At: time.Now()})
	s.subscribed = map[string]bool{}
	for _, e := range reg.Events {
		s.subscribed[e] = true
	}
	status, account := s.registerStatus, !s.noAccountID
	s.mu.Unlock()
	w.Header().Set("Lambda-Extension-Identifier", Identifier)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	answer := `{"functionName":"` + FunctionName + `","functionVersion":"$LATEST","handler":"bootstrap"`
	// Lambda adds the account id only for an extension that asks for the feature.
	if account && r.Header.Get("Lambda-Extension-Accept-Feature") == "accountId" {
		answer += `,"accountId":"` + AccountID + `"`
	}
	_, _ = io.WriteString(w, answer+"}")
}

func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("Lambda-Extension-Identifier")
	s.mu.Lock()
	s.nextIDs = append(s.nextIDs, id)
	if id == Identifier {
		s.nextCalls++
		if s.nextCalls == 1 {
			s.firstNextAt = time.Now()
			close(s.firstNext)
		}
	}
	s.mu.Unlock()
	if id != Identifier {
		http.Error(w, `{"errorType":"Extension.Unknown","errorMessage":"bad identifier"}`, http.StatusForbidden)
		return
	}
	for {
		s.mu.Lock()
		fail := s.failNext
		s.mu.Unlock()
		if fail {
			http.Error(w, `{"errorType":"Lambda.Broken"}`, http.StatusInternalServerError)
			return
		}
		var ev Event
		final := false // ShutdownAll's SHUTDOWN, which every extension gets
		select {
		case ev = <-s.events:
		case <-s.shutdown:
			ev, final = Shutdown(2*time.Second), true
		case <-r.Context().Done():
			return
		}
		s.mu.Lock()
		wanted := final || s.subscribed[ev.EventType]
		if !wanted {
			s.dropped++
		}
		s.mu.Unlock()
		if wanted {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(ev)
			return
		}
	}
}

func (s *Server) report(w http.ResponseWriter, r *http.Request, into *[]Report) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	*into = append(*into, Report{ErrorType: r.Header.Get("Lambda-Extension-Function-Error-Type"), Body: string(body)})
	stall := s.stallReports
	s.mu.Unlock()
	if stall {
		select {
		case <-s.shutdown:
		case <-r.Context().Done():
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}
