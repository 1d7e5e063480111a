// Command sdk calls Secrets Manager with the AWS SDK on every invoke: what the tutorial this
// project grew from did (with boto3), and what a function without an extension or a cache does.
// The client is built once, at init, as any SDK user writes it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/e2e/bench/functions/fnenv"
)

func main() {
	if err := fnenv.SimulateInit(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "sdk:", err)
		os.Exit(1)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdk: load AWS config:", err)
		os.Exit(1)
	}
	sm := secretsmanager.NewFromConfig(cfg)
	name, key := os.Getenv("SECRET_NAME"), os.Getenv("SECRET_JSON_KEY")
	lambda.Start(func(ctx context.Context) (fnenv.Result, error) {
		v, err := readKey(ctx, sm, name, key)
		if err != nil {
			return fnenv.Result{}, err
		}
		return fnenv.Result{OK: true, Bytes: len(v)}, nil
	})
}

// readKey is one GetSecretValue and the JSON key out of its SecretString.
func readKey(ctx context.Context, sm *secretsmanager.Client, name, key string) (string, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil {
		return "", err
	}
	var doc map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &doc); err != nil {
		return "", errors.New("the secret is not a JSON object of strings")
	}
	v, ok := doc[key]
	if !ok {
		return "", fmt.Errorf("the secret has no key %q", key)
	}
	return v, nil
}
