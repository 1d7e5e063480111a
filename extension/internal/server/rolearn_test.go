package server

import (
	"bytes"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// fakeRoles holds one fakeCache per role ARN; an ARN in refuse is answered with its error.
type fakeRoles struct {
	mu       sync.Mutex
	caches   map[string]*fakeCache
	refuse   map[string]*kinko.Error
	asked    []string
	released int
}

func newFakeRoles() *fakeRoles {
	return &fakeRoles{caches: map[string]*fakeCache{}, refuse: map[string]*kinko.Error{}}
}

func (f *fakeRoles) For(arn string) (Cache, func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, arn)
	if e, ok := f.refuse[arn]; ok {
		return nil, nil, e
	}
	c, ok := f.caches[arn]
	if !ok {
		c = newFake()
		// The role's own value of "app": another account's secret of the same name.
		c.values["app"] = textValue("app", `{"OPENAI_API_KEY":"sk-role-`+strings.ReplaceAll(arn, "/", "-")+`"}`)
		c.values["/app/"] = document.Value{Body: []byte(`[]`)}
		f.caches[arn] = c
	}
	return c, func() { f.mu.Lock(); f.released++; f.mu.Unlock() }, nil
}

const (
	readerRole = "arn:aws:iam::210987654321:role/reader"
	otherRole  = "arn:aws-cn:iam::210987654321:role/path/other"
)

// roleRoutes is every Secrets Manager and SSM route, ready for one more query parameter.
var roleRoutes = []string{
	"/secretsmanager/get?secretId=app&",
	"/secretsmanager/get/?secretId=app&",
	"/secretsmanager/app?",
	AgentPrefix + "app?",
	"/systemsmanager/parameters/get?name=app&",
	"/systemsmanager/parameters/get/?name=app&withDecryption=true&",
	ByPathRoute + "?path=/app/&",
}

// roleArn reads through the role's own cache, on every route, and never through the sandbox's:
// a value read under one identity never answers another. (Before roles, every route refused
// roleArn with a 400 "not supported yet".)
func TestRoleArnReadsThroughTheRolesOwnCache(t *testing.T) {
	for _, route := range roleRoutes {
		own, roles := newFake(), newFakeRoles()
		own.values["/app/"] = document.Value{Body: []byte(`[]`)}
		h := NewHandlerWith(own, token, quietLogger(), Options{Roles: roles})
		for _, role := range []string{readerRole, otherRole, readerRole} {
			a := do(t, h, "GET", route+"roleArn="+url.QueryEscape(role), withToken())
			if a.status != 200 {
				t.Errorf("%s with role %s: %d %s, want 200 from the role's cache", route, role, a.status, shown(a.body))
			}
		}
		if len(own.requests) != 0 {
			t.Errorf("%s: the sandbox's own cache was asked %d times for a read under a role", route, len(own.requests))
		}
		r, o := roles.caches[readerRole], roles.caches[otherRole]
		if r == nil || o == nil || len(r.requests) != 2 || len(o.requests) != 1 {
			t.Errorf("%s: the roles' caches got %v, want the reader's twice and the other's once", route, roles.asked)
		}
		if roles.released != len(roles.asked) {
			t.Errorf("%s: %d roles taken, %d released", route, len(roles.asked), roles.released)
		}
		// Without roleArn: the sandbox's cache, and no role.
		if a := do(t, h, "GET", strings.TrimRight(route, "?&"), withToken()); a.status != 200 || len(own.requests) != 1 || len(roles.asked) != 3 {
			t.Errorf("%s without roleArn: %d, own cache asked %d times, roles %v", route, a.status, len(own.requests), roles.asked)
		}
	}
}

// The role's value is the answer, never the sandbox's value of the same name, and a jsonKey
// index built for it is counted in the role's cache.
func TestRoleArnAnswersTheRolesValue(t *testing.T) {
	own, roles := newFake(), newFakeRoles()
	h := NewHandlerWith(own, token, quietLogger(), Options{Roles: roles})
	mine := do(t, h, "GET", "/secretsmanager/get?secretId=app&jsonKey=OPENAI_API_KEY", withToken())
	theirs := do(t, h, "GET", "/secretsmanager/app?jsonKey=OPENAI_API_KEY&roleArn="+url.QueryEscape(readerRole), withToken())
	if mine.status != 200 || theirs.status != 200 || mine.body == theirs.body || !strings.HasPrefix(theirs.body, "sk-role-") {
		t.Fatalf("own %d, role %d: the role's answer is not the role's own value (%d and %d bytes)", mine.status, theirs.status, len(mine.body), len(theirs.body))
	}
	if len(roles.caches[readerRole].recounts) != 1 || len(own.recounts) != 1 {
		t.Fatalf("recounts: role %d, own %d; want one each, in each one's cache", len(roles.caches[readerRole].recounts), len(own.recounts))
	}
}

