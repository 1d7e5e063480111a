// Package awsconfig builds the AWS SDK's configuration from what a Lambda sandbox has: the
// region, the function role's credentials (in the environment, or from a container credentials
// endpoint under SnapStart and Managed Instances) and the SDK's standard variables for endpoints
// and retries. It links none of the SDK's default chain (SSO, STS, IMDS, shared config files).
package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// containerExpiryWindow is how long before their expiry container credentials are refreshed:
// the SDK's default chain sets 5 minutes for its container provider (config.LoadDefaultConfig,
// resolveHTTPCredProvider), so a call never goes out signed with credentials about to lapse.
const containerExpiryWindow = 5 * time.Minute

// The container credentials endpoint lives in the sandbox and answers in milliseconds, but the
// SDK sets no timeout on it, and its credentials cache runs the one fetch every caller joins
// without any caller's deadline: a request that never got an answer blocked every later call for
// good. Each request to the endpoint gets credentialsAttemptTimeout (botocore's container fetcher
// uses 2 s and 3 attempts), and one fetch, retries included, credentialsTimeout; then the next
// caller asks again.
const (
	credentialsAttemptTimeout = 2 * time.Second
	credentialsTimeout        = 5 * time.Second
)

// Load builds the SDK configuration from the sources a Lambda sandbox has: the region,
// either the function role's credentials in the environment (on-demand and provisioned
// concurrency) or a container credentials endpoint (SnapStart, Managed Instances), and the
// SDK's standard variables for endpoints and retries (AWS_USE_FIPS_ENDPOINT,
// AWS_USE_DUALSTACK_ENDPOINT, AWS_MAX_ATTEMPTS, AWS_RETRY_MODE), read as
// config.LoadDefaultConfig reads them.
//
// It stands in for config.LoadDefaultConfig on purpose: that chain also links SSO, STS, sign-in,
// IMDS and the shared-config parser, none of which a sandbox has, and they made the extension
// 2 MB larger (11.6 MB against 9.5 MB, stripped amd64), which is cold-start time for every user.
func Load(getenv func(string) string) (aws.Config, error) {
	region := firstSet(getenv, "AWS_REGION", "AWS_DEFAULT_REGION")
	if region == "" {
		return aws.Config{}, errors.New("AWS_REGION is not set: Lambda sets it; set it yourself when running kinko elsewhere")
	}
	var provider aws.CredentialsProvider
	var window time.Duration
	switch id, key := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"); {
	case id != "" && key != "":
		provider = credentials.NewStaticCredentialsProvider(id, key, getenv("AWS_SESSION_TOKEN"))
	case getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") != "":
		token, tokenFile := getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"), getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
		provider = containerSource{endpointcreds.New(getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"), func(o *endpointcreds.Options) {
			o.HTTPClient = credentialsHTTP()
			o.AuthorizationToken = token
			if tokenFile != "" {
				// Read on every refresh: the file is rotated under us.
				o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
					b, err := os.ReadFile(tokenFile)
					if err != nil {
						return "", fmt.Errorf("read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: %w", err)
					}
					return strings.TrimSpace(string(b)), nil
				})
			}
		})}
		window = containerExpiryWindow
	case getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != "":
		provider = containerSource{endpointcreds.New("http://169.254.170.2"+getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
			func(o *endpointcreds.Options) { o.HTTPClient = credentialsHTTP() })}
		window = containerExpiryWindow
	default:
		return aws.Config{}, errors.New("no AWS credentials: neither AWS_ACCESS_KEY_ID with AWS_SECRET_ACCESS_KEY nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set (Lambda sets one of them)")
	}
	modes, err := readSDKModes(getenv)
	if err != nil {
		return aws.Config{}, err
	}
	cache := aws.NewCredentialsCache(provider, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = window })
	var creds aws.CredentialsProvider = cache
	if _, container := provider.(containerSource); container {
		creds = containerCache{cache}
	}
	return aws.Config{
		Region:           region,
		Credentials:      creds,
		RetryMaxAttempts: modes.maxAttempts,
		RetryMode:        modes.retryMode,
		// The service clients read FIPS and dual-stack from here, as from LoadDefaultConfig's sources.
		ConfigSources: []any{modes},
	}, nil
}

