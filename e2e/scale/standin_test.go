package scale

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

func TestBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := NewBucket(10, 2, t0) // 10 a second, 2 kept
	got := 0
	for range 5 {
		if b.Take(t0) {
			got++
		}
	}
	if got != 2 {
		t.Fatalf("a full bucket of 2 gave %d calls at one instant", got)
	}
	if b.Take(t0.Add(50 * time.Millisecond)) {
		t.Error("half a token after 50 ms at 10/s: no call should pass")
	}
	if !b.Take(t0.Add(100 * time.Millisecond)) {
		t.Error("one token after 100 ms at 10/s: a call should pass")
	}
	// A long idle time refills only up to the burst.
	later := t0.Add(time.Hour)
	got = 0
	for range 5 {
		if b.Take(later) {
			got++
		}
	}
	if got != 2 {
		t.Errorf("after an hour idle the bucket gave %d calls, want its burst of 2", got)
	}
	if !NewBucket(0, 0, t0).Take(t0) {
		t.Error("rate 0 means no quota")
	}
}

func sdkClient(url string, sandbox int) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID(sandbox), "k", ""),
		Retryer:      aws.NopRetryer{}, // one attempt: the test sees each answer as it is
		HTTPClient:   awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) { t.Proxy = nil }),
	})
}

// The stand-in must look like Secrets Manager to the SDK kinko uses: a value, a throttle the
// SDK's retryer counts as throttling, a 503 it retries, a hang released by the next phase.
func TestStandInAnswersAsAWS(t *testing.T) {
	si, err := StartStandIn(StandInOptions{Secrets: []string{"scale/a"}})
	if err != nil {
		t.Fatal(err)
	}
	defer si.Close()
	si.SetQuota(1, 1) // one call, then throttled for a second
	c := sdkClient(si.URL, 7)
	ctx := t.Context()

	out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("scale/a")})
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	if aws.ToString(out.Name) != "scale/a" || versionNumber(aws.ToString(out.VersionId)) != 1 || out.CreatedDate == nil || len(out.VersionStages) != 1 {
		t.Errorf("answer: name %q version %q created %v stages %v", aws.ToString(out.Name), aws.ToString(out.VersionId), out.CreatedDate, out.VersionStages)
	}

	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("scale/a")})
	var api smithy.APIError
	var resp *awshttp.ResponseError
	if !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" || !errors.As(err, &resp) || resp.HTTPStatusCode() != 400 {
		t.Fatalf("over the quota: %v, want ThrottlingException with HTTP 400", err)
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
		t.Error("the SDK's retryer does not see the stand-in's throttle as throttling")
	}

	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("scale/missing")})
	if !errors.As(err, &api) || api.ErrorCode() != "ResourceNotFoundException" {
		t.Errorf("unknown secret: %v", err)
	}

	si.SetQuota(0, 0)
	si.SetMode(Unavailable)
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("scale/a")})
	if !errors.As(err, &resp) || resp.HTTPStatusCode() != 503 || retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
		t.Errorf("unavailable: %v, want a 503 the SDK retries", err)
	}

	si.SetMode(Hang)
	done := make(chan error, 1)
	go func() {
		_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("scale/a")})
		done <- err
	}()
	// Poll, with a deadline, until the call is held.
	deadline := time.Now().Add(5 * time.Second)
	for countCalls(si.Calls(), span{0, time.Hour}, Hung) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the call never reached the stand-in")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("a hung call answered before the hang ended: %v", err)
	default:
	}
	si.Rotate()
	si.SetMode(Healthy)
	if err := <-done; !errors.As(err, &resp) || resp.HTTPStatusCode() != 503 {
		t.Errorf("a hung call released: %v, want 503", err)
	}
	out, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("scale/a")})
	if err != nil || versionNumber(aws.ToString(out.VersionId)) != 2 {
		t.Errorf("after Rotate: %v, version %q, want 2", err, aws.ToString(out.VersionId))
	}

	calls := si.Calls()
	want := []Result{OK, Throttled, NotFound, Failed503, Hung, OK}
	if len(calls) != len(want) {
		t.Fatalf("%d calls recorded, want %d: %+v", len(calls), len(want), calls)
	}
	for i, c := range calls {
		if c.Result != want[i] || c.Sandbox != 7 {
			t.Errorf("call %d: %+v, want result %d from sandbox 7", i, c, want[i])
		}
	}
}

func TestStandInRefusesOtherOperations(t *testing.T) {
	si, err := StartStandIn(StandInOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer si.Close()
	_, err = sdkClient(si.URL, 1).ListSecrets(context.Background(), &secretsmanager.ListSecretsInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "UnknownOperationException" {
		t.Errorf("ListSecrets: %v, want UnknownOperationException", err)
	}
}

func TestVersionNumber(t *testing.T) {
	for _, n := range []int{1, 2, 42} {
		if got := versionNumber(VersionID(n)); got != n {
			t.Errorf("versionNumber(VersionID(%d)) = %d", n, got)
		}
	}
	if versionNumber("not-a-version") != 0 || versionNumber("") != 0 {
		t.Error("an id the stand-in did not make should be version 0")
	}
}

func TestFirstCallsOverQuota(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	calls := []Call{
		// Four keys' first calls at once against a bucket of 2: two are over the quota.
		{At: ms(0), Sandbox: 0, Secret: "a"}, {At: ms(0), Sandbox: 0, Secret: "b"},
		{At: ms(1), Sandbox: 1, Secret: "a"}, {At: ms(1), Sandbox: 1, Secret: "b"},
		// Retries do not count, even when they were throttled again.
		{At: ms(2), Sandbox: 1, Secret: "a", Result: Throttled}, {At: ms(600), Sandbox: 1, Secret: "b"},
		// A key whose first call comes after the bucket refilled is not over.
		{At: ms(2000), Sandbox: 2, Secret: "a"},
	}
	if got := firstCallsOverQuota(calls, 1, 2); got != 2 {
		t.Fatalf("first calls over the quota = %d, want 2", got)
	}
	// Out of order, the earliest call of each key is its first.
	slices.Reverse(calls)
	if got := firstCallsOverQuota(calls, 1, 2); got != 2 {
		t.Fatalf("calls out of order: %d, want 2", got)
	}
}
