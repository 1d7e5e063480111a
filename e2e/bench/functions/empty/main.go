// Command empty is the benchmark's baseline function: it answers at once and reads nothing.
// Its latency is the emulator's own cost of an invoke (or of a cold start), which the other
// variants are measured against.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kinko-dev/kinko/e2e/bench/functions/fnenv"
)

func main() {
	if err := fnenv.SimulateInit(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "empty:", err)
		os.Exit(1)
	}
	lambda.Start(func(context.Context) (fnenv.Result, error) {
		return fnenv.Result{OK: true}, nil
	})
}
