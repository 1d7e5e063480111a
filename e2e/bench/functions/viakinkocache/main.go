// Command viakinkocache reads its key through the kinko extension on every invoke with the Go
// client's cache on (function/kinko's default, as the sample function reads it): warm, the
// client answers from memory for half of the ttl kinko gave, then asks kinko again.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kinko-dev/kinko/e2e/bench/functions/fnenv"
	"github.com/kinko-dev/kinko/function/kinko"
)

func main() {
	if err := fnenv.SimulateInit(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "viakinkocache:", err)
		os.Exit(1)
	}
	client, err := kinko.New(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "viakinkocache:", err)
		os.Exit(1)
	}
	name, key := os.Getenv("SECRET_NAME"), os.Getenv("SECRET_JSON_KEY")
	lambda.Start(func(ctx context.Context) (fnenv.Result, error) {
		v, err := client.SecretJSONKey(ctx, name, key)
		if err != nil {
			return fnenv.Result{}, err
		}
		return fnenv.Result{OK: true, Bytes: len(v)}, nil
	})
}
