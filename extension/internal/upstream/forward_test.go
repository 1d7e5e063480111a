package upstream

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/awsconfig"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
	"github.com/kinko-dev/kinko/extension/internal/sigv4"
)

// A forwarded call reaches the endpoint kinko's own calls use, as it came (target, body),
// signed with kinko's credentials for the service (what AWS checks: the SDK endpoint's own
// verifier stands in), and marked with the hop header.
func TestForwardSignsWithKinkosCredentials(t *testing.T) {
	env := staticEnv("AWS_REGION", "us-east-1", "AWS_SESSION_TOKEN", "tok")
	cfg, err := awsconfig.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	v := sigv4.New("us-east-1", cfg.Credentials, time.Now, "the function")
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		service := "secretsmanager"
		if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AmazonSSM.") {
			service = "ssm"
		}
		_, verr := v.Verify(r.Context(), r, body, service)
		mu.Lock()
		got = append(got, fmt.Sprintf("%s %s %s hop=%s verify=%v", r.URL.Path, r.Header.Get("X-Amz-Target"), body, r.Header.Get(HopHeader), verr))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Requestid", "req-1")
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer srv.Close()
	c := New(cfg, Options{MaxConnections: 1, Timeout: func(kinko.Kind) time.Duration { return 5 * time.Second },
		Endpoints: map[kinko.Kind]string{kinko.SecretsManager: srv.URL, kinko.SSM: srv.URL}})
	for kind, target := range map[kinko.Kind]string{kinko.SecretsManager: "secretsmanager.DescribeSecret", kinko.SSM: "AmazonSSM.DescribeParameters"} {
		hdr := http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amz-Target": {target}}
		resp, err := c.Forward(t.Context(), kind, hdr, []byte(`{"SecretId":"s"}`))
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != `{"ok":true}` || resp.Header.Get("X-Amzn-Requestid") != "req-1" {
			t.Fatalf("%s: answer %d %s", target, resp.StatusCode, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{
		`/ secretsmanager.DescribeSecret {"SecretId":"s"} hop=1 verify=<nil>`,
		`/ AmazonSSM.DescribeParameters {"SecretId":"s"} hop=1 verify=<nil>`,
	} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("calls seen:\n%s\nwant one like %s", strings.Join(got, "\n"), want)
		}
	}
}

// Without an override a forward goes to AWS's endpoint by the SDK's own rules (FIPS here).
func TestForwardGoesWhereKinkosCallsGo(t *testing.T) {
	cfg, err := awsconfig.Load(staticEnv("AWS_USE_FIPS_ENDPOINT", "true"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	c := New(cfg, Options{MaxConnections: 1, HTTPClient: rec})
	for _, k := range kinko.Kinds() {
		resp, err := c.Forward(t.Context(), k, http.Header{"X-Amz-Target": {"x.Y"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got := strings.Join(rec.seen(), ","); got != "secretsmanager-fips.eu-central-1.amazonaws.com,ssm-fips.eu-central-1.amazonaws.com" {
		t.Fatalf("forwards went to %s", got)
	}
}

// kinko's own calls carry the hop header too: an endpoint that leads back to kinko is refused
// there instead of joining the fetch it is part of.
func TestOwnCallsCarryTheHopHeader(t *testing.T) {
	hops := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hops <- r.Header.Get(HopHeader)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprint(w, `{"Name":"s","SecretString":"v"}`)
	}))
	defer srv.Close()
	cfg, _ := awsconfig.Load(staticEnv())
	c := New(cfg, Options{MaxConnections: 1, Timeout: func(kinko.Kind) time.Duration { return 5 * time.Second },
		Endpoints: map[kinko.Kind]string{kinko.SecretsManager: srv.URL}})
	if _, err := c.Fetch(t.Context(), kinko.Request{Kind: kinko.SecretsManager, ID: "s"}); err != nil {
		t.Fatal(err)
	}
	if h := <-hops; h != "1" {
		t.Fatalf("hop header %q on kinko's own call, want 1", h)
	}
}

// ssmPaths is an SSM stand-in answering GetParametersByPath from pages (each a JSON Parameters
// array), giving a NextToken until the last; loop makes it never end.
func ssmPaths(t *testing.T, pages []string, loop bool) (*httptest.Server, func() int) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		i := calls
		calls++
		mu.Unlock()
		if r.Header.Get("X-Amz-Target") != "AmazonSSM.GetParametersByPath" || !strings.Contains(string(body), `"MaxResults":10`) {
			http.Error(w, "unexpected call", 400)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		next := ""
		if loop || i+1 < len(pages) {
			next = fmt.Sprintf(`,"NextToken":"t%d"`, i+1)
		}
		fmt.Fprintf(w, `{"Parameters":%s%s}`, pages[min(i, len(pages)-1)], next)
	}))
	t.Cleanup(srv.Close)
	return srv, func() int { mu.Lock(); defer mu.Unlock(); return calls }
}

// A path read joins its pages, and feeds each parameter to the cache as a GetParameter of its
// name with the same decryption.
func TestPathReadJoinsPagesAndFeedsParameters(t *testing.T) {
	srv, calls := ssmPaths(t, []string{
		`[{"Name":"/app/a","Type":"String","Value":"1","Version":1,"ARN":"arn:aws:ssm:eu-central-1:123456789012:parameter/app/a","LastModifiedDate":1.7e9}]`,
		`[]`,
		`[{"Name":"/app/b","Type":"SecureString","Value":"s3cr3t-b","Version":2}]`,
	}, false)
	cfg, _ := awsconfig.Load(staticEnv())
	c := New(cfg, Options{MaxConnections: 1, Timeout: func(kinko.Kind) time.Duration { return 5 * time.Second },
		Endpoints: map[kinko.Kind]string{kinko.SSM: srv.URL}})
	r := kinko.Request{Kind: kinko.SSM, ID: "/app", Decrypt: true, Path: kinko.PathRecursive}
	v, err := c.Fetch(t.Context(), r)
	if err != nil || calls() != 3 || v.Version != "2" {
		t.Fatalf("path read: %v after %d calls, %s parameters; want 2 parameters from 3 pages", err, calls(), v.Version)
	}
	fed := Source{Home: kinko.NewHome("eu-central-1")}.Feed(r, v)
	if len(fed) != 2 || fed[0].Key != (kinko.Request{Kind: kinko.SSM, ID: "/app/a", Decrypt: true}) || fed[1].Key.ID != "/app/b" {
		t.Fatalf("fed %+v", fed)
	}
	if text, _ := fed[1].Value.Text(); text != "s3cr3t-b" {
		t.Fatal("the fed value is not the parameter's")
	}
}

// A path past MaxPathPages is refused, saying so, after exactly that many calls.
func TestPathReadIsBounded(t *testing.T) {
	srv, calls := ssmPaths(t, []string{`[]`}, true)
	cfg, _ := awsconfig.Load(staticEnv())
	c := New(cfg, Options{MaxConnections: 1, Timeout: func(kinko.Kind) time.Duration { return 5 * time.Second },
		Endpoints: map[kinko.Kind]string{kinko.SSM: srv.URL}})
	_, err := c.Fetch(t.Context(), kinko.Request{Kind: kinko.SSM, ID: "/big", Path: kinko.PathChildren})
	var ke *kinko.Error
	if !errors.Is(err, ErrPathTooLarge) || !errors.As(err, &ke) || ke.Code != kinko.BadRequest || !strings.Contains(ke.Message, `"/big"`) || calls() != MaxPathPages {
		t.Fatalf("endless path: %v after %d calls, want ErrPathTooLarge naming the path after %d", err, calls(), MaxPathPages)
	}
}
