package bench

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/internal/moto"
)

func TestDaemonMarkdown(t *testing.T) {
	one := func(v float64) Summary { return Summarize([]float64{v, v, v}) }
	r := DaemonResult{Rounds: 3, PerRound: 2, Idle: time.Second,
		Daemon: StartFigures{Serving: one(4.2), FirstSecret: one(9), Stop: one(1.5), RSS: one(12 * 1024), Anon: one(4 * 1024)}}
	md := DaemonMarkdown(r)
	for _, want := range []string{
		"3 rounds of 2 starts each",
		"| exec -> first `/ping` answer | 4.20 ms (4.20 ms–4.20 ms) | — |",
		"| idle VmRSS | 12.0 MiB (12.0 MiB–12.0 MiB) | — |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the table lacks %q:\n%s", want, md)
		}
	}
}

// The measurement runs end to end on a build of ./extension: started as a plain process and as
// an extension, each answers /ping and a secret from moto, shows its memory, and exits 0 on
// SIGTERM or SHUTDOWN. A build without the plain-process lifecycle is skipped, saying so.
func TestMeasureDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kinko and starts moto")
	}
	bin := filepath.Join(t.TempDir(), "kinko")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../../extension").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	m := moto.ForTest(t)
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.URL),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	if _, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("bench/daemon"),
		SecretString: aws.String(`{"k":"s3cr3t-measure-daemon"}`)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	res, err := MeasureDaemon(ctx, DaemonBench{Bin: bin, ExtBin: bin, Upstream: m.URL, SecretID: "bench/daemon",
		Rounds: 1, PerRound: 2, Idle: 10 * time.Millisecond, Log: io.Discard})
	if errors.Is(err, ErrNotDaemon) {
		t.Skip("this build of kinko has no plain-process lifecycle (extension/internal/daemon) yet")
	}
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]StartFigures{"daemon": res.Daemon, "extension": res.Ext} {
		if f.Serving.N != 1 || f.Serving.Median <= 0 || f.FirstSecret.Median < f.Serving.Median || f.RSS.Median <= 0 || f.Anon.Median <= 0 || f.Anon.Median > f.RSS.Median {
			t.Errorf("%s: implausible figures %+v", name, f)
		}
	}
}
