package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/kinko-dev/kinko/internal/faultproxy"
)

const (
	sdkSecret    = `{"user":"app","password":"s3cr3t-sdk-endpoint-7d1e"}`
	sdkSecretNew = `{"user":"app","password":"s3cr3t-sdk-endpoint-rotated-0b2f"}`
	sdkParam     = "s3cr3t-sdk-param-4c8a"
)

// sandboxCreds are the credentials the harness gives kinko: what every process of the sandbox has.
var sandboxCreds = aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing", SessionToken: testToken}

// startSDKExtension runs kinko against moto (through the fault proxy, by AWS_ENDPOINT_URL) with
// the function's endpoint variables pointing at kinko itself, as a function that reads through
// kinko sets them: kinko must not take them for its own calls.
func startSDKExtension(t *testing.T) (*extension, *awsStack) {
	t.Helper()
	a := startAWS(t)
	api := startLambda(t)
	port := freePort(t)
	self := "http://localhost:" + strconv.Itoa(port)
	x := startExtensionOn(t, api, a, map[string]string{
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": strconv.Itoa(port),
		"AWS_ENDPOINT_URL_SECRETS_MANAGER":       self,
		"AWS_ENDPOINT_URL_SSM":                   self + "/parameterstore",
	}, &syncBuffer{})
	x.port = port // the harness picked one of its own; kinko listens on this one
	x.waitLog(`"msg":"ready"`)
	x.waitLog("AWS_ENDPOINT_URL_SECRETS_MANAGER points at kinko itself")
	return x, a
}

func (x *extension) sdkURL() string { return "http://127.0.0.1:" + strconv.Itoa(x.port) }

func (x *extension) secretsClient(c aws.Credentials) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(x.sdkURL()),
		Credentials: credentials.StaticCredentialsProvider{Value: c}, RetryMaxAttempts: 1})
}

func (x *extension) parametersClient() *ssm.Client {
	return ssm.New(ssm.Options{Region: "us-east-1", BaseEndpoint: aws.String(x.sdkURL() + "/parameterstore"),
		Credentials: credentials.StaticCredentialsProvider{Value: sandboxCreds}, RetryMaxAttempts: 1})
}

// An unchanged aws-sdk-go-v2 client pointed at kinko reads through its cache: the second read
// makes no call to Secrets Manager; a batch reads the same entries; a PutSecretValue through
// kinko is forwarded to AWS and the next read returns the new value.
func TestSDKReadsThroughKinko(t *testing.T) {
	x, a := startSDKExtension(t)
	a.createSecret(t, "sdk/db", sdkSecret)
	a.createSecret(t, "sdk/other", "s3cr3t-other")
	sm := x.secretsClient(sandboxCreds)
	for i := range 2 {
		out, err := sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("sdk/db")})
		if err != nil {
			t.Fatalf("read %d: %v", i+1, err)
		}
		if aws.ToString(out.SecretString) != sdkSecret || out.CreatedDate == nil || out.CreatedDate.IsZero() {
			t.Fatalf("read %d: not the secret as AWS answers it", i+1)
		}
	}
	if n := a.proxy.Calls("GetSecretValue"); n != 1 {
		t.Fatalf("two SDK reads made %d GetSecretValue calls to AWS, want 1", n)
	}
	b, err := sm.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"sdk/db", "sdk/other", "sdk/missing"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.SecretValues) != 2 || aws.ToString(b.SecretValues[0].SecretString) != sdkSecret || len(b.Errors) != 1 ||
		aws.ToString(b.Errors[0].ErrorCode) != "ResourceNotFoundException" {
		t.Fatalf("batch: %d values, errors %d", len(b.SecretValues), len(b.Errors))
	}
	if n := a.proxy.Calls("GetSecretValue"); n != 3 {
		t.Fatalf("the batch made %d GetSecretValue calls in all, want 3 (sdk/db was cached; sdk/other and the missing one fetched)", n)
	}
	if n := a.proxy.Calls("BatchGetSecretValue"); n != 0 {
		t.Fatalf("%d BatchGetSecretValue calls reached AWS, want 0: the batch is served from the cache", n)
	}

	if _, err := sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("sdk/db"), SecretString: aws.String(sdkSecretNew)}); err != nil {
		t.Fatalf("PutSecretValue through kinko: %v", err)
	}
	if n := a.proxy.Calls("PutSecretValue"); n != 1 {
		t.Fatalf("PutSecretValue reached AWS %d times, want 1", n)
	}
	out, err := sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("sdk/db")})
	if err != nil || aws.ToString(out.SecretString) != sdkSecretNew {
		t.Fatalf("the read after the write: %v; want the new value", err)
	}
	// The GET route reads the same cache: it has the new value too, without another call.
	calls := a.proxy.Calls("GetSecretValue")
	if r := x.get("/secretsmanager/get?secretId=sdk/db"); r.status != 200 || !strings.Contains(r.body, `rotated`) || a.proxy.Calls("GetSecretValue") != calls {
		t.Fatalf("the GET route after the SDK's read: %d, %d calls", r.status, a.proxy.Calls("GetSecretValue")-calls)
	}
	// A describe is forwarded as it came.
	d, err := sm.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("sdk/db")})
	if err != nil || aws.ToString(d.Name) != "sdk/db" || a.proxy.Calls("DescribeSecret") != 1 {
		t.Fatalf("DescribeSecret through kinko: %v", err)
	}
	x.assertNoSecrets(a, "s3cr3t-sdk-endpoint-7d1e", "s3cr3t-sdk-endpoint-rotated-0b2f", "s3cr3t-other")
}

