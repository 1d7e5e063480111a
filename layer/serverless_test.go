// Tests of the deployment files: serverless.yml with layer/sample.js (packaged and deployed by
// osls against moto), the Makefile's region handling, and the SAM template (cfn-lint).
//
// What the moto deploy shows: osls's own checks pass (artifacts, template validation through
// moto's cfn-lint, change sets), both zips land in the deployment bucket, the function is created
// with its environment, reserved concurrency and our function zip, the layer with our layer zip,
// and osls remove deletes the stack. What moto cannot show, checked on the packaged template
// instead: the layer's name and architecture and its attachment to the function (moto's
// CloudFormation drops them), that IAM evaluates the policies as meant (moto does not enforce
// IAM), that API Gateway throttles, that the reserved concurrency fits the account's quota, a
// second deploy (below), and that the function runs on Lambda. Those need a real AWS account.
package layer_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/kinko-dev/kinko/internal/moto"
)

// root is the repository, seen from this package's directory.
const root = ".."

// project copies the deployment files into a fresh directory with tiny stand-in zips, so each
// test packages on its own (.serverless/ is per directory) and needs no Go cross-build.
func project(t *testing.T) string {
	t.Helper()
	osls := filepath.Join(root, "node_modules", ".bin", "osls")
	if _, err := os.Stat(osls); err != nil {
		t.Fatalf("osls is not installed (%v): run `make deps` or `npm ci --ignore-scripts` at the repository root", err)
	}
	dir := t.TempDir()
	for _, f := range []string{"serverless.yml", "package.json", "layer/sample.js", "layer/compatible-runtimes.json"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	abs, err := filepath.Abs(filepath.Join(root, "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(abs, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"arm64", "x86_64"} {
		writeZip(t, filepath.Join(dir, "dist", "kinko-layer-"+arch+".zip"), "extensions/kinko", "layer "+arch)
		writeZip(t, filepath.Join(dir, "dist", "function-"+arch+".zip"), "bootstrap", "function "+arch)
	}
	return dir
}

func writeZip(t *testing.T, path, name, content string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(w, content)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// osls runs the pinned osls in dir against moto, as `make package/deploy/remove` do (the same
// flags), with no AWS settings from the environment but moto's.
func osls(t *testing.T, m *moto.Server, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "node_modules", ".bin", "osls"), args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range m.Env() {
		if k != "AWS_REGION" { // the region comes from --region, as make passes it
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type template struct {
	Resources map[string]struct {
		Type                                string
		Properties                          map[string]any
		DeletionPolicy, UpdateReplacePolicy string
	}
}

// pkg runs osls package for us-east-1 and arm64 unless args say otherwise, and returns the template.
func pkg(t *testing.T, m *moto.Server, dir string, args ...string) template {
	t.Helper()
	if !slices.Contains(args, "--region") {
		args = append(args, "--region", "us-east-1")
	}
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--param=arch=") }) {
		args = append(args, "--param=arch=arm64")
	}
	out, err := osls(t, m, dir, append([]string{"package"}, args...)...)
	if err != nil {
		t.Fatalf("osls package %v: %v\n%s", args, err, out)
	}
	path := filepath.Join(dir, ".serverless", "cloudformation-template-update-stack.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tpl template
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	lint(t, path)
	return tpl
}

// lint fails the test on any cfn-lint error (exit code bit 2) or warning (bit 4).
func lint(t *testing.T, path string) {
	t.Helper()
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		t.Fatalf("cfn-lint is not on PATH: it comes with moto's server (pipx install --include-deps 'moto[server]'); %v", err)
	}
	out, err := exec.Command("cfn-lint", path).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode()&(2|4) != 0 || err != nil && !errors.As(err, &exit) {
		t.Errorf("cfn-lint %s: %v\n%s", filepath.Base(path), err, out)
	}
}

func (tpl template) props(t *testing.T, id string) map[string]any {
	t.Helper()
	r, ok := tpl.Resources[id]
	if !ok {
		t.Fatalf("no resource %s in the template", id)
	}
	return r.Properties
}

func js(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestPackageDefaultsAreSafeToLeaveUp(t *testing.T) {
	t.Parallel()
	m := moto.ForTest(t)
	tpl := pkg(t, m, project(t), "--stage", "dev")

	fn := tpl.props(t, "ApiLambdaFunction")
	env := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env["SECRET_NAME"] != "OPENAI_API_KEY" || env["KINKO_PREFETCH"] != "OPENAI_API_KEY" || env["KINKO_METRICS"] != "log" {
		t.Errorf("environment %v", env)
	}
	if fn["ReservedConcurrentExecutions"] != 5.0 {
		t.Errorf("reserved concurrency %v, want 5", fn["ReservedConcurrentExecutions"])
	}
	// 1 request/s caps what a stranger can spend (README, "What is public"); a burst of 5 lets
	// a person load the page and ask a few questions without a 429.
	stage := js(tpl.props(t, "HttpApiStage")["DefaultRouteSettings"])
	if stage != `{"DetailedMetricsEnabled":false,"ThrottlingBurstLimit":5,"ThrottlingRateLimit":1}` {
		t.Errorf("stage route settings %s, want throttling at 1/s, burst 5", stage)
	}
	// No authorizer by default: the demo page works as deployed.
	for id, r := range tpl.Resources {
		if r.Type == "AWS::ApiGatewayV2::Authorizer" {
			t.Errorf("authorizer %s without authorizer=jwt", id)
		}
		if r.Type == "AWS::ApiGatewayV2::Route" && r.Properties["AuthorizationType"] != nil {
			t.Errorf("route %s has AuthorizationType %v by default", id, r.Properties["AuthorizationType"])
		}
	}
	if _, cors := tpl.props(t, "HttpApi")["CorsConfiguration"]; cors {
		t.Errorf("CORS on by default: %v", tpl.props(t, "HttpApi"))
	}
	// dev has /get-secret; the IAM statement names the one secret by its ARN pattern.
	if _, ok := tpl.Resources["HttpApiRouteGetGetDashsecret"]; !ok {
		t.Error("no GET /get-secret on the dev stage")
	}
	role := js(tpl.props(t, "IamRoleLambdaExecution"))
	if !strings.Contains(role, `"Action":["secretsmanager:GetSecretValue"],"Effect":"Allow","Resource":{"Fn::Sub":"arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:OPENAI_API_KEY-??????"}`) {
		t.Errorf("role %s lacks GetSecretValue on OPENAI_API_KEY-??????", role)
	}
	for _, id := range []string{"KmsDecryptPolicy", "SsmGetParameterPolicy"} {
		if _, ok := tpl.Resources[id]; ok {
			t.Errorf("%s present with no key or parameter configured", id)
		}
	}
	layer := tpl.Resources["KinkoLambdaLayer"]
	if layer.DeletionPolicy != "Retain" || layer.UpdateReplacePolicy != "Retain" {
		t.Errorf("layer policies %q/%q: old versions must be kept", layer.DeletionPolicy, layer.UpdateReplacePolicy)
	}
	if got := js(fn["Layers"]); got != `[{"Ref":"KinkoLambdaLayer"}]` {
		t.Errorf("function layers %s", got)
	}
	runtimes := layer.Properties["CompatibleRuntimes"].([]any)
	if len(runtimes) != 15 || !slices.Contains(runtimes, any("python3.13")) || !slices.Contains(runtimes, any("nodejs22.x")) {
		t.Errorf("compatible runtimes %v: want Lambda's maximum of 15, managed runtimes included", runtimes)
	}
}

func TestPackageEveryParameter(t *testing.T) {
	t.Parallel()
	m := moto.ForTest(t)
	arn := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/openai-AbC123"
	key1 := "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	key2 := "arn:aws:kms:eu-west-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef"
	tpl := pkg(t, m, project(t), "--stage", "prod", "--region", "eu-west-1", "--param=arch=x86_64",
		"--param=secretName="+arn, "--param=ssmParameters=/app/db/password, app/flag",
		"--param=kmsKeyArn="+key1+","+key2, "--param=prefetch=ssm:/app/db/password",
		"--param=corsOrigins=http://localhost:3000,https://app.example.com",
		"--param=throttleRate=2.5", "--param=throttleBurst=4", "--param=reservedConcurrency=none", "--param=kinkoMetrics=emf")

	fn := tpl.props(t, "ApiLambdaFunction")
	env := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env["SECRET_NAME"] != arn || env["KINKO_PREFETCH"] != arn+",ssm:/app/db/password" || env["KINKO_METRICS"] != "emf" {
		t.Errorf("environment %v", env)
	}
	if _, ok := fn["ReservedConcurrentExecutions"]; ok {
		t.Errorf("reservedConcurrency=none still reserves %v", fn["ReservedConcurrentExecutions"])
	}
	if !strings.Contains(js(tpl.props(t, "IamRoleLambdaExecution")), `"Resource":"`+arn+`"`) {
		t.Error("a full ARN as secretName must be the policy's resource as it is")
	}
	if _, ok := tpl.Resources["HttpApiRouteGetGetDashsecret"]; ok {
		t.Error("GET /get-secret on the prod stage without getSecretRoute=true")
	}
	if got := js(tpl.props(t, "HttpApiStage")["DefaultRouteSettings"]); got != `{"DetailedMetricsEnabled":false,"ThrottlingBurstLimit":4,"ThrottlingRateLimit":2.5}` {
		t.Errorf("throttling %s", got)
	}
	if got := js(tpl.props(t, "HttpApi")["CorsConfiguration"]); !strings.Contains(got, `"AllowOrigins":["http://localhost:3000","https://app.example.com"]`) {
		t.Errorf("CORS %s", got)
	}
	ssm := js(tpl.props(t, "SsmGetParameterPolicy")["PolicyDocument"])
	if !strings.Contains(ssm, `parameter/app/db/password"}`) || !strings.Contains(ssm, `parameter/app/flag"}`) || !strings.Contains(ssm, `"Action":"ssm:GetParameter"`) {
		t.Errorf("ssm policy %s", ssm)
	}
	kms := js(tpl.props(t, "KmsDecryptPolicy")["PolicyDocument"])
	for _, want := range []string{key1, key2, `secretsmanager.${AWS::Region}.amazonaws.com`, `ssm.${AWS::Region}.amazonaws.com`, `"kms:ViaService"`} {
		if !strings.Contains(kms, want) {
			t.Errorf("kms policy %s lacks %s", kms, want)
		}
	}
	if arch := js(tpl.props(t, "KinkoLambdaLayer")["CompatibleArchitectures"]); arch != `["x86_64"]` {
		t.Errorf("layer architectures %s", arch)
	}

	// getSecretRoute=true turns the route on outside dev.
	tpl = pkg(t, m, project(t), "--stage", "prod", "--param=getSecretRoute=true")
	if _, ok := tpl.Resources["HttpApiRouteGetGetDashsecret"]; !ok {
		t.Error("getSecretRoute=true did not add GET /get-secret")
	}
}

// authorizer=iam or jwt guards the routes that read the secret or spend OpenAI's budget;
// the page at GET / stays public (it is static and calls nothing).
func TestPackageAuthorizer(t *testing.T) {
	t.Parallel()
	m := moto.ForTest(t)
	guarded := []string{"HttpApiRoutePostInvokeDashopenai", "HttpApiRouteGetGetDashsecret"}

	tpl := pkg(t, m, project(t), "--stage", "dev", "--param=authorizer=iam")
	for _, id := range guarded {
		if r := tpl.props(t, id); r["AuthorizationType"] != "AWS_IAM" || r["AuthorizerId"] != nil {
			t.Errorf("authorizer=iam: route %s is %s, want AuthorizationType AWS_IAM and no authorizer id", id, js(r))
		}
	}
	if r := tpl.props(t, "HttpApiRouteGet"); r["AuthorizationType"] != nil {
		t.Errorf("authorizer=iam: GET / is %s, want it public", js(r))
	}
	for id, r := range tpl.Resources {
		if r.Type == "AWS::ApiGatewayV2::Authorizer" {
			t.Errorf("authorizer=iam made authorizer %s; IAM needs none", id)
		}
	}

	issuer := "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123"
	tpl = pkg(t, m, project(t), "--stage", "dev", "--param=authorizer=jwt", "--param=jwtIssuer="+issuer,
		"--param=jwtAudience=client-one, client-two")
	auth := tpl.Resources["HttpApiAuthorizerCallers"]
	if auth.Type != "AWS::ApiGatewayV2::Authorizer" || js(auth.Properties) !=
		`{"ApiId":{"Ref":"HttpApi"},"AuthorizerType":"JWT","IdentitySource":["$request.header.Authorization"],`+
			`"JwtConfiguration":{"Audience":["client-one","client-two"],"Issuer":"`+issuer+`"},"Name":"callers"}` {
		t.Errorf("authorizer=jwt: HttpApiAuthorizerCallers is %s %s", auth.Type, js(auth.Properties))
	}
	for _, id := range guarded {
		if r := tpl.props(t, id); r["AuthorizationType"] != "JWT" || js(r["AuthorizerId"]) != `{"Ref":"HttpApiAuthorizerCallers"}` {
			t.Errorf("authorizer=jwt: route %s is %s, want JWT with HttpApiAuthorizerCallers", id, js(r))
		}
	}
	if r := tpl.props(t, "HttpApiRouteGet"); r["AuthorizationType"] != nil {
		t.Errorf("authorizer=jwt: GET / is %s, want it public", js(r))
	}
}

func TestPackageRefusesTraps(t *testing.T) {
	t.Parallel()
	m := moto.ForTest(t)
	cases := map[string]struct {
		args []string
		want string
	}{
		"partial ARN": {[]string{"--param=secretName=arn:aws:secretsmanager:us-east-1:123456789012:secret:OPENAI_API_KEY"},
			"secretName: arn:aws:secretsmanager:us-east-1:123456789012:secret:OPENAI_API_KEY is a partial ARN"},
		"ARN in another region": {[]string{"--param=secretName=arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbC123"},
			"is in eu-west-1 but the stack deploys to us-east-1"},
		"KMS alias": {[]string{"--param=kmsKeyArn=alias/mine"}, "kmsKeyArn: alias/mine is not a KMS key ARN"},
		"prefetch of an unreadable parameter": {[]string{"--param=prefetch=ssm:/other"},
			"prefetch: ssm:/other: the role may read only the parameters in ssmParameters"},
		"prefetch of another secret": {[]string{"--param=prefetch=other"}, "prefetch: other: the role may read only the secret in secretName"},
		"SSM ARN":                    {[]string{"--param=ssmParameters=arn:aws:ssm:us-east-1:123456789012:parameter/x"}, "not an ARN"},
		"bad route switch":           {[]string{"--param=getSecretRoute=yes"}, "getSecretRoute"},
		"zero concurrency":           {[]string{"--param=reservedConcurrency=0"}, "reservedConcurrency"},
		"CORS with a path":           {[]string{"--param=corsOrigins=https://a.example.com/app"}, "corsOrigins"},
		"metrics format":             {[]string{"--param=kinkoMetrics=cloudwatch"}, "kinkoMetrics"},
		"unknown authorizer":         {[]string{"--param=authorizer=cognito"}, `authorizer: "cognito": want none, iam or jwt`},
		"jwt without an issuer": {[]string{"--param=authorizer=jwt", "--param=jwtAudience=a"},
			"jwtIssuer: is empty: authorizer=jwt needs the token issuer's https URL"},
		"jwt issuer over http": {[]string{"--param=authorizer=jwt", "--param=jwtIssuer=http://issuer.example.com", "--param=jwtAudience=a"},
			"jwtIssuer: \"http://issuer.example.com\" is not an https URL"},
		"jwt without an audience": {[]string{"--param=authorizer=jwt", "--param=jwtIssuer=https://issuer.example.com"},
			"jwtAudience: is empty: authorizer=jwt needs"},
		"jwt settings without jwt": {[]string{"--param=jwtIssuer=https://issuer.example.com"},
			"jwtIssuer: is set but authorizer is none"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := osls(t, m, project(t), append([]string{"package", "--stage", "dev", "--region", "us-east-1", "--param=arch=arm64"}, c.args...)...)
			if err == nil {
				t.Fatalf("osls package %v succeeded; want it refused\n%s", c.args, out)
			}
			if !strings.Contains(strings.Join(strings.Fields(out), " "), c.want) {
				t.Fatalf("osls package %v: output lacks %q:\n%s", c.args, c.want, out)
			}
		})
	}
}

func TestPackageNeedsARegion(t *testing.T) {
	t.Parallel()
	m := moto.ForTest(t)
	out, err := osls(t, m, project(t), "package", "--stage", "dev", "--param=arch=arm64")
	if err == nil || !strings.Contains(out, "no AWS region") {
		t.Fatalf("osls package without a region: %v\n%s\nwant it refused, naming AWS_REGION", err, out)
	}
}

// `osls deploy` against moto: past every check osls makes (artifacts, template validation, change
// sets), both zips uploaded, the stack created; then `osls remove` deletes it.
func TestDeployToMotoUploadsBothZips(t *testing.T) {
	t.Parallel()
	m := moto.ForTest(t)
	dir := project(t)
	out, err := osls(t, m, dir, "deploy", "--stage", "dev", "--region", "us-east-1", "--param=arch=arm64", "--verbose")
	if err != nil {
		t.Fatalf("osls deploy: %v\n%s", err, out)
	}
	keys := bucketKeys(t, m)
	for _, zip := range []string{"kinko-layer-arm64.zip", "function-arm64.zip"} {
		if !slices.ContainsFunc(keys, func(k string) bool { return strings.HasSuffix(k, "/"+zip) }) {
			t.Errorf("%s not uploaded; deployment bucket holds %v", zip, keys)
		}
	}
	if !strings.Contains(out, "Service deployed to stack kinko-dev") {
		t.Errorf("osls did not report the stack deployed:\n%s", out)
	}
	// moto's CloudFormation made the function from the template, with the layer and the environment.
	fn, err := lambdaClient(t, m).GetFunction(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String("kinko-dev-api")})
	if err != nil {
		t.Fatalf("the deployed function: %v", err)
	}
	env := fn.Configuration.Environment.Variables
	if env["KINKO_PREFETCH"] != "OPENAI_API_KEY" || env["SECRET_NAME"] != "OPENAI_API_KEY" || env["KINKO_METRICS"] != "log" ||
		fn.Concurrency == nil || aws.ToInt32(fn.Concurrency.ReservedConcurrentExecutions) != 5 ||
		aws.ToString(fn.Configuration.CodeSha256) != sha(t, filepath.Join(dir, "dist", "function-arm64.zip")) {
		t.Errorf("deployed function: %s", js(fn))
	}
	// moto's CloudFormation names a layer after its stack and logical id, and neither attaches it
	// to the function nor sets its architecture: the template tests check those. Its zip is ours.
	layers, err := lambdaClient(t, m).ListLayers(t.Context(), &lambda.ListLayersInput{})
	if err != nil || len(layers.Layers) != 1 || layers.Layers[0].LatestMatchingVersion == nil {
		t.Fatalf("layers after the deploy: %v %s", err, js(layers))
	}
	v, err := lambdaClient(t, m).GetLayerVersion(t.Context(), &lambda.GetLayerVersionInput{
		LayerName: layers.Layers[0].LayerName, VersionNumber: aws.Int64(layers.Layers[0].LatestMatchingVersion.Version)})
	if err != nil || v.Content == nil || aws.ToString(v.Content.CodeSha256) != sha(t, filepath.Join(dir, "dist", "kinko-layer-arm64.zip")) || len(v.CompatibleRuntimes) != 15 {
		t.Errorf("the stack's layer does not hold dist/kinko-layer-arm64.zip for 15 runtimes: %v %s", err, js(v))
	}
	// Not tried here: a second deploy. moto's DescribeStacks answers this stack without Outputs,
	// which osls reads to reuse an unchanged layer, and osls fails on that. Old layer versions
	// survive a real update through UpdateReplacePolicy: Retain (TestPackageDefaultsAreSafeToLeaveUp).
	out, err = osls(t, m, dir, "remove", "--stage", "dev", "--region", "us-east-1", "--param=arch=arm64")
	if err != nil {
		t.Fatalf("osls remove: %v\n%s", err, out)
	}
	if status := stackStatus(t, m, "kinko-dev"); status != "" && status != "DELETE_COMPLETE" {
		t.Errorf("stack kinko-dev is %s after remove", status)
	}
}

// bucketKeys lists every object in every bucket moto holds (moto does not check signatures).
func bucketKeys(t *testing.T, m *moto.Server) []string {
	t.Helper()
	var buckets struct {
		Names []string `xml:"Buckets>Bucket>Name"`
	}
	get(t, m.URL+"/", &buckets)
	var keys []string
	for _, b := range buckets.Names {
		var list struct {
			Keys []string `xml:"Contents>Key"`
		}
		get(t, m.URL+"/"+b+"?list-type=2&max-keys=1000", &list)
		keys = append(keys, list.Keys...)
	}
	return keys
}

func get(t *testing.T, url string, into any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := xml.Unmarshal(b, into); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, b)
	}
}

// sha is a file's base64 SHA-256, as Lambda reports CodeSha256.
func sha(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func lambdaClient(t *testing.T, m *moto.Server) *lambda.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion("us-east-1"), config.WithBaseEndpoint(m.URL),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")))
	if err != nil {
		t.Fatal(err)
	}
	return lambda.NewFromConfig(cfg)
}

func stackStatus(t *testing.T, m *moto.Server, name string) string {
	t.Helper()
	resp, err := http.Post(m.URL+"/", "application/x-www-form-urlencoded",
		strings.NewReader("Action=DescribeStacks&Version=2010-05-15&StackName="+name))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "" // moto answers 400 "does not exist" for a deleted stack
	}
	var out struct {
		Status string `xml:"DescribeStacksResult>Stacks>member>StackStatus"`
	}
	if err := xml.Unmarshal(b, &out); err != nil {
		t.Fatalf("DescribeStacks: %v\n%s", err, b)
	}
	return out.Status
}

