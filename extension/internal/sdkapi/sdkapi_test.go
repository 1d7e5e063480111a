package sdkapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
	"github.com/kinko-dev/kinko/extension/internal/server"
	"github.com/kinko-dev/kinko/extension/internal/sigv4"
	"github.com/kinko-dev/kinko/extension/internal/upstream"
)

const (
	region       = "us-east-1"
	sandboxToken = "sandbox-session-token"
	secretText   = `{"password":"s3cr3t-sdkapi <&>"}`
	dbARN        = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
)

var ownCreds = aws.Credentials{AccessKeyID: "ASIASANDBOXKEY000001", SecretAccessKey: "sandbox-secret", SessionToken: sandboxToken}

var created = time.Date(2026, 11, 16, 8, 22, 40, 499_000_000, time.UTC)

// fakeCache answers reads from values and errs by request, counting reads, and records drops.
type fakeCache struct {
	mu      sync.Mutex
	values  map[kinko.Request]document.Value
	errs    map[kinko.Request]error
	reads   []kinko.Request
	dropped []kinko.Request // the known requests a Drop matched
}

func (f *fakeCache) Get(_ context.Context, r kinko.Request) (document.Value, cache.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, r)
	if err := f.errs[r]; err != nil {
		return document.Value{}, cache.Status{Outcome: cache.Miss}, err
	}
	v, ok := f.values[r]
	if !ok {
		return document.Value{}, cache.Status{Outcome: cache.Miss}, &kinko.Error{Code: kinko.NotFound, AWSCode: notFoundCode(r), AWSStatus: 400, Message: r.Describe() + " not found"}
	}
	return v, cache.Status{Outcome: cache.Hit, TTL: time.Minute}, nil
}

func notFoundCode(r kinko.Request) string {
	if r.Kind == kinko.SSM {
		return "ParameterNotFound"
	}
	return "ResourceNotFoundException"
}

func (f *fakeCache) Refresh(ctx context.Context, r kinko.Request) (document.Value, cache.Status, error) {
	return f.Get(ctx, r)
}
func (f *fakeCache) Recount(kinko.Request) {}

func (f *fakeCache) Drop(match func(kinko.Request) bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for r := range f.values {
		if match(r) {
			f.dropped = append(f.dropped, r)
			n++
		}
	}
	return n
}

// fakeAWS stands in for upstream's Forward: it records each call and answers answer.
type fakeAWS struct {
	mu     sync.Mutex
	calls  []string // target and body
	status int
	answer string
}

func (f *fakeAWS) Forward(_ context.Context, kind kinko.Kind, hdr http.Header, body []byte) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, hdr.Get("X-Amz-Target")+" "+string(body))
	status := f.status
	if status == 0 {
		status = 200
	}
	return &http.Response{StatusCode: status, ContentLength: int64(len(f.answer)),
		Header: http.Header{"Content-Type": {contentType}, "X-Amzn-Requestid": {"req-fwd"}},
		Body:   io.NopCloser(strings.NewReader(f.answer))}, nil
}

func (f *fakeAWS) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

type stack struct {
	cache *fakeCache
	aws   *fakeAWS
	url   string
	logs  *bytes.Buffer
}

