package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Values of the roleArn test: one name, a value per account, and a name in each account alone.
const (
	roleAccount   = "210987654321"
	readerRoleARN = "arn:aws:iam::" + roleAccount + ":role/reader"
	otherRoleARN  = "arn:aws:iam::" + roleAccount + ":role/other"
	deniedRoleARN = "arn:aws:iam::" + roleAccount + ":role/denied"
	homeValue     = "s3cr3t-home-account-7d1e"
	roleValue     = "s3cr3t-role-account-91ab"
	homeOnlyValue = "s3cr3t-home-only-52c0"
	roleOnlyValue = "s3cr3t-role-only-e3f4"
	sandboxKeyID  = "testing" // the harness's AWS_ACCESS_KEY_ID
)

// kinkoClip shows an error body in a failure message: kinko's error bodies never hold a value.
func kinkoClip(body string) string {
	for _, v := range []string{homeValue, roleValue, homeOnlyValue, roleOnlyValue} {
		body = strings.ReplaceAll(body, v, "<secret>")
	}
	return body
}

// signedCall is one request that reached AWS (moto) through the recorder.
type signedCall struct {
	op      string // X-Amz-Target's operation, or STS's Action
	keyID   string // the access key id the request was signed with
	roleArn string // AssumeRole's RoleArn
	session string // AssumeRole's RoleSessionName
}

// recorder stands between kinko and AWS: it records who signed each call, learns the access key
// STS issued for each role, and refuses AssumeRole of deniedRoleARN as STS does (403 AccessDenied).
type recorder struct {
	mu     sync.Mutex
	calls  []signedCall
	issued map[string]string // role ARN -> the access key id STS answered
}

var credentialKeyID = regexp.MustCompile(`Credential=([^/]+)/`)

func startRecorder(t *testing.T, target string) (*recorder, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{issued: map[string]string{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		c := signedCall{op: r.Header.Get("X-Amz-Target")}
		if i := strings.LastIndexByte(c.op, '.'); i >= 0 {
			c.op = c.op[i+1:]
		}
		if m := credentialKeyID.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			c.keyID = m[1]
		}
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") == "AssumeRole" {
			c.op, c.roleArn, c.session = "AssumeRole", form.Get("RoleArn"), form.Get("RoleSessionName")
		}
		rec.mu.Lock()
		rec.calls = append(rec.calls, c)
		rec.mu.Unlock()
		if c.op != "AssumeRole" {
			rp.ServeHTTP(w, r)
			return
		}
		if c.roleArn == deniedRoleARN {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code>`+
				`<Message>User: arn:aws:sts::123456789012:assumed-role/fn/fn is not authorized to perform: sts:AssumeRole on resource: `+deniedRoleARN+
				`</Message></Error><RequestId>x</RequestId></ErrorResponse>`)
			return
		}
		// Forward, and note the access key STS issued for the role.
		cw := httptest.NewRecorder()
		rp.ServeHTTP(cw, r)
		var out struct {
			KeyID string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
		}
		_ = xml.Unmarshal(cw.Body.Bytes(), &out)
		rec.mu.Lock()
		rec.issued[c.roleArn] = out.KeyID
		rec.mu.Unlock()
		for k, vs := range cw.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(cw.Code)
		_, _ = w.Write(cw.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

func (r *recorder) snapshot() ([]signedCall, map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	issued := make(map[string]string, len(r.issued))
	for k, v := range r.issued {
		issued[k] = v
	}
	return append([]signedCall(nil), r.calls...), issued
}

// assumeInMoto assumes role in moto, as a test's setup, and returns a Secrets Manager client in
// the role's account: moto keeps each account's resources apart, by the access key's account.
func assumeInMoto(t *testing.T, motoURL, role string) *secretsmanager.Client {
	t.Helper()
	body := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {role}, "RoleSessionName": {"test-setup"}}.Encode()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, motoURL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// moto routes by the signature's service: sign as STS would be signed for.
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: sandboxKeyID, SecretAccessKey: "testing"}, req,
		hex.EncodeToString(sum[:]), "sts", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		C struct{ AccessKeyId, SecretAccessKey, SessionToken string } `xml:"AssumeRoleResult>Credentials"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&out); err != nil || out.C.AccessKeyId == "" {
		t.Fatalf("moto's AssumeRole: %d, %v", resp.StatusCode, err)
	}
	return secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(motoURL),
		Credentials: credentials.NewStaticCredentialsProvider(out.C.AccessKeyId, out.C.SecretAccessKey, out.C.SessionToken)})
}