// GetParameter, GetParameters and GetParametersByPath through kinko, by the SDK: the path is
// read whole once, and feeds the per-name entries.
func TestSDKReadsParametersThroughKinko(t *testing.T) {
	x, a := startSDKExtension(t)
	for i, name := range []string{"/sdk/app/a", "/sdk/app/b", "/sdk/app/deep/c"} {
		a.putParameter(t, name, fmt.Sprintf("%s-%d", sdkParam, i), ssmtypes.ParameterTypeSecureString)
	}
	ps := x.parametersClient()
	var names []string
	pg := ssm.NewGetParametersByPathPaginator(ps, &ssm.GetParametersByPathInput{Path: aws.String("/sdk/app"), Recursive: aws.Bool(true),
		WithDecryption: aws.Bool(true), MaxResults: aws.Int32(2)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range out.Parameters {
			names = append(names, aws.ToString(p.Name))
		}
	}
	if len(names) != 3 || a.proxy.Calls("GetParametersByPath") != 1 {
		t.Fatalf("path through kinko: %v after %d GetParametersByPath calls, want 3 parameters from 1 call", names, a.proxy.Calls("GetParametersByPath"))
	}
	p, err := ps.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/sdk/app/b"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(p.Parameter.Value) != sdkParam+"-1" || p.Parameter.Version != 1 || p.Parameter.LastModifiedDate == nil {
		t.Fatalf("GetParameter after the path: %v", err)
	}
	several, err := ps.GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"/sdk/app/a", "/sdk/app/nope"}, WithDecryption: aws.Bool(true)})
	if err != nil || len(several.Parameters) != 1 || len(several.InvalidParameters) != 1 {
		t.Fatalf("GetParameters: %v", err)
	}
	if n := a.proxy.Calls("GetParameter"); n != 1 {
		t.Fatalf("%d GetParameter calls reached AWS, want 1 (the missing name): the path fed the others", n)
	}
	// A PutParameter through kinko drops the path and the name: both read the new value.
	if _, err := ps.PutParameter(t.Context(), &ssm.PutParameterInput{Name: aws.String("/sdk/app/a"), Value: aws.String(sdkParam + "-new"),
		Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	p, err = ps.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/sdk/app/a"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(p.Parameter.Value) != sdkParam+"-new" {
		t.Fatalf("GetParameter after PutParameter: %v", err)
	}
	x.assertNoSecrets(a, sdkParam)
}

