// Command run runs your own Lambda function on this machine with the kinko layer attached, under
// AWS's Lambda emulator, with moto standing in for Secrets Manager and Parameter Store (make run).
//
//	make run FN=DIR [HANDLER=file.function] [SECRETS=secrets.json] [ENV='K=V ...'] [EVENT=event.json] [N=1]
//
// FN is a directory with an executable bootstrap (run as provided.al2023 runs it), or with a
// Python or Node.js handler named as Lambda names it (app.handler: function handler in app.py,
// app.mjs, app.js or app.cjs), which a small Runtime API loop shipped here runs; that loop starts
// through AWS_LAMBDA_EXEC_WRAPPER when ENV sets it, as Lambda's managed runtimes do. SECRETS
// maps secret names to a string or a JSON object; a key "ssm:NAME" makes a SecureString
// parameter. Each invoke prints the function's answer, its log lines, kinko's Cache-Status for
// each read, and, when it fails, what the runtime, kinko and the emulator logged about it; the
// run ends with how many calls reached Secrets Manager and Parameter Store. It exits 1 when an
// invoke failed.
package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/kinko-dev/kinko/e2e/emulator"
	"github.com/kinko-dev/kinko/e2e/stack"
	"github.com/kinko-dev/kinko/internal/moto"
)

// The Runtime API loops for Python and Node.js handlers, with their bootstraps.
//
//go:embed runtime
var runtimes embed.FS

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout)
	stop()
	os.Exit(code)
}

type options struct {
	fn, handler, secrets, env, event string
	n                                int
	layer, dir                       string
	kinkoPort                        int
	verbose                          bool
}

