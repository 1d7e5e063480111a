//go:build !lambda

package awsconfig

// The SDK's default chain, for kinko outside Lambda. It is kept out of the Lambda layer's build
// (-tags lambda): it links SSO, STS, sign-in, IMDS and the shared-config parser, about 2 MB of
// binary that a Lambda sandbox has no use for (see Load).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// ChainSource names the default chain in messages about credentials it could not give.
const ChainSource = "the AWS SDK's default credential chain (environment, web identity, container credentials endpoint, EC2 instance metadata)"

const (
	// chainExpiryWindow is how long before their expiry the chain's credentials are fetched
	// again, whatever their source (the SDK sets it for the container endpoint only).
	chainExpiryWindow = 5 * time.Minute
	// stsTimeout bounds one call of the chain to AWS (STS for web identity, SSO): the SDK's
	// client has none, and the credentials cache's one fetch is what every caller waits on.
	stsTimeout = 10 * time.Second
	// regionTimeout bounds asking the instance metadata for the region at start.
	regionTimeout = 3 * time.Second
)

// LoadChain builds the SDK configuration from the SDK's default chain, as AWS's agent and the
// SDKs do on ECS, EKS and EC2: credentials from the environment, a web identity token (IRSA),
// the container credentials endpoint (ECS task roles, EKS Pod Identity) or IMDSv2, refreshed
// chainExpiryWindow before they expire; the region given (the agent's file), else the SDK's
// (AWS_REGION, AWS_DEFAULT_REGION, the profile), else the instance's from IMDS. It reads the
// process's environment (the SDK reads no other).
func LoadChain(ctx context.Context, region string) (aws.Config, error) {
	if _, err := readSDKModes(os.Getenv); err != nil { // the SDK applies them; kinko says what is wrong first
		return aws.Config{}, err
	}
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(stsTimeout)),
		// The container endpoint is local or link-local: never through HTTP_PROXY, and bounded.
		config.WithEndpointCredentialOptions(func(o *endpointcreds.Options) { o.HTTPClient = credentialsHTTP() }),
		config.WithCredentialsCacheOptions(func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = chainExpiryWindow }),
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("the AWS SDK's configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = instanceRegion(ctx, cfg)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS region: set region in the --config file, or AWS_REGION (on EC2 kinko asks the instance metadata, which did not answer)")
	}
	if c, ok := cfg.Credentials.(*aws.CredentialsCache); ok {
		cfg.Credentials = chainCache{c}
	}
	return cfg, nil
}

// instanceRegion is the region of the EC2 instance kinko runs on, or "" where there is no
// instance metadata (or AWS_EC2_METADATA_DISABLED=true).
func instanceRegion(ctx context.Context, cfg aws.Config) string {
	ctx, cancel := context.WithTimeout(ctx, regionTimeout)
	defer cancel()
	out, err := imds.NewFromConfig(cfg).GetRegion(ctx, nil)
	if err != nil {
		return ""
	}
	return out.Region
}

// chainCache is the default chain's credentials cache, whose failures are marked as the
// chain's, so a caller hears that kinko got no credentials, not that AWS did not answer.
type chainCache struct{ *aws.CredentialsCache }

func (c chainCache) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := c.CredentialsCache.Retrieve(ctx)
	var ce *CredentialsError
	if err != nil && !errors.As(err, &ce) {
		err = &CredentialsError{Err: err, Source: ChainSource}
	}
	return creds, err
}
