package loopback

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServesOnLoopbackAndStops(t *testing.T) {
	s, err := Serve("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body %q", body)
	}
	if s.srv.ReadHeaderTimeout == 0 || s.srv.WriteTimeout == 0 || s.srv.IdleTimeout == 0 || s.srv.MaxHeaderBytes == 0 {
		t.Fatal("server lacks a timeout or the header limit")
	}
	if err := s.Close(time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Close returned before the server ended")
	}
	if _, err := http.Get(s.URL); err == nil {
		t.Fatal("still serving after Close")
	}
}

func TestRefusesNonLoopbackAddresses(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:80", "localhost:0", "nonsense"} {
		if _, err := Serve(addr, http.NotFoundHandler()); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("Serve(%q) = %v, want a refusal naming loopback", addr, err)
		}
	}
}