func run(ctx context.Context, args []string, out io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(out)
	var o options
	fs.StringVar(&o.fn, "fn", "", "the function's directory (FN)")
	fs.StringVar(&o.handler, "handler", "", "file.function for a Python or Node.js handler (HANDLER); default lambda_function.lambda_handler or index.handler when that file exists")
	fs.StringVar(&o.secrets, "secrets", "", `JSON file: {"secret name": "string" or {...}, "ssm:/param/name": "value"} stored in moto first (SECRETS)`)
	fs.StringVar(&o.env, "env", "", "the function's environment: 'K=V K2=\"V 2\"' (ENV)")
	fs.StringVar(&o.event, "event", "", "JSON file: the event of every invoke (EVENT; default {})")
	fs.IntVar(&o.n, "n", 1, "how many invokes: the first is cold, the rest warm (N)")
	fs.StringVar(&o.layer, "layer", "", "run the extension from this layer zip (dist/kinko-layer-ARCH.zip) instead of a fresh build")
	fs.StringVar(&o.dir, "dir", "", "where to build (default .e2e/run in the repository; git-ignored)")
	fs.IntVar(&o.kinkoPort, "kinko-port", 2773, "kinko's port (PARAMETERS_SECRETS_EXTENSION_HTTP_PORT; 0 picks a free one)")
	fs.BoolVar(&o.verbose, "v", false, "print every line the sandbox logged (VERBOSE=1)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.fn == "" {
		fmt.Fprintln(out, "run: name your function's directory: make run FN=path/to/function [HANDLER=app.handler] [SECRETS=secrets.json] [ENV='K=V ...'] [EVENT=event.json] [N=2]")
		return 2
	}
	if o.n < 1 || o.n > 1000 {
		fmt.Fprintf(out, "run: N=%d: give 1 to 1000 invokes\n", o.n)
		return 2
	}
	failed, err := runFunction(ctx, o, out)
	switch {
	case err != nil:
		fmt.Fprintf(out, "\nrun: FAILED: %v\n", err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	case failed > 0:
		fmt.Fprintf(out, "\nrun: FAILED: %d of %d invoke(s) failed (what the sandbox logged about each is above)\n", failed, o.n)
		return 1
	}
	fmt.Fprintf(out, "\nrun: OK (%d invoke(s))\n", o.n)
	return 0
}

// runFunction checks the input, builds, starts the sandbox, seeds moto and invokes. It returns
// how many invokes failed; the error is for everything else.
func runFunction(ctx context.Context, o options, out io.Writer) (int, error) {
	f, err := resolveFunction(o.fn, o.handler)
	if err != nil {
		return 0, err
	}
	sd, err := loadSeed(o.secrets)
	if err != nil {
		return 0, err
	}
	userEnv, err := parseEnv(o.env)
	if err != nil {
		return 0, err
	}
	event := []byte("{}")
	if o.event != "" {
		if event, err = os.ReadFile(o.event); err != nil {
			return 0, fmt.Errorf("EVENT=%s: %w", o.event, err)
		}
		if !json.Valid(event) {
			return 0, fmt.Errorf("EVENT=%s is not JSON: Lambda events are JSON documents", o.event)
		}
	}
	root, err := stack.FindRoot()
	if err != nil {
		return 0, err
	}
	if o.dir == "" {
		o.dir = filepath.Join(root, ".e2e", "run")
	}
	interp := ""
	if f.runtime != "" {
		if interp, err = interpreter(ctx, f.runtime); err != nil {
			return 0, err
		}
	}
	// What the machine lacks, before building.
	if _, err := moto.Command(); err != nil {
		return 0, err
	}
	if err := emulator.Supported(ctx); err != nil {
		return 0, err
	}

	fmt.Fprintf(out, "==> building into %s\n", rel(root, o.dir))
	bin, err := stack.BuildSandbox(ctx, root, o.dir, o.layer, prefixed(out, "    "))
	if err != nil {
		return 0, err
	}
	bootstrap := filepath.Join(f.dir, "bootstrap")
	if f.runtime != "" {
		if bootstrap, err = writeRuntime(o.dir, f.runtime); err != nil {
			return 0, err
		}
	}
	env := sandboxEnv(f, interp, userEnv)
	fmt.Fprintf(out, "==> function %s: %s\n", rel(root, f.dir), f.describe())
	if interp != "" {
		fmt.Fprintf(out, "    runtime loop %s, with %s\n", rel(root, bootstrap), interp)
	}
	for _, w := range warnings(f, env) {
		fmt.Fprintf(out, "    WARNING: %s\n", w)
	}

	st, err := stack.Start(ctx, stack.Options{Bin: bin, Bootstrap: bootstrap, OwnFunction: true, KinkoPort: o.kinkoPort, Env: env})
	if err != nil {
		return 0, err
	}
	defer st.Close() // on every path; a second Close is harmless
	fmt.Fprintf(out, "==> moto (Secrets Manager, Parameter Store) %s, kinko on %s\n", st.Moto.URL, st.KinkoURL)
	if err := seedMoto(ctx, st, sd, out); err != nil {
		return 0, err
	}

	failed, initFailed := 0, false
	for i := 1; i <= o.n; i++ {
		what := "warm"
		switch {
		case i == 1:
			what = "cold: the emulator starts kinko and the runtime"
		case initFailed:
			what = "cold again: the last init failed, so the emulator starts the sandbox anew"
		}
		fmt.Fprintf(out, "\n==> invoke %d of %d (%s)\n", i, o.n, what)
		res, err := invokeOnce(ctx, st, event, o.verbose, out)
		if err != nil {
			return failed + 1, err
		}
		if verdict(res) != "" {
			failed++
		}
		initFailed = res.Status == http.StatusBadGateway
	}

	fmt.Fprintf(out, "\n==> Secrets Manager saw %d GetSecretValue call(s), Parameter Store %d GetParameter call(s), for %d invoke(s)\n",
		st.Proxy.Calls("GetSecretValue"), st.Proxy.Calls("GetParameter"), o.n)
	mark := len(st.EmulatorLog())
	closeErr := st.Close()
	// What kinko said while it shut down (its metrics line): only its warnings and errors.
	for _, l := range logLines(st.EmulatorLog()[mark:]) {
		if stack.Source(l) == stack.FromExtension && stack.IsProblem(l) {
			fmt.Fprintf(out, "    %s\n", render(l))
		}
	}
	if closeErr != nil {
		return failed, fmt.Errorf("stopping the sandbox: %w", closeErr)
	}
	fmt.Fprintln(out, "==> stopped: the emulator sent SHUTDOWN and kinko exited; nothing is left running")
	return failed, nil
}

// invokeOnce sends one event and prints what happened: the answer, or why it failed with what
// the sandbox logged about it. The error is for an invoke that got no answer at all.
func invokeOnce(ctx context.Context, st *stack.Stack, event []byte, verbose bool, out io.Writer) (emulator.Result, error) {
	mark := len(st.EmulatorLog())
	start := time.Now()
	res, err := st.Invoker.Call(ctx, event)
	took := time.Since(start)
	if err != nil {
		return res, err
	}
	problem := verdict(res)
	lines := settledLines(st, mark, problem != "")
	for _, l := range lines {
		switch s := stack.Source(l); {
		case verbose:
			fmt.Fprintf(out, "    %-8s | %s\n", label(s), l)
		case s == stack.FromFunction:
			fmt.Fprintf(out, "    %-8s | %s\n", "function", l)
		case s == stack.FromExtension && isRequestLine(l):
			fmt.Fprintf(out, "    %-8s | %s\n", "kinko", cacheLine(l))
		case s == stack.FromExtension && stack.IsProblem(l), s == stack.FromWrapper:
			fmt.Fprintf(out, "    %-8s | %s\n", "kinko", render(l))
		case s == stack.FromEmulator && problem != "" && stack.IsProblem(l):
			fmt.Fprintf(out, "    %-8s | %s\n", "emulator", l)
		}
	}
	if problem == "" {
		fmt.Fprintf(out, "    %-8s | %s   (%.1f ms)\n", "answer", clipBody(res.Body), ms(took))
		return res, nil
	}
	fmt.Fprintf(out, "    %-8s | %s   (%.1f ms)\n", "FAILED", problem, ms(took))
	return res, nil
}

// verdict says why an invoke failed, or "" when the function answered.
func verdict(res emulator.Result) string {
	body := strings.TrimSpace(string(res.Body))
	switch {
	case res.Status == http.StatusBadGateway:
		msg := "the sandbox did not start (the emulator answered 502: init failed)"
		if e := functionError(res.Body); e != "" {
			msg += ": " + e
		} else if body != "" {
			msg += ": " + clipBody([]byte(body))
		}
		return msg + "; the lines above say why"
	case res.Status != http.StatusOK:
		return fmt.Sprintf("the emulator answered %d: %s", res.Status, clipBody([]byte(body)))
	case strings.HasPrefix(body, "Task timed out after"):
		return body + " (the function's timeout is " + fmt.Sprint(stack.FunctionTimeout) + " s)"
	}
	if e := functionError(res.Body); e != "" {
		return "the function failed: " + e
	}
	return ""
}

// functionError is "Type: message" of the error document a runtime reports (Lambda's
// {"errorType","errorMessage",...}), or "" for any other body.
func functionError(body []byte) string {
	var e struct {
		ErrorType    *string `json:"errorType"`
		ErrorMessage *string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &e) != nil || e.ErrorType == nil || e.ErrorMessage == nil {
		return ""
	}
	return *e.ErrorType + ": " + *e.ErrorMessage
}

// settledLines returns the sandbox's log lines since mark, once the emulator has written its
// report for the invoke (its output reaches us through a pipe, a little after the answer).
// A failed init writes no report: then it waits a little for the last lines.
func settledLines(st *stack.Stack, mark int, failed bool) []string {
	limit := 2 * time.Second
	if failed {
		limit = 500 * time.Millisecond
	}
	deadline := time.Now().Add(limit)
	for !strings.Contains(st.EmulatorLog()[mark:], "REPORT RequestId:") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return logLines(st.EmulatorLog()[mark:])
}

// seedMoto stores SECRETS in moto, straight (the counting proxy does not see it).
func seedMoto(ctx context.Context, st *stack.Stack, sd seed, out io.Writer) error {
	names := make([]string, 0, len(sd.secrets))
	for name := range sd.secrets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, err := st.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(sd.secrets[name])}); err != nil {
			return fmt.Errorf("create secret %q in moto: %w", name, err)
		}
		fmt.Fprintf(out, "    secret    %s\n", name)
	}
	if len(sd.params) == 0 {
		if len(names) == 0 {
			fmt.Fprintln(out, "    (no SECRETS: moto holds nothing, so every read answers not found)")
		}
		return nil
	}
	ps := ssm.New(ssm.Options{Region: "us-east-1", BaseEndpoint: aws.String(st.Moto.URL),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	params := make([]string, 0, len(sd.params))
	for name := range sd.params {
		params = append(params, name)
	}
	sort.Strings(params)
	for _, name := range params {
		if _, err := ps.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(sd.params[name]),
			Type: ssmtypes.ParameterTypeSecureString}); err != nil {
			return fmt.Errorf("put parameter %q in moto: %w", name, err)
		}
		fmt.Fprintf(out, "    parameter %s (SecureString)\n", name)
	}
	return nil
}

