package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// The compatibility corpus (testdata/compat-corpus.json) is what real code sends to AWS's
// extension and to AWS Secrets Manager Agent, with what they answer. Every entry is replayed
// here byte for byte (raw HTTP/1.1: header names in the client's own case, trailing slashes,
// unencoded ids) against the whole kinko process, over 127.0.0.1 and [::1].

type corpus struct {
	Entries []corpusEntry `json:"entries"`
}

type corpusEntry struct {
	ID       string      `json:"id"`
	Language string      `json:"language"`
	Client   string      `json:"client"`
	Source   string      `json:"source"`
	Dials    string      `json:"dials"`
	Method   string      `json:"method"`
	Target   string      `json:"target"`
	Headers  [][2]string `json:"headers"`
	AWS      expected    `json:"aws"`
	Kinko    *expected   `json:"kinko"`
	Why      string      `json:"why"`
}

type expected struct {
	By            string   `json:"by"`
	Status        int      `json:"status"`
	Keys          []string `json:"keys"`
	ParameterKeys []string `json:"parameterKeys"`
	Body          string   `json:"body"`
	Code          string   `json:"code"` // kinko's __type for an error
	// MotoStatus is the status kinko passes on from moto, which the replay runs against, where
	// moto's differs from AWS's (ResourceNotFoundException: moto 404, AWS 400).
	MotoStatus  int    `json:"motoStatus"`
	Established string `json:"established"`
}

// want is what kinko must answer: its own line where it deliberately differs, else AWS's.
func (e corpusEntry) want() expected {
	if e.Kinko != nil {
		return *e.Kinko
	}
	return e.AWS
}

func loadCorpus(t *testing.T) []corpusEntry {
	t.Helper()
	raw, err := os.ReadFile("testdata/compat-corpus.json")
	if err != nil {
		t.Fatal(err)
	}
	var c corpus
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("corpus is not valid JSON: %v", err)
	}
	return c.Entries
}

// The corpus is data other people extend: each entry must say where it comes from and what AWS
// answers, and a deliberate difference must say why.
func TestCompatCorpusIsComplete(t *testing.T) {
	entries := loadCorpus(t)
	if len(entries) < 30 {
		t.Fatalf("%d entries, want at least 30", len(entries))
	}
	seen := map[string]bool{}
	languages := map[string]int{}
	for _, e := range entries {
		switch {
		case e.ID == "" || seen[e.ID]:
			t.Errorf("entry id %q is empty or repeated", e.ID)
		case e.Source == "" || e.Client == "" || e.Method == "" || !strings.HasPrefix(e.Target, "/"):
			t.Errorf("%s: source, client, method and target are required", e.ID)
		case e.AWS.Status == 0 || e.AWS.By == "" || e.AWS.Established == "":
			t.Errorf("%s: say what AWS's product answers, which one, and how that is known", e.ID)
		case e.AWS.Status == 200 && len(e.AWS.Keys) == 0 && e.AWS.Body == "":
			t.Errorf("%s: a 200 needs its key set (or body)", e.ID)
		case e.Kinko != nil && e.Kinko.Status != e.AWS.Status && e.Why == "":
			t.Errorf("%s: kinko answers another status than AWS: say why", e.ID)
		}
		seen[e.ID] = true
		languages[e.Language]++
	}
	for _, l := range []string{"Python", "Node.js", "Java", "Go", "C#", "Rust", "curl"} {
		if languages[l] == 0 {
			t.Errorf("no entry in %s", l)
		}
	}
	t.Logf("corpus: %d entries, by language %v", len(entries), languages)
}

// Secret values of the fixtures: all carry compatMarker, so one search of the logs finds any.
const compatMarker = "compat-v4lue-"

func compatValue(s string) string { return compatMarker + s }

