package roles

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
	"github.com/kinko-dev/kinko/extension/internal/upstream"
)

// SessionDuration is how long an assumed role's session lasts: one hour, the most STS grants
// a session assumed with a role's own credentials (role chaining, as the sandbox's are).
const SessionDuration = time.Hour

// ExpiryWindow is how long before its expiry a session is replaced: a call is never signed with
// credentials about to lapse (the SDK's default chain refreshes assumed roles as early).
const ExpiryWindow = 5 * time.Minute

// assumeTimeout bounds one AssumeRole call. The credentials cache runs the call every caller
// joins without any caller's deadline, so it needs its own.
const assumeTimeout = 5 * time.Second

// maxAnswer bounds what is read of STS's answer: credentials are a few KB.
const maxAnswer = 64 << 10

// stsClient calls STS AssumeRole with the sandbox's own credentials.
type stsClient struct {
	base     aws.Config // the sandbox's: region, credentials, FIPS and dual-stack modes
	endpoint string     // https://sts.REGION.amazonaws.com, or the override
	http     aws.HTTPClient
	signer   *v4.Signer
}

// assumeRole asks STS for a session of role, named session, for SessionDuration.
func (s *stsClient) assumeRole(ctx context.Context, role Role, session string) (aws.Credentials, error) {
	ctx, cancel := context.WithTimeout(ctx, assumeTimeout)
	defer cancel()
	base, err := s.base.Credentials.Retrieve(ctx)
	if err != nil {
		// The sandbox's own credentials: their error says what failed (package upstream words it).
		return aws.Credentials{}, fmt.Errorf("credentials to call STS AssumeRole with: %w", err)
	}
	form := url.Values{
		"Action":          {"AssumeRole"},
		"Version":         {"2011-06-15"},
		"RoleArn":         {role.ARN},
		"RoleSessionName": {session},
		"DurationSeconds": {strconv.Itoa(int(SessionDuration / time.Second))},
	}
	body := []byte(form.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return aws.Credentials{}, &kinko.Error{Code: kinko.BadRequest,
			Message: fmt.Sprintf("the STS endpoint %q is not a URL; fix AWS_ENDPOINT_URL_STS", kinko.Clip(s.endpoint)), Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256(body)
	if err := s.signer.SignHTTP(ctx, base, req, hex.EncodeToString(sum[:]), "sts", s.base.Region, time.Now()); err != nil {
		return aws.Credentials{}, fmt.Errorf("sign AssumeRole: %w", err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return aws.Credentials{}, transportError(role, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return aws.Credentials{}, transportError(role, err)
	}
	if resp.StatusCode != http.StatusOK {
		return aws.Credentials{}, refusal(role, resp.StatusCode, raw)
	}
	// AssumeRoleResponse > AssumeRoleResult > Credentials: each field's element is unique.
	key, okKey := xmlText(raw, "AccessKeyId")
	secret, okSecret := xmlText(raw, "SecretAccessKey")
	token, _ := xmlText(raw, "SessionToken")
	expiration, okExp := xmlText(raw, "Expiration")
	expires, err := time.Parse(time.RFC3339, expiration)
	if !okKey || !okSecret || !okExp || key == "" || secret == "" || err != nil {
		return aws.Credentials{}, &kinko.Error{Code: kinko.Malformed,
			Message: fmt.Sprintf("STS answered AssumeRole for role %s with no credentials (%d bytes); try again", role.ARN, len(raw))}
	}
	return aws.Credentials{AccessKeyID: key, SecretAccessKey: secret, SessionToken: token,
		CanExpire: true, Expires: expires, Source: "kinko AssumeRole " + role.ARN}, nil
}

// refusal is STS's error answer in kinko's words: AWS's code and status, naming the role.
func refusal(role Role, status int, raw []byte) *kinko.Error {
	// ErrorResponse > Error > Code, Message.
	code, _ := xmlText(raw, "Code")
	message, _ := xmlText(raw, "Message")
	if code == "" {
		code = "UnknownError" // AWS answered, but said no code: still AWS's answer, with its status
	}
	msg := "could not assume role " + role.ARN + " with STS AssumeRole (" + kinko.Clip(code) + ")"
	if message != "" {
		msg += ": " + kinko.Clip(message)
	}
	return &kinko.Error{Code: upstream.AWSCode(code, status), AWSCode: kinko.Clip(code), AWSStatus: status, Message: msg}
}

// transportError is a failure on the way to STS: a timeout (504) or no connection (502).
func transportError(role Role, err error) *kinko.Error {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return &kinko.Error{Code: kinko.Timeout,
			Message: fmt.Sprintf("STS did not answer AssumeRole for role %s in time; try again", role.ARN), Err: err}
	case errors.Is(err, context.Canceled):
		return kinko.ShuttingDownError(err)
	}
	return &kinko.Error{Code: kinko.Unreachable,
		Message: fmt.Sprintf("could not reach STS to assume role %s (%T); check the network path from kinko to STS (a VPC endpoint or NAT) or AWS_ENDPOINT_URL_STS",
			role.ARN, errors.Unwrap(err)), Err: err}
}

// Endpoint is where AssumeRole goes: AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL (the SDK's
// variables), else STS's regional endpoint for region in its partition, FIPS and dual-stack as
// cfg's modes say (STS's endpoint rules).
func Endpoint(getenv func(string) string, cfg aws.Config) string {
	for _, v := range []string{"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"} {
		if e := getenv(v); e != "" {
			return e
		}
	}
	fips, dualStack := modes(cfg)
	suffix, dualSuffix := dnsSuffixes(cfg.Region)
	host := "sts."
	switch {
	case fips && strings.HasPrefix(cfg.Region, "us-gov-") && !dualStack:
		// GovCloud's regional endpoints are FIPS endpoints already.
	case fips:
		host = "sts-fips."
	}
	if dualStack {
		suffix = dualSuffix
	}
	return "https://" + host + cfg.Region + "." + suffix
}

// dnsSuffixes are the DNS suffixes of region's partition, plain and dual-stack (the SDK's
// partitions.json).
func dnsSuffixes(region string) (plain, dualStack string) {
	for _, p := range [...]struct{ prefix, plain, dualStack string }{
		{"cn-", "amazonaws.com.cn", "api.amazonwebservices.com.cn"},
		{"eusc-", "amazonaws.eu", "api.amazonwebservices.eu"},
		{"us-iso-", "c2s.ic.gov", "api.aws.ic.gov"},
		{"us-isob-", "sc2s.sgov.gov", "api.aws.scloud"},
		{"eu-isoe-", "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk"},
		{"us-isof-", "csp.hci.ic.gov", "api.aws.hci.ic.gov"},
	} {
		if strings.HasPrefix(region, p.prefix) {
			return p.plain, p.dualStack
		}
	}
	return "amazonaws.com", "api.aws"
}

// modes reads FIPS and dual-stack from cfg's sources, where package awsconfig puts them.
func modes(cfg aws.Config) (fips, dualStack bool) {
	ctx := context.Background()
	for _, src := range cfg.ConfigSources {
		if f, ok := src.(interface {
			GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error)
		}); ok {
			if s, found, err := f.GetUseFIPSEndpoint(ctx); found && err == nil {
				fips = s == aws.FIPSEndpointStateEnabled
			}
		}
		if d, ok := src.(interface {
			GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error)
		}); ok {
			if s, found, err := d.GetUseDualStackEndpoint(ctx); found && err == nil {
				dualStack = s == aws.DualStackEndpointStateEnabled
			}
		}
	}
	return fips, dualStack
}
