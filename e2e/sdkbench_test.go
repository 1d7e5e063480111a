package e2e_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/e2e/stack"
)

// Issue 24 item 6, measured by hand (KINKO_SDK_BENCH=1; it only logs figures, so it is not part
// of make test): a warm GetSecretValue from boto3, the AWS SDK for JavaScript v3 and
// aws-sdk-go-v2, through kinko (a cache hit) and straight to Secrets Manager (moto behind the
// delay proxy, +D ms), medians of BENCH_N calls each. kinko runs under the emulator; the clients
// run beside it with the sandbox's credentials.
func TestSDKBenchWarmRead(t *testing.T) {
	if os.Getenv("KINKO_SDK_BENCH") == "" {
		t.Skip("a measurement: set KINKO_SDK_BENCH=1 to run it")
	}
	root, err := stack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	pyDir := pythonWithBoto3(t)
	for _, delay := range []time.Duration{0, 20 * time.Millisecond, 100 * time.Millisecond} {
		n := 200
		if delay >= 100*time.Millisecond {
			n = 50
		}
		st := startStack(t, stack.Options{
			OwnFunction: true, NoSecret: true, ProxyDelay: delay,
			Bootstrap: filepath.Join(root, "e2e", "runtimes", "sdk-node", "bootstrap"),
			Env:       map[string]string{"SECRET_NAME": "e2e/bench", "KINKO_PREFETCH": "e2e/bench", "SECRETS_MANAGER_TTL": "300"},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if _, err := st.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("e2e/bench"),
			SecretString: aws.String(`{"OPENAI_API_KEY":"s3cr3t-bench"}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Invoker.Invoke(ctx, []byte(`{}`)); err != nil { // starts the sandbox (kinko)
			t.Fatal(err)
		}
		env := append(os.Environ(), "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
			"AWS_SESSION_TOKEN="+st.SessionToken, "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
			"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
			"AWS_ENDPOINT_URL=", "AWS_ENDPOINT_URL_SECRETS_MANAGER=", "SECRET_NAME=e2e/bench", "BENCH_N="+strconv.Itoa(n))
		urls := []string{st.KinkoURL, st.Proxy.URL}
		run := func(name string, args ...string) map[string]float64 {
			cmd := exec.CommandContext(ctx, args[0], append(args[1:], urls...)...)
			cmd.Env = env
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var m map[string]float64
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return m
		}
		py := run("python", filepath.Join(pyDir, "python3"), filepath.Join(root, "e2e", "runtimes", "sdk-python", "bench.py"))
		js := run("node", "node", filepath.Join(root, "e2e", "runtimes", "sdk-node", "bench.mjs"))
		golang := map[string]float64{}
		for _, u := range urls {
			c := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(u),
				Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", st.SessionToken)})
			var ts []float64
			for i := range n + 10 {
				began := time.Now()
				if _, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("e2e/bench")}); err != nil {
					t.Fatal(err)
				}
				if i >= 10 {
					ts = append(ts, float64(time.Since(began).Microseconds())/1e3)
				}
			}
			slices.Sort(ts)
			golang[u] = ts[len(ts)/2]
		}
		for _, r := range []struct {
			name string
			m    map[string]float64
		}{{"python boto3", py}, {"node sdk v3", js}, {"go sdk v2", golang}} {
			t.Logf("+%v ms, %s, median of %d warm GetSecretValue: through kinko %.2f ms, straight to Secrets Manager %.2f ms",
				delay.Milliseconds(), r.name, n, r.m[st.KinkoURL], r.m[st.Proxy.URL])
		}
		cancel()
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}
}
