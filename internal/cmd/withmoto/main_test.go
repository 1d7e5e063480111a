package main

import (
	"bytes"
	"strings"
	"testing"
)

// osls prints the whole stack of a rejected variable, burying layer/sample.js's message (issue
// 28): with -hide-js-stack the message stays, the frames go, and a line says how to see them.
// The command's exit code is passed on, and it runs with moto's endpoint in its environment.
func TestHideJSStack(t *testing.T) {
	script := `echo "endpoint=$AWS_ENDPOINT_URL"
printf 'Error:\n  - Cannot resolve "resources": Received rejection: Error: serverless.yml parameter throttleRate: "abc": want a number\n' >&2
printf '    at number (/repo/layer/sample.js:168:11)\n    at async module.exports.resources (/repo/layer/sample.js:219:16)\n    at async Promise.all (index 0)\n    at async /repo/node_modules/osls/scripts/serverless.js:609:11\n' >&2
echo 'what follows the stack' >&2
exit 3`
	var out, errOut bytes.Buffer
	code, err := run(t.Context(), []string{"-hide-js-stack", "--", "sh", "-c", script}, &out, &errOut)
	if err != nil || code != 3 {
		t.Fatalf("exit %d, %v, want 3", code, err)
	}
	if !strings.HasPrefix(out.String(), "endpoint=http://127.0.0.1:") {
		t.Errorf("stdout %q: the command did not get moto's endpoint", out.String())
	}
	got, hint, _ := strings.Cut(errOut.String(), "(4 JavaScript stack lines left out; to see them: go run ./internal/cmd/withmoto -- sh -c ")
	if hint == "" {
		t.Errorf("no line says the stack was left out:\n%s", errOut.String())
	}
	for _, want := range []string{`parameter throttleRate: "abc": want a number`, "what follows the stack"} {
		if !strings.Contains(got, want) {
			t.Errorf("stderr lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, " at ") {
		t.Errorf("stack frames were kept:\n%s", got)
	}
}

func TestWithoutTheFlagTheOutputIsUntouched(t *testing.T) {
	var out, errOut bytes.Buffer
	code, err := run(t.Context(), []string{"--", "sh", "-c", `printf '    at f (/a.js:1:2)\n' >&2`}, &out, &errOut)
	if err != nil || code != 0 || errOut.String() != "    at f (/a.js:1:2)\n" {
		t.Fatalf("exit %d, %v, stderr %q", code, err, errOut.String())
	}
}