// sandboxEnv is the function's configuration: what Lambda sets for a handler, then ENV.
func sandboxEnv(f function, interp string, user map[string]string) map[string]string {
	env := map[string]string{
		"LAMBDA_TASK_ROOT":         f.dir,
		"AWS_LAMBDA_FUNCTION_NAME": filepath.Base(f.dir),
		"TZ":                       ":UTC",
	}
	if f.handler != "" {
		env["_HANDLER"] = f.handler
	}
	if interp != "" {
		// This machine's interpreter first: the sandbox's PATH is otherwise the system's.
		env["PATH"] = filepath.Dir(interp) + ":/usr/local/bin:/usr/bin:/bin"
	}
	if f.runtime == runtimePython {
		// Lambda's /var/task is read-only: no __pycache__ in the function's directory either.
		env["PYTHONDONTWRITEBYTECODE"] = "1"
	}
	if f.runtime == runtimeNode {
		env["NODE_PATH"] = "/opt/nodejs/node_modules"
	}
	for k, v := range user {
		env[k] = v
	}
	return env
}

// interpreter is the real path of this machine's python3 or node (not a version manager's
// shim, which needs the user's shell environment).
func interpreter(ctx context.Context, runtime string) (string, error) {
	name, probe := "python3", []string{"-c", "import sys; print(sys.executable)"}
	if runtime == runtimeNode {
		name, probe = "node", []string{"-p", "process.execPath"}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH: make run runs this handler with this machine's %s; install it, or give FN a bootstrap", name, name)
	}
	probeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := exec.CommandContext(probeCtx, p, probe...).Output()
	if real := strings.TrimSpace(string(b)); err == nil && filepath.IsAbs(real) {
		return real, nil
	}
	return p, nil
}

