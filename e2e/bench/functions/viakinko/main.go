// Command viakinko reads its key through the kinko extension on every invoke: one loopback
// HTTP round trip, answered from kinko's cache when warm. The Go client's own cache is off
// (viakinkocache has it on), so this is what any runtime's read over HTTP costs.
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
		fmt.Fprintln(os.Stderr, "viakinko:", err)
		os.Exit(1)
	}
	c, err := client.New(os.Getenv, client.WithoutCache())
	if err != nil {
		fmt.Fprintln(os.Stderr, "viakinko:", err)
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