func TestMakefileRegionFollowsTheCLI(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env  []string
		want string
	}{
		{[]string{"AWS_REGION=eu-west-1"}, "--region eu-west-1"},
		{[]string{"AWS_DEFAULT_REGION=ap-northeast-1"}, "--region ap-northeast-1"},
		{[]string{"AWS_REGION=eu-west-1", "AWS_DEFAULT_REGION=ap-northeast-1"}, "--region eu-west-1"},
		{[]string{"REGION=sa-east-1", "AWS_REGION=eu-west-1"}, "--region sa-east-1"},
		{nil, "no AWS region"},
	}
	for _, target := range []string{"deploy", "remove"} {
		for _, c := range cases {
			out := makeDryRun(t, target, c.env)
			if !strings.Contains(out, c.want) {
				t.Errorf("make -n %s with %v: want %q in\n%s", target, c.env, c.want, out)
			}
		}
	}
	if out := makeDryRun(t, "publish-layer", []string{"AWS_REGION=eu-west-1"}); !strings.Contains(out, `-regions "eu-west-1"`) {
		t.Errorf("publish-layer without REGIONS: want AWS_REGION's region:\n%s", out)
	}
	if out := makeDryRun(t, "publish-layer", []string{"REGIONS=us-east-1 eu-west-1", "SHARE_ORG=o-a1b2c3d4e5", "ARCH=x86_64"}); !strings.Contains(out, `-zip dist/kinko-layer-x86_64.zip -arch x86_64`) ||
		!strings.Contains(out, `-regions "us-east-1 eu-west-1"`) || !strings.Contains(out, `-share-org "o-a1b2c3d4e5"`) {
		t.Errorf("publish-layer flags:\n%s", out)
	}
	if out := makeDryRun(t, "package", nil); !strings.Contains(out, "--region us-east-1") {
		t.Errorf("package without a region renders for us-east-1 (offline):\n%s", out)
	}
}

