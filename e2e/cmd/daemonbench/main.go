// Command daemonbench measures kinko outside Lambda: from exec to its first /ping answer and to
// its first secret (fetched from moto), its idle memory, and SIGTERM to exit, over a few rounds
// of fresh processes; with -ext-bin, the layer's build as a Lambda extension the same way, in
// the same rounds (package bench, MeasureDaemon). It prints a Markdown table.
//
//	make image build ARCH=x86_64   # dist/kinko-linux-amd64, and the layer's dist/x86_64/extensions/kinko
//	go run ./e2e/cmd/daemonbench -bin dist/kinko-linux-amd64 -ext-bin dist/x86_64/extensions/kinko
//
// Nothing fails on a number: the exit status is 1 only when a start could not be measured.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/e2e/bench"
	"github.com/kinko-dev/kinko/internal/moto"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "daemonbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("daemonbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	b := bench.DaemonBench{Log: stderr, SecretID: "bench/daemon"}
	fs.StringVar(&b.Bin, "bin", "", "kinko built for outside Lambda (make image: dist/kinko-linux-amd64)")
	fs.StringVar(&b.ExtBin, "ext-bin", "", "optional: the layer's kinko, measured as a Lambda extension in the same rounds")
	fs.IntVar(&b.Rounds, "rounds", 5, "rounds")
	fs.IntVar(&b.PerRound, "starts", 5, "starts per round")
	fs.DurationVar(&b.Idle, "idle", time.Second, "how long after the first secret the idle memory is read")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if b.Bin == "" || b.Rounds < 1 || b.PerRound < 1 || b.Idle < 0 {
		return fmt.Errorf("want -bin FILE, -rounds and -starts of at least 1, -idle not negative")
	}
	m, err := moto.Start(ctx)
	if err != nil {
		return err
	}
	defer m.Stop()
	b.Upstream = m.URL
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.URL),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(b.SecretID),
		SecretString: aws.String(`{"OPENAI_API_KEY":"s3cr3t-daemonbench"}`)}); err != nil {
		return fmt.Errorf("create the secret in moto: %w", err)
	}
	res, err := bench.MeasureDaemon(ctx, b)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, bench.DaemonMarkdown(res))
	return nil
}
