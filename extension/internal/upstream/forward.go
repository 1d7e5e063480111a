package upstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// HopHeader marks every request kinko sends to AWS, its own calls and the calls it forwards.
// kinko refuses a request that carries it (LoopDetected): it came through a kinko, so serving
// it could call kinko again, forever. It is added after signing, so AWS ignores it.
const HopHeader = "X-Kinko-Hop"

// ForwardTimeout bounds a forwarded call, its answer's body included: the caller's SDK has its
// own timeouts and retries, and kinko's WriteTimeout is longer.
const ForwardTimeout = 30 * time.Second

// signingName is the name each service's signatures carry in their scope.
func signingName(k kinko.Kind) string {
	if k == kinko.SSM {
		return "ssm"
	}
	return "secretsmanager"
}

// Forward sends a call of kind's API, as a caller made it (its headers hdr and body), to AWS,
// signed with kinko's credentials, and returns AWS's answer for the caller to read and close.
// The call goes where kinko's own calls go (an endpoint override, else AWS's endpoint for the
// region), is tried once (the caller's SDK retries) and carries HopHeader.
func (c *Client) Forward(ctx context.Context, kind kinko.Kind, hdr http.Header, body []byte) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, ForwardTimeout)
	resp, err := c.forward(ctx, kind, hdr, body)
	if err != nil {
		cancel()
		return nil, classify(kind, err, ForwardTimeout)
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

func (c *Client) forward(ctx context.Context, kind kinko.Kind, hdr http.Header, body []byte) (*http.Response, error) {
	endpoint, err := c.endpoint[kind](ctx)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	if u.Path == "" {
		u.Path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), signingName(kind), c.region, time.Now()); err != nil {
		return nil, err
	}
	req.Header.Set(HopHeader, "1")
	return c.http[kind]().Do(req)
}

// cancelOnClose ends a forwarded call's context when its answer has been read and closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// secretsEndpoint is where the Secrets Manager client's calls go, by its own endpoint rules.
func secretsEndpoint(ctx context.Context, o secretsmanager.Options) (string, error) {
	ep, err := o.EndpointResolverV2.ResolveEndpoint(ctx, secretsmanager.EndpointParameters{
		Region: aws.String(o.Region), Endpoint: o.BaseEndpoint,
		UseFIPS:      aws.Bool(o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled),
		UseDualStack: aws.Bool(o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled),
	})
	if err != nil {
		return "", err
	}
	return ep.URI.String(), nil
}

// parametersEndpoint is where the SSM client's calls go, by its own endpoint rules.
func parametersEndpoint(ctx context.Context, o ssm.Options) (string, error) {
	ep, err := o.EndpointResolverV2.ResolveEndpoint(ctx, ssm.EndpointParameters{
		Region: aws.String(o.Region), Endpoint: o.BaseEndpoint,
		UseFIPS:      aws.Bool(o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled),
		UseDualStack: aws.Bool(o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled),
	})
	if err != nil {
		return "", err
	}
	return ep.URI.String(), nil
}
