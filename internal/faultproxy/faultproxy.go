// Package faultproxy is a reverse proxy for tests and benchmarks that sits in front of moto:
// it counts AWS calls by operation, adds latency, holds calls at a gate, and injects the faults
// AWS can show (5xx, throttling, hangs, resets, truncated or malformed or trickled answers).
package faultproxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Fault is what the proxy does instead of (or to) forwarding a call.
type Fault int

const (
	None         Fault = iota // forward
	Status500                 // 500 InternalFailure
	Status503                 // 503 ServiceUnavailable
	Throttle                  // 400 ThrottlingException
	Hang                      // never answer (until the caller gives up or the proxy closes)
	Reset                     // close the connection without an answer
	Truncate                  // forward, but cut the body short of its Content-Length
	Malformed                 // 200 with a body that is not JSON
	Trickle                   // forward, one byte every 50 ms
	AccessDenied              // 400 AccessDeniedException
)

var faultNames = map[Fault]string{None: "none", Status500: "500", Status503: "503", Throttle: "throttle", Hang: "hang",
	Reset: "reset", Truncate: "truncate", Malformed: "malformed", Trickle: "trickle", AccessDenied: "access-denied"}

func (f Fault) String() string { return faultNames[f] }

// Proxy forwards to one upstream. Safe for concurrent use.
type Proxy struct {
	URL string

	srv       *httptest.Server
	rp        *httputil.ReverseProxy
	closed    chan struct{}
	closeOnce sync.Once

	mu        sync.Mutex
	fault     Fault
	faultLeft int // > 0: calls left before fault ends (SetFaultFor)
	delay     time.Duration
	gate      chan struct{}
	calls     map[string]int // by operation (X-Amz-Target's last part)
	arrivals  []Arrival
	inFlight  int
}

// Arrival is one call as it reached the proxy.
type Arrival struct {
	Op string    // operation, e.g. "GetSecretValue"
	ID string    // SecretId or Name of the request body
	At time.Time // when it arrived
}

// Start runs a proxy on a free loopback port in front of target (moto's URL).
func Start(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy target %q: %w", target, err)
	}
	p := &Proxy{rp: httputil.NewSingleHostReverseProxy(u), calls: map[string]int{}, closed: make(chan struct{})}
	// A caller that gives up (kinko's timeout, a test's shutdown) is routine here, not news:
	// without this every one prints "http: proxy error: context canceled".
	p.rp.ErrorLog = log.New(io.Discard, "", 0)
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	return p, nil
}

// Close stops the proxy; hung calls are released. Calling it again does nothing, so a test
// may close the proxy early (to count goroutines) and still leave Close in its cleanup.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() {
		close(p.closed)
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
}

// SetFault makes every later call fail as f (None forwards again).
func (p *Proxy) SetFault(f Fault) { p.mu.Lock(); p.fault, p.faultLeft = f, 0; p.mu.Unlock() }

// SetFaultFor makes the next n calls fail as f; later ones are forwarded.
func (p *Proxy) SetFaultFor(f Fault, n int) { p.mu.Lock(); p.fault, p.faultLeft = f, n; p.mu.Unlock() }

// Arrivals lists the calls of operation op since the last ResetCounts, in arrival order.
func (p *Proxy) Arrivals(op string) []Arrival {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Arrival
	for _, a := range p.arrivals {
		if a.Op == op {
			out = append(out, a)
		}
	}
	return out
}

// SetDelay adds d before each call is forwarded (a realistic distance to AWS).
func (p *Proxy) SetDelay(d time.Duration) { p.mu.Lock(); p.delay = d; p.mu.Unlock() }

// Hold makes later calls wait until Release.
func (p *Proxy) Hold() { p.mu.Lock(); p.gate = make(chan struct{}); p.mu.Unlock() }

// Release lets held calls (and later ones) through.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
}

// Calls is how many calls of operation op (e.g. "GetSecretValue") arrived, faulted or not.
func (p *Proxy) Calls(op string) int { p.mu.Lock(); defer p.mu.Unlock(); return p.calls[op] }

// InFlight is how many calls are inside the proxy now (waiting at the gate, delayed, hanging).
func (p *Proxy) InFlight() int { p.mu.Lock(); defer p.mu.Unlock(); return p.inFlight }

// ResetCounts zeroes the call counts.
func (p *Proxy) ResetCounts() {
	p.mu.Lock()
	p.calls, p.arrivals = map[string]int{}, nil
	p.mu.Unlock()
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	op := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
	}
	// The body is read for the request's id, then forwarded from memory.
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	var ids struct{ SecretId, Name string }
	_ = json.Unmarshal(body, &ids)
	p.mu.Lock()
	p.calls[op]++
	p.arrivals = append(p.arrivals, Arrival{Op: op, ID: ids.SecretId + ids.Name, At: time.Now()})
	p.inFlight++
	fault, delay, gate := p.fault, p.delay, p.gate
	if p.faultLeft > 0 {
		if p.faultLeft--; p.faultLeft == 0 {
			p.fault = None
		}
	}
	p.mu.Unlock()
	defer func() { p.mu.Lock(); p.inFlight--; p.mu.Unlock() }()

	if !p.wait(r.Context(), gate, delay) {
		return
	}
	switch fault {
	case None:
		p.rp.ServeHTTP(w, r)
	case Status500:
		awsError(w, 500, "InternalFailure", "injected internal failure")
	case Status503:
		awsError(w, 503, "ServiceUnavailable", "injected unavailability")
	case Throttle:
		awsError(w, 400, "ThrottlingException", "Rate exceeded")
	case AccessDenied:
		awsError(w, 400, "AccessDeniedException", "injected: not authorized to perform secretsmanager:GetSecretValue")
	case Hang:
		select {
		case <-r.Context().Done():
		case <-p.closed:
		}
	case Reset:
		hijackAndClose(w)
	case Malformed:
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x", "SecretString": `))
	case Truncate:
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		conn, buf := hijack(w)
		if conn == nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: %d\r\n\r\n", len(body))
		_, _ = buf.Write(body[:len(body)/2])
		_ = buf.Flush()
	case Trickle:
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r)
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		rc := http.NewResponseController(w)
		for _, b := range rec.Body.Bytes() {
			if _, err := w.Write([]byte{b}); err != nil {
				return
			}
			_ = rc.Flush()
			if !p.wait(r.Context(), nil, 50*time.Millisecond) {
				return
			}
		}
	}
}

// wait holds a call at the gate and for the delay; false if the caller or the proxy went away.
func (p *Proxy) wait(ctx context.Context, gate chan struct{}, delay time.Duration) bool {
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return false
		case <-p.closed:
			return false
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		case <-p.closed:
			return false
		}
	}
	return true
}

func awsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
}

func hijack(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil
	}
	return conn, buf
}

func hijackAndClose(w http.ResponseWriter) {
	if conn, _ := hijack(w); conn != nil {
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, not FIN: a reset as AWS's load balancers send it
		}
		_ = conn.Close()
	}
}
