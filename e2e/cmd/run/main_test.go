package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kinko-dev/kinko/e2e/emulator"
	"github.com/kinko-dev/kinko/e2e/stack"
)

// The README quotes e2e/examples/{python,node,python-client,node-client}'s handlers whole: a test
// that runs them and a README that shows something else would let the two drift (issue 28).
func TestREADMEQuotesTheExamples(t *testing.T) {
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"e2e/examples/python/app.py", "e2e/examples/node/index.mjs",
		"e2e/examples/python-client/app.py", "e2e/examples/node-client/index.mjs"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(readme, b) {
			t.Errorf("README.md does not quote %s as it is: paste the file into its code block", f)
		}
	}
}

// make run with the README's own Python and Node.js handlers, the way a user tries them: each
// invoke answers, the warm one is a kinko hit, Secrets Manager and Parameter Store see one call
// each, and no value reaches the output. Then the ways a first try goes wrong, each of which
// must end non-zero and say why in kinko's or the runtime's own words.
func TestRunsYourOwnFunction(t *testing.T) {
	if err := emulator.Supported(t.Context()); err != nil {
		t.Skipf("this machine cannot run the Lambda emulator with a private /opt: %v", err)
	}
	root := repoRoot(t)
	dir := t.TempDir() // one build for every case
	apiKey, dbPassword := "sk-run-"+randomHex(t), "pw-run-"+randomHex(t)
	secrets := writeJSON(t, map[string]any{
		"OPENAI_API_KEY":       map[string]string{"OPENAI_API_KEY": apiKey},
		"ssm:/app/db/password": dbPassword,
	})
	runIt := func(t *testing.T, args ...string) (int, string) {
		t.Helper()
		var out bytes.Buffer
		code := run(t.Context(), append([]string{"-dir", dir, "-kinko-port", "0"}, args...), &out)
		s := out.String()
		for _, v := range []string{apiKey, dbPassword} {
			if strings.Contains(s, v) {
				t.Fatalf("make run printed a secret value") // the output is not shown: it holds one
			}
		}
		return code, s
	}

	for _, tc := range []struct{ name, fn, handler, answer string }{
		{"python", "e2e/examples/python", "app.handler", `{"api_key_chars": 23, "db_password_chars": 23}`},
		{"node", "e2e/examples/node", "", `{"apiKeyChars":23,"dbPasswordChars":23}`}, // index.handler by default
	} {
		t.Run("README's "+tc.name+" handler", func(t *testing.T) {
			args := []string{"-fn", filepath.Join(root, tc.fn), "-secrets", secrets, "-n", "2"}
			if tc.handler != "" {
				args = append(args, "-handler", tc.handler)
			}
			code, out := runIt(t, args...)
			if code != 0 || !strings.Contains(out, "run: OK (2 invoke(s))") {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			if n := strings.Count(out, "answer   | "+tc.answer); n != 2 {
				t.Errorf("%d answers %s, want 2:\n%s", n, tc.answer, out)
			}
			for _, want := range []string{
				`kinko    | secret "OPENAI_API_KEY": Cache-Status: kinko; fwd=miss; stored; ttl=`,
				`kinko    | secret "OPENAI_API_KEY": Cache-Status: kinko; hit; ttl=`,
				`kinko    | parameter "/app/db/password": Cache-Status: kinko; hit; ttl=`,
				"Secrets Manager saw 1 GetSecretValue call(s), Parameter Store 1 GetParameter call(s), for 2 invoke(s)",
				"==> stopped:",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("the output lacks %q:\n%s", want, out)
				}
			}
		})
	}

	// The layer's clients (issue 26), with the handlers the README shows for them: kinko answers the
	// cold invoke's reads, and the warm invoke is answered from the client's memory, so kinko sees
	// no request in it. The Node.js handler imports kinko as an ES module from /opt/nodejs/node_modules.
	for _, tc := range []struct{ name, fn, handler, answer string }{
		{"python", "e2e/examples/python-client", "app.handler", `{"api_key_chars": 23, "db_password_chars": 23}`},
		{"node", "e2e/examples/node-client", "", `{"apiKeyChars":23,"dbPasswordChars":23}`},
	} {
		t.Run("the layer's "+tc.name+" client", func(t *testing.T) {
			args := []string{"-fn", filepath.Join(root, tc.fn), "-secrets", secrets, "-n", "2"}
			if tc.handler != "" {
				args = append(args, "-handler", tc.handler)
			}
			code, out := runIt(t, args...)
			if code != 0 || !strings.Contains(out, "run: OK (2 invoke(s))") {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			if n := strings.Count(out, "answer   | "+tc.answer); n != 2 {
				t.Errorf("%d answers %s, want 2:\n%s", n, tc.answer, out)
			}
			cold, warm, ok := strings.Cut(out, "==> invoke 2 of 2")
			if !ok || !strings.Contains(cold, `kinko    | secret "OPENAI_API_KEY": Cache-Status: kinko;`) ||
				!strings.Contains(cold, `kinko    | parameter "/app/db/password": Cache-Status: kinko;`) {
				t.Errorf("the cold invoke's reads are not kinko's:\n%s", out)
			}
			if strings.Contains(warm, "kinko    | ") {
				t.Errorf("the warm invoke asked kinko; the client's memory should have answered:\n%s", out)
			}
		})
	}

	// No SECRETS: the README's handler raises with kinko's body, which names the secret.
	t.Run("a missing secret fails the invoke, named", func(t *testing.T) {
		code, out := runIt(t, "-fn", filepath.Join(root, "e2e/examples/python"), "-handler", "app.handler")
		want := `FAILED   | the function failed: RuntimeError: kinko: 404 {"__type":"ResourceNotFoundException","message":"secret \"OPENAI_API_KEY\": `
		if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "run: FAILED: 1 of 1 invoke(s) failed") {
			t.Fatalf("exit %d, want 1 and %q:\n%s", code, want, out)
		}
	})

	// A bad configuration fails init, which the emulator answers with an empty 502: make run
	// shows kinko's own lines instead, each marked as kinko's.
	t.Run("a failed init shows kinko's lines", func(t *testing.T) {
		code, out := runIt(t, "-fn", filepath.Join(root, "e2e/examples/python"), "-handler", "app.handler",
			"-secrets", secrets, "-env", "SECRETS_MANAGER_TTL=abc KINKO_MAX_WAIT_MS='-3'")
		if code != 1 || !strings.Contains(out, "the sandbox did not start (the emulator answered 502: init failed)") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		for _, want := range []string{`kinko    | kinko: SECRETS_MANAGER_TTL="abc": want`, `kinko    | kinko: KINKO_MAX_WAIT_MS="-3": want`} {
			if !strings.Contains(out, want) {
				t.Errorf("the output lacks %q:\n%s", want, out)
			}
		}
		if regexp.MustCompile(`function \| .*KINKO_MAX_WAIT_MS`).MatchString(out) {
			t.Errorf("a line of kinko's configuration error is shown as the function's:\n%s", out)
		}
	})

	// ENV with AWS_LAMBDA_EXEC_WRAPPER: the handler runtime starts through /opt/kinko-exec, as a
	// managed runtime does, and the function sees the value; without it, a warning says the
	// reference will stay text (it did, silently, for the reporter).
	t.Run("the exec wrapper resolves ENV references", func(t *testing.T) {
		fn := filepath.Join(root, "e2e/cmd/run/testdata/envfn")
		ref := "DB_PASSWORD=kinko:ssm:/app/db/password"
		code, out := runIt(t, "-fn", fn, "-handler", "app.handler", "-secrets", secrets, "-env", "AWS_LAMBDA_EXEC_WRAPPER=/opt/kinko-exec "+ref)
		want := `answer   | {"reference_left": false, "chars": 23, "request_id": true, "time_left": true}`
		if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "function | DB_PASSWORD has 23 characters") || strings.Contains(out, "WARNING") {
			t.Fatalf("exit %d, want 0 and %q:\n%s", code, want, out)
		}
		code, out = runIt(t, "-fn", fn, "-handler", "app.handler", "-secrets", secrets, "-env", ref)
		if code != 0 || !strings.Contains(out, `"reference_left": true`) ||
			!strings.Contains(out, "WARNING: DB_PASSWORD hold(s) a kinko: reference but AWS_LAMBDA_EXEC_WRAPPER is not set") {
			t.Fatalf("exit %d, want the reference left as text and a warning:\n%s", code, out)
		}
	})

	// A directory with its own bootstrap (e2e/runtimes/python: a Runtime API loop of its own that
	// execs AWS_LAMBDA_EXEC_WRAPPER itself) runs as provided.al2023 runs it, with EVENT.
	t.Run("a bootstrap and an event", func(t *testing.T) {
		event := writeJSON(t, map[string]any{"env": []string{"DB_PASSWORD"}})
		code, out := runIt(t, "-fn", filepath.Join(root, "e2e/runtimes/python"), "-secrets", secrets, "-event", event,
			"-env", "AWS_LAMBDA_EXEC_WRAPPER=/opt/kinko-exec DB_PASSWORD=kinko:ssm:/app/db/password")
		if code != 0 || !strings.Contains(out, "its own bootstrap, as provided.al2023 runs it") || !strings.Contains(out, `"runtime": "python"`) ||
			!strings.Contains(out, `"bytes": 23`) || strings.Contains(out, "WARNING") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
}

func TestResolveFunction(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := resolveFunction(dir, ""); err == nil || !strings.Contains(err.Error(), "HANDLER=file.function") {
		t.Errorf("an empty directory: %v", err)
	}
	write("lambda_function.py", 0o644)
	write("src/app.mjs", 0o644)
	for handler, want := range map[string]function{
		"":                                {runtime: runtimePython, handler: "lambda_function.lambda_handler", file: "lambda_function.py"},
		"src/app.handler":                 {runtime: runtimeNode, handler: "src/app.handler", file: "src/app.mjs"},
		"lambda_function.lambda_handler2": {runtime: runtimePython, handler: "lambda_function.lambda_handler2", file: "lambda_function.py"},
	} {
		f, err := resolveFunction(dir, handler)
		if err != nil || f.runtime != want.runtime || f.handler != want.handler || f.file != want.file || f.dir != dir {
			t.Errorf("HANDLER=%q: %+v %v, want %+v", handler, f, err, want)
		}
	}
	for handler, want := range map[string]string{
		"app":          "is not file.function",
		"app.":         "is not file.function",
		"nope.handler": "no nope.py, nope.mjs",
		"../x.handler": "outside FN",
	} {
		if _, err := resolveFunction(dir, handler); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("HANDLER=%q: %v, want %q", handler, err, want)
		}
	}
	write("bootstrap", 0o644)
	if _, err := resolveFunction(dir, ""); err == nil || !strings.Contains(err.Error(), "chmod +x") {
		t.Errorf("a bootstrap that is not executable: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, "bootstrap"), 0o755); err != nil {
		t.Fatal(err)
	}
	if f, err := resolveFunction(dir, ""); err != nil || f.runtime != "" || f.handler != "" {
		t.Errorf("a bootstrap: %+v %v", f, err)
	}
	if _, err := resolveFunction(filepath.Join(dir, "missing"), ""); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("a missing directory: %v", err)
	}
}

