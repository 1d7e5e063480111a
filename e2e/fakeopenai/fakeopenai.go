// Package fakeopenai is a tiny OpenAI-compatible chat completions server for the demo and the
// end-to-end tests. It accepts only one bearer key, the one the demo stores in Secrets
// Manager, so a 200 from it proves the key travelled from the secret to the function; and it
// answers deterministically, from the prompt, so tests can check the answer.
package fakeopenai

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Answer is the completion the server gives for the last user message's content.
func Answer(userContent string) string {
	return fmt.Sprintf("local model heard %q with the right key", userContent)
}

// Server is an http.Handler; safe for concurrent use.
type Server struct {
	log *slog.Logger

	mu      sync.Mutex
	key     string
	failing int // when not 0, every call answers this status as an OpenAI error
	calls   int // chat completion calls that reached the handler, accepted or not
}

// New accepts key only; logger gets one line per call (never the key or the prompt).
func New(key string, logger *slog.Logger) *Server {
	return &Server{key: key, log: logger}
}

// SetKey changes the accepted key (after a rotation, the old key stops working, as at OpenAI).
func (s *Server) SetKey(key string) { s.mu.Lock(); s.key = key; s.mu.Unlock() }

// SetFailure makes every call fail with status (e.g. 500); 0 answers normally again.
func (s *Server) SetFailure(status int) { s.mu.Lock(); s.failing = status; s.mu.Unlock() }

// Calls is how many chat completion calls arrived.
func (s *Server) Calls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls }

type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status := s.serve(w, r)
	s.log.Info("chat completion", "method", r.Method, "path", r.URL.Path, "status", status)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) int {
	if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		return apiError(w, http.StatusNotFound, "invalid_request_error", "unknown_url",
			"Unknown request URL: "+r.URL.Path+". This server only has POST /v1/chat/completions.")
	}
	if r.Method != http.MethodPost {
		return apiError(w, http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed", "use POST")
	}
	s.mu.Lock()
	s.calls++
	key, failing := s.key, s.failing
	s.mu.Unlock()

	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(key)) != 1 {
		// Unlike some servers, never echo the key we were sent.
		return apiError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
			"Incorrect API key provided: the bearer key is not the one stored in the demo secret.")
	}
	if failing != 0 {
		return apiError(w, failing, "server_error", "", "injected failure: the local model is down")
	}
	var req chatRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		return apiError(w, http.StatusBadRequest, "invalid_request_error", "", "the body is not a chat completions JSON request")
	}
	var user string
	for _, m := range req.Messages {
		if m.Role == "user" {
			user = m.Content
		}
	}
	if user == "" {
		return apiError(w, http.StatusBadRequest, "invalid_request_error", "", "no user message in messages")
	}
	content := Answer(user)
	writeJSON(w, http.StatusOK, map[string]any{
		"id":      "chatcmpl-local",
		"object":  "chat.completion",
		"created": time.Now().Unix(),
		"model":   req.Model,
		"choices": []any{map[string]any{
			"index":         0,
			"finish_reason": "stop",
			"message":       map[string]string{"role": "assistant", "content": content},
		}},
		"usage": map[string]int{
			"prompt_tokens":     len(strings.Fields(user)),
			"completion_tokens": len(strings.Fields(content)),
			"total_tokens":      len(strings.Fields(user)) + len(strings.Fields(content)),
		},
	})
	return http.StatusOK
}

func apiError(w http.ResponseWriter, status int, typ, code, msg string) int {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code, "param": nil}})
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
