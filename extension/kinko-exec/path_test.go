package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// pathValue marks every parameter value of these tests, so one search finds any in an output.
const pathValue = "s3cr3t-path-"

// putParameters puts each name=value under moto, as a SecureString.
func putParameters(t *testing.T, names map[string]string) {
	t.Helper()
	m, err := sharedMoto()
	if err != nil {
		t.Fatal(err)
	}
	ps := ssm.New(ssm.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.URL),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	for name, value := range names {
		if _, err := ps.PutParameter(t.Context(), &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value),
			Type: ssmtypes.ParameterTypeSecureString}); err != nil {
			t.Fatal(err)
		}
	}
}

// kinko:ssm-path:/app/prod/ expands into one variable per parameter directly under the path,
// named after its last segment, decrypted, in the reference's place: every page of one
// GetParametersByPath read, one cache entry. The tree below is not read.
func TestPathReferenceExpandsIntoOneVariablePerParameter(t *testing.T) {
	k := startKinko(t, nil)
	p := "/" + strings.ReplaceAll(t.Name(), "/", "_") + "-app/"
	want := map[string]string{"DB_HOST": pathValue + "host=a\nb é", "_X9": pathValue + "x"}
	for i := range 12 { // more than one page of 10
		want[fmt.Sprintf("VAR_%02d", i)] = fmt.Sprintf("%s%d", pathValue, i)
	}
	params := map[string]string{p + "prod/sub/NESTED": pathValue + "nested", p + "prodx/OTHER": pathValue + "other"}
	for name, value := range want {
		params[p+"prod/"+name] = value
	}
	putParameters(t, params)

	env := k.env(t, "BEFORE=1", "APP=kinko:ssm-path:"+p+"prod/", "AFTER=2")
	var stderr bytes.Buffer
	var e execCall
	if code := run([]string{"kinko-exec", "/bin/true"}, env, &stderr, e.exec, testLimits); code != exitCannotRun || !e.calledOnce {
		t.Fatalf("run = %d, exec called %v; stderr: %s", code, e.calledOnce, redactPath(stderr.String()))
	}
	base := k.env(t)
	i := slices.Index(e.env, "BEFORE=1")
	if i != len(base) || e.env[len(e.env)-1] != "AFTER=2" || len(e.env) != len(base)+2+len(want) {
		t.Fatalf("the parameters are not in the reference's place: %d variables, BEFORE at %d", len(e.env), i)
	}
	got := map[string]string{}
	for _, kv := range e.env[i+1 : len(e.env)-1] {
		name, value, _ := strings.Cut(kv, "=")
		got[name] = value
	}
	for name, value := range want {
		if got[name] != value {
			t.Errorf("%s is not the parameter's value (not printed)", name)
		}
	}
	for _, gone := range []string{"APP", "NESTED", "OTHER", "sub"} {
		if _, ok := got[gone]; ok || slices.ContainsFunc(e.env, func(kv string) bool { return strings.HasPrefix(kv, gone+"=") }) {
			t.Errorf("%s is set: the reference's own variable stays out, and only the parameters directly under the path go in", gone)
		}
	}
	if k.upstream != 1 {
		t.Errorf("%d reads through kinko's cache, want 1 (one path read, all pages)", k.upstream)
	}
	if strings.Contains(stderr.String(), pathValue) {
		t.Error("stderr holds a parameter value")
	}
}

// A parameter whose last segment is not a variable name, or is a name already set, stops init
// with a line naming the variable, the name and the parameter, never a value; so does a path
// with no parameter directly under it.
func TestPathReferenceProblemsStopInit(t *testing.T) {
	k := startKinko(t, nil)
	p := "/" + strings.ReplaceAll(t.Name(), "/", "_") + "-"
	putParameters(t, map[string]string{
		p + "bad/db-host": pathValue + "1", p + "bad/9LIVES": pathValue + "2", p + "bad/GOOD": pathValue + "3",
		p + "clash/HOME": pathValue + "4", p + "clash/PORT": pathValue + "5",
		p + "deep/a/b/DEEP": pathValue + "6",
	})
	for _, tc := range []struct {
		name  string
		env   []string
		wants []string
	}{
		{"not variable names", []string{"APP=kinko:ssm-path:" + p + "bad/"}, []string{
			`APP: parameter "` + p + `bad/9LIVES" under kinko:ssm-path:` + p + `bad/ would set "9LIVES", which is not a variable name`,
			`APP: parameter "` + p + `bad/db-host" under kinko:ssm-path:` + p + `bad/ would set "db-host", which is not a variable name`,
		}},
		{"already set", []string{"HOME=/home/x", "APP=kinko:ssm-path:" + p + "clash/"}, []string{
			`APP: parameter "` + p + `clash/HOME" under kinko:ssm-path:` + p + `clash/ would set HOME, which the function's environment sets already`,
		}},
		{"set by another path", []string{"A=kinko:ssm-path:" + p + "clash/", "B=kinko:ssm-path:" + p + "clash/"}, []string{
			`B: parameter "` + p + `clash/HOME" under kinko:ssm-path:` + p + `clash/ would set HOME, which A (parameter "` + p + `clash/HOME") sets already`,
			`B: parameter "` + p + `clash/PORT" under kinko:ssm-path:` + p + `clash/ would set PORT, which A (parameter "` + p + `clash/PORT") sets already`,
		}},
		{"nothing directly under", []string{"APP=kinko:ssm-path:" + p + "deep/"}, []string{
			`APP: no parameter directly under "` + p + `deep/"`,
		}},
		{"not a path", []string{"APP=kinko:ssm-path:app/"}, []string{`APP: malformed reference: the path "app/" does not start with /`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			var e execCall
			code := run([]string{"kinko-exec", "/bin/true"}, k.env(t, tc.env...), &stderr, e.exec, testLimits)
			out := stderr.String()
			if code != exitUnresolved || e.calledOnce {
				t.Fatalf("run = %d, exec called %v; want %d and no exec", code, e.calledOnce, exitUnresolved)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			slices.Sort(lines)
			for _, want := range tc.wants {
				if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "kinko-exec: "+want) }) {
					t.Errorf("no line starting %q in:\n%s", want, redactPath(out))
				}
			}
			if len(lines) != len(tc.wants)+1 {
				t.Errorf("%d lines, want %d and the summary:\n%s", len(lines), len(tc.wants), redactPath(out))
			}
			if strings.Contains(out, pathValue) {
				t.Error("stderr holds a parameter value")
			}
		})
	}
}

func redactPath(s string) string { return strings.ReplaceAll(redact(s), pathValue, "<secret>") }
