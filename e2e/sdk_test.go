package e2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/e2e/stack"
)

// sdkAnswer is what the SDK functions answer: e2e/runtimes/sdk-* a digest of the key they read,
// the Go function (e2e/bench/functions/sdk) its length in bytes.
type sdkAnswer struct {
	Runtime      string
	KeySHA256    string `json:"key_sha256"`
	KeyChars     int    `json:"key_chars"`
	OK           bool   `json:"ok"`
	Bytes        int    `json:"bytes"`
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

// buildGoSDKFunction builds e2e/bench/functions/sdk, a Go function on aws-sdk-go-v2 that builds
// its client with config.LoadDefaultConfig and calls GetSecretValue per invoke, as the stack
// builds the sample function.
func buildGoSDKFunction(t *testing.T, root string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-tags", "lambda.norpc", "-o", out, "./e2e/bench/functions/sdk")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the Go SDK function: %v\n%s", err, b)
	}
	return out
}

// pythonWithBoto3 is the directory of a python3 that imports boto3 (Lambda's Python runtimes
// ship it): the sandbox's PATH gets it first.
func pythonWithBoto3(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import boto3, sys; print(sys.executable)").Output()
	if err != nil {
		t.Skip("no python3 with boto3 on PATH (pip install boto3)")
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// loopbackPort picks a free port for kinko: the function's endpoint variable must name it before
// the sandbox starts.
func loopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Issue 24 item 5: the seed's own boto3 handler and the same handler on the AWS SDK for
// JavaScript v3, and a Go function on aws-sdk-go-v2 (e2e/bench/functions/sdk), unchanged, under AWS's emulator with kinko's layer, with only
// AWS_ENDPOINT_URL_SECRETS_MANAGER=http://localhost:PORT added to the function's configuration
// (and no prefetch, so every call is the function's): the first invoke makes one GetSecretValue
// at Secrets Manager (moto behind the counting proxy), the second none; a PutSecretValue sent
// through kinko by aws-sdk-go-v2 with the sandbox's credentials reaches Secrets Manager once, and
// the next invoke reads the new value; no log holds a key.
func TestSDKFunctionsReadThroughKinko(t *testing.T) {
	root, err := stack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range []string{"python", "node", "go"} {
		t.Run(rt, func(t *testing.T) {
			path := "/usr/local/bin:/usr/bin:/bin"
			bootstrap := filepath.Join(root, "e2e", "runtimes", "sdk-"+rt, "bootstrap")
			if rt == "go" {
				bootstrap = buildGoSDKFunction(t, root)
			} else if rt == "python" {
				path = pythonWithBoto3(t) + ":" + path
			} else if _, err := os.Stat(filepath.Join(root, "e2e", "runtimes", "sdk-node", "node_modules", "@aws-sdk", "client-secrets-manager")); err != nil {
				t.Fatalf("the AWS SDK for JavaScript is not installed: run make deps (%v)", err)
			}
			word := randomWord()
			key1, key2 := "s3cr3t-sdk-"+word+" ünï", "s3cr3t-sdk-rotated-"+word
			port := loopbackPort(t)
			st := startStack(t, stack.Options{
				OwnFunction: true,
				NoSecret:    true,
				KinkoPort:   port,
				Bootstrap:   bootstrap,
				Env: map[string]string{
					"PATH":                             path,
					"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://localhost:" + strconv.Itoa(port),
					"SECRET_NAME":                      "e2e/sdk",
					"SECRET_JSON_KEY":                  "OPENAI_API_KEY",
					"KINKO_PREFETCH":                   "",
				},
			})
			t.Cleanup(func() {
				for _, l := range st.Logs() {
					for _, k := range []string{key1, key2} {
						if strings.Contains(l.Text, k) {
							t.Errorf("the %s log holds a key (not printed)", l.Name)
						}
					}
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			doc := func(key string) *string {
				b, _ := json.Marshal(map[string]string{"OPENAI_API_KEY": key, "other": "x"})
				return aws.String(string(b))
			}
			if _, err := st.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("e2e/sdk"), SecretString: doc(key1)}); err != nil {
				t.Fatalf("create the secret: %v", err)
			}
			invoke := func(want string) {
				t.Helper()
				body, err := st.Invoker.Invoke(ctx, []byte(`{}`))
				if err != nil {
					t.Fatalf("invoke: %v", err)
				}
				var a sdkAnswer
				if err := json.Unmarshal(body, &a); err != nil {
					t.Fatalf("the function answered %d bytes that are not JSON: %v", len(body), err)
				}
				if rt == "go" {
					// The Go function answers the length only: key1 and key2 differ in length.
					if a.ErrorType != "" || !a.OK || a.Bytes != len(want) {
						t.Fatalf("the go function: ok=%v, %d bytes (want %d) %s: %s", a.OK, a.Bytes, len(want), a.ErrorType, a.ErrorMessage)
					}
					return
				}
				if a.ErrorType != "" || a.Runtime != rt {
					t.Fatalf("the %s function failed: %q %s: %s", rt, a.Runtime, a.ErrorType, a.ErrorMessage)
				}
				h := sha256.Sum256([]byte(want))
				if a.KeySHA256 != hex.EncodeToString(h[:]) {
					t.Fatalf("the function read another key than the stored one (%d chars)", a.KeyChars)
				}
			}
			calls := func(op string, want int, when string) {
				t.Helper()
				if n := st.Proxy.Calls(op); n != want {
					t.Fatalf("%s: Secrets Manager saw %d %s calls, want %d", when, n, op, want)
				}
			}

			invoke(key1)
			calls("GetSecretValue", 1, "after the first invoke")
			invoke(key1)
			calls("GetSecretValue", 1, "after the second invoke (kinko's cache answers it)")

			// A write through kinko, as a function's own SDK would send it: signed with the
			// sandbox's credentials, forwarded once, and what kinko held for the id dropped.
			sm := secretsmanager.New(secretsmanager.Options{
				Region: "us-east-1", BaseEndpoint: aws.String(st.KinkoURL),
				Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", st.SessionToken),
			})
			if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("e2e/sdk"), SecretString: doc(key2)}); err != nil {
				t.Fatalf("PutSecretValue through kinko: %v", err)
			}
			calls("PutSecretValue", 1, "after the write through kinko")
			invoke(key2)
			calls("GetSecretValue", 2, "after the read that follows the write")
			invoke(key2)
			calls("GetSecretValue", 2, "after the next read")
		})
	}
}
