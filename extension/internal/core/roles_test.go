package core

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

const role = "arn:aws:iam::210987654321:role/reader"

// A role's reads are admitted as the sandbox's are in a sealed core (no role's value in a
// snapshot either); Restore forgets every role (values, sessions, connections); Drain closes
// them, and no role is built after it. Building a role's cache costs no call: the role is held
// before anything asks AWS.
func TestRolesFollowTheCoresLife(t *testing.T) {
	out := &syncBuffer{}
	k := newCore(t, func(k string) string {
		return map[string]string{"AWS_SESSION_TOKEN": "tok"}[k]
	}, out)
	k.Seal(func() error { return &kinko.Error{Code: kinko.SnapStartInit, Message: "not now"} })
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k.Serve([]net.Listener{l})
	status, body := get(t, "http://"+l.Addr().String()+"/secretsmanager/get?secretId=x&roleArn="+url.QueryEscape(role))
	if status != 503 || !strings.Contains(body, "not now") || k.roles.Len() != 1 {
		t.Fatalf("a role's read in a sealed core: %d %s (%d roles held), want admit's refusal", status, body, k.roles.Len())
	}
	k.Restore()
	if k.roles.Len() != 0 {
		t.Fatalf("%d roles held after Restore, want none: their values and sessions are from before the snapshot", k.roles.Len())
	}
	if _, release, err := k.roles.For(role); err != nil {
		t.Fatal(err)
	} else {
		release()
	}
	k.Drain(time.Now().Add(5 * time.Second))
	var e *kinko.Error
	if _, _, err := k.roles.For(role); !errors.As(err, &e) || e.Code != kinko.ShuttingDown || k.roles.Len() != 0 {
		t.Fatalf("a role after Drain: %v, %d held; want ShuttingDown and none", err, k.roles.Len())
	}
}
