//go:build lambda

package main

import (
	"context"
	"errors"
	"io"
)

// runProcess is what the Lambda layer's build (-tags lambda) does outside Lambda: it says so.
// That build leaves out what only a plain process needs (the SDK's default credential chain,
// the agent's TOML reader, package daemon): about 2 MB the layer's 4 MB budget has no room for.
func runProcess(context.Context, []string, func(string) string, []string, io.Writer) error {
	return errors.New("AWS_LAMBDA_RUNTIME_API is not set, and this is the Lambda layer's build of kinko, which runs only as a Lambda extension (from /opt/extensions); " +
		"outside Lambda run the kinko image or a kinko built without -tags lambda (README \"Outside Lambda\")")
}