// compatFixtures creates what the corpus names in moto, and returns the placeholders' values.
func compatFixtures(t *testing.T, a *awsStack) map[string]string {
	t.Helper()
	ctx := t.Context()
	fill := map[string]string{}
	put := func(name, value string, stages ...string) *secretsmanager.PutSecretValueOutput {
		out, err := a.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(name), SecretString: aws.String(value), VersionStages: stages,
		})
		if err != nil {
			t.Fatalf("put secret value %s: %v", name, err)
		}
		return out
	}
	for _, name := range []string{"MyTest", "My/Test", "prod/db"} {
		created := a.createSecret(t, name, compatValue(`{"username":"app","password":"one-`+name+`"}`))
		fill["{arn:"+name+"}"] = aws.ToString(created.ARN)
		fill["{arn_q:"+name+"}"] = url.QueryEscape(aws.ToString(created.ARN))
		current := put(name, compatValue(`{"username":"app","password":"two-`+name+`"}`)) // the first becomes AWSPREVIOUS
		fill["{version:"+name+"}"] = aws.ToString(current.VersionId)
		put(name, compatValue("pending-"+name), "AWSPENDING")
	}
	for _, name := range []string{"slack-webhook", "/authorizer/jwt"} {
		a.createSecret(t, name, compatValue("plain-"+name))
	}
	a.putParameter(t, "/app/db/password", compatValue("pw-1"), ssmtypes.ParameterTypeSecureString)
	a.putParameter(t, "/app/db/password", compatValue("pw-2"), ssmtypes.ParameterTypeSecureString)
	if _, err := a.ssmClient().LabelParameterVersion(ctx, &ssm.LabelParameterVersionInput{
		Name: aws.String("/app/db/password"), ParameterVersion: aws.Int64(1), Labels: []string{"prod"},
	}); err != nil {
		t.Fatal(err)
	}
	a.putParameter(t, "cloud26key", compatValue("cloud26"), ssmtypes.ParameterTypeString)
	a.putParameter(t, "/minutes/prod/OPENAI_API_KEY", compatValue("minutes"), ssmtypes.ParameterTypeSecureString)
	a.putParameter(t, "secure-string-test", compatValue("secure"), ssmtypes.ParameterTypeSecureString)
	return fill
}

// compatAnswer is one replayed answer, read without keeping the body: failure messages show
// the status, the error code and the key names, never a value.
type compatAnswer struct {
	status        int
	errType       string // __type of a JSON error body
	errHeader     string // X-Amzn-Errortype
	keys          []string
	parameterKeys []string
	dates         []string // CreatedDate / LastModifiedDate
	body          string   // only for a text answer the corpus names (the ping)
	parseProblem  string
}

// replayRaw sends e's exact bytes to addr on a fresh connection and reads the answer.
func replayRaw(t *testing.T, addr string, port int, e corpusEntry, fill map[string]string) compatAnswer {
	t.Helper()
	sub := func(s string) string {
		for k, v := range fill {
			s = strings.ReplaceAll(s, k, v)
		}
		return strings.ReplaceAll(strings.ReplaceAll(s, "{port}", strconv.Itoa(port)), "{token}", testToken)
	}
	var raw bytes.Buffer
	fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\n", e.Method, sub(e.Target))
	for _, h := range e.Headers {
		fmt.Fprintf(&raw, "%s: %s\r\n", h[0], sub(h[1]))
	}
	raw.WriteString("\r\n")

	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(raw.Bytes()); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: e.Method})
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	a := compatAnswer{status: resp.StatusCode, errHeader: resp.Header.Get("X-Amzn-Errortype")}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if !strings.Contains(string(body), compatMarker) {
			a.body = string(body)
		}
		return a
	}
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Type string `json:"__type"`
		}
		_ = json.Unmarshal(body, &eb)
		a.errType = eb.Type
		return a
	}
	a.keys, err = objectKeys(body)
	if err != nil {
		a.parseProblem = err.Error()
		return a
	}
	var doc struct {
		CreatedDate *string
		Parameter   json.RawMessage
	}
	_ = json.Unmarshal(body, &doc)
	if doc.CreatedDate != nil {
		a.dates = append(a.dates, *doc.CreatedDate)
	}
	if doc.Parameter != nil {
		if a.parameterKeys, err = objectKeys(doc.Parameter); err != nil {
			a.parseProblem = err.Error()
		}
		var p struct{ LastModifiedDate *string }
		_ = json.Unmarshal(doc.Parameter, &p)
		if p.LastModifiedDate != nil {
			a.dates = append(a.dates, *p.LastModifiedDate)
		}
	}
	return a
}