// start serves the SDK endpoint through kinko's own server and mux, over a fake cache holding
// a text secret (by name and ARN), a binary one, and parameters under /app.
func start(t testing.TB) *stack {
	t.Helper()
	sec, _ := document.RenderSecret(&secretsmanager.GetSecretValueOutput{ARN: aws.String(dbARN), Name: aws.String("prod/db"),
		SecretString: aws.String(secretText), VersionId: aws.String("v1"), VersionStages: []string{"AWSCURRENT"}, CreatedDate: &created})
	bin, _ := document.RenderSecret(&secretsmanager.GetSecretValueOutput{Name: aws.String("bin"), SecretBinary: []byte{0, 1, 2, 0xff}, VersionId: aws.String("v9")})
	params := []ssmtypes.Parameter{
		{ARN: aws.String("arn:aws:ssm:us-east-1:123456789012:parameter/app/a"), Name: aws.String("/app/a"), Type: ssmtypes.ParameterTypeString,
			Value: aws.String("A"), Version: 3, LastModifiedDate: &created, DataType: aws.String("text")},
		{Name: aws.String("/app/b"), Type: ssmtypes.ParameterTypeSecureString, Value: aws.String("s3cr3t-b"), Version: 1},
		{Name: aws.String("/app/c"), Type: ssmtypes.ParameterTypeStringList, Value: aws.String("x,y"), Version: 2},
	}
	path, _ := document.RenderPath("/app", params)
	values := map[kinko.Request]document.Value{
		{Kind: kinko.SecretsManager, ID: "prod/db", Stage: kinko.CurrentStage}:  sec,
		{Kind: kinko.SecretsManager, ID: dbARN, Stage: kinko.CurrentStage}:      sec,
		{Kind: kinko.SecretsManager, ID: "bin", Stage: kinko.CurrentStage}:      bin,
		{Kind: kinko.SSM, ID: "/app", Decrypt: true, Path: kinko.PathRecursive}: path,
	}
	for i := range params {
		v, _ := document.RenderParameter(&ssm.GetParameterOutput{Parameter: &params[i]})
		values[kinko.Request{Kind: kinko.SSM, ID: *params[i].Name, Decrypt: true}] = v
	}
	sel := params[0]
	sel.Selector = aws.String(":3")
	v, _ := document.RenderParameter(&ssm.GetParameterOutput{Parameter: &sel})
	values[kinko.Request{Kind: kinko.SSM, ID: "/app/a", VersionID: "3"}] = v

	s := &stack{cache: &fakeCache{values: values, errs: map[kinko.Request]error{}}, aws: &fakeAWS{answer: `{"Name":"prod/db","ARN":"` + dbARN + `"}`}, logs: &bytes.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: s.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := server.NewHandler(s.cache, sandboxToken, logger)
	h.HandleSDK(Lazy(func() http.Handler {
		return New(Deps{Reads: s.cache, Cache: s.cache, Forward: s.aws, Token: []byte(sandboxToken), Logger: logger,
			Verify: sigv4.New(region, credentials.StaticCredentialsProvider{Value: ownCreds}, time.Now, "the function")})
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (s *stack) secrets(base string, c aws.Credentials) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{Region: region, BaseEndpoint: aws.String(s.url + base),
		Credentials: credentials.StaticCredentialsProvider{Value: c}, RetryMaxAttempts: 1})
}

func (s *stack) parameters(base string) *ssm.Client {
	return ssm.New(ssm.Options{Region: region, BaseEndpoint: aws.String(s.url + base),
		Credentials: credentials.StaticCredentialsProvider{Value: ownCreds}, RetryMaxAttempts: 1})
}

// The SDK parses every cached read as it parses AWS's answer: dates, binary, selectors, lists.
func TestTheSDKParsesCachedSecrets(t *testing.T) {
	s := start(t)
	for _, base := range []string{"", "/secretsmanager", "/secretsmanager/"} {
		sm := s.secrets(base, ownCreds)
		out, err := sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db")})
		if err != nil {
			t.Fatalf("base %q: %v", base, err)
		}
		if aws.ToString(out.SecretString) != secretText || aws.ToString(out.ARN) != dbARN || aws.ToString(out.Name) != "prod/db" ||
			aws.ToString(out.VersionId) != "v1" || len(out.VersionStages) != 1 || !out.CreatedDate.Equal(created) || out.SecretBinary != nil {
			t.Fatalf("base %q: GetSecretValue parsed as %+v (created %v)", base, out.ResultMetadata, out.CreatedDate)
		}
	}
	out, err := s.secrets("", ownCreds).GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("bin")})
	if err != nil || !bytes.Equal(out.SecretBinary, []byte{0, 1, 2, 0xff}) || out.SecretString != nil || out.CreatedDate != nil {
		t.Fatalf("binary secret: %v %v", err, out.SecretBinary)
	}
	b, err := s.secrets("", ownCreds).BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"prod/db", "gone", "bin", "prod/db"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.SecretValues) != 2 || aws.ToString(b.SecretValues[0].SecretString) != secretText || !bytes.Equal(b.SecretValues[1].SecretBinary, []byte{0, 1, 2, 0xff}) ||
		len(b.Errors) != 1 || aws.ToString(b.Errors[0].SecretId) != "gone" || aws.ToString(b.Errors[0].ErrorCode) != "ResourceNotFoundException" {
		t.Fatalf("batch: %d values, errors %+v", len(b.SecretValues), b.Errors)
	}
	if n := len(s.aws.seen()); n != 0 {
		t.Fatalf("%d calls forwarded for cached reads", n)
	}
}

