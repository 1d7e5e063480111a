// Command globalcache keeps the key in memory after the first invoke: what a careful user
// does without an extension. Warm, it is a memory read; it never refreshes (a rotated key is
// seen only by new sandboxes), shares nothing with other functions, and a failed first read
// fails the invoke.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/e2e/bench/functions/fnenv"
)

// cachedKey is the function's "global": filled by the first invoke that succeeds.
type cachedKey struct {
	sm        *secretsmanager.Client
	name, key string

	mu    sync.Mutex
	value string
}

func (c *cachedKey) get(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.value != "" {
		return c.value, nil
	}
	out, err := c.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(c.name)})
	if err != nil {
		return "", err
	}
	var doc map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &doc); err != nil {
		return "", errors.New("the secret is not a JSON object of strings")
	}
	v, ok := doc[c.key]
	if !ok || v == "" {
		return "", fmt.Errorf("the secret has no key %q", c.key)
	}
	c.value = v
	return v, nil
}

func main() {
	if err := fnenv.SimulateInit(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "globalcache:", err)
		os.Exit(1)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "globalcache: load AWS config:", err)
		os.Exit(1)
	}
	cache := &cachedKey{sm: secretsmanager.NewFromConfig(cfg), name: os.Getenv("SECRET_NAME"), key: os.Getenv("SECRET_JSON_KEY")}
	lambda.Start(func(ctx context.Context) (fnenv.Result, error) {
		v, err := cache.get(ctx)
		if err != nil {
			return fnenv.Result{}, err
		}
		return fnenv.Result{OK: true, Bytes: len(v)}, nil
	})
}
