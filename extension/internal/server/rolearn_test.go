package server

import (
	"net/url"
	"strings"
	"testing"
)

// roleArn asks for a read with another role's credentials (CONTRACT.md section 3). kinko cannot
// do that yet, and ignoring it would answer with the sandbox's own secret of the same name, maybe
// another account's look-alike: every Secrets Manager and SSM route refuses it with a 400 that
// says so, in any case spelling, given once or twice, and the cache is never asked.
func TestRoleArnIsRefusedUntilItIsBuilt(t *testing.T) {
	const role = "arn:aws:iam::210987654321:role/reader"
	routes := []string{
		"/secretsmanager/get?secretId=app&",
		"/secretsmanager/get/?secretId=app&",
		"/systemsmanager/parameters/get?name=app&",
		"/systemsmanager/parameters/get/?name=app&withDecryption=true&",
		AgentPrefix + "app?",
	}
	for _, route := range routes {
		for _, q := range []string{
			"roleArn=" + url.QueryEscape(role),
			"rolearn=" + url.QueryEscape(role),
			"ROLEARN=" + url.QueryEscape(role),
			"roleArn=" + url.QueryEscape(role) + "&roleArn=" + url.QueryEscape(role),
			"roleArn=",
		} {
			f := newFake()
			h, logs := newTestHandler(t, f, token)
			a := do(t, h, "GET", route+q, withToken())
			if a.status != 400 || !strings.Contains(a.body, `"__type":"InvalidRequest"`) {
				t.Errorf("%s: %d %s, want 400 InvalidRequest", route+q, a.status, shown(a.body))
				continue
			}
			for _, want := range []string{"roleArn", "not supported"} {
				if !strings.Contains(a.body, want) {
					t.Errorf("%s: body %s lacks %q", route+q, shown(a.body), want)
				}
			}
			if n := len(f.requests); n != 0 {
				t.Errorf("%s: the cache was asked %d times; a read under the sandbox's own role must not happen", route+q, n)
			}
			if strings.Contains(logs.String(), "unknown query parameter ignored") {
				t.Errorf("%s: logged as an ignored parameter, but it is refused", route+q)
			}
		}
	}
}
