package core

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
	"github.com/kinko-dev/kinko/extension/internal/roles"
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

// Deps.MaxRoles (the agent file's max_roles) bounds the roles held at once, and each role's
// cache gets that share of the byte budget; without it kinko holds roles.DefaultMax.
func TestMaxRolesBoundsTheRolesHeld(t *testing.T) {
	getenv := func(k string) string { return map[string]string{"AWS_SESSION_TOKEN": "tok"}[k] }
	for _, tc := range []struct{ maxRoles, want int }{{2, 2}, {0, roles.DefaultMax}} {
		cfg, err := config.Load(getenv)
		if err != nil {
			t.Fatal(err)
		}
		k := New(cfg, Deps{AWS: aws.Config{Region: "us-east-1"}, Getenv: getenv, Logger: slog.New(slog.DiscardHandler),
			Metrics: io.Discard, FunctionName: "fn", MaxRoles: tc.maxRoles})
		for i := range tc.want {
			if _, _, err := k.roles.For(fmt.Sprintf("arn:aws:iam::210987654321:role/r%d", i)); err != nil {
				t.Fatalf("MaxRoles %d: role %d: %v", tc.maxRoles, i, err)
			}
		}
		var e *kinko.Error
		_, _, err = k.roles.For("arn:aws:iam::210987654321:role/one-too-many")
		if !errors.As(err, &e) || e.Code != kinko.TooManyRoles || !strings.Contains(e.Message, fmt.Sprintf("%d roles", tc.want)) {
			t.Errorf("MaxRoles %d: role %d while all are in use: %v, want TooManyRoles naming %d roles", tc.maxRoles, tc.want+1, err, tc.want)
		}
		k.roles.Close()
	}
}
