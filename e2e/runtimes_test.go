package e2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"slices"
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

// runtimeValues are what the Python and Node functions' references resolve to; each run gets
// fresh ones (the key part), so a leak check cannot pass by accident.
type runtimeValues struct {
	user, password, tricky, apiToken string
}

func newRuntimeValues(t *testing.T) runtimeValues {
	t.Helper()
	r := randomWord()
	return runtimeValues{
		user:     "admin-" + r,
		password: "pw-" + r + " with\nnewlines\r\n= and == signs, ünïcödé 🔑 キー",
		tricky:   "line1-" + r + "\nline2=x==y\n日本語\tend=",
		apiToken: "ssm-" + r + "=é\nsecond line",
	}
}

func randomWord() string {
	b := sha256.Sum256([]byte(time.Now().String()))
	return hex.EncodeToString(b[:8])
}

func (v runtimeValues) all() []string { return []string{v.user, v.password, v.tricky, v.apiToken} }

// wrapperEnv is the function configuration: references only, no value.
var wrapperEnv = map[string]string{
	"AWS_LAMBDA_EXEC_WRAPPER": "/opt/kinko-exec",
	"KINKO_PREFETCH":          "", // nothing but the references: the counts below are theirs
	"DB_USER":                 "kinko:secretsmanager:e2e/db#user",
	"DB_PASSWORD":             "kinko:secretsmanager:e2e/db#password",
	"TRICKY":                  "kinko:secretsmanager:e2e/tricky",
	"API_TOKEN":               "kinko:ssm:/e2e/api-token",
	"PLAIN":                   "not a reference: kinko:ssm:/e2e/api-token",
}

// startRuntime starts the stack with runtime's bootstrap (e2e/runtimes/RUNTIME) and creates the
// secrets and the parameter straight in moto (uncounted), before the first invoke starts the sandbox.
func startRuntime(t *testing.T, runtime string, v runtimeValues, env map[string]string) *stack.Stack {
	t.Helper()
	root, err := stack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	st := startStack(t, stack.Options{
		NoSecret:  true,
		Bootstrap: filepath.Join(root, "e2e", "runtimes", runtime, "bootstrap"),
		Env:       env,
	})
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("stopping the stack: %v", err)
		}
		for _, l := range st.Logs() {
			for _, s := range v.all() {
				if strings.Contains(l.Text, s) || strings.Contains(l.Text, strings.SplitN(s, "\n", 2)[0]) {
					t.Errorf("the %s log holds a resolved value (not printed)", l.Name)
				}
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, _ := json.Marshal(map[string]string{"user": v.user, "password": v.password})
	for name, value := range map[string]string{"e2e/db": string(db), "e2e/tricky": v.tricky} {
		if _, err := st.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
			t.Fatalf("create secret %s: %v", name, err)
		}
	}
	ps := ssm.New(ssm.Options{Region: "us-east-1", BaseEndpoint: aws.String(st.Moto.URL),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	if _, err := ps.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/e2e/api-token"), Value: aws.String(v.apiToken),
		Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatalf("put parameter: %v", err)
	}
	return st
}

type digest struct {
	SHA256 string `json:"sha256"`
	Bytes  int    `json:"bytes"`
}

func digestOf(s string) digest {
	h := sha256.Sum256([]byte(s))
	return digest{hex.EncodeToString(h[:]), len(s)}
}

type runtimeAnswer struct {
	Runtime        string
	Env            map[string]*digest
	ReferencesLeft []string `json:"references_left"`
	HTTPSecret     *digest  `json:"http_secret"`
	HTTPParameter  *digest  `json:"http_parameter"`
	HTTPSecretIPv6 *digest  `json:"http_secret_ipv6"`
	ErrorMessage   string   `json:"errorMessage"`
}

func invokeRuntime(t *testing.T, st *stack.Stack) (runtimeAnswer, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	event, _ := json.Marshal(map[string]any{
		"env":       []string{"DB_USER", "DB_PASSWORD", "TRICKY", "API_TOKEN", "PLAIN"},
		"secret":    "e2e/tricky",
		"parameter": "/e2e/api-token",
	})
	body, err := st.Invoker.Invoke(ctx, event)
	if err != nil {
		return runtimeAnswer{}, err
	}
	var a runtimeAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return runtimeAnswer{}, err
	}
	return a, nil
}