func TestLoadSeed(t *testing.T) {
	s, err := loadSeed(writeJSON(t, map[string]any{
		"plain": "s3cr3t-1", "doc": map[string]any{"user": "u", "n": 1}, "ssm:/app/flag": "on",
	}))
	if err != nil || s.secrets["plain"] != "s3cr3t-1" || s.secrets["doc"] != `{"n":1,"user":"u"}` || s.params["/app/flag"] != "on" || len(s.secrets) != 2 {
		t.Fatalf("%+v %v", s, err)
	}
	_, err = loadSeed(writeJSON(t, map[string]any{"n": 3, "ssm:/p": map[string]string{"a": "s3cr3t-2"}, "ssm:": "x"}))
	if err == nil {
		t.Fatal("bad values loaded")
	}
	for _, want := range []string{`"n": a secret's value is a string or a JSON object`, `"ssm:/p": a parameter's value is a string`, `"ssm:": name the parameter`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Error("the error holds a value")
	}
	if _, err := loadSeed(writeJSON(t, []string{"a"})); err == nil || !strings.Contains(err.Error(), "is not a JSON object") {
		t.Errorf("a list: %v", err)
	}
}

func TestParseEnv(t *testing.T) {
	env, err := parseEnv(`A=1 B="two words" C='it''s' D= E=x=y F="q\"uote"`)
	want := map[string]string{"A": "1", "B": "two words", "C": "its", "D": "", "E": "x=y", "F": `q"uote`}
	if err != nil || len(env) != len(want) {
		t.Fatalf("%v %v", env, err)
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	for in, msg := range map[string]string{"s3cr3t": "a word without =", "1A=s3cr3t": `"1A" is not NAME=VALUE`, `A="s3cr3t`: `" is not closed`} {
		if _, err := parseEnv(in); err == nil || !strings.Contains(err.Error(), msg) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%q: %v, want %q and no value", in, err, msg)
		}
	}
}

