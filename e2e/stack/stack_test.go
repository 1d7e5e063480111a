package stack

import (
	"archive/zip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kinko-dev/kinko/internal/faultproxy"
)

func TestSource(t *testing.T) {
	for line, want := range map[string]string{
		`29 Nov 2026 02:24:52,755 [INFO] (rapid) External agent kinko (x) registered`: FromEmulator,
		`START RequestId: 1 Version: $LATEST`:                                         FromEmulator,
		`{"time":"t","level":"INFO","msg":"ready","extension":"kinko","port":2773}`:   FromExtension,
		`{"Hits":1,"_aws":{"CloudWatchMetrics":[]}}`:                                  FromExtension,
		`{"time":"t","level":"INFO","msg":"request","route":"POST /invoke-openai"}`:   FromFunction,
		// What a runtime prints that is not JSON (print(), a traceback) is the function's; kinko's
		// and the wrapper's lines on stderr say whose they are (issue 28).
		`handler sees DB_PASSWORD with 4 characters`:                                       FromFunction,
		`[ERROR] RuntimeError: kinko: 404 {"__type":"ResourceNotFoundException"}`:          FromFunction,
		`kinko: KINKO_MAX_WAIT_MS="-3": want a whole number from 0 to 60000 (default 250)`: FromExtension,
		`kinko-exec: DB_USER: secret "db" key "user": no such JSON key (JsonKeyNotFound)`:  FromWrapper,
		`REPORT RequestId: 1	Duration: 2.97 ms`:                                            FromEmulator,
	} {
		if got := Source(line); got != want {
			t.Errorf("Source(%q) = %s, want %s", line, got, want)
		}
	}
}

func TestIsProblem(t *testing.T) {
	for line, want := range map[string]bool{
		`07 Dec 2026 03:51:41,139 [ERROR] (rapid) Init failed error=exit status 1 InvokeID=`:    true,
		`07 Dec 2026 03:51:41,131 [WARNING] (rapid) First fatal error stored in appctx: Ext`:    true,
		`07 Dec 2026 03:51:41,139 [INFO] (rapid) INIT RTDONE(status: error)`:                    true,
		`07 Dec 2026 03:51:41,139 [INFO] (rapid) INIT RTDONE(status: success)`:                  false,
		`{"time":"t","level":"WARN","msg":"upstream error","extension":"kinko"}`:                true,
		`{"time":"t","level":"DEBUG","msg":"request","extension":"kinko"}`:                      false,
		`kinko: SECRETS_MANAGER_TTL="abc": want a whole number`:                                 true,
		`kinko-exec: not starting the runtime: 1 reference(s) unresolved`:                       true,
		`[ERROR] Runtime.ImportModuleError: Unable to import module 'app': No module named 'x'`: true,
		`handler sees DB_PASSWORD with 4 characters`:                                            false,
		`{"time":"t","level":"ERROR","msg":"secret unavailable","route":"POST /invoke-openai"}`: true,
	} {
		if got := IsProblem(line); got != want {
			t.Errorf("IsProblem(%q) = %t, want %t", line, got, want)
		}
	}
}

func TestLogBufferPrefixesWholeLines(t *testing.T) {
	var live strings.Builder
	b := newLogBuffer("moto", &live)
	b.Write([]byte("one\ntw"))
	b.Write([]byte("o\n"))
	if b.String() != "one\ntwo\n" {
		t.Errorf("kept %q", b.String())
	}
	if live.String() != "moto     | one\nmoto     | two\n" {
		t.Errorf("live %q", live.String())
	}
}

func TestSandboxEnvInheritsNothing(t *testing.T) {
	t.Setenv("AWS_PROFILE", "someones-real-profile")
	t.Setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
	s := &Stack{SecretName: "n", SessionToken: "tok", OpenAIURL: "http://127.0.0.1:1/v1", Proxy: &faultproxy.Proxy{URL: "http://127.0.0.1:2"}}
	env := s.sandboxEnv(Options{Env: map[string]string{"SECRETS_MANAGER_TTL": "1", "KINKO_PREFETCH": ""}}, 2773)
	for _, want := range []string{"AWS_SESSION_TOKEN=tok", "AWS_ENDPOINT_URL=http://127.0.0.1:2", "SECRETS_MANAGER_TTL=1",
		"KINKO_PREFETCH=", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=2773", "OPENAI_BASE_URL=http://127.0.0.1:1/v1", "AWS_EC2_METADATA_DISABLED=true"} {
		if !slices.Contains(env, want) {
			t.Errorf("no %s in %q", want, env)
		}
	}
	for _, e := range env {
		if strings.HasPrefix(e, "AWS_PROFILE=") || strings.HasPrefix(e, "HTTPS_PROXY=") {
			t.Errorf("%s leaked from our environment into the sandbox", e)
		}
	}
}

func TestUnpackLayer(t *testing.T) {
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "layer.zip")
	f, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{Name: "extensions/kinko", Method: zip.Deflate}
	h.SetMode(0o755)
	w, _ := zw.CreateHeader(h)
	w.Write([]byte("#!/bin/sh\n"))
	zw.Close()
	f.Close()

	opt := filepath.Join(dir, "opt")
	os.MkdirAll(filepath.Join(opt, "stale"), 0o755)
	if err := UnpackLayer(zipPath, opt); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(opt, "extensions", "kinko"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("extensions/kinko: %v %v, want mode 0755", fi, err)
	}
	if _, err := os.Stat(filepath.Join(opt, "stale")); !os.IsNotExist(err) {
		t.Error("what was in the directory before is still there")
	}

	// A layer without the extension, or with a path escaping the directory, is refused.
	bad := filepath.Join(dir, "bad.zip")
	f, _ = os.Create(bad)
	zw = zip.NewWriter(f)
	zw.Create("../escape")
	zw.Close()
	f.Close()
	if err := UnpackLayer(bad, opt); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("escaping entry: err = %v", err)
	}
}
