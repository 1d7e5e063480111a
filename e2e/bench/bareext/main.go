// Command bareext is the benchmark's floor for an extension's start and footprint: the least
// a Go extension that serves HTTP needs, with the standard library only. It binds 127.0.0.1 on
// PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, registers for SHUTDOWN, calls /event/next, and
// answers every request with BAREEXT_BODY as JSON (kinko's own answer, recorded by the bench)
// after the same constant-time token check kinko makes; at SHUTDOWN it drains and exits.
// kinko's start and memory are measured against it, side by side (package bench, ColdPath).
package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

func main() {
	if err := run(os.Args, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "bareext:", err)
		os.Exit(1)
	}
}

func run(args []string, getenv func(string) string) error {
	l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", getenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT")))
	if err != nil {
		return err
	}
	token, body := []byte(getenv("AWS_SESSION_TOKEN")), []byte(getenv("BAREEXT_BODY"))
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: time.Minute,
		IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(token) == 0 || subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Aws-Parameters-Secrets-Token")), token) != 1 {
				http.Error(w, `{"__type":"AccessDeniedException"}`, http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	base := "http://" + getenv("AWS_LAMBDA_RUNTIME_API") + "/2020-01-01/extension"
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	req, _ := http.NewRequest(http.MethodPost, base+"/register", bytes.NewReader([]byte(`{"events":["SHUTDOWN"]}`)))
	req.Header.Set("Lambda-Extension-Name", filepath.Base(args[0]))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("Lambda-Extension-Identifier")
	if resp.StatusCode != http.StatusOK || id == "" {
		return fmt.Errorf("register: %s", resp.Status)
	}
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/event/next", nil)
		req.Header.Set("Lambda-Extension-Identifier", id)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		var ev struct {
			EventType string `json:"eventType"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ev)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("event/next: %w", err)
		}
		if ev.EventType == "SHUTDOWN" {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