// roleArn is a known parameter: another case spelling, twice, empty, or malformed is a 400 that
// says what is wrong, and no cache is asked: never a read with the sandbox's own role.
func TestRoleArnMistakesAreRefused(t *testing.T) {
	malformed := &kinko.Error{Code: kinko.BadRequest, Message: `roleArn "arn:aws:iam::1:role/x" is not a role ARN: the account "1" is not 12 digits`}
	full := &kinko.Error{Code: kinko.TooManyRoles, Message: "kinko holds caches for 16 roles, all in use"}
	for _, route := range roleRoutes {
		for q, want := range map[string]struct {
			status int
			says   string
		}{
			"rolearn=" + url.QueryEscape(readerRole):                                             {400, "is spelled roleArn"},
			"ROLEARN=" + url.QueryEscape(readerRole):                                             {400, "is spelled roleArn"},
			"roleArn=" + url.QueryEscape(readerRole) + "&roleArn=" + url.QueryEscape(readerRole): {400, "roleArn is given 2 times"},
			"roleArn=": {400, "roleArn is empty"},
			"roleArn=" + url.QueryEscape("arn:aws:iam::1:role/x"):               {400, "not 12 digits"},
			"roleArn=" + url.QueryEscape("arn:aws:iam::111111111111:role/busy"): {429, "all in use"},
		} {
			own, roles := newFake(), newFakeRoles()
			roles.refuse["arn:aws:iam::1:role/x"], roles.refuse["arn:aws:iam::111111111111:role/busy"] = malformed, full
			var logs bytes.Buffer
			h := NewHandlerWith(own, token, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Options{Roles: roles})
			a := do(t, h, "GET", route+q, withToken())
			if a.status != want.status || !strings.Contains(a.body, want.says) {
				t.Errorf("%s: %d %s, want %d saying %q", route+q, a.status, shown(a.body), want.status, want.says)
			}
			if n := len(own.requests); n != 0 {
				t.Errorf("%s: the sandbox's cache was asked %d times", route+q, n)
			}
			for arn, c := range roles.caches {
				if len(c.requests) != 0 {
					t.Errorf("%s: role %s's cache was asked", route+q, arn)
				}
			}
			if strings.Contains(logs.String(), "unknown query parameter ignored") {
				t.Errorf("%s: logged as an ignored parameter, but it is refused", route+q)
			}
		}
	}
}

// A server built without roles refuses roleArn, never reads with the sandbox's own role.
func TestRoleArnWithoutRolesIsRefused(t *testing.T) {
	for _, route := range roleRoutes {
		own := newFake()
		h, _ := newTestHandler(t, own, token)
		a := do(t, h, "GET", route+"roleArn="+url.QueryEscape(readerRole), withToken())
		if a.status != 400 || !strings.Contains(a.body, "roleArn") || len(own.requests) != 0 {
			t.Errorf("%s: %d %s, cache asked %d times; want 400 naming roleArn and no read", route, a.status, shown(a.body), len(own.requests))
		}
	}
}

// What the role's cache answers (AssumeRole refused: AWS's 403 AccessDenied) is the answer,
// with AWS's status and code.
func TestRoleArnUpstreamRefusalPassesThrough(t *testing.T) {
	own, roles := newFake(), newFakeRoles()
	h := NewHandlerWith(own, token, quietLogger(), Options{Roles: roles})
	if _, _, err := roles.For(readerRole); err != nil {
		t.Fatal(err)
	}
	roles.caches[readerRole].err = &kinko.Error{Code: kinko.AccessDenied, AWSCode: "AccessDenied", AWSStatus: 403,
		Message: "could not assume role " + readerRole + ": not authorized to perform sts:AssumeRole"}
	a := do(t, h, "GET", "/secretsmanager/app?roleArn="+url.QueryEscape(readerRole), withToken())
	if a.status != 403 || a.header.Get("X-Amzn-Errortype") != "AccessDenied" || !strings.Contains(a.body, readerRole) {
		t.Fatalf("%d %s, want 403 AccessDenied naming the role", a.status, shown(a.body))
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