func TestTheSDKParsesCachedParameters(t *testing.T) {
	s := start(t)
	for _, base := range []string{"", "/parameterstore", "/parameterstore/"} {
		p, err := s.parameters(base).GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/app/a"), WithDecryption: aws.Bool(true)})
		if err != nil {
			t.Fatalf("base %q: %v", base, err)
		}
		got := p.Parameter
		if aws.ToString(got.Value) != "A" || got.Version != 3 || got.Type != ssmtypes.ParameterTypeString || !got.LastModifiedDate.Equal(created) ||
			aws.ToString(got.DataType) != "text" || got.Selector != nil || !strings.HasSuffix(aws.ToString(got.ARN), "parameter/app/a") {
			t.Fatalf("base %q: GetParameter parsed as %+v", base, got)
		}
	}
	p, err := s.parameters("").GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/app/a:3")})
	if err != nil || aws.ToString(p.Parameter.Selector) != ":3" {
		t.Fatalf("a selector: %v", err)
	}
	ps, err := s.parameters("").GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"/app/a", "/nope", "/app/b"}, WithDecryption: aws.Bool(true)})
	if err != nil || len(ps.Parameters) != 2 || aws.ToString(ps.Parameters[1].Value) != "s3cr3t-b" || len(ps.InvalidParameters) != 1 || ps.InvalidParameters[0] != "/nope" {
		t.Fatalf("GetParameters: %v, %d parameters, invalid %v", err, len(ps.Parameters), ps.InvalidParameters)
	}
	// A path is paged by the SDK's own paginator, MaxResults at a time.
	var names []string
	pages := 0
	pg := ssm.NewGetParametersByPathPaginator(s.parameters(""), &ssm.GetParametersByPathInput{Path: aws.String("/app"), Recursive: aws.Bool(true),
		WithDecryption: aws.Bool(true), MaxResults: aws.Int32(2)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, p := range out.Parameters {
			names = append(names, aws.ToString(p.Name))
		}
	}
	if pages != 2 || strings.Join(names, ",") != "/app/a,/app/b,/app/c" {
		t.Fatalf("path pages %d: %v", pages, names)
	}
	// A token from another path is refused as AWS refuses a bad one.
	first, _ := s.parameters("").GetParametersByPath(t.Context(), &ssm.GetParametersByPathInput{Path: aws.String("/app"), Recursive: aws.Bool(true),
		WithDecryption: aws.Bool(true), MaxResults: aws.Int32(1)})
	_, err = s.parameters("").GetParametersByPath(t.Context(), &ssm.GetParametersByPathInput{Path: aws.String("/app"), WithDecryption: aws.Bool(true), NextToken: first.NextToken})
	var bad *ssmtypes.InvalidNextToken
	if !errors.As(err, &bad) {
		t.Fatalf("a token for another path: %v, want InvalidNextToken", err)
	}
	if n := len(s.aws.seen()); n != 0 {
		t.Fatalf("%d calls forwarded for cached reads", n)
	}
}

// Errors arrive as the SDK's own typed exceptions, with AWS's status.
func TestErrorsAreTheServicesOwn(t *testing.T) {
	s := start(t)
	_, err := s.secrets("", ownCreds).GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("gone")})
	var nf *smtypes.ResourceNotFoundException
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &nf) || !errors.As(err, &re) || re.HTTPStatusCode() != 400 {
		t.Fatalf("missing secret: %v, want ResourceNotFoundException 400", err)
	}
	_, err = s.parameters("").GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/nope")})
	var pnf *ssmtypes.ParameterNotFound
	if !errors.As(err, &pnf) {
		t.Fatalf("missing parameter: %v, want ParameterNotFound", err)
	}
	s.cache.errs[kinko.Request{Kind: kinko.SecretsManager, ID: "slow", Stage: kinko.CurrentStage}] = kinko.TimeoutError(kinko.SecretsManager, time.Second, nil)
	_, err = s.secrets("", ownCreds).BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"prod/db", "slow"}})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "UpstreamTimeout" || !errors.As(err, &re) || re.HTTPStatusCode() != 504 {
		t.Fatalf("a batch with an id that timed out: %v, want the call failed 504 (the SDK retries it)", err)
	}
	ids := make([]string, MaxBatch+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("s%d", i)
	}
	_, err = s.secrets("", ownCreds).BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids})
	var ip *smtypes.InvalidParameterException
	if !errors.As(err, &ip) || len(s.aws.seen()) != 0 {
		t.Fatalf("21 ids: %v, want InvalidParameterException, nothing forwarded", err)
	}
}