func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	handler := function{dir: dir, runtime: runtimePython}
	ref := map[string]string{"DB": "kinko:ssm:/db"}
	if w := warnings(handler, ref); len(w) != 1 || !strings.Contains(w[0], "AWS_LAMBDA_EXEC_WRAPPER is not set") {
		t.Errorf("a reference without the wrapper: %q", w)
	}
	if w := warnings(handler, map[string]string{"DB": "kinko:ssm:/db", "AWS_LAMBDA_EXEC_WRAPPER": "/opt/kinko-exec"}); w != nil {
		t.Errorf("with the wrapper: %q", w)
	}
	own := function{dir: dir}
	for script, warn := range map[string]bool{
		"#!/bin/sh\nexec ./real\n":                                  true,
		"#!/bin/sh\nexec /opt/kinko-exec ./real\n":                  false,
		"#!/bin/sh\nexec \"$AWS_LAMBDA_EXEC_WRAPPER\" python3 x.py": false,
	} {
		if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"DB": "kinko:ssm:/db", "AWS_LAMBDA_EXEC_WRAPPER": "/opt/kinko-exec"}
		if w := warnings(own, env); (len(w) == 1 && strings.Contains(w[0], "does not start kinko-exec")) != warn {
			t.Errorf("bootstrap %q: %q, want a warning %t", script, w, warn)
		}
	}
	if w := warnings(handler, map[string]string{"A": "KINKO:x", "B": "x kinko:y"}); w != nil {
		t.Errorf("no reference: %q", w)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := stack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func writeJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "doc.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