// writeRuntime lays the runtime loop for runtime out under dir/runtime and returns its bootstrap.
func writeRuntime(dir, runtime string) (string, error) {
	sub := "runtime/" + runtime
	entries, err := fs.ReadDir(runtimes, sub)
	if err != nil {
		return "", err
	}
	target := filepath.Join(dir, "runtime", runtime)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return "", err
	}
	for _, e := range entries {
		b, err := runtimes.ReadFile(sub + "/" + e.Name())
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(target, e.Name()), b, 0o755); err != nil {
			return "", err
		}
	}
	return filepath.Join(target, "bootstrap"), nil
}

// label is the column a source's lines are printed under.
func label(source string) string {
	if source == stack.FromExtension || source == stack.FromWrapper {
		return "kinko"
	}
	return source
}

func isRequestLine(line string) bool {
	var m struct{ Msg string }
	return json.Unmarshal([]byte(line), &m) == nil && m.Msg == "request"
}

// cacheLine renders kinko's line about one request: what was asked and its Cache-Status.
func cacheLine(line string) string {
	var m struct {
		Request struct {
			Service, ID, Version, Stage string
		}
		CacheStatus string `json:"cache_status"`
		Outcome     string
		TookUs      float64 `json:"took_us"`
		Error       string
	}
	if json.Unmarshal([]byte(line), &m) != nil {
		return line
	}
	what := "secret"
	if strings.Contains(strings.ToLower(m.Request.Service), "ssm") || strings.Contains(strings.ToLower(m.Request.Service), "parameter") {
		what = "parameter"
	}
	status := m.CacheStatus
	if status == "" {
		status = "outcome " + m.Outcome
	}
	s := fmt.Sprintf("%s %q: Cache-Status: %s (%.2f ms)", what, m.Request.ID, status, m.TookUs/1000)
	if m.Error != "" {
		s += "; error: " + m.Error
	}
	return s
}

// render shortens one of kinko's JSON lines to its level, message and attributes.
func render(line string) string {
	if !strings.HasPrefix(line, "{") {
		return line
	}
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return line
	}
	s := fmt.Sprint(m["level"], " ", m["msg"])
	keys := make([]string, 0, len(m))
	for k := range m {
		switch k {
		case "time", "level", "msg", "extension":
		default:
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, _ := json.Marshal(m[k])
		s += " " + k + "=" + string(v)
	}
	return s
}

func logLines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimRight(l, "\r\n"); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func clipBody(b []byte) string {
	const max = 2000
	b = bytes.TrimSpace(b)
	if len(b) > max {
		return string(b[:max]) + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return string(b)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// prefixed indents each line written to w.
func prefixed(w io.Writer, prefix string) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		for l := range strings.Lines(string(p)) {
			fmt.Fprint(w, prefix+l)
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