// A client built with other credentials (a role assumed in code) is refused and nothing is
// forwarded; a forward with the token header alone is refused too; kinko never reached itself.
func TestSDKRefusesWhatKinkoMustNotDo(t *testing.T) {
	x, a := startSDKExtension(t)
	a.createSecret(t, "sdk/db", sdkSecret)
	other := aws.Credentials{AccessKeyID: "ASIAOTHERROLE0000002", SecretAccessKey: "other", SessionToken: "assumed-role-token"}
	_, err := x.secretsClient(other).PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("sdk/db"), SecretString: aws.String("x")})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidSignatureException" || !strings.Contains(api.ErrorMessage(), "not the function's own") {
		t.Fatalf("other credentials: %v, want InvalidSignatureException saying so", err)
	}
	req, _ := http.NewRequest(http.MethodPost, x.sdkURL()+"/", strings.NewReader(`{"SecretId":"sdk/db"}`))
	req.Header.Set("X-Amz-Target", "secretsmanager.DescribeSecret")
	req.Header.Set("X-Aws-Parameters-Secrets-Token", testToken)
	resp, err := x.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), "needs a SigV4 signature") {
		t.Fatalf("an unsigned forward: %d %s, want 401 saying a signature is needed", resp.StatusCode, body)
	}
	if n := a.proxy.Calls("PutSecretValue") + a.proxy.Calls("DescribeSecret"); n != 0 {
		t.Fatalf("%d refused calls reached AWS", n)
	}
	if strings.Contains(x.logs.String(), "LoopDetected") {
		t.Fatal("kinko called itself")
	}
}

// boto3, unchanged, with only AWS_ENDPOINT_URL_SECRETS_MANAGER set: get_secret_value, then
// json.loads(SecretString); the second call makes no call to Secrets Manager.
func TestBoto3ReadsThroughKinko(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil || exec.Command(python, "-c", "import boto3").Run() != nil {
		t.Skip("python3 with boto3 is not installed")
	}
	x, a := startSDKExtension(t)
	a.createSecret(t, "sdk/boto", sdkSecret)
	const script = `
import boto3, json, os
sm = boto3.client("secretsmanager")
for _ in range(2):
    v = json.loads(sm.get_secret_value(SecretId=os.environ["SECRET_NAME"])["SecretString"])
    assert v["password"] == os.environ["WANT"], "not the secret"
print("ok")
`
	cmd := exec.CommandContext(t.Context(), python, "-c", script)
	cmd.Env = append(os.Environ(),
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=http://localhost:"+strconv.Itoa(x.port),
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_SESSION_TOKEN="+testToken,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_ENDPOINT_URL=",
		"SECRET_NAME=sdk/boto", "WANT=s3cr3t-sdk-endpoint-7d1e")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("boto3 through kinko: %v\n%s", err, strings.ReplaceAll(string(out), "s3cr3t-sdk-endpoint-7d1e", "<secret>"))
	}
	if n := a.proxy.Calls("GetSecretValue"); n != 1 {
		t.Fatalf("two boto3 reads made %d GetSecretValue calls to AWS, want 1", n)
	}
}

// A loop that slips past the endpoint check (AWS_ENDPOINT_URL at a proxy in front of kinko: not
// kinko's address, yet it leads there) is refused where it comes back: kinko's own call carries
// the hop header, the SDK endpoint answers 508 LoopDetectedException, and the caller gets that
// at once, not after kinko waited on itself.
func TestALoopIsRefusedWhereItComesBack(t *testing.T) {
	api := startLambda(t)
	port := freePort(t)
	loop, err := faultproxy.Start("http://127.0.0.1:" + strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(loop.Close)
	x := startExtensionOn(t, api, nil, map[string]string{
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": strconv.Itoa(port),
		"AWS_ENDPOINT_URL":                       loop.URL,
	}, &syncBuffer{})
	x.port = port
	x.waitLog(`"msg":"ready"`)
	r := x.get("/secretsmanager/get?secretId=any")
	if r.status != 508 || !strings.Contains(r.body, `"__type":"LoopDetectedException"`) || !strings.Contains(r.body, "came through kinko") {
		t.Fatalf("a read whose AWS endpoint leads back to kinko: %d %s, want 508 LoopDetectedException", r.status, r.body)
	}
	if n := loop.Calls("GetSecretValue"); n != 1 {
		t.Fatalf("%d calls went round the loop, want 1: a loop is not retried", n)
	}
}
