// Command bootstrap is kinko's sample Lambda function (provided.al2023): behind an
// API Gateway HTTP API it serves a small page, reads an OpenAI key through the kinko
// extension on localhost:2773 and asks OpenAI for a reply.
//
// Routes: GET / (the page), GET /get-secret (a masked preview, never the key),
// POST /invoke-openai {"prompt": "..."} -> {"message": "..."}; errors are {"error": "..."}.
// /invoke-openai answers carry X-Kinko-Cache-Status: how kinko served the key (e.g. "kinko; hit; ttl=287",
// or "client; hit; ttl=120" when the kinko client answered from its memory). A key OpenAI refuses
// after it came from a cache is read again with refreshNow (at most once a minute) and tried once more.
//
// Environment:
//
//	SECRET_NAME        secret holding the OpenAI key (default OPENAI_API_KEY)
//	SECRET_JSON_KEY    key inside a JSON secret (default OPENAI_API_KEY); a plain secret is used whole
//	OPENAI_MODEL       default gpt-4o-mini
//	OPENAI_BASE_URL    any OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1 (default api.openai.com)
//	PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, AWS_SESSION_TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN: see package kinko
//
// Build: GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags "-s -w" -o bootstrap ./function
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kinko-dev/kinko/client"
)

// version is stamped at build time (-ldflags "-X main.version=..."); every log line carries it,
// so a CloudWatch search tells which build answered.
var version = "dev"

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bootstrap:", err)
		os.Exit(1)
	}
}

// run wires the handler and hands it to the Lambda runtime loop, which only
// returns by exiting the process; an error means the function could not start.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 {
		return fmt.Errorf("unexpected arguments %q: bootstrap takes none; configure it with environment variables", args[1:])
	}
	h, err := newHandlerFromEnv(getenv, stdout)
	if err != nil {
		return err
	}
	if getenv("AWS_LAMBDA_RUNTIME_API") == "" {
		return errors.New("AWS_LAMBDA_RUNTIME_API is not set: this is a Lambda function; " +
			"run it on Lambda or under the Lambda runtime interface emulator (aws-lambda-rie)")
	}
	lambda.StartWithOptions(h.Handle, lambda.WithContext(ctx))
	return nil // not reached: the runtime loop exits the process itself when it ends
}

// config is what the function reads from its environment.
type config struct {
	secretName    string // SECRET_NAME
	secretJSONKey string // SECRET_JSON_KEY
	model         string // OPENAI_MODEL
	openAIBaseURL string // OPENAI_BASE_URL; empty means api.openai.com
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		secretName:    getenv("SECRET_NAME"),
		secretJSONKey: getenv("SECRET_JSON_KEY"),
		model:         getenv("OPENAI_MODEL"),
		openAIBaseURL: getenv("OPENAI_BASE_URL"),
	}
	if c.secretName == "" {
		c.secretName = "OPENAI_API_KEY"
	}
	if c.secretJSONKey == "" {
		c.secretJSONKey = "OPENAI_API_KEY"
	}
	if c.model == "" {
		c.model = "gpt-4o-mini"
	}
	if c.openAIBaseURL != "" {
		u, err := url.Parse(c.openAIBaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return config{}, fmt.Errorf("OPENAI_BASE_URL=%q is not an absolute http(s) URL like http://127.0.0.1:8080/v1", c.openAIBaseURL)
		}
		c.openAIBaseURL = strings.TrimSuffix(c.openAIBaseURL, "/")
	}
	return c, nil
}

func newHandlerFromEnv(getenv func(string) string, stdout io.Writer) (*handler, error) {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return nil, err
	}
	// The client keeps each answer for half of kinko's ttl: warm invokes read the key from
	// memory, and a rotated key still arrives within kinko's TTL.
	kc, err := client.New(getenv)
	if err != nil {
		return nil, err
	}
	// One HTTP client for the sandbox's lifetime keeps the TLS connection to OpenAI warm across
	// invokes. It never follows a redirect: its requests carry the key.
	oa := newRetryDoer(&http.Client{CheckRedirect: refuseRedirect})
	return newHandler(cfg, kc, oa, slog.New(slog.NewJSONHandler(stdout, nil)).With("version", version)), nil
}