// Python's standard library and Node.js, each started through a bootstrap that honours
// AWS_LAMBDA_EXEC_WRAPPER as Lambda's managed runtimes do: the references in the function's
// configuration arrive as values (newlines, '=' and non-ASCII intact), none is left, and kinko's
// prefetch and the wrapper share one GetSecretValue per secret. The same functions also read a
// secret and a parameter over HTTP, the way AWS's documentation shows (issue 10 point 3).
func TestRuntimesThroughTheExecWrapper(t *testing.T) {
	for _, runtime := range []string{"python", "node"} {
		t.Run(runtime, func(t *testing.T) {
			v := newRuntimeValues(t)
			st := startRuntime(t, runtime, v, wrapperEnv)
			want := map[string]digest{
				"DB_USER": digestOf(v.user), "DB_PASSWORD": digestOf(v.password), "TRICKY": digestOf(v.tricky),
				"API_TOKEN": digestOf(v.apiToken), "PLAIN": digestOf(wrapperEnv["PLAIN"]),
			}
			for i := range 2 { // cold, then warm: the environment is the sandbox's, set once
				a, err := invokeRuntime(t, st)
				if err != nil {
					t.Fatalf("invoke %d: %v", i+1, err)
				}
				if a.Runtime != runtime || a.ErrorMessage != "" {
					t.Fatalf("invoke %d: runtime %q, error %q", i+1, a.Runtime, a.ErrorMessage)
				}
				for name, d := range want {
					if got := a.Env[name]; got == nil || *got != d {
						t.Errorf("invoke %d: %s in the function's environment differs from the stored value (digests %v, want %v)", i+1, name, got, d)
					}
				}
				if len(a.ReferencesLeft) != 0 {
					t.Errorf("invoke %d: variables still holding a kinko: reference: %v", i+1, a.ReferencesLeft)
				}
				if a.HTTPSecret == nil || *a.HTTPSecret != digestOf(v.tricky) || a.HTTPParameter == nil || *a.HTTPParameter != digestOf(v.apiToken) {
					t.Errorf("invoke %d: the HTTP reads (AWS docs style) gave %v and %v", i+1, a.HTTPSecret, a.HTTPParameter)
				}
				if runtime == "node" && (a.HTTPSecretIPv6 == nil || *a.HTTPSecretIPv6 != digestOf(v.tricky)) {
					t.Errorf("invoke %d: the read over [::1] gave %v", i+1, a.HTTPSecretIPv6)
				}
			}
			// e2e/db (two keys), e2e/tricky (the wrapper and the HTTP read): one call each.
			if n := st.Proxy.Calls("GetSecretValue"); n != 2 {
				t.Errorf("Secrets Manager saw %d GetSecretValue calls, want 2: one per secret", n)
			}
			if n := st.Proxy.Calls("GetParameter"); n != 1 {
				t.Errorf("SSM saw %d GetParameter calls, want 1", n)
			}
			ready, ok := logLine(st, stack.FromExtension, "ready")
			if !ok || ready["prefetch"] != 3.0 || ready["prefetch_failed"] != 0.0 {
				t.Errorf("kinko's ready line = %v, want the three references prefetched", ready)
			}
		})
	}
}

// A reference that cannot be resolved stops init: the wrapper names the variable and the
// reason on one line, the runtime never starts, and no log holds a value.
func TestUnresolvableReferenceStopsInit(t *testing.T) {
	v := newRuntimeValues(t)
	env := map[string]string{"MISSING": "kinko:secretsmanager:e2e/no-such-secret"}
	for k, val := range wrapperEnv {
		env[k] = val
	}
	st := startRuntime(t, "python", v, env)
	began := time.Now()
	a, err := invokeRuntime(t, st)
	t.Logf("the invoke answered after %v: %v", time.Since(began), err)
	if err == nil && a.Runtime != "" {
		t.Fatalf("the function ran (%s) although MISSING names no secret", a.Runtime)
	}
	const want = `kinko-exec: MISSING: secret "e2e/no-such-secret": not found (ResourceNotFoundException): `
	eventually(t, 10*time.Second, 50*time.Millisecond, "the wrapper's line about MISSING", func() bool {
		return strings.Contains(st.EmulatorLog(), want)
	})
	var lines []string
	for l := range strings.Lines(st.EmulatorLog()) {
		if strings.Contains(l, "kinko-exec: ") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if !slices.ContainsFunc(lines, func(l string) bool {
		return strings.HasSuffix(l, "not starting the runtime: 1 reference(s) unresolved")
	}) {
		t.Errorf("the wrapper's lines %q lack the summary", lines)
	}
	t.Logf("the wrapper said: %q", lines)
	if strings.Contains(st.EmulatorLog(), "DB_PASSWORD") {
		t.Error("the log names a variable that resolved; only MISSING failed")
	}
}
