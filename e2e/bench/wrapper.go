package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kinko-dev/kinko/e2e/stack"
)

// WrapperResult is the exec wrapper's section (/opt/kinko-exec, CONTRACT.md section 10).
type WrapperResult struct {
	Rounds  int
	Without Summary // ms: INIT REPORT, the empty function with the layer, the secret prefetched
	With    Summary // ms: the same through the wrapper, its variable a reference to that secret
	Extra   Summary // ms: With - Without, within a round
	Calls   Summary // GetSecretValue calls per sandbox with the wrapper (1: shared with the prefetch)
	// Own cost against a running kinko holding the value: exec to exit of `kinko-exec true` over
	// `true`, with no reference and with one (a cache hit), per interleaved iteration.
	Runs             int
	OwnNoRef, OwnHit Summary // ms
	Base             Summary // ms: `true` alone
}

// Wrapper measures what the wrapper adds to init. The function is the empty Go function behind a
// two-line shell bootstrap that honours AWS_LAMBDA_EXEC_WRAPPER as managed runtimes do; the
// sandboxes differ only in that variable.
func (h *Harness) Wrapper(ctx context.Context) (WrapperResult, error) {
	res := WrapperResult{Rounds: h.P.Rounds, Runs: h.P.HyperfineRuns}
	empty := h.Bin.Functions[runtime.GOARCH]["empty"]
	boot := filepath.Join(h.Cfg.Dir, "wrapper-bootstrap")
	script := "#!/bin/sh\nif [ -n \"${AWS_LAMBDA_EXEC_WRAPPER:-}\" ]; then exec \"$AWS_LAMBDA_EXEC_WRAPPER\" " + empty + "; fi\nexec " + empty + "\n"
	if err := os.WriteFile(boot, []byte(script), 0o755); err != nil {
		return res, err
	}
	start := func(wrapped bool) (*stack.Stack, error) {
		name := h.newSecretName("wrapper")
		env := map[string]string{
			"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL": "INFO",
			"OPENAI_API_KEY":                         "kinko:secretsmanager:" + name + "#OPENAI_API_KEY",
		}
		if wrapped {
			env["AWS_LAMBDA_EXEC_WRAPPER"] = "/opt/kinko-exec"
		}
		return stack.Start(ctx, stack.Options{
			Bin:       stack.Binaries{RIE: h.Bin.RIE, Opt: h.Bin.OptKinko, Bootstrap: empty},
			Bootstrap: boot, Moto: h.moto, SecretName: name, Env: env,
		})
	}
	sample := func(wrapped bool) (time.Duration, int, error) {
		st, err := start(wrapped)
		if err != nil {
			return 0, 0, err
		}
		defer func() { _ = st.Close() }()
		if _, err := invoke(ctx, st); err != nil {
			return 0, 0, fmt.Errorf("first invoke (wrapper %v): %w\n%s", wrapped, err, st.EmulatorLog())
		}
		d, err := pollInitReport(ctx, st)
		return d, st.Proxy.Calls("GetSecretValue"), err
	}
	var without, with, extra, calls []float64
	for r := range h.P.Rounds {
		fmt.Fprintf(h.Cfg.Log, "  exec wrapper, round %d/%d\n", r+1, h.P.Rounds)
		a, _, err := sample(false)
		if err != nil {
			return res, err
		}
		b, n, err := sample(true)
		if err != nil {
			return res, err
		}
		without, with, extra, calls = append(without, Ms(a)), append(with, Ms(b)), append(extra, Ms(b-a)), append(calls, float64(n))
	}
	res.Without, res.With, res.Extra, res.Calls = Summarize(without), Summarize(with), Summarize(extra), Summarize(calls)

	st, err := start(true)
	if err != nil {
		return res, err
	}
	defer func() { _ = st.Close() }()
	if _, err := invoke(ctx, st); err != nil { // the sandbox is up and kinko holds the value
		return res, err
	}
	wrapper := filepath.Join(h.Bin.OptKinko, "kinko-exec")
	port := st.KinkoURL[strings.LastIndexByte(st.KinkoURL, ':')+1:]
	env := []string{"PATH=/usr/bin:/bin", "AWS_SESSION_TOKEN=" + st.SessionToken, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=" + port}
	ref := "OPENAI_API_KEY=kinko:secretsmanager:" + st.SecretName + "#OPENAI_API_KEY"
	trueBin, err := exec.LookPath("true")
	if err != nil {
		return res, err
	}
	variants := []struct {
		argv []string
		env  []string
	}{
		{[]string{trueBin}, append(env, "X=1")},
		{[]string{wrapper, trueBin}, append(env, "X=1")},
		{[]string{wrapper, trueBin}, append(env, ref)},
	}
	// Interleaved, so drift on a shared machine hits the three alike; differences per iteration.
	var base, noRef, hit []float64
	for i := range 5 + 5*h.P.HyperfineRuns {
		var t [3]float64
		for j, v := range variants {
			cmd := exec.CommandContext(ctx, v.argv[0], v.argv[1:]...)
			cmd.Env = v.env
			began := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				return res, fmt.Errorf("%v: %w: %s", v.argv, err, out)
			}
			t[j] = Ms(time.Since(began))
		}
		if i >= 5 { // warm-up
			base, noRef, hit = append(base, t[0]), append(noRef, t[1]-t[0]), append(hit, t[2]-t[0])
		}
	}
	res.Runs = len(base)
	res.Base, res.OwnNoRef, res.OwnHit = Summarize(base), Summarize(noRef), Summarize(hit)
	return res, nil
}

// pollInitReport waits, within a bound, for the INIT REPORT line, which may trail the answer.
func pollInitReport(ctx context.Context, st *stack.Stack) (time.Duration, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		if d, ok := InitDuration(st.EmulatorLog()); ok {
			return d, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no INIT REPORT line in the emulator's log:\n%s", st.EmulatorLog())
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
