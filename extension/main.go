// Command kinko is a Lambda extension that serves secrets from AWS Secrets Manager and
// parameters from SSM Parameter Store on localhost:2773, cached, with the API of AWS's
// Parameters and Secrets extension; outside Lambda the same binary runs as a sidecar or a
// daemon (kinko --help). See CONTRACT.md in the project's shared folder and README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	// Registers with Lambda from its init, before the AWS SDK's packages initialise; run takes
	// over what it settled.
	"github.com/kinko-dev/kinko/extension/internal/earlystart"
)

// version is stamped at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	// The first signal starts the shutdown; a second one is the default's again: it ends kinko
	// at once (Ctrl-C twice).
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args, os.Getenv, os.Environ(), os.Stdout, earlystart.Take())
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kinko:", err)
		os.Exit(1)
	}
}