// objectKeys returns the keys of a JSON object in the order they are written.
func objectKeys(raw []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("malformed JSON")
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, fmt.Errorf("malformed JSON")
		}
	}
	return keys, nil
}

// awsDate is how AWS's extension writes dates: UTC, to the millisecond.
var awsDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

func (a compatAnswer) problems(w expected) []string {
	var p []string
	want := w.Status
	if w.MotoStatus != 0 {
		want = w.MotoStatus
	}
	if a.status != want {
		p = append(p, fmt.Sprintf("status %d, want %d (error type %q)", a.status, want, a.errType))
		return p
	}
	if a.parseProblem != "" {
		p = append(p, "answer: "+a.parseProblem)
	}
	if w.Keys != nil && !slices.Equal(a.keys, w.Keys) {
		p = append(p, fmt.Sprintf("keys %v, want %v in that order", a.keys, w.Keys))
	}
	if w.ParameterKeys != nil && !slices.Equal(a.parameterKeys, w.ParameterKeys) {
		p = append(p, fmt.Sprintf("Parameter keys %v, want %v in that order", a.parameterKeys, w.ParameterKeys))
	}
	for _, d := range a.dates {
		if !awsDate.MatchString(d) {
			p = append(p, fmt.Sprintf("date %q is not UTC to the millisecond (2022-11-16T08:22:40.499Z)", d))
		}
	}
	if w.Body != "" && a.body != w.Body {
		p = append(p, fmt.Sprintf("body %q, want %q", a.body, w.Body))
	}
	if w.Code != "" && (a.errType != w.Code || a.errHeader != w.Code) {
		p = append(p, fmt.Sprintf("error type %q (header %q), want %q", a.errType, a.errHeader, w.Code))
	}
	return p
}

func TestCompatCorpusReplay(t *testing.T) {
	entries := loadCorpus(t)
	a := startAWS(t)
	fill := compatFixtures(t, a)
	x := startExtension(t, a, nil)
	x.waitLog(`"msg":"ready"`)

	addrs := []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(x.port))}
	// Node's fetch, among others, dials ::1 first for localhost; kinko listens there when it can.
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		l.Close()
		x.waitLog(`"msg":"ready"`, `"ipv6":true`)
		addrs = append(addrs, net.JoinHostPort("::1", strconv.Itoa(x.port)))
	} else {
		t.Logf("no IPv6 loopback here (%v): replaying over 127.0.0.1 only", err)
	}
	failed := 0
	for _, e := range entries {
		for _, addr := range addrs {
			t.Run(e.ID+"@"+addr, func(t *testing.T) {
				got := replayRaw(t, addr, x.port, e, fill)
				if p := got.problems(e.want()); len(p) > 0 {
					failed++
					t.Errorf("%s %s (%s, %s): %s", e.Method, e.Target, e.Language, e.Client, strings.Join(p, "; "))
				}
			})
		}
	}
	if failed > 0 {
		t.Logf("%d of %d replays differ from the corpus", failed, len(entries)*len(addrs))
	}

	logs := x.logs.String()
	if strings.Contains(logs, compatMarker) || strings.Contains(a.moto.Logs(), compatMarker) {
		t.Error("a fixture's secret value appears in kinko's or moto's log")
	}
	// Unknown parameters: each name once at WARN, however often it came, and never its value.
	for _, name := range []string{"withDecryption", "abc"} {
		if n := strings.Count(logs, `"parameter":"`+name+`"`); n != 1 {
			t.Errorf("unknown parameter %s logged %d times, want once", name, n)
		}
	}
	if strings.Contains(logs, "XXXXXXXXXXXX") {
		t.Error("an unknown parameter's value reached the log")
	}
}
