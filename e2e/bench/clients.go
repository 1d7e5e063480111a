package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/e2e/emulator"
	"github.com/kinko-dev/kinko/e2e/stack"
	"github.com/kinko-dev/kinko/internal/moto"
)

// The layer's clients (issue 26): a Python function reading one secret with boto3 against the
// same with `import kinko`, cold; and warm reads in Python and Node.js against a value kept in a
// global. Functions: e2e/bench/runtimes/{python,node}, under AWS's emulator, against moto.

// ClientsParams are the sizes of the loops, all bounded.
type ClientsParams struct {
	Rounds       int // every figure is the median over this many rounds
	WarmPerRound int // warm invokes of each variant in a round
	MicroReads   int // reads timed inside the function, per batch (5 batches)
	ImportRuns   int // python3 processes timed for the import alone
}

// ClientsParamsFor returns the loop sizes: about a minute on two cores.
func ClientsParamsFor() ClientsParams {
	return ClientsParams{Rounds: 15, WarmPerRound: 30, MicroReads: 20_000, ImportRuns: 21}
}

// ClientRow is one variant's figure, with the same-round difference to its baseline.
type ClientRow struct {
	Variant string
	Value   Summary // ms, or ns for the reads inside the function
	Extra   Summary // over the baseline (empty function, or a global), within each round
}

// ClientsResult is what MeasureClients found.
type ClientsResult struct {
	Params  ClientsParams
	Python  string      // the interpreter and its version
	Node    string      // node --version
	Imports []ClientRow // ms to import (and make a client), in a fresh python3, no emulator
	Cold    []ClientRow // ms of the first invoke of a new sandbox (extension and runtime start, init, one read)
	Init    []ClientRow // ms of the emulator's INIT REPORT
	Warm    []ClientRow // ms of a warm invoke
	Reads   []ClientRow // ns per read inside a warm function
}

// clientVariant is one function of e2e/bench/runtimes.
type clientVariant struct {
	name, runtime, variant string
	layer                  bool // kinko attached (the extension and the clients)
}