// credentialsHTTP is a client for the container credentials endpoint, which lives in the
// sandbox: never through the function's HTTP_PROXY, and no kept-alive connection (it is asked
// about once an hour, and one kept across a SnapStart snapshot would lead nowhere).
func credentialsHTTP() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTimeout(credentialsAttemptTimeout).WithTransportOptions(func(t *http.Transport) {
		t.Proxy = nil
		t.DisableKeepAlives = true
	})
}

// InvalidateCredentials makes the next signed call fetch credentials again: after a SnapStart
// restore (those in the snapshot may be long expired) or an expired-token answer.
func InvalidateCredentials(cfg aws.Config) {
	if c, ok := cfg.Credentials.(interface{ Invalidate() }); ok {
		c.Invalidate()
	}
}

// sdkModes is the SDK's standard endpoint and retry settings from the environment. It is one of
// cfg.ConfigSources, where the service clients look for FIPS and dual-stack.
type sdkModes struct {
	fips        aws.FIPSEndpointState
	dualStack   aws.DualStackEndpointState
	maxAttempts int // 0: kinko's default (one attempt per call: the cache retries)
	retryMode   aws.RetryMode
}

func (m sdkModes) GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error) {
	return m.fips, m.fips != aws.FIPSEndpointStateUnset, nil
}

func (m sdkModes) GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error) {
	return m.dualStack, m.dualStack != aws.DualStackEndpointStateUnset, nil
}

// readSDKModes reads the variables with the SDK's rules (true/false in any case; a whole number of
// attempts, 0 meaning the default; standard or adaptive) and says what is wrong otherwise.
func readSDKModes(getenv func(string) string) (sdkModes, error) {
	var m sdkModes
	var errs []error
	onOff := func(name string) (on, set bool) {
		switch v := strings.TrimSpace(getenv(name)); {
		case v == "":
		case strings.EqualFold(v, "true"):
			return true, true
		case strings.EqualFold(v, "false"):
			return false, true
		default:
			errs = append(errs, fmt.Errorf("%s=%q: want true or false", name, v))
		}
		return false, false
	}
	if on, set := onOff("AWS_USE_FIPS_ENDPOINT"); set {
		m.fips = aws.FIPSEndpointStateDisabled
		if on {
			m.fips = aws.FIPSEndpointStateEnabled
		}
	}
	if on, set := onOff("AWS_USE_DUALSTACK_ENDPOINT"); set {
		m.dualStack = aws.DualStackEndpointStateDisabled
		if on {
			m.dualStack = aws.DualStackEndpointStateEnabled
		}
	}
	if v := strings.TrimSpace(getenv("AWS_MAX_ATTEMPTS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100 {
			errs = append(errs, fmt.Errorf("AWS_MAX_ATTEMPTS=%q: want a whole number of attempts per call from 1 to 100, or 0 for kinko's default (one attempt; kinko's cache retries with backoff)", v))
		} else {
			m.maxAttempts = n
		}
	}
	if v := strings.TrimSpace(getenv("AWS_RETRY_MODE")); v != "" {
		mode, err := aws.ParseRetryMode(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("AWS_RETRY_MODE=%q: want standard or adaptive", v))
		}
		m.retryMode = mode
	}
	// AWS's endpoint rules refuse FIPS or dual-stack with a custom endpoint on every call; say so once, at init.
	// A variable pointing at kinko's own port on the loopback is the function's (its SDK reads
	// through kinko) and kinko does not use it (EndpointsAvoiding).
	if custom := firstSet(getenv, kinko.SecretsManager.EndpointVariable(), kinko.SSM.EndpointVariable(), "AWS_ENDPOINT_URL"); custom != "" &&
		!allKinko(getenv, kinko.SecretsManager.EndpointVariable(), kinko.SSM.EndpointVariable(), "AWS_ENDPOINT_URL") {
		if m.fips == aws.FIPSEndpointStateEnabled {
			errs = append(errs, errors.New("AWS_USE_FIPS_ENDPOINT=true with a custom endpoint (AWS_ENDPOINT_URL*): AWS's SDK cannot combine them; unset one (a FIPS endpoint URL can be given as the custom endpoint itself)"))
		}
		if m.dualStack == aws.DualStackEndpointStateEnabled {
			errs = append(errs, errors.New("AWS_USE_DUALSTACK_ENDPOINT=true with a custom endpoint (AWS_ENDPOINT_URL*): AWS's SDK cannot combine them; unset one"))
		}
	}
	return m, errors.Join(errs...)
}

