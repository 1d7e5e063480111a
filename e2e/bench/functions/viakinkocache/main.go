// Command viakinkocache reads its key through the kinko extension on every invoke with the Go
// client's cache on (the client module's default, as the sample function reads it): warm, the
// client answers from memory for half of the ttl kinko gave, then asks kinko again.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kinko-dev/kinko/client"
	"github.com/kinko-dev/kinko/e2e/bench/functions/fnenv"
)

func main() {
	if err := fnenv.SimulateInit(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "viakinkocache:", err)
		os.Exit(1)
	}
	c, err := client.New(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "viakinkocache:", err)
		os.Exit(1)
	}
	name, key := os.Getenv("SECRET_NAME"), os.Getenv("SECRET_JSON_KEY")
	lambda.Start(func(ctx context.Context) (fnenv.Result, error) {
		v, err := c.SecretJSONKey(ctx, name, key)
		if err != nil {
			return fnenv.Result{}, err
		}
		return fnenv.Result{OK: true, Bytes: len(v)}, nil
	})
}
