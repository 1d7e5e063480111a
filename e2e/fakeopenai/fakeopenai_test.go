package fakeopenai

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sashabaranov/go-openai"
)

const key = "sk-demo-test-0123456789abcdef"

// client is go-openai, the function's own client, pointed at the server.
func client(t *testing.T, srvURL, key string) *openai.Client {
	t.Helper()
	cfg := openai.DefaultConfig(key)
	cfg.BaseURL = srvURL + "/v1"
	return openai.NewClientWithConfig(cfg)
}

func chat(ctx context.Context, c *openai.Client, prompt string) (string, error) {
	resp, err := c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{
		Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessage{
			{Role: openai.ChatMessageRoleSystem, Content: "system"},
			{Role: openai.ChatMessageRoleUser, Content: prompt},
		},
	})
	if err != nil {
		return "", err
	}
	return resp.Choices[0].Message.Content, nil
}

func TestAnswersTheRightKeyDeterministically(t *testing.T) {
	var logs strings.Builder
	s := New(key, slog.New(slog.NewTextHandler(&logs, nil)))
	srv := httptest.NewServer(s)
	defer srv.Close()

	for range 2 {
		got, err := chat(t.Context(), client(t, srv.URL, key), "プロンプト: hi")
		if err != nil || got != Answer("プロンプト: hi") {
			t.Fatalf("got %q, %v; want %q", got, err, Answer("プロンプト: hi"))
		}
	}
	if s.Calls() != 2 {
		t.Errorf("Calls = %d, want 2", s.Calls())
	}
	if strings.Contains(logs.String(), key) || strings.Contains(logs.String(), "hi") {
		t.Errorf("the log holds the key or the prompt: %s", logs.String())
	}
}

func TestWrongKeyIs401WithoutEcho(t *testing.T) {
	s := New(key, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(s)
	defer srv.Close()
	const wrong = "sk-wrong-key-that-must-not-echo"
	_, err := chat(t.Context(), client(t, srv.URL, wrong), "hi")
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 401 || apiErr.Code != "invalid_api_key" {
		t.Fatalf("err = %v, want a 401 invalid_api_key", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Error("the error echoes the key it was sent")
	}

	s.SetKey(wrong) // a rotation: now only the new key works
	if _, err := chat(t.Context(), client(t, srv.URL, wrong), "hi"); err != nil {
		t.Errorf("after SetKey: %v", err)
	}
	if _, err := chat(t.Context(), client(t, srv.URL, key), "hi"); err == nil {
		t.Error("the old key still works after SetKey")
	}
}

func TestInjectedFailure(t *testing.T) {
	s := New(key, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(s)
	defer srv.Close()
	s.SetFailure(503)
	_, err := chat(t.Context(), client(t, srv.URL, key), "hi")
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 503 || apiErr.Type != "server_error" {
		t.Fatalf("err = %v, want a 503 server_error", err)
	}
	s.SetFailure(0)
	if _, err := chat(t.Context(), client(t, srv.URL, key), "hi"); err != nil {
		t.Errorf("after SetFailure(0): %v", err)
	}
}

func TestOnlyChatCompletions(t *testing.T) {
	srv := httptest.NewServer(New(key, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /v1/models = %d, want 404", resp.StatusCode)
	}
}
