package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

const (
	region  = "us-east-1"
	akid    = "ASIAKINKOTESTKEY0001"
	secret  = "kinko-test-secret-access-key"
	session = "kinko-test-session-token-s3cr3t"
)

var kinkoCreds = aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: session}

// signedAt is the signing time of the hand-built requests; the verifier's clock reads it.
var signedAt = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func newVerifier(now time.Time) *Verifier {
	return New(region, credentials.StaticCredentialsProvider{Value: kinkoCreds}, func() time.Time { return now }, "the function")
}

// recorder is an SDK endpoint stand-in: it verifies every request and keeps the last one.
type recorder struct {
	v       *Verifier
	service string
	once    bool // also refuse a signature used before (Once)
	mu      sync.Mutex
	last    *http.Request
	body    []byte
	errs    []error
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sig, err := rec.v.Verify(r.Context(), r, body, rec.service)
	if err == nil && rec.once {
		err = rec.v.Once(sig)
	}
	rec.mu.Lock()
	rec.last, rec.body, rec.errs = r, body, append(rec.errs, err)
	rec.mu.Unlock()
	if err != nil {
		w.Header().Set("X-Amzn-Errortype", "InvalidSignatureException")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"__type":"InvalidSignatureException","message":%q}`, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fmt.Fprint(w, `{}`)
}

func startRecorder(t *testing.T, service string) (*recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{v: New(region, credentials.StaticCredentialsProvider{Value: kinkoCreds}, time.Now, "the function"), service: service}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

func secretsClient(url string, c aws.Credentials) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{Region: region, BaseEndpoint: aws.String(url),
		Credentials: credentials.StaticCredentialsProvider{Value: c}, RetryMaxAttempts: 1})
}

// The AWS SDK's own requests, unchanged, are accepted: Secrets Manager and SSM, at the root and
// under Cloud Extensions' base paths.
func TestAcceptsTheSDKsOwnSignatures(t *testing.T) {
	for _, base := range []string{"", "/secretsmanager", "/parameterstore/"} {
		rec, srv := startRecorder(t, "secretsmanager")
		if _, err := secretsClient(srv.URL+base, kinkoCreds).GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db")}); err != nil {
			t.Fatalf("Secrets Manager at %q: %v", base, err)
		}
		rec.service = "ssm"
		c := ssm.New(ssm.Options{Region: region, BaseEndpoint: aws.String(srv.URL + base), Credentials: credentials.StaticCredentialsProvider{Value: kinkoCreds}, RetryMaxAttempts: 1})
		if _, err := c.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/app/flag"), WithDecryption: aws.Bool(true)}); err != nil {
			t.Fatalf("SSM at %q: %v", base, err)
		}
	}
}

// A request signed with other credentials is refused, saying so; never with the key's secret or
// the token in the message.
func TestRefusesOtherCredentials(t *testing.T) {
	rec, srv := startRecorder(t, "secretsmanager")
	other := aws.Credentials{AccessKeyID: "ASIAOTHERROLEKEY0002", SecretAccessKey: "other-secret", SessionToken: "other-token"}
	_, err := secretsClient(srv.URL, other).GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	var e *Error
	if err == nil || !errors.As(rec.errs[0], &e) || e.Reason != OtherCredentials || !strings.Contains(e.Message, "not the function's own") {
		t.Fatalf("other credentials: %v (%v), want OtherCredentials saying so", rec.errs, err)
	}
	for _, leak := range []string{secret, session, "other-secret", "other-token"} {
		if strings.Contains(e.Message, leak) {
			t.Fatal("the refusal carries a secret key or a token")
		}
	}
	// The same access key with another secret: the signature itself does not match.
	rec.errs = nil
	forged := kinkoCreds
	forged.SecretAccessKey = "guessed"
	_, _ = secretsClient(srv.URL, forged).GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	if !errors.As(rec.errs[0], &e) || e.Reason != Mismatch {
		t.Fatalf("kinko's key id with another secret: %v, want Mismatch", rec.errs)
	}
	// Credentials without a session token: x-amz-security-token is not signed.
	rec.errs = nil
	noToken := kinkoCreds
	noToken.SessionToken = ""
	_, _ = secretsClient(srv.URL, noToken).GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	if !errors.As(rec.errs[0], &e) || e.Reason != Headers || !strings.Contains(e.Message, "x-amz-security-token") {
		t.Fatalf("no session token: %v, want Headers naming x-amz-security-token", rec.errs)
	}
}

// A request sent again as it was verifies again (botocore repeats a read's signature within a
// second); Once refuses it the second time, and a fresh signature of the same call passes.
func TestOnceRefusesAReplay(t *testing.T) {
	rec, srv := startRecorder(t, "secretsmanager")
	rec.once = true
	if _, err := secretsClient(srv.URL, kinkoCreds).GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	again, _ := http.NewRequest(http.MethodPost, srv.URL+"/", bytes.NewReader(rec.body))
	again.Header = rec.last.Header.Clone()
	resp, err := http.DefaultClient.Do(again)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var e *Error
	if resp.StatusCode != http.StatusForbidden || !errors.As(rec.errs[1], &e) || e.Reason != Replayed {
		t.Fatalf("the same request again: %d %v, want Replayed", resp.StatusCode, rec.errs[1])
	}
	r, b := request(t, kinkoCreds, signedAt, `{}`, nil)
	v := newVerifier(signedAt)
	for i := range 2 {
		if _, err := v.Verify(t.Context(), r, b, "secretsmanager"); err != nil {
			t.Fatalf("verify %d of the same request: %v; a repeat is for Once to refuse", i+1, err)
		}
	}
	if _, err := secretsClient(srv.URL, kinkoCreds).GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}); err != nil {
		t.Fatalf("the same call signed anew: %v", err)
	}
}

// request is a Secrets Manager call signed by the SDK's signer with c at at, then changed by
// mutate, as kinko's server would receive it.
func request(t testing.TB, c aws.Credentials, at time.Time, body string, mutate func(*http.Request, *[]byte)) (*http.Request, []byte) {
	t.Helper()
	cr, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:2773/", strings.NewReader(body))
	cr.Header.Set("Content-Type", "application/x-amz-json-1.1")
	cr.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), c, cr, hex.EncodeToString(sum[:]), "secretsmanager", region, at); err != nil {
		t.Fatal(err)
	}
	b := []byte(body)
	if mutate != nil {
		mutate(cr, &b)
	}
	sr := httptest.NewRequest(cr.Method, cr.URL.String(), bytes.NewReader(b))
	sr.Header = cr.Header
	sr.ContentLength = cr.ContentLength
	if cr.Host != "" {
		sr.Host = cr.Host
	}
	return sr, b
}

func TestRefusals(t *testing.T) {
	const body = `{"SecretId":"prod/db"}`
	setAuth := func(f func(string) string) func(*http.Request, *[]byte) {
		return func(r *http.Request, _ *[]byte) { r.Header.Set("Authorization", f(r.Header.Get("Authorization"))) }
	}
	for _, tc := range []struct {
		name    string
		at      time.Time
		service string
		mutate  func(*http.Request, *[]byte)
		want    Reason
	}{
		{"unsigned", signedAt, "", func(r *http.Request, _ *[]byte) { r.Header.Del("Authorization") }, Unsigned},
		{"presigned in the query", signedAt, "", func(r *http.Request, _ *[]byte) { r.URL.RawQuery = "X-Amz-Signature=abc" }, Presigned},
		{"query key in another case", signedAt, "", func(r *http.Request, _ *[]byte) { r.URL.RawQuery = "x-amz-credential=abc" }, Presigned},
		{"SigV4a", signedAt, "", setAuth(func(a string) string { return strings.Replace(a, algorithm, "AWS4-ECDSA-P256-SHA256", 1) }), Malformed},
		{"two Authorization headers", signedAt, "", func(r *http.Request, _ *[]byte) { r.Header.Add("Authorization", r.Header.Get("Authorization")) }, Malformed},
		{"uppercase signature", signedAt, "", setAuth(strings.ToUpper), Malformed},
		{"another region", signedAt, "", setAuth(func(a string) string { return strings.Replace(a, "/us-east-1/", "/eu-west-1/", 1) }), Scope},
		{"another service", signedAt, "ssm", nil, Scope},
		{"signed 6 minutes ago", signedAt.Add(-6 * time.Minute), "", nil, Stale},
		{"signed 6 minutes ahead", signedAt.Add(6 * time.Minute), "", nil, Stale},
		{"scope date is not X-Amz-Date's", signedAt, "", setAuth(func(a string) string { return strings.Replace(a, "/20261201/", "/20261130/", 1) }), Scope},
		{"target not signed", signedAt, "", setAuth(func(a string) string { return strings.Replace(a, ";x-amz-target", "", 1) }), Headers},
		{"signed header missing", signedAt, "", func(r *http.Request, _ *[]byte) { r.Header.Del("X-Amz-Target") }, Headers},
		{"token changed", signedAt, "", func(r *http.Request, _ *[]byte) { r.Header.Set("X-Amz-Security-Token", "someone-else") }, Token},
		{"unsigned payload", signedAt, "", func(r *http.Request, _ *[]byte) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") }, Payload},
		{"aws-chunked", signedAt, "", func(r *http.Request, _ *[]byte) { r.Header.Set("Content-Encoding", "aws-chunked") }, Payload},
		{"body changed", signedAt, "", func(r *http.Request, b *[]byte) { *b = []byte(`{"SecretId":"prod/DB"}`) }, Mismatch},
		{"target changed", signedAt, "", func(r *http.Request, _ *[]byte) { r.Header.Set("X-Amz-Target", "secretsmanager.DeleteSecret") }, Mismatch},
		{"host changed", signedAt, "", func(r *http.Request, _ *[]byte) { r.Host = "127.0.0.1:9999" }, Mismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, b := request(t, kinkoCreds, tc.at, body, tc.mutate)
			service := tc.service
			if service == "" {
				service = "secretsmanager"
			}
			_, err := newVerifier(signedAt).Verify(t.Context(), r, b, service)
			var e *Error
			if !errors.As(err, &e) || e.Reason != tc.want || e.Message == "" {
				t.Fatalf("got %v, want reason %d", err, tc.want)
			}
			if strings.Contains(e.Message, secret) || strings.Contains(e.Message, session) {
				t.Fatal("the message carries the secret key or the token")
			}
		})
	}
	// The unchanged request passes, at the edge of the window either way.
	for _, at := range []time.Time{signedAt.Add(-Window), signedAt.Add(Window)} {
		r, b := request(t, kinkoCreds, at, body, nil)
		if _, err := newVerifier(signedAt).Verify(t.Context(), r, b, "secretsmanager"); err != nil {
			t.Fatalf("signed %s from now: %v", at.Sub(signedAt), err)
		}
	}
}

// Without a session token of its own kinko cannot tell the sandbox's callers from others: it
// refuses every signed request rather than accept one on the access key alone.
func TestRefusesWithoutAnOwnSessionToken(t *testing.T) {
	noToken := kinkoCreds
	noToken.SessionToken = ""
	v := New(region, credentials.StaticCredentialsProvider{Value: noToken}, func() time.Time { return signedAt }, "the function")
	r, b := request(t, kinkoCreds, signedAt, `{}`, nil)
	var e *Error
	if _, err := v.Verify(t.Context(), r, b, "secretsmanager"); !errors.As(err, &e) || e.Reason != NoCredentials {
		t.Fatalf("got %v, want NoCredentials", err)
	}
}

// The replay memory forgets what can no longer be accepted, and refuses rather than forget
// what still could be.
func TestReplayMemoryIsBounded(t *testing.T) {
	now := signedAt
	v := New(region, credentials.StaticCredentialsProvider{Value: kinkoCreds}, func() time.Time { return now }, "the function")
	var sig [32]byte
	for i := range MaxRemembered {
		sig[0], sig[1], sig[2] = byte(i), byte(i>>8), byte(i>>16)
		if err := v.remember(sig, now.Add(Window)); err != nil {
			t.Fatalf("signature %d: %v", i, err)
		}
	}
	sig[3] = 1
	var e *Error
	if err := v.remember(sig, now.Add(Window)); !errors.As(err, &e) || e.Reason != Busy {
		t.Fatalf("one past the bound: %v, want Busy", err)
	}
	now = now.Add(Window)
	if err := v.remember(sig, now.Add(Window)); err != nil {
		t.Fatalf("after the window: %v, want room again", err)
	}
	if len(v.seen) != 1 || len(v.order)-v.head != 1 {
		t.Fatalf("%d remembered (%d in order) after the window, want 1", len(v.seen), len(v.order)-v.head)
	}
}