// roleArn against moto's STS (issue 24): a read with roleArn is signed with the session STS issued
// for that role (moto then reads in the role's account, where the same name holds another value),
// each role has its own cache (the same id under two roles is two upstream calls, under one role
// twice one), values never cross identities, and a refused AssumeRole is a 403 naming the role.
func TestRoleArnReadsWithTheAssumedRole(t *testing.T) {
	a := startAWS(t)
	a.createSecret(t, "shared", homeValue)
	a.createSecret(t, "home-only", homeOnlyValue)
	inRole := assumeInMoto(t, a.moto.URL, readerRoleARN)
	for name, value := range map[string]string{"shared": roleValue, "role-only": roleOnlyValue} {
		if _, err := inRole.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
			t.Fatalf("create %s in the role's account: %v", name, err)
		}
	}
	rec, recURL := startRecorder(t, a.proxy.URL)
	x := startExtension(t, a, map[string]string{"AWS_ENDPOINT_URL": recURL})
	x.waitLog(`"msg":"ready"`)

	role := func(arn string) string { return "&roleArn=" + url.QueryEscape(arn) }
	for i, step := range []struct {
		target, value, cache string
	}{
		{"/secretsmanager/get?secretId=shared", homeValue, "fwd=miss"},
		{"/secretsmanager/get?secretId=shared" + role(readerRoleARN), roleValue, "fwd=miss"},
		{"/secretsmanager/shared?x=1" + role(readerRoleARN), roleValue, "hit"}, // the path route: the same entry
		{"/secretsmanager/get?secretId=shared", homeValue, "hit"},
		{"/secretsmanager/get?secretId=shared" + role(otherRoleARN), roleValue, "fwd=miss"}, // same account, its own cache
		{"/secretsmanager/get?secretId=shared" + role(otherRoleARN), roleValue, "hit"},
		{"/v1/shared?x=1" + role(readerRoleARN), roleValue, "hit"},
	} {
		r := x.get(step.target)
		var doc struct{ SecretString string }
		if r.status != 200 || !strings.Contains(r.cacheStatus, step.cache) {
			t.Fatalf("step %d, %s: %d %q (%d bytes), want 200 %s", i, step.target, r.status, r.cacheStatus, len(r.body), step.cache)
		}
		if err := json.Unmarshal([]byte(r.body), &doc); err != nil || doc.SecretString != step.value {
			t.Fatalf("step %d, %s: the answer is not %s's value (it would be another identity's)", i, step.target, map[bool]string{true: "the role", false: "the sandbox"}[step.value == roleValue])
		}
	}
	// Values never cross: each account's own secret is not found under the other identity.
	for _, target := range []string{"/secretsmanager/get?secretId=home-only" + role(readerRoleARN), "/secretsmanager/get?secretId=role-only"} {
		if r := x.get(target); r.status == 200 || !strings.Contains(r.body, "ResourceNotFoundException") {
			t.Errorf("%s: %d, want ResourceNotFoundException: the value belongs to the other identity", target, r.status)
		}
	}
	// A refused AssumeRole is AWS's 403 AccessDenied, naming the role; a malformed ARN a 400.
	if r := x.get("/secretsmanager/get?secretId=shared" + role(deniedRoleARN)); r.status != 403 || !strings.Contains(r.body, `"__type":"AccessDenied"`) || !strings.Contains(r.body, deniedRoleARN) {
		t.Errorf("a refused AssumeRole: %d %s, want 403 AccessDenied naming the role", r.status, kinkoClip(r.body))
	}
	if r := x.get("/secretsmanager/get?secretId=shared" + role("arn:aws:iam::123:role/x")); r.status != 400 || !strings.Contains(r.body, "not 12 digits") {
		t.Errorf("a malformed role ARN: %d %s, want 400 saying what is wrong", r.status, kinkoClip(r.body))
	}

	calls, issued := rec.snapshot()
	var gets, assumes []signedCall
	for _, c := range calls {
		switch c.op {
		case "GetSecretValue":
			gets = append(gets, c)
		case "AssumeRole":
			assumes = append(assumes, c)
		}
	}
	// Upstream: shared (sandbox), shared (reader), shared (other), home-only (reader), role-only
	// (sandbox); the denied role never got as far as a read.
	if len(gets) != 5 {
		t.Errorf("%d GetSecretValue calls, want 5 (one per identity and id)", len(gets))
	}
	for _, arn := range []string{readerRoleARN, otherRoleARN, deniedRoleARN} {
		n := 0
		for _, c := range assumes {
			if c.roleArn == arn {
				n++
				if c.session != "kinko-fn" || c.keyID != sandboxKeyID {
					t.Errorf("AssumeRole of %s: session %q signed by %q, want kinko-fn signed with the sandbox's key", arn, c.session, c.keyID)
				}
			}
		}
		if n != 1 {
			t.Errorf("%s assumed %d times, want once", arn, n)
		}
	}
	// Each read was signed by the identity it was for: the sandbox's key, or the key STS issued
	// for the role asked.
	keys := map[string]int{}
	for _, c := range gets {
		keys[c.keyID]++
	}
	if issued[readerRoleARN] == "" || issued[otherRoleARN] == "" || issued[readerRoleARN] == issued[otherRoleARN] ||
		keys[sandboxKeyID] != 2 || keys[issued[readerRoleARN]] != 2 || keys[issued[otherRoleARN]] != 1 {
		t.Errorf("reads by key %v; issued %v: want 2 by the sandbox, 2 by the reader's session, 1 by the other's", keys, issued)
	}
	x.assertNoSecrets(a, homeValue, roleValue, homeOnlyValue, roleOnlyValue)
}