// MeasureClients builds the layer for this machine into dir and measures. python is an
// interpreter that has boto3 (the same for every variant).
func MeasureClients(ctx context.Context, root, dir, python string, p ClientsParams, log io.Writer) (ClientsResult, error) {
	res := ClientsResult{Params: p}
	if err := emulator.Supported(ctx); err != nil {
		return res, err
	}
	out, err := exec.CommandContext(ctx, python, "-c", "import sys, boto3; print(sys.executable, sys.version.split()[0], 'boto3', boto3.__version__)").Output()
	if err != nil {
		return res, fmt.Errorf("%s has no boto3 (pip install boto3): %w", python, err)
	}
	res.Python = strings.TrimSpace(string(out))
	if out, err = exec.CommandContext(ctx, "node", "--version").Output(); err != nil {
		return res, fmt.Errorf("node: %w", err)
	}
	res.Node = strings.TrimSpace(string(out))

	fmt.Fprintln(log, "building the extension, kinko-exec and the emulator; laying out the clients")
	bin, err := stack.BuildSandbox(ctx, root, dir, "", log)
	if err != nil {
		return res, err
	}
	optNone := filepath.Join(dir, "opt-none")
	if err := os.MkdirAll(filepath.Join(optNone, "extensions"), 0o755); err != nil {
		return res, err
	}
	if res.Imports, err = measureImports(ctx, python, bin.Opt, p.ImportRuns); err != nil {
		return res, err
	}

	fmt.Fprintln(log, "starting moto")
	m, err := moto.Start(ctx)
	if err != nil {
		return res, err
	}
	defer m.Stop()
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.URL),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	const secret = "bench-clients"
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secret),
		SecretString: aws.String("sk-bench-0123456789abcdef0123456789abcdef")}); err != nil {
		return res, fmt.Errorf("create the secret in moto: %w", err)
	}
	r := clientRunner{root: root, rie: bin.RIE, opt: bin.Opt, optNone: optNone, moto: m, python: python, secret: secret}

	fmt.Fprintf(log, "cold starts: %d rounds of 3 Python sandboxes\n", p.Rounds)
	empty := clientVariant{"Python, empty function", "python", "empty", false}
	cold := []clientVariant{empty, {"Python, boto3 GetSecretValue", "python", "boto3", false}, {"Python, import kinko + kinko layer", "python", "kinko", true}}
	coldMs := make([][]float64, len(cold))
	initMs := make([][]float64, len(cold))
	for round := range p.Rounds {
		for k := range cold {
			i := (round + k) % len(cold) // each round starts with another variant: drift hits them alike
			v := cold[i]
			first, init, err := r.coldStart(ctx, v)
			if err != nil {
				return res, err
			}
			coldMs[i] = append(coldMs[i], first)
			initMs[i] = append(initMs[i], init)
		}
	}
	res.Cold = rowsAgainst(cold, coldMs, 0)
	res.Init = rowsAgainst(cold, initMs, 0)

	fmt.Fprintf(log, "warm: %d rounds of %d invokes of 4 sandboxes\n", p.Rounds, p.WarmPerRound)
	warm := []clientVariant{
		{"Python, global", "python", "global", true}, {"Python, kinko.get_secret", "python", "kinko", true},
		{"Node.js, global", "node", "global", true}, {"Node.js, await getSecret", "node", "kinko", true},
	}
	var sandboxes []*stack.Stack
	defer func() { _ = closeAll(sandboxes...) }()
	for _, v := range warm {
		st, err := r.start(ctx, v)
		if err != nil {
			return res, err
		}
		sandboxes = append(sandboxes, st)
		for range 3 {
			if _, err := invokeEvent(ctx, st, nil); err != nil {
				return res, fmt.Errorf("%s: warming up: %w", v.name, err)
			}
		}
	}
	warmMs := make([][]float64, len(warm))
	readNs := make([][]float64, len(warm))
	for range p.Rounds {
		samples := make([][]float64, len(warm))
		for range p.WarmPerRound {
			for i, st := range sandboxes {
				start := time.Now()
				if _, err := invokeEvent(ctx, st, nil); err != nil {
					return res, fmt.Errorf("%s: %w", warm[i].name, err)
				}
				samples[i] = append(samples[i], Ms(time.Since(start)))
			}
		}
		for i, st := range sandboxes {
			warmMs[i] = append(warmMs[i], Summarize(samples[i]).Median)
			a, err := invokeEvent(ctx, st, map[string]any{"micro": p.MicroReads})
			if err != nil {
				return res, fmt.Errorf("%s: timing reads: %w", warm[i].name, err)
			}
			readNs[i] = append(readNs[i], a.NsPerRead)
		}
	}
	// Each language's kinko read against its own global.
	res.Warm = append(rowsAgainst(warm[:2], warmMs[:2], 0), rowsAgainst(warm[2:], warmMs[2:], 0)...)
	res.Reads = append(rowsAgainst(warm[:2], readNs[:2], 0), rowsAgainst(warm[2:], readNs[2:], 0)...)
	return res, nil
}

// rowsAgainst describes each variant's per-round figures and their difference to variant base's.
func rowsAgainst(vs []clientVariant, perRound [][]float64, base int) []ClientRow {
	rows := make([]ClientRow, len(vs))
	for i, v := range vs {
		extra := make([]float64, len(perRound[i]))
		for r := range perRound[i] {
			extra[r] = perRound[i][r] - perRound[base][r]
		}
		rows[i] = ClientRow{Variant: v.name, Value: Summarize(perRound[i]), Extra: Summarize(extra)}
	}
	return rows
}

// measureImports times, in fresh interpreters, what each Python variant imports at init: boto3
// with a client, or kinko from the layer, against python3 importing nothing of its own. Bytecode
// is not written, as on Lambda's read-only /opt (boto3's was compiled when it was installed).
func measureImports(ctx context.Context, python, opt string, runs int) ([]ClientRow, error) {
	scripts := []struct{ name, code string }{
		{"python3 -c pass", "pass"},
		{"import boto3; boto3.client('secretsmanager')", "import boto3; boto3.client('secretsmanager', region_name='us-east-1')"},
		{"import kinko (from the layer)", "import kinko"},
	}
	perRound := make([][]float64, len(scripts))
	for range runs {
		for i, s := range scripts {
			cmd := exec.CommandContext(ctx, python, "-c", s.code)
			cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "PYTHONPATH=" + filepath.Join(opt, "python"), "PYTHONDONTWRITEBYTECODE=1",
				"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_EC2_METADATA_DISABLED=true",
				"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent"}
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("python3 -c %q: %w: %s", s.code, err, out)
			}
			perRound[i] = append(perRound[i], Ms(time.Since(start)))
		}
	}
	vs := make([]clientVariant, len(scripts))
	for i, s := range scripts {
		vs[i] = clientVariant{name: s.name}
	}
	return rowsAgainst(vs, perRound, 0), nil
}

