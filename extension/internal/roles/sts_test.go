package roles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

const (
	baseKey    = "AKIDSANDBOX"
	baseSecret = "s3cr3t-sandbox-key"
	baseToken  = "sandbox-session-token"
	reader     = "arn:aws:iam::210987654321:role/reader"
	writer     = "arn:aws:iam::210987654321:role/writer"
)

// stsCall is one AssumeRole as the fake saw it.
type stsCall struct {
	url           string
	form          url.Values
	authorization string
	token         string
}

// fakeSTS answers AssumeRole in STS's query protocol: a session of the asked duration, with an
// access key numbered by call, or what answer says instead.
type fakeSTS struct {
	mu     sync.Mutex
	calls  []stsCall
	answer func(n int) (*http.Response, error) // nil: credentials
}

func (f *fakeSTS) Do(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	f.mu.Lock()
	f.calls = append(f.calls, stsCall{url: r.URL.String(), form: form, authorization: r.Header.Get("Authorization"), token: r.Header.Get("X-Amz-Security-Token")})
	n, answer := len(f.calls), f.answer
	f.mu.Unlock()
	if answer != nil {
		if resp, err := answer(n); resp != nil || err != nil {
			return resp, err
		}
	}
	secs, _ := strconv.Atoi(form.Get("DurationSeconds"))
	return xmlAnswer(200, fmt.Sprintf(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:%[1]s</AssumedRoleId><Arn>arn:aws:sts::210987654321:assumed-role/r/%[1]s</Arn></AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAROLE%[2]d</AccessKeyId>
      <SecretAccessKey>s3cr3t-role-key-%[2]d</SecretAccessKey>
      <SessionToken>role-token-%[2]d</SessionToken>
      <Expiration>%[3]s</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>req-%[2]d</RequestId></ResponseMetadata>
</AssumeRoleResponse>`, form.Get("RoleSessionName"), n, time.Now().Add(time.Duration(secs)*time.Second).UTC().Format(time.RFC3339))), nil
}

func (f *fakeSTS) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.calls) }

func xmlAnswer(status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"text/xml"}}, Body: io.NopCloser(strings.NewReader(body))}
}

func stsError(status int, code, msg string) *http.Response {
	return xmlAnswer(status, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>`+code+
		`</Code><Message>`+msg+`</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
}

func baseConfig() aws.Config {
	return aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider(baseKey, baseSecret, baseToken)}
}

// reads is what the tests' Build makes: the role and configuration it was built for.
type reads struct {
	role   Role
	cfg    aws.Config
	closed *int // counts Close
	mu     *sync.Mutex
}

func (r reads) Close() { r.mu.Lock(); *r.closed++; r.mu.Unlock() }

func (r reads) closes() int { r.mu.Lock(); defer r.mu.Unlock(); return *r.closed }

func newSet(t *testing.T, f *fakeSTS, max int) *Set[reads] {
	t.Helper()
	s := New(Options[reads]{AWS: baseConfig(), Getenv: func(string) string { return "" }, FunctionName: "orders-api", Max: max,
		HTTPClient: f, Build: func(role Role, cfg aws.Config) reads { return reads{role, cfg, new(int), &sync.Mutex{}} }})
	t.Cleanup(s.Close)
	return s
}

// A role's reads are signed with its session, which kinko assumes with STS AssumeRole signed with
// the sandbox's own credentials: the role's ARN, a session name saying kinko and the function, one
// hour, at STS's regional endpoint.
func TestAssumeRoleAsksSTSWithTheSandboxCredentials(t *testing.T) {
	f := &fakeSTS{}
	s := newSet(t, f, 0)
	r, release, err := s.For(reader)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if f.count() != 0 {
		t.Fatal("AssumeRole was called before any read was signed: building a role's cache must cost no call")
	}
	creds, err := r.cfg.Credentials.Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "ASIAROLE1" || creds.SecretAccessKey != "s3cr3t-role-key-1" || creds.SessionToken != "role-token-1" || !creds.CanExpire {
		t.Errorf("the role's credentials are not the session STS answered: key %q", creds.AccessKeyID)
	}
	if r.cfg.Region != "eu-west-1" || r.role.ARN != reader {
		t.Errorf("built for %+v in %s", r.role, r.cfg.Region)
	}
	c := f.calls[0]
	want := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {reader},
		"RoleSessionName": {"kinko-orders-api"}, "DurationSeconds": {"3600"}}
	if fmt.Sprint(c.form) != fmt.Sprint(want) {
		t.Errorf("AssumeRole form %v, want %v", c.form, want)
	}
	if c.url != "https://sts.eu-west-1.amazonaws.com" {
		t.Errorf("AssumeRole went to %s", c.url)
	}
	if !strings.HasPrefix(c.authorization, "AWS4-HMAC-SHA256 Credential="+baseKey+"/") || !strings.Contains(c.authorization, "/eu-west-1/sts/aws4_request") || c.token != baseToken {
		t.Errorf("AssumeRole is not signed with the sandbox's credentials for sts in eu-west-1: %q, token %q", c.authorization, c.token)
	}
}

// STS refusing, throttling, failing or not answering is an error naming the role, with AWS's
// status and code when STS answered (refused: 403 AccessDenied), else 504 or 502 as other
// upstream failures; never the sandbox's own credentials in its place.
func TestAssumeRoleFailuresNameTheRole(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(int) (*http.Response, error)
		code   kinko.Code
		aws    string
		status int
		says   string
	}{
		{"refused", func(int) (*http.Response, error) {
			return stsError(403, "AccessDenied", "User: arn:aws:sts::123456789012:assumed-role/fn/x is not authorized to perform: sts:AssumeRole on resource: "+reader), nil
		}, kinko.AccessDenied, "AccessDenied", 403, "not authorized to perform: sts:AssumeRole"},
		{"throttled", func(int) (*http.Response, error) { return stsError(400, "Throttling", "Rate exceeded"), nil }, kinko.Throttled, "Throttling", 400, "Rate exceeded"},
		{"sandbox token expired", func(int) (*http.Response, error) { return stsError(400, "ExpiredToken", "expired"), nil }, kinko.CredentialsExpired, "ExpiredToken", 400, "expired"},
		{"failing", func(int) (*http.Response, error) { return stsError(503, "ServiceUnavailable", "down"), nil }, kinko.Unavailable, "ServiceUnavailable", 503, "down"},
		{"no code", func(int) (*http.Response, error) { return xmlAnswer(500, "<html>oops</html>"), nil }, kinko.Unavailable, "UnknownError", 500, "UnknownError"},
		{"no credentials", func(int) (*http.Response, error) { return xmlAnswer(200, "<AssumeRoleResponse/>"), nil }, kinko.Malformed, "", 0, "no credentials"},
		{"timeout", func(int) (*http.Response, error) { return nil, context.DeadlineExceeded }, kinko.Timeout, "", 0, "did not answer AssumeRole"},
		{"refused connection", func(int) (*http.Response, error) { return nil, &url.Error{Op: "Post", Err: syscall.ECONNREFUSED} }, kinko.Unreachable, "", 0, "could not reach STS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSet(t, &fakeSTS{answer: tc.answer}, 0)
			r, release, err := s.For(reader)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			_, err = r.cfg.Credentials.Retrieve(t.Context())
			var e *kinko.Error
			if !errors.As(err, &e) || e.Code != tc.code || e.AWSCode != tc.aws || e.AWSStatus != tc.status ||
				!strings.Contains(e.Message, reader) || !strings.Contains(e.Message, tc.says) {
				t.Fatalf("%v; want code %v, AWS %q %d, naming the role and saying %q", err, tc.code, tc.aws, tc.status, tc.says)
			}
			if strings.Contains(e.Message, baseSecret) || strings.Contains(e.Message, baseToken) {
				t.Fatal("the error holds the sandbox's credentials")
			}
		})
	}
}

// A caller whose own deadline passes while AssumeRole is under way hears that STS was late.
func TestCallerDeadlineDuringAssumeRoleSaysSTS(t *testing.T) {
	unblock := make(chan struct{})
	defer close(unblock)
	s := newSet(t, &fakeSTS{answer: func(int) (*http.Response, error) { <-unblock; return nil, context.Canceled }}, 0)
	r, release, _ := s.For(reader)
	defer release()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	_, err := r.cfg.Credentials.Retrieve(ctx)
	var e *kinko.Error
	if !errors.As(err, &e) || e.Code != kinko.Timeout || !strings.Contains(e.Message, "STS") || !strings.Contains(e.Message, reader) {
		t.Fatalf("%v; want a timeout naming STS and the role", err)
	}
}

// The STS endpoint: the SDK's override variables first, else STS's regional endpoint in the
// region's partition, FIPS and dual-stack as configured (STS's endpoint rules).
func TestEndpoint(t *testing.T) {
	type modes struct{ fips, dual bool }
	for _, tc := range []struct {
		region string
		env    map[string]string
		m      modes
		want   string
	}{
		{"us-east-1", nil, modes{}, "https://sts.us-east-1.amazonaws.com"},
		{"eu-west-1", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, modes{}, "http://127.0.0.1:5000"},
		{"eu-west-1", map[string]string{"AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_STS": "http://b"}, modes{}, "http://b"},
		{"cn-north-1", nil, modes{}, "https://sts.cn-north-1.amazonaws.com.cn"},
		{"us-gov-west-1", nil, modes{fips: true}, "https://sts.us-gov-west-1.amazonaws.com"},
		{"us-east-2", nil, modes{fips: true}, "https://sts-fips.us-east-2.amazonaws.com"},
		{"us-east-2", nil, modes{dual: true}, "https://sts.us-east-2.api.aws"},
		{"us-east-2", nil, modes{fips: true, dual: true}, "https://sts-fips.us-east-2.api.aws"},
		{"us-isob-east-1", nil, modes{}, "https://sts.us-isob-east-1.sc2s.sgov.gov"},
	} {
		cfg := aws.Config{Region: tc.region, ConfigSources: []any{fakeModes(tc.m)}}
		if got := Endpoint(func(k string) string { return tc.env[k] }, cfg); got != tc.want {
			t.Errorf("%s %v %+v: %s, want %s", tc.region, tc.env, tc.m, got, tc.want)
		}
	}
}

type fakeModes struct{ fips, dual bool }

func (m fakeModes) GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error) {
	if m.fips {
		return aws.FIPSEndpointStateEnabled, true, nil
	}
	return aws.FIPSEndpointStateUnset, false, nil
}

func (m fakeModes) GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error) {
	if m.dual {
		return aws.DualStackEndpointStateEnabled, true, nil
	}
	return aws.DualStackEndpointStateUnset, false, nil
}

// STS's refusal of a role is answered again for RefusalMemory without asking STS, so a loop of
// reads of a role the function may not assume is not a loop of AssumeRole calls; then STS is
// asked again (the trust policy may have been fixed). Throttling and a lapsed sandbox token are
// not remembered: the next attempt may get past them.
func TestRefusedRoleIsRememberedBriefly(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answer   *http.Response
		remember bool
	}{
		{"refused", stsError(403, "AccessDenied", "not authorized to perform: sts:AssumeRole"), true},
		{"throttled", stsError(400, "Throttling", "Rate exceeded"), false},
		{"sandbox token expired", stsError(400, "ExpiredToken", "expired"), false},
		{"failing", stsError(503, "ServiceUnavailable", "down"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				raw, _ := io.ReadAll(tc.answer.Body)
				f := &fakeSTS{answer: func(int) (*http.Response, error) { return xmlAnswer(tc.answer.StatusCode, string(raw)), nil }}
				s := newSet(t, f, 0)
				r, release, err := s.For(reader)
				if err != nil {
					t.Fatal(err)
				}
				defer release()
				retrieve := func() *kinko.Error {
					_, err := r.cfg.Credentials.Retrieve(t.Context())
					var e *kinko.Error
					if !errors.As(err, &e) || !strings.Contains(e.Message, reader) {
						t.Fatalf("%v, want STS's error naming the role", err)
					}
					return e
				}
				first := retrieve()
				for range 3 {
					if again := retrieve(); again.Code != first.Code || again.Message != first.Message {
						t.Fatalf("again: %v, want the same error as first (%v)", again, first)
					}
				}
				want := 4
				if tc.remember {
					want = 1
				}
				if n := f.count(); n != want {
					t.Fatalf("%d AssumeRole calls for 4 reads, want %d", n, want)
				}
				time.Sleep(RefusalMemory)
				retrieve()
				if n := f.count(); n != want+1 {
					t.Fatalf("%d AssumeRole calls after RefusalMemory, want %d: STS is asked again", n, want+1)
				}
			})
		})
	}
}