// makeDryRun prints what make would run, with no AWS variables but env and no aws CLI on PATH.
func makeDryRun(t *testing.T, target string, env []string) string {
	t.Helper()
	cmd := exec.Command("make", "-n", "-C", root, target)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "REGION") && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "MAKE") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, "PATH="+noAWSPath(t)), env...)
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// noAWSPath is PATH without any directory holding an aws program, so the profile fallback is off.
func noAWSPath(t *testing.T) string {
	t.Helper()
	var keep []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(d, "aws")); err != nil {
			keep = append(keep, d)
		}
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

func TestSAMTemplateLints(t *testing.T) {
	t.Parallel()
	path := filepath.Join("sam", "template.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"AWS::Serverless-2016-10-31", "secretsmanager:GetSecretValue", "-??????", "Layers:"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s lacks %q", path, want)
		}
	}
	lint(t, path)
}

// The SAM function's inline handler sends the session token to kinko only: a redirect from
// kinko's port is an error, never followed, and HTTP_PROXY never sees the request (issue 22).
func TestSAMHandlerNeverForwardsTheToken(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	b, err := os.ReadFile(filepath.Join("sam", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	code := inlineCode(t, string(b))
	const token = "sam-test-session-token"
	var strays atomic.Int32
	stray := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		strays.Add(1)
		w.Write([]byte(`{"Name":"x","VersionId":"v","SecretString":"from-elsewhere"}`))
	}))
	defer stray.Close()
	kinko := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Aws-Parameters-Secrets-Token") != token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, stray.URL+"/secretsmanager/get?"+r.URL.RawQuery, http.StatusFound)
	}))
	defer kinko.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.py"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), python, "-c", "import index; print(index.handler({}, None))")
	cmd.Dir = dir
	port := kinko.Listener.Addr().(*net.TCPAddr).Port
	cmd.Env = append(os.Environ(), "SECRET_NAME=x", "AWS_SESSION_TOKEN="+token,
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT="+strconv.Itoa(port),
		"HTTP_PROXY="+stray.URL, "http_proxy="+stray.URL, "NO_PROXY=", "no_proxy=")
	out, err := cmd.CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("HTTPError")) || !bytes.Contains(out, []byte("302")) {
		t.Errorf("the handler against a redirecting port: err %v, output:\n%s\nwant an HTTPError 302", err, out)
	}
	if n := strays.Load(); n != 0 {
		t.Errorf("the redirect's target or the proxy got %d requests, want none", n)
	}
}

// inlineCode is the InlineCode block of the SAM template's function, unindented.
func inlineCode(t *testing.T, template string) string {
	t.Helper()
	_, rest, ok := strings.Cut(template, "InlineCode: |\n")
	if !ok {
		t.Fatal("the SAM template has no InlineCode block")
	}
	var b strings.Builder
	for _, line := range strings.Split(rest, "\n") {
		if line != "" && !strings.HasPrefix(line, "        ") {
			break
		}
		b.WriteString(strings.TrimPrefix(line, "        ") + "\n")
	}
	return b.String()
}