// containerSource marks a failure to get credentials from a container credentials endpoint,
// so it is reported as that (CredentialsUnavailable) and not as an answer from AWS.
type containerSource struct{ p *endpointcreds.Provider }

func (s containerSource) Retrieve(ctx context.Context) (aws.Credentials, error) {
	// ctx is the credentials cache's: the first caller's values without its deadline.
	ctx, cancel := context.WithTimeout(ctx, credentialsTimeout)
	defer cancel()
	c, err := s.p.Retrieve(ctx)
	if err != nil {
		return c, &CredentialsError{Err: err}
	}
	return c, nil
}

// ProviderSources keeps what the SDK reports about the source in its user agent.
func (s containerSource) ProviderSources() []aws.CredentialSource { return s.p.ProviderSources() }

// containerCache is the credentials cache of a container source. A caller whose deadline passes
// while it waits on the cache's fetch gets the cache's own cancellation error, which says
// nothing of where it waited: it is marked as the credentials endpoint's failure too, so the
// caller hears that the endpoint did not answer, not that Secrets Manager did not.
type containerCache struct{ *aws.CredentialsCache }

func (c containerCache) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := c.CredentialsCache.Retrieve(ctx)
	var ce *CredentialsError
	if err != nil && !errors.As(err, &ce) {
		err = &CredentialsError{Err: err}
	}
	return creds, err
}

// CredentialsError is a failure to get credentials: kinko got none to sign a call with, and
// AWS was never asked.
type CredentialsError struct {
	Err error
	// Source says where the credentials were to come from, for messages: "" is the container
	// credentials endpoint of a Lambda sandbox (SnapStart, Managed Instances).
	Source string
}

func (e *CredentialsError) Error() string {
	if e.Source == "" {
		return "container credentials: " + e.Err.Error()
	}
	return e.Source + ": " + e.Err.Error()
}
func (e *CredentialsError) Unwrap() error { return e.Err }

// Endpoints reads the SDK-standard endpoint overrides: the service's own variable first, then
// AWS_ENDPOINT_URL. Empty means AWS's public endpoint for the region.
func Endpoints(getenv func(string) string) map[kinko.Kind]string {
	out := make(map[kinko.Kind]string)
	for _, k := range kinko.Kinds() {
		out[k] = firstSet(getenv, k.EndpointVariable(), "AWS_ENDPOINT_URL")
	}
	return out
}

// allKinko reports whether every one of the variables names that is set points at kinko's port
// (PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, default 2773) on the loopback. Load runs before kinko
// listens, so the port is read from the environment; EndpointsAvoiding decides on the
// listeners themselves.
func allKinko(getenv func(string) string, names ...string) bool {
	port, err := strconv.Atoi(strings.TrimSpace(getenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT")))
	if err != nil {
		port = 2773
	}
	own := []net.Addr{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}, &net.TCPAddr{IP: net.IPv6loopback, Port: port}}
	for _, n := range names {
		if e := getenv(n); e != "" && !PointsAt(e, own, nil) {
			return false
		}
	}
	return true
}

func firstSet(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}