type clientRunner struct {
	root, rie, opt, optNone string
	moto                    *moto.Server
	python, secret          string
}

func (r clientRunner) start(ctx context.Context, v clientVariant) (*stack.Stack, error) {
	opt := r.optNone
	env := map[string]string{
		"BENCH_VARIANT": v.variant, "BENCH_SECRET": r.secret, "BENCH_PYTHON": r.python,
		// INFO is kinko's default; the stack's DEBUG would log every request.
		"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL": "INFO",
	}
	if v.layer {
		opt = r.opt
		env["KINKO_PREFETCH"] = r.secret
	}
	st, err := stack.Start(ctx, stack.Options{
		Bin:         stack.Binaries{RIE: r.rie, Opt: opt},
		Bootstrap:   filepath.Join(r.root, "e2e", "bench", "runtimes", v.runtime, "bootstrap"),
		OwnFunction: true, Moto: r.moto, Env: env,
	})
	if err != nil {
		return nil, fmt.Errorf("start a sandbox for %s: %w", v.name, err)
	}
	return st, nil
}

// coldStart starts a sandbox and returns its first invoke's latency and the emulator's INIT
// REPORT duration, in ms.
func (r clientRunner) coldStart(ctx context.Context, v clientVariant) (first, init float64, err error) {
	st, err := r.start(ctx, v)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	_, err = invokeEvent(ctx, st, nil)
	first = Ms(time.Since(start))
	var d time.Duration
	var ok bool
	if err == nil {
		// The INIT REPORT line may trail the answer: give it a moment.
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if d, ok = InitDuration(st.EmulatorLog()); ok {
				break
			}
		}
		if !ok {
			err = errors.New("no INIT REPORT line in the emulator's log")
		}
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w\n%s", v.name, err, snippet([]byte(st.EmulatorLog())))
	}
	return first, Ms(d), nil
}

type clientAnswer struct {
	OK        bool    `json:"ok"`
	NsPerRead float64 `json:"ns_per_read"`
	Error     string  `json:"errorMessage"`
}

func invokeEvent(ctx context.Context, st *stack.Stack, event map[string]any) (clientAnswer, error) {
	b := []byte("{}")
	if event != nil {
		b, _ = json.Marshal(event)
	}
	body, err := st.Invoker.Invoke(ctx, b)
	if err != nil {
		return clientAnswer{}, err
	}
	var a clientAnswer
	if err := json.Unmarshal(body, &a); err != nil || !a.OK {
		return a, fmt.Errorf("the function failed: %s", snippet(body))
	}
	return a, nil
}

// Markdown renders the result as tables for BENCHMARKS.md.
func (res ClientsResult) Markdown() string {
	var b strings.Builder
	f := func(s Summary, unit string) string {
		return fmt.Sprintf("%s%s (%s–%s)", num(s.Median), unit, num(s.Min), num(s.Max))
	}
	table := func(title, unit, baseline string, rows []ClientRow) {
		fmt.Fprintf(&b, "\n%s\n\n| variant | %s | over %s |\n|---|---|---|\n", title, unit, baseline)
		for _, r := range rows {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", r.Variant, f(r.Value, " "+unit), f(r.Extra, " "+unit))
		}
	}
	fmt.Fprintf(&b, "Medians over %d rounds (min–max across rounds). %s; node %s.\n", res.Params.Rounds, res.Python, res.Node)
	table(fmt.Sprintf("**Import at init**, a fresh `python3 -c` each (%d runs):", res.Params.ImportRuns), "ms", "`python3 -c pass`", res.Imports)
	table("**Cold start**, first invoke of a new sandbox (extension and runtime start, init, one read), under AWS's emulator against moto:", "ms", "the empty function", res.Cold)
	table("The same sandboxes' **INIT REPORT** (init alone):", "ms", "the empty function", res.Init)
	table(fmt.Sprintf("**Warm invoke**, %d invokes per round, each read once per invoke:", res.Params.WarmPerRound), "ms", "the same language's global", res.Warm)
	table(fmt.Sprintf("**A read inside the function**, %d reads per batch, median of 5 batches:", res.Params.MicroReads), "ns", "the same language's global", res.Reads)
	return b.String()
}

func num(v float64) string {
	switch a := v; {
	case a >= 100 || a <= -100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10 || a <= -10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
