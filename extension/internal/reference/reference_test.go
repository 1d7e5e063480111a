package reference

import (
	"strings"
	"testing"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

func TestParseGood(t *testing.T) {
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
	for _, tc := range []struct {
		in   string
		want Reference
	}{
		{"kinko:secretsmanager:OPENAI_API_KEY", Reference{Kind: kinko.SecretsManager, ID: "OPENAI_API_KEY"}},
		{"kinko:secretsmanager:prod/db#password", Reference{kinko.SecretsManager, "prod/db", "password", true, false}},
		{"kinko:secretsmanager:" + arn + "#user", Reference{kinko.SecretsManager, arn, "user", true, false}},
		{"kinko:secretsmanager:a+b=c.d@e-f_g", Reference{Kind: kinko.SecretsManager, ID: "a+b=c.d@e-f_g"}},
		// The key is everything after the first '#' (names never hold one); keys may be any text.
		{"kinko:secretsmanager:s#a#b", Reference{kinko.SecretsManager, "s", "a#b", true, false}},
		{"kinko:secretsmanager:s#キー with space", Reference{kinko.SecretsManager, "s", "キー with space", true, false}},
		{"kinko:ssm:/app/db/password", Reference{Kind: kinko.SSM, ID: "/app/db/password"}},
		{"kinko:ssm:/app/key:3", Reference{Kind: kinko.SSM, ID: "/app/key:3"}},
		{"kinko:ssm:arn:aws:ssm:us-east-1:123456789012:parameter/app/key", Reference{Kind: kinko.SSM, ID: "arn:aws:ssm:us-east-1:123456789012:parameter/app/key"}},
		{"kinko:ssm:/aws/reference/secretsmanager/prod/db", Reference{Kind: kinko.SSM, ID: "/aws/reference/secretsmanager/prod/db"}},
		{"kinko:ssm:" + strings.Repeat("a", kinko.MaxIDBytes), Reference{Kind: kinko.SSM, ID: strings.Repeat("a", kinko.MaxIDBytes)}},
		{"kinko:ssm-path:/app/prod/", Reference{Kind: kinko.SSM, ID: "/app/prod/", ByPath: true}},
		{"kinko:ssm-path:/app/prod", Reference{Kind: kinko.SSM, ID: "/app/prod", ByPath: true}},
		{"kinko:ssm-path:/", Reference{Kind: kinko.SSM, ID: "/", ByPath: true}},
	} {
		if !Is(tc.in) {
			t.Errorf("Is(%q) = false", tc.in)
		}
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if got.String() != tc.in {
			t.Errorf("Parse(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestParseBad(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"kinko:", "no service"},
		{"kinko:secretsmanager", "no service"},
		{"kinko:secretsmanager:", "empty secret name"},
		{"kinko:ssm:", "empty parameter name"},
		{"kinko:ssm-path:", "empty parameter name"},
		{"kinko:ssm-path:app/prod", "does not start with /"},
		{"kinko:ssm-path:arn:aws:ssm:us-east-1:123456789012:parameter/app", "does not start with /"},
		{"kinko:ssm-path:/app#k", "takes no #KEY"},
		{"kinko:ssm-path:/app prod/", "whitespace at offset 4"},
		{"kinko:SSM-PATH:/app/", "must be written in lower case: ssm-path"},
		{"kinko:ssm_path:/app/", "did you mean ssm-path?"},
		{"kinko:secretsmanager:#key", "empty secret name"},
		{"kinko:secretsmanager:s#", "empty JSON key"},
		{"kinko:ssm:/p#key", "takes no #KEY"},
		{"kinko:SSM:/p", `must be written in lower case: ssm`},
		{"kinko:SecretsManager:s", `must be written in lower case: secretsmanager`},
		{"kinko:secretmanager:s", "did you mean secretsmanager?"},
		{"kinko:parameterstore:/p", "did you mean ssm?"},
		{"kinko:vault:s", `unknown service "vault"`},
		{"kinko::s", `unknown service ""`},
		{"kinko:secretsmanager: s", "whitespace at offset 0"},
		{"kinko:secretsmanager:s\n", "whitespace at offset 1"},
		{"kinko:ssm:/p\t", "whitespace at offset 2"},
		{"kinko:secretsmanager:s\x00", "control character 0x0 at offset 1"},
		{"kinko:ssm:/p\x7f", "control character 0x7f"},
		{"kinko:secretsmanager:sé", "non-ASCII character at offset 1"},
		{"kinko:secretsmanager:a?b", `character '?' at offset 1 is not allowed in a secret name`},
		{"kinko:secretsmanager:a&jsonKey=x", `character '&'`},
		{"kinko:secretsmanager:a%2F", `character '%'`},
		{"kinko:ssm:/p+q", `character '+' at offset 2 is not allowed in a parameter name`},
		{"kinko:ssm:/p@q", `character '@'`},
		{"kinko:secretsmanager:" + strings.Repeat("a", kinko.MaxIDBytes+1), "2049 bytes long, over the limit of 2048"},
		{"kinko:secretsmanager:s#a\nb", "control character 0xa at offset 1 in the JSON key"},
		{"kinko:secretsmanager:s#\xff", "not valid UTF-8"},
		{"kinko:secretsmanager:s#" + strings.Repeat("k", kinko.MaxIDBytes+1), "JSON key is 2049 bytes long"},
		{"kinko:" + strings.Repeat("x", 100) + ":s", `unknown service "` + strings.Repeat("x", 40) + `..."`},
	} {
		_, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) accepted it", tc.in)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "malformed reference: ") || !strings.Contains(msg, tc.want) {
			t.Errorf("Parse(%q) = %q, want it to say %q", tc.in, msg, tc.want)
		}
		if strings.ContainsAny(msg, "\n\r") {
			t.Errorf("Parse(%q): the message %q is more than one line", tc.in, msg)
		}
	}
}

func TestNotAReference(t *testing.T) {
	for _, v := range []string{"", "kinko", "KINKO:ssm:/p", " kinko:ssm:/p", "sk-abc", "secretsmanager:s"} {
		if Is(v) {
			t.Errorf("Is(%q) = true, want an ordinary value", v)
		}
	}
	if _, err := Parse("ssm:/p"); err == nil || !strings.Contains(err.Error(), `does not start with "kinko:"`) {
		t.Errorf("Parse without the prefix: %v", err)
	}
}

// FuzzParse: no input panics; every accepted reference writes back to itself, and its parts
// obey the rules kinko's HTTP API applies (length, no control characters), so a reference the
// wrapper accepts is one kinko serves.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"kinko:secretsmanager:s#k", "kinko:ssm:/p:1", "kinko:", "kinko:ssm:/p#k", "kinko:secretsmanager:s#",
		"kinko:SSM:x", "kinko:secretsmanager:\x00", "kinko:secretsmanager:a#\xff\xfe", "kinko:ssm:é",
		"kinko:ssm-path:/app/prod/", "kinko:ssm-path:app", "kinko:ssm-path:/a#k", "kinko:ssm-path:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := Parse(in)
		if err != nil {
			if r != (Reference{}) {
				t.Fatalf("Parse(%q) failed but returned %+v", in, r)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\n\r") || len(msg) > 400 {
				t.Fatalf("Parse(%q): message not one short line: %q", in, msg)
			}
			return
		}
		if !Is(in) || r.String() != in {
			t.Fatalf("Parse(%q) = %+v, which writes back as %q", in, r, r.String())
		}
		if r.ByPath && (r.Kind != kinko.SSM || r.ID[0] != '/' || r.HasKey) {
			t.Fatalf("Parse(%q) accepted a path reference %+v that is not a parameter path", in, r)
		}
		if r.ID == "" || len(r.ID) > kinko.MaxIDBytes || len(r.JSONKey) > kinko.MaxIDBytes || (r.HasKey && r.JSONKey == "") {
			t.Fatalf("Parse(%q) accepted out-of-bounds parts %+v", in, r)
		}
		for _, s := range []string{r.ID, r.JSONKey} {
			for i := 0; i < len(s); i++ {
				if s[i] < 0x20 || s[i] == 0x7f {
					t.Fatalf("Parse(%q) accepted a control character", in)
				}
			}
		}
	})
}
