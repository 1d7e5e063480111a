package main

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

const pathMarker = "s3cr3t-bypath-"

// GET /systemsmanager/parameters/getbypath against moto: GetParametersByPath's output with every
// page joined (NextToken null), each parameter as GetParameter writes it, one cache entry per
// path, decryption and depth; a kinko:ssm-path: reference in the environment is prefetched, so
// kinko-exec's read is a hit.
func TestParametersByPath(t *testing.T) {
	a := startAWS(t)
	for _, name := range []string{"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L"} { // 12: two pages
		a.putParameter(t, "/bypath/prod/"+name, pathMarker+name, ssmtypes.ParameterTypeSecureString)
	}
	a.putParameter(t, "/bypath/prod/deeper/Z", pathMarker+"Z", ssmtypes.ParameterTypeString)
	x := startExtension(t, a, map[string]string{"APP": "kinko:ssm-path:/bypath/prod/"})
	x.waitLog(`"msg":"ready"`, `"prefetch":1`, `"prefetch_failed":0`)

	read := func(query string) (response, []map[string]any, []string) {
		t.Helper()
		r := x.get("/systemsmanager/parameters/getbypath?" + query)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", query, r.status, strings.ReplaceAll(r.body, pathMarker, "<secret>"))
		}
		var doc struct {
			NextToken  *string
			Parameters []map[string]any
		}
		keys, err := objectKeys([]byte(r.body))
		if err != nil || json.Unmarshal([]byte(r.body), &doc) != nil || doc.NextToken != nil {
			t.Fatalf("%s: not GetParametersByPath's output with NextToken null", query)
		}
		return r, doc.Parameters, keys
	}
	r, params, keys := read("path=" + url.QueryEscape("/bypath/prod/") + "&withDecryption=true")
	if !isFresh(r.cacheStatus, "kinko; hit") || !slices.Equal(keys, []string{"NextToken", "Parameters", "ResultMetadata"}) || len(params) != 12 {
		t.Fatalf("prefetched path read: %q, keys %v, %d parameters; want a hit with the 12 directly under the path", r.cacheStatus, keys, len(params))
	}
	for _, p := range params {
		name, _ := p["Name"].(string)
		if p["Value"] != pathMarker+strings.TrimPrefix(name, "/bypath/prod/") || p["Type"] != "SecureString" || !awsDate.MatchString(p["LastModifiedDate"].(string)) {
			t.Errorf("parameter %s: not decrypted, or not written as GetParameter writes it", name)
		}
	}
	pkeys, _ := objectKeys(mustJSON(t, params[0]))
	if len(pkeys) != 9 {
		t.Errorf("a parameter has keys %v, want GetParameter's nine", pkeys)
	}
	// Not decrypted, and the whole tree: entries of their own.
	r, params, _ = read("path=/bypath/prod/")
	if !strings.Contains(r.cacheStatus, "fwd=miss") || params[0]["Value"] == pathMarker+"A" {
		t.Errorf("without decryption: %q, want its own entry, the SecureStrings encrypted", r.cacheStatus)
	}
	r, params, _ = read("path=/bypath/prod/&withDecryption=true&recursive=true")
	if !strings.Contains(r.cacheStatus, "fwd=miss") || len(params) != 13 {
		t.Errorf("recursive: %q, %d parameters, want its own entry with the 13 below the path", r.cacheStatus, len(params))
	}
	if r := x.get("/systemsmanager/parameters/getbypath?path=bypath"); r.status != 400 {
		t.Errorf("a path without its leading /: %d, want 400", r.status)
	}
	x.assertNoSecrets(a, pathMarker)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
