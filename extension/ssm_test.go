package main

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/kinko-dev/kinko/internal/faultproxy"
)

const (
	dbPassword  = "p4ss-w0rd-kinko-ssm-1f9e"
	dbPassword2 = "p4ss-w0rd-kinko-ssm-2a7c"
)

func (a *awsStack) ssmClient() *ssm.Client {
	return ssm.New(ssm.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(a.moto.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
}

func (a *awsStack) putParameter(t *testing.T, name, value string, typ ssmtypes.ParameterType) {
	t.Helper()
	_, err := a.ssmClient().PutParameter(t.Context(), &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: typ, Overwrite: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("put parameter %s: %v", name, err)
	}
}

type parameterAnswer struct {
	Parameter struct {
		ARN, DataType, LastModifiedDate, Name, Type, Value string
		Selector, SourceResult                             *string
		Version                                            int64
	}
}

func (x *extension) parameter(query string) (response, parameterAnswer) {
	x.t.Helper()
	r := x.get("/systemsmanager/parameters/get?" + query)
	var p parameterAnswer
	if r.status == 200 {
		if err := json.Unmarshal([]byte(r.body), &p); err != nil {
			x.t.Fatalf("parameter answer is not JSON (%d bytes)", len(r.body))
		}
	}
	return r, p
}

func TestParameterStore(t *testing.T) {
	a := startAWS(t)
	a.putParameter(t, "/app/db/password", dbPassword, ssmtypes.ParameterTypeSecureString)
	a.putParameter(t, "/app/db/password", dbPassword2, ssmtypes.ParameterTypeSecureString) // version 2
	a.putParameter(t, "/app/hosts", "a.example,b.example", ssmtypes.ParameterTypeStringList)
	a.putParameter(t, "plain", "hello", ssmtypes.ParameterTypeString)
	if _, err := a.ssmClient().LabelParameterVersion(t.Context(), &ssm.LabelParameterVersionInput{
		Name: aws.String("/app/db/password"), ParameterVersion: aws.Int64(1), Labels: []string{"prod"},
	}); err != nil {
		t.Fatal(err)
	}
	a.createSecret(t, "shared/secret", secretJSON())
	x := startExtension(t, a, map[string]string{"KINKO_PREFETCH": "ssm:/app/db/password"})
	x.waitLog(`"msg":"ready"`, `"prefetch_failed":0`)

	enc := url.QueryEscape("/app/db/password")
	t.Run("SecureString decrypted, prefetched", func(t *testing.T) {
		r, p := x.parameter("name=" + enc + "&withDecryption=true")
		if r.status != 200 || p.Parameter.Value != dbPassword2 || p.Parameter.Type != "SecureString" || p.Parameter.Version != 2 ||
			!strings.HasPrefix(r.cacheStatus, "kinko; hit") {
			t.Fatalf("status %d type %q version %d cache %q, decrypted value matches %t",
				r.status, p.Parameter.Type, p.Parameter.Version, r.cacheStatus, p.Parameter.Value == dbPassword2)
		}
		if _, err := time.Parse(time.RFC3339, p.Parameter.LastModifiedDate); err != nil || !strings.HasPrefix(p.Parameter.ARN, "arn:aws:ssm:") {
			t.Fatalf("LastModifiedDate %q (%v) ARN %q", p.Parameter.LastModifiedDate, err, p.Parameter.ARN)
		}
		var raw map[string]map[string]any
		_ = json.Unmarshal([]byte(r.body), &raw)
		for _, k := range []string{"ARN", "DataType", "LastModifiedDate", "Name", "Selector", "SourceResult", "Type", "Value", "Version"} {
			if _, ok := raw["Parameter"][k]; !ok {
				t.Errorf("answer lacks Parameter.%s", k)
			}
		}
	})
	t.Run("withDecryption is part of the key", func(t *testing.T) {
		r, p := x.parameter("name=" + enc)
		if r.status != 200 || p.Parameter.Value == dbPassword2 || !isFresh(r.cacheStatus, "kinko; fwd=miss; stored") {
			t.Fatalf("without decryption: status %d cache %q, got the decrypted value: %t", r.status, r.cacheStatus, p.Parameter.Value == dbPassword2)
		}
	})
	t.Run("version and label become selectors", func(t *testing.T) {
		r, p := x.parameter("name=" + enc + "&withDecryption=true&version=1")
		if r.status != 200 || p.Parameter.Value != dbPassword || p.Parameter.Version != 1 {
			t.Fatalf("version 1: status %d version %d", r.status, p.Parameter.Version)
		}
		r, p = x.parameter("name=" + enc + "&withDecryption=true&label=prod")
		if r.status != 200 || p.Parameter.Value != dbPassword || p.Parameter.Version != 1 {
			t.Fatalf("label prod: status %d version %d", r.status, p.Parameter.Version)
		}
	})
	t.Run("StringList and String", func(t *testing.T) {
		if r, p := x.parameter("name=%2Fapp%2Fhosts"); r.status != 200 || p.Parameter.Type != "StringList" || p.Parameter.Value != "a.example,b.example" {
			t.Fatalf("StringList: %d %+v", r.status, p.Parameter)
		}
		if r, p := x.parameter("name=plain"); r.status != 200 || p.Parameter.Type != "String" || p.Parameter.Value != "hello" {
			t.Fatalf("String: %d %+v", r.status, p.Parameter)
		}
	})
	t.Run("name then ARN is one call", func(t *testing.T) {
		a.proxy.ResetCounts()
		_, p := x.parameter("name=plain&withDecryption=true")
		r, _ := x.parameter("name=" + url.QueryEscape(p.Parameter.ARN) + "&withDecryption=true")
		if r.status != 200 || !strings.HasPrefix(r.cacheStatus, "kinko; hit") || a.proxy.Calls("GetParameter") != 1 {
			t.Fatalf("by ARN: %d %q, %d upstream calls, want a hit after one call", r.status, r.cacheStatus, a.proxy.Calls("GetParameter"))
		}
	})
	t.Run("jsonKey works on parameters too", func(t *testing.T) {
		a.putParameter(t, "/app/json", `{"user":"kinko"}`, ssmtypes.ParameterTypeString)
		if r := x.get("/systemsmanager/parameters/get?name=%2Fapp%2Fjson&jsonKey=user"); r.status != 200 || r.body != "kinko" {
			t.Fatalf("jsonKey: %d %q", r.status, redact(r.body))
		}
	})
	t.Run("not found", func(t *testing.T) {
		r, _ := x.parameter("name=%2Fapp%2Fmissing")
		if r.status/100 != 4 || !strings.Contains(r.body, `"__type":"ParameterNotFound"`) {
			t.Fatalf("missing: %d %s", r.status, redact(r.body))
		}
		r, _ = x.parameter("name=" + enc + "&version=9")
		if r.status/100 != 4 || !strings.Contains(r.body, `"__type":"ParameterVersionNotFound"`) {
			t.Fatalf("missing version: %d %s", r.status, redact(r.body))
		}
	})
	t.Run("a secret through Parameter Store", func(t *testing.T) {
		r, p := x.parameter("name=" + url.QueryEscape("/aws/reference/secretsmanager/shared/secret") + "&withDecryption=true")
		if r.status != 200 || p.Parameter.Value != secretJSON() {
			t.Fatalf("reference: %d, value matches %t", r.status, p.Parameter.Value == secretJSON())
		}
	})
	t.Run("version and label together", func(t *testing.T) {
		if r, _ := x.parameter("name=plain&version=1&label=prod"); r.status != 400 {
			t.Fatalf("%d, want 400", r.status)
		}
	})
	x.assertNoSecrets(a, dbPassword, dbPassword2, openAIKey)
}

func TestParameterRaceMakesOneCall(t *testing.T) {
	a := startAWS(t)
	a.putParameter(t, "/race/p", dbPassword, ssmtypes.ParameterTypeSecureString)
	x := startExtension(t, a, map[string]string{"SSM_PARAMETER_STORE_TTL": "60"})
	x.waitLog(`"msg":"ready"`)
	x.raceFirstRequests(a, "/systemsmanager/parameters/get?name=%2Frace%2Fp&withDecryption=true", "GetParameter")
	x.assertNoSecrets(a, dbPassword)
}

func TestParameterStaleIfErrorAndTimeout(t *testing.T) {
	a := startAWS(t)
	a.putParameter(t, "p", dbPassword, ssmtypes.ParameterTypeSecureString)
	x := startExtension(t, a, map[string]string{
		"SSM_PARAMETER_STORE_TTL": "1", "KINKO_STALE_IF_ERROR": "60", "KINKO_REFRESH_AHEAD": "1",
		"SSM_PARAMETER_STORE_TIMEOUT_MILLIS": "300",
	})
	x.waitLog(`"msg":"ready"`)
	if r, _ := x.parameter("name=p&withDecryption=true"); r.status != 200 {
		t.Fatalf("first: %d", r.status)
	}
	a.proxy.SetFault(faultproxy.Hang)
	var r response
	waitFor(t, "stale-if-error", 5*time.Second, func() bool {
		r, _ = x.parameter("name=p&withDecryption=true")
		return r.cacheStatus == "kinko; hit; detail=stale-if-error"
	})
	if r2, _ := x.parameter("name=other&withDecryption=true"); r2.status != 504 || !strings.Contains(r2.body, "SSM_PARAMETER_STORE_TIMEOUT_MILLIS") {
		t.Fatalf("uncached parameter while SSM hangs: %d %s, want 504 naming the timeout variable", r2.status, redact(r2.body))
	}
	x.assertNoSecrets(a, dbPassword)
}
