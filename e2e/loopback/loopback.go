// Package loopback runs the local stack's HTTP servers (the API Gateway front, the model, the
// benchmarks' stand-ins) on loopback addresses only, each with timeouts and a header limit, and
// stops them cleanly: Close returns once the serving goroutine has ended.
package loopback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is one HTTP server on a loopback address.
type Server struct {
	URL string // http://127.0.0.1:PORT

	srv  *http.Server
	done chan struct{}
	err  error // Serve's result, set before done is closed
}

// Serve listens on addr (a loopback host:port; port 0 picks a free one) and serves h until Close.
func Serve(addr string, h http.Handler) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%q is not a loopback address like 127.0.0.1:8080: the local stack serves nothing beyond loopback", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := &Server{
		URL: "http://" + l.Addr().String(),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       time.Minute,
			// Longer than any invoke the front may wait for (the emulator's own limit is 300 s).
			WriteTimeout:   6 * time.Minute,
			IdleTimeout:    2 * time.Minute,
			MaxHeaderBytes: 64 << 10,
		},
		done: make(chan struct{}),
	}
	go func() { // owned by s: Close waits for it
		s.err = s.srv.Serve(l)
		close(s.done)
	}()
	return s, nil
}

// Done is closed when the server has stopped, by Close or by failing; Err then says why.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is why the server stopped: nil after Close, else Serve's error. Call it after Done.
func (s *Server) Err() error {
	if errors.Is(s.err, http.ErrServerClosed) {
		return nil
	}
	return s.err
}

// Close stops accepting, lets requests in flight finish for up to grace, then closes what is
// left, and waits for the server to end.
func (s *Server) Close(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
		err = fmt.Errorf("stopping %s: %w", s.URL, err)
	}
	<-s.done
	return errors.Join(err, s.Err())
}