// Every other operation is forwarded as it came; a write drops every cached spelling of its id
// before the caller has its answer.
func TestForwardsAndDropsWhatAWriteChanges(t *testing.T) {
	s := start(t)
	d, err := s.secrets("", ownCreds).DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("prod/db")})
	if err != nil || aws.ToString(d.Name) != "prod/db" || len(s.cache.dropped) != 0 {
		t.Fatalf("DescribeSecret: %v %+v, dropped %v", err, d, s.cache.dropped)
	}
	_, err = s.secrets("", ownCreds).PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(dbARN), SecretString: aws.String("s3cr3t-new")})
	if err != nil {
		t.Fatal(err)
	}
	calls := s.aws.seen()
	if len(calls) != 2 || !strings.HasPrefix(calls[0], "secretsmanager.DescribeSecret ") || !strings.HasPrefix(calls[1], "secretsmanager.PutSecretValue ") {
		t.Fatalf("forwarded %q", calls)
	}
	if len(s.cache.dropped) != 2 {
		t.Fatalf("PutSecretValue by ARN dropped %v, want the entries by name and by ARN", s.cache.dropped)
	}
	if strings.Contains(s.logs.String(), "s3cr3t") {
		t.Fatal("a secret value reached the log")
	}
}

// post sends a raw request to the endpoint.
func (s *stack) post(t *testing.T, path, target, body string, hdr map[string]string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// The token header is enough for the cached reads, and for nothing that would act with the
// function's role; unsigned requests, other credentials, loops and proxies are refused, and
// nothing refused is forwarded.
func TestAuthenticationAndRefusals(t *testing.T) {
	s := start(t)
	tok := map[string]string{server.TokenHeader: sandboxToken}
	if code, body, _ := s.post(t, "/", "secretsmanager.GetSecretValue", `{"SecretId":"prod/db"}`, tok); code != 200 || !strings.Contains(body, fmt.Sprintf(`"CreatedDate":%d.499,`, created.Unix())) {
		t.Fatalf("token-only GetSecretValue: %d %s", code, redact(body))
	}
	if code, _, _ := s.post(t, "/", "AmazonSSM.GetParametersByPath", `{"Path":"/app","Recursive":true,"WithDecryption":true}`, tok); code != 200 {
		t.Fatalf("token-only GetParametersByPath: %d", code)
	}
	for _, tc := range []struct {
		name, path, target, body string
		hdr                      map[string]string
		status                   int
		typ, says                string
	}{
		{"token-only write", "/", "secretsmanager.PutSecretValue", `{"SecretId":"prod/db","SecretString":"x"}`, tok, 401, "AccessDeniedException", "needs a SigV4 signature"},
		{"token-only describe", "/", "secretsmanager.DescribeSecret", `{"SecretId":"prod/db"}`, tok, 401, "AccessDeniedException", "needs a SigV4 signature"},
		{"token-only filtered batch", "/", "secretsmanager.BatchGetSecretValue", `{"Filters":[{"Key":"name","Values":["p"]}]}`, tok, 401, "AccessDeniedException", "lists secrets in AWS"},
		{"wrong token", "/", "secretsmanager.GetSecretValue", `{"SecretId":"prod/db"}`, map[string]string{server.TokenHeader: "nope"}, 401, "AccessDeniedException", "bad session token"},
		{"nothing", "/", "secretsmanager.GetSecretValue", `{"SecretId":"prod/db"}`, nil, 401, "AccessDeniedException", "not signed"},
		{"bad signature", "/", "secretsmanager.GetSecretValue", `{"SecretId":"prod/db"}`, map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=x"}, 403, "InvalidSignatureException", "malformed"},
		{"presigned", "/?X-Amz-Signature=abc", "secretsmanager.GetSecretValue", `{"SecretId":"prod/db"}`, tok, 403, "InvalidSignatureException", "query string"},
		{"loop", "/", "secretsmanager.GetSecretValue", `{"SecretId":"prod/db"}`, map[string]string{upstream.HopHeader: "1", server.TokenHeader: sandboxToken}, 508, "LoopDetectedException", "came through kinko"},
		{"proxied", "/", "secretsmanager.GetSecretValue", `{"SecretId":"prod/db"}`, map[string]string{"X-Forwarded-For": "1.2.3.4", server.TokenHeader: sandboxToken}, 400, "InvalidRequest", "X-Forwarded-For"},
		{"no target", "/", "", `{}`, tok, 400, "InvalidRequest", "X-Amz-Target"},
		{"another service", "/", "AWSKMS.Decrypt", `{}`, tok, 400, "InvalidRequest", "not an operation of Secrets Manager"},
		{"SSM under /secretsmanager", "/secretsmanager", "AmazonSSM.GetParameter", `{"Name":"/app/a"}`, tok, 400, "InvalidRequest", "Secrets Manager only"},
		{"secrets under /parameterstore/", "/parameterstore/", "secretsmanager.GetSecretValue", `{"SecretId":"prod/db"}`, tok, 400, "InvalidRequest", "SSM only"},
		{"not JSON", "/", "secretsmanager.GetSecretValue", `{"SecretId":`, tok, 400, "SerializationException", "not the JSON input"},
		{"too large", "/", "secretsmanager.GetSecretValue", `{"SecretId":"` + strings.Repeat("x", MaxBody) + `"}`, tok, 400, "InvalidRequest", "over 1 MiB"},
		{"eleven names", "/", "AmazonSSM.GetParameters", `{"Names":["a","b","c","d","e","f","g","h","i","j","k"]}`, tok, 400, "ValidationException", "1 to 10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, hdr := s.post(t, tc.path, tc.target, tc.body, tc.hdr)
			if code != tc.status || hdr.Get("X-Amzn-Errortype") != tc.typ || !strings.Contains(body, `"__type":"`+tc.typ+`"`) || !strings.Contains(body, tc.says) {
				t.Fatalf("got %d %s %s, want %d %s saying %q", code, hdr.Get("X-Amzn-Errortype"), redact(body), tc.status, tc.typ, tc.says)
			}
		})
	}
	if n := len(s.aws.seen()); n != 0 {
		t.Fatalf("%d refused calls were forwarded", n)
	}
	// Another method on the SDK paths is not an endpoint.
	req, _ := http.NewRequest(http.MethodGet, s.url+"/secretsmanager", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("GET /secretsmanager: %d, want 404", resp.StatusCode)
	}
}

// A client with other credentials (a role assumed in code) is refused, saying so, and its call
// is never forwarded under kinko's identity.
func TestOtherCredentialsAreRefused(t *testing.T) {
	s := start(t)
	other := aws.Credentials{AccessKeyID: "ASIAASSUMEDROLE00002", SecretAccessKey: "x", SessionToken: "assumed"}
	_, err := s.secrets("", other).PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("prod/db"), SecretString: aws.String("x")})
	var api smithy.APIError
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidSignatureException" || !strings.Contains(api.ErrorMessage(), "not the function's own") ||
		!errors.As(err, &re) || re.HTTPStatusCode() != 403 {
		t.Fatalf("other credentials: %v, want 403 InvalidSignatureException saying so", err)
	}
	if n := len(s.aws.seen()); n != 0 || len(s.cache.dropped) != 0 {
		t.Fatalf("a refused write was forwarded (%d) or dropped values (%d)", n, len(s.cache.dropped))
	}
}

