package core

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// The core knows no lifecycle: a plain-process lifecycle can be added beside the Lambda one
// without touching it.
func TestCoreKnowsNoLambda(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list the core's packages")
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for p := range strings.Lines(string(out)) {
		p = strings.TrimSpace(p)
		for _, lifecycle := range []string{"/extensionsapi", "/earlystart", "/internal/lambda"} {
			if strings.Contains(p, lifecycle) {
				t.Errorf("the core links %s, a lifecycle's package", p)
			}
		}
	}
}

// syncBuffer is the process's stdout as the core writes its logs and metrics to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

func newCore(t *testing.T, getenv func(string) string, out io.Writer) *Core {
	t.Helper()
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(out, nil))
	return New(cfg, Deps{AWS: aws.Config{Region: "us-east-1"}, Getenv: getenv, Logger: logger, Metrics: out,
		FunctionName: "fn", Version: "test", Start: time.Now()})
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	req.Header.Set("X-Aws-Parameters-Secrets-Token", "tok")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Drain stops the serving and the background work, waits for both, and writes the last
// metrics line; the core runs nothing after it.
func TestDrainEndsServingAndBackgroundWork(t *testing.T) {
	out := &syncBuffer{}
	k := newCore(t, func(string) string { return "" }, out)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k.Serve([]net.Listener{l})
	if status, _ := get(t, "http://"+l.Addr().String()+"/ping"); status != 200 {
		t.Fatalf("/ping: %d", status)
	}
	ended := make(chan struct{})
	k.Go(func(ctx context.Context) { <-ctx.Done(); close(ended) })

	k.Drain(time.Now().Add(5 * time.Second))
	select {
	case <-ended:
	default:
		t.Fatal("Drain returned before the background work it ended")
	}
	if c, err := net.DialTimeout("tcp4", l.Addr().String(), 5*time.Second); err == nil {
		c.Close()
		t.Error("still accepting after Drain")
	}
	if !strings.Contains(out.String(), `"msg":"metrics"`) {
		t.Errorf("no metrics line at Drain: %s", out.String())
	}
	ran := false
	k.Go(func(context.Context) { ran = true })
	if ran {
		t.Error("Go ran work after Drain")
	}
}

// A sealed core asks admit before every read, and stores nothing until Restore.
func TestSealAdmitsEveryRead(t *testing.T) {
	out := &syncBuffer{}
	k := newCore(t, func(k string) string {
		return map[string]string{"AWS_SESSION_TOKEN": "tok"}[k]
	}, out)
	refusal := &kinko.Error{Code: kinko.SnapStartInit, Message: "not now"}
	var admits int
	var mu sync.Mutex
	k.Seal(func() error { mu.Lock(); defer mu.Unlock(); admits++; return refusal })
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k.Serve([]net.Listener{l})
	defer k.Drain(time.Now().Add(5 * time.Second))
	for _, path := range []string{"/secretsmanager/get?secretId=x", "/secretsmanager/get?secretId=x&refreshNow=true"} {
		status, body := get(t, "http://"+l.Addr().String()+path)
		if status != 503 || !strings.Contains(body, "not now") {
			t.Errorf("%s: %d %s, want admit's refusal", path, status, body)
		}
	}
	mu.Lock()
	if admits != 2 || k.keep.Load() {
		t.Errorf("admit asked %d times (want 2), storing %t (want false until Restore)", admits, k.keep.Load())
	}
	mu.Unlock()
	k.Restore()
	if !k.keep.Load() {
		t.Error("not storing after Restore")
	}
}
