package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunRefusesToStartMisconfigured(t *testing.T) {
	base := map[string]string{"AWS_SESSION_TOKEN": sessionToken}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"arguments", []string{"bootstrap", "serve"}, base, "unexpected arguments"},
		{"outside Lambda", []string{"bootstrap"}, base, "AWS_LAMBDA_RUNTIME_API"},
		{"bad base URL", []string{"bootstrap"}, map[string]string{"OPENAI_BASE_URL": "127.0.0.1:8080"}, "OPENAI_BASE_URL"},
		{"bad port", []string{"bootstrap"}, map[string]string{"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "x"}, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(t.Context(), tc.args, func(k string) string { return tc.env[k] }, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run = %v, want an error mentioning %s", err, tc.want)
			}
		})
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := loadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	want := config{secretName: "OPENAI_API_KEY", secretJSONKey: "OPENAI_API_KEY", model: "gpt-4o-mini"}
	if c != want {
		t.Errorf("defaults = %+v, want %+v", c, want)
	}
	c, err = loadConfig(func(k string) string {
		return map[string]string{"OPENAI_BASE_URL": "http://127.0.0.1:9/v1/"}[k]
	})
	if err != nil || c.openAIBaseURL != "http://127.0.0.1:9/v1" {
		t.Errorf("base URL = %q, %v", c.openAIBaseURL, err)
	}
}

func TestLogLinesCarryTheVersion(t *testing.T) {
	var out strings.Builder
	h, err := newHandlerFromEnv(func(string) string { return "" }, &out)
	if err != nil {
		t.Fatal(err)
	}
	h.log.Info("probe")
	if !strings.Contains(out.String(), `"version":"`+version+`"`) {
		t.Fatalf("log line %q lacks the version", out.String())
	}
}