// redact keeps the test's secret values out of failure output.
func redact(s string) string {
	return strings.NewReplacer("s3cr3t-sdkapi", "<secret>", "s3cr3t-b", "<secret>").Replace(s)
}

// A signed call that acts with the function's role is forwarded once: the same signed request
// again (a replay, or botocore repeating a call within the second its signature covers) is
// answered 429, which every SDK retries with a new signature. A read may repeat.
func TestAForwardIsMadeOncePerSignature(t *testing.T) {
	s := start(t)
	send := func(target, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, s.url+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-Amz-Target", target)
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(t.Context(), ownCreds, req, hex.EncodeToString(sum[:]), "secretsmanager", region, time.Now()); err != nil {
			t.Fatal(err)
		}
		var last int
		var typ string
		for range 2 {
			again := req.Clone(t.Context())
			again.Body = io.NopCloser(strings.NewReader(body))
			resp, err := http.DefaultClient.Do(again)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			last, typ = resp.StatusCode, resp.Header.Get("X-Amzn-Errortype")
		}
		return last, typ
	}
	if code, typ := send("secretsmanager.DescribeSecret", `{"SecretId":"prod/db"}`); code != 429 || typ != "ThrottlingException" || len(s.aws.seen()) != 1 {
		t.Fatalf("a signed describe sent twice: second %d %s, %d forwarded; want 429 ThrottlingException and one forward", code, typ, len(s.aws.seen()))
	}
	if code, _ := send("secretsmanager.GetSecretValue", `{"SecretId":"prod/db"}`); code != 200 {
		t.Fatalf("a signed read sent twice: second %d, want 200", code)
	}
}

// The endpoint costs nothing until its first request: Lazy builds it then, once.
func TestLazyBuildsOnFirstRequestOnly(t *testing.T) {
	built := 0
	h := Lazy(func() http.Handler {
		built++
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	})
	if built != 0 {
		t.Fatal("built before any request")
	}
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil))
	}
	if built != 1 {
		t.Fatalf("built %d times for 3 requests, want 1", built)
	}
}
