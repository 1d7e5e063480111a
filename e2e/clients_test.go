package e2e_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/kinko-dev/kinko/e2e/stack"
)

// clientTTL is kinko's TTL in these tests (seconds): the clients keep an answer for at most half
// of what is left of it, so a rotation reaches the function within it.
const clientTTL = 4

type clientAnswer struct {
	Runtime      string
	Module       string
	KinkoFile    string  `json:"kinko_file"`
	OneClient    *bool   `json:"one_client"`
	SecretKey    *digest `json:"secret_key"`
	Plain        *digest
	Parameter    *digest
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

// The layer's Python and Node.js clients under AWS's emulator, imported from /opt as a function
// imports them (Python: import kinko from /opt/python; Node: import and require from
// /opt/nodejs/node_modules): the values arrive, the second invoke is answered from the client's
// memory (kinko logs no request for it), a rotation arrives within kinko's TTL, and no value
// reaches a log.
func TestLayerClientsUnderTheEmulator(t *testing.T) {
	root, err := stack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range []struct{ name, dir, module string }{
		{"python", "python-client", ""},
		{"node-esm", "node-client", "esm"},
		{"node-cjs", "node-client", "cjs"},
	} {
		t.Run(rt.name, func(t *testing.T) {
			word := randomWord()
			v1 := map[string]string{
				"key": "s3cr3t-key-" + word + " ünï 🔑", "plain": "s3cr3t-plain-" + word + "\nline2", "param": "s3cr3t-param-" + word,
			}
			v2 := map[string]string{"key": v1["key"] + "-rotated", "plain": v1["plain"] + "-rotated", "param": v1["param"] + "-rotated"}
			st := startStack(t, stack.Options{
				NoSecret:  true,
				Bootstrap: filepath.Join(root, "e2e", "runtimes", rt.dir, "bootstrap"),
				Env: map[string]string{
					"KINKO_PREFETCH": "", "SECRETS_MANAGER_TTL": "4", "SSM_PARAMETER_STORE_TTL": "4",
				},
			})
			t.Cleanup(func() {
				for _, l := range st.Logs() {
					for _, vs := range []map[string]string{v1, v2} {
						for name, v := range vs {
							if strings.Contains(l.Text, strings.SplitN(v, "\n", 2)[0]) {
								t.Errorf("the %s log holds the %s value (not printed)", l.Name, name)
							}
						}
					}
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ps := ssm.New(ssm.Options{Region: "us-east-1", BaseEndpoint: aws.String(st.Moto.URL),
				Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
			put := func(vals map[string]string, create bool) {
				t.Helper()
				doc, _ := json.Marshal(map[string]string{"user": "admin", "password": vals["key"]})
				for name, value := range map[string]string{"e2e/client": string(doc), "e2e/plain": vals["plain"]} {
					if create {
						_, err = st.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
					} else {
						_, err = st.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value)})
					}
					if err != nil {
						t.Fatalf("store %s: %v", name, err)
					}
				}
				if _, err := ps.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/e2e/client"), Value: aws.String(vals["param"]),
					Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(!create)}); err != nil {
					t.Fatalf("put parameter: %v", err)
				}
			}
			put(v1, true)

			invoke := func(refresh bool) clientAnswer {
				t.Helper()
				event, _ := json.Marshal(map[string]any{
					"secret": "e2e/client", "json_key": "password", "plain": "e2e/plain", "parameter": "/e2e/client",
					"refresh": refresh, "module": rt.module,
				})
				body, err := st.Invoker.Invoke(ctx, event)
				if err != nil {
					t.Fatalf("invoke: %v", err)
				}
				var a clientAnswer
				if err := json.Unmarshal(body, &a); err != nil {
					t.Fatalf("the function answered %d bytes that are not JSON: %v", len(body), err)
				}
				if a.ErrorType != "" {
					t.Fatalf("the function failed: %s: %s", a.ErrorType, a.ErrorMessage)
				}
				return a
			}
			matches := func(a clientAnswer, vals map[string]string) bool {
				return a.SecretKey != nil && *a.SecretKey == digestOf(vals["key"]) && a.Plain != nil && *a.Plain == digestOf(vals["plain"]) &&
					a.Parameter != nil && *a.Parameter == digestOf(vals["param"])
			}

			first := invoke(false)
			if !matches(first, v1) {
				t.Fatalf("first invoke: the values read differ from the stored ones (digests %v %v %v)", first.SecretKey, first.Plain, first.Parameter)
			}
			wantFile := map[string]string{"python": "/opt/python/kinko/__init__.py", "node": "/opt/nodejs/node_modules/kinko/index.cjs"}[first.Runtime]
			if first.KinkoFile != wantFile {
				t.Errorf("kinko came from %q, want the layer's %q", first.KinkoFile, wantFile)
			}
			if first.OneClient != nil && !*first.OneClient {
				t.Error("import 'kinko' and require('kinko') made two clients")
			}
			if second := invoke(false); !matches(second, v1) {
				t.Fatalf("second invoke: the values differ")
			}
			// The third invoke refreshes e2e/plain: kinko's request line for it (fwd=request) comes after
			// every line of the first two invokes, so counting the lines before it is exact.
			if third := invoke(true); !matches(third, v1) {
				t.Fatalf("third invoke (refresh): the values differ")
			}
			var before []map[string]any
			eventually(t, 10*time.Second, 20*time.Millisecond, "kinko's log line for the refresh", func() bool {
				before = nil
				for _, l := range st.Lines(stack.FromExtension) {
					var m map[string]any
					if json.Unmarshal([]byte(l), &m) != nil || m["msg"] != "request" {
						continue
					}
					if cs, _ := m["cache_status"].(string); strings.Contains(cs, "fwd=request") {
						return true
					}
					before = append(before, m)
				}
				return false
			})
			if len(before) != 3 {
				t.Errorf("kinko logged %d requests before the refresh, want 3 (the first invoke's; the second must be answered from the client's memory): %v", len(before), before)
			}

			rotated := time.Now()
			put(v2, false)
			var got clientAnswer
			eventually(t, (clientTTL+3)*time.Second, 100*time.Millisecond, "the rotated values in the function", func() bool {
				got = invoke(false)
				return matches(got, v2)
			})
			took := time.Since(rotated)
			t.Logf("%s: the rotation reached the function after %v (kinko's TTL %d s)", rt.name, took.Round(time.Millisecond), clientTTL)
			if took > (clientTTL+1)*time.Second {
				t.Errorf("the rotation took %v to reach the function, over kinko's TTL of %d s (and a second for the invokes)", took, clientTTL)
			}
		})
	}
}
