package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Real clients other than aws-sdk-go-v2 against kinko's SDK endpoint (issue 24 item 5): the AWS
// CLI with --endpoint-url, and boto3's GetParametersByPath with pagination. Each runs as its own
// process with the sandbox's credentials (what the harness gives kinko, what every process of a
// Lambda sandbox has), so the signature kinko verifies is the client's own.

// sandboxEnv is the environment of a process in the sandbox: the test's own (PATH finds pyenv's
// python and aws), the sandbox's credentials, no config files, and no endpoint variables unless
// the caller adds them.
func sandboxEnv(extra ...string) []string {
	return append(os.Environ(), append([]string{
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_SESSION_TOKEN=" + testToken,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=",
		"AWS_ENDPOINT_URL=", "AWS_ENDPOINT_URL_SECRETS_MANAGER=", "AWS_ENDPOINT_URL_SSM=",
	}, extra...)...)
}

// hide keeps these tests' secret values out of a failure message.
func hide(s string, values ...string) string {
	for _, v := range values {
		s = strings.ReplaceAll(s, v, "<secret>")
	}
	return s
}

// The AWS CLI (v1, botocore) with --endpoint-url at kinko: get-secret-value twice makes one
// GetSecretValue call to Secrets Manager; get-parameters-by-path --with-decryption, paged one
// parameter at a time by the CLI's own paginator through kinko's NextToken, twice: one
// GetParametersByPath call, all three parameters decrypted each time.
func TestAWSCLIReadsThroughKinko(t *testing.T) {
	cli, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the aws CLI is not on PATH (install it, e.g. pip install awscli, to run this test)")
	}
	x, a := startSDKExtension(t)
	a.createSecret(t, "cli/db", sdkSecret)
	params := map[string]string{}
	for i, name := range []string{"/cli/app/a", "/cli/app/b", "/cli/app/deep/c"} {
		params[name] = fmt.Sprintf("%s-cli-%d", sdkParam, i)
		a.putParameter(t, name, params[name], ssmtypes.ParameterTypeSecureString)
	}
	secrets := []string{"s3cr3t-sdk-endpoint-7d1e", sdkParam}
	endpoint := x.sdkURL()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), cli, append(args, "--endpoint-url", endpoint, "--output", "json")...)
		cmd.Env = sandboxEnv()
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("aws %s: %v\n%s", strings.Join(args[:2], " "), err, hide(stderr, secrets...))
		}
		return string(out)
	}

	for i := range 2 {
		var got struct{ Name, SecretString string }
		out := run("secretsmanager", "get-secret-value", "--secret-id", "cli/db")
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.Name != "cli/db" || got.SecretString != sdkSecret {
			t.Fatalf("get-secret-value %d: not the secret (%v)", i+1, err)
		}
		if n := a.proxy.Calls("GetSecretValue"); n != 1 {
			t.Fatalf("after get-secret-value %d: Secrets Manager saw %d GetSecretValue calls, want 1 (kinko's cache answers the second)", i+1, n)
		}
	}

	for i := range 2 {
		var got struct {
			Parameters []struct{ Name, Value, Type string }
		}
		out := run("ssm", "get-parameters-by-path", "--path", "/cli/app/", "--recursive", "--with-decryption", "--page-size", "1")
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("get-parameters-by-path %d: %v", i+1, err)
		}
		var names []string
		for _, p := range got.Parameters {
			if p.Value != params[p.Name] || p.Type != "SecureString" {
				t.Fatalf("get-parameters-by-path %d: %s is not the decrypted parameter", i+1, p.Name)
			}
			names = append(names, p.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"/cli/app/a", "/cli/app/b", "/cli/app/deep/c"}) {
			t.Fatalf("get-parameters-by-path %d: %v, want the three parameters under /cli/app/", i+1, names)
		}
		if n := a.proxy.Calls("GetParametersByPath"); n != 1 {
			t.Fatalf("after get-parameters-by-path %d: SSM saw %d GetParametersByPath calls, want 1 (the path is read whole once; the CLI's pages and the second run are kinko's)", i+1, n)
		}
	}
	x.assertNoSecrets(a, append(secrets, params["/cli/app/a"])...)
}

// boto3, with only AWS_ENDPOINT_URL_SSM set, reads a path by get_parameters_by_path(Recursive,
// WithDecryption) two parameters a page, following NextToken; a second process doing the same
// makes no call to SSM.
func TestBoto3ReadsAPathThroughKinko(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil || exec.Command(python, "-c", "import boto3").Run() != nil {
		t.Skip("python3 with boto3 is not installed")
	}
	x, a := startSDKExtension(t)
	want := map[string]string{}
	for i, name := range []string{"/boto/app/a", "/boto/app/b", "/boto/app/c", "/boto/app/deep/d", "/boto/app/deep/er/e"} {
		want[name] = fmt.Sprintf("%s-boto-%d", sdkParam, i)
		a.putParameter(t, name, want[name], ssmtypes.ParameterTypeSecureString)
	}
	a.putParameter(t, "/boto/other", "not-under-the-path", ssmtypes.ParameterTypeString)
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	// The script prints the page count and the names only; it checks the values itself.
	const script = `
import boto3, json, os
ssm = boto3.client("ssm")
want = json.loads(os.environ["WANT"])
got, pages, token = {}, 0, None
while True:
    args = dict(Path="/boto/app", Recursive=True, WithDecryption=True, MaxResults=2)
    if token:
        args["NextToken"] = token
    out = ssm.get_parameters_by_path(**args)
    pages += 1
    assert len(out["Parameters"]) <= 2, "a page larger than MaxResults"
    for p in out["Parameters"]:
        got[p["Name"]] = p["Value"]
    token = out.get("NextToken")
    if not token:
        break
assert got == want, "not the parameters under the path: " + ",".join(sorted(got))
print(pages, ",".join(sorted(got)))
`
	for i := range 2 {
		cmd := exec.CommandContext(t.Context(), python, "-c", script)
		cmd.Env = sandboxEnv("AWS_ENDPOINT_URL_SSM=http://localhost:"+strconv.Itoa(x.port), "WANT="+string(wantJSON))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("boto3 run %d: %v\n%s", i+1, err, hide(string(out), sdkParam))
		}
		if got := strings.TrimSpace(string(out)); got != "3 /boto/app/a,/boto/app/b,/boto/app/c,/boto/app/deep/d,/boto/app/deep/er/e" {
			t.Fatalf("boto3 run %d printed %q, want 3 pages and the five parameters", i+1, hide(got, sdkParam))
		}
		if n := a.proxy.Calls("GetParametersByPath"); n != 1 {
			t.Fatalf("after boto3 run %d: SSM saw %d GetParametersByPath calls, want 1 (kinko's cache answers the pages and the second run)", i+1, n)
		}
	}
	if n := a.proxy.Calls("GetParameter") + a.proxy.Calls("GetParameters"); n != 0 {
		t.Fatalf("%d GetParameter(s) calls reached SSM, want 0", n)
	}
	x.assertNoSecrets(a, sdkParam)
}
