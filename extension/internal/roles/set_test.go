package roles

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// One cache per role, built on the role's first use and kept: the same role gets the same cache,
// another role its own, with its own credentials.
func TestOneCachePerRole(t *testing.T) {
	f := &fakeSTS{}
	s := newSet(t, f, 0)
	a1, rel1, err1 := s.For(reader)
	a2, rel2, err2 := s.For(reader)
	b, rel3, err3 := s.For(writer)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	defer rel1()
	defer rel2()
	defer rel3()
	if a1.closed != a2.closed || a1.closed == b.closed || s.Len() != 2 {
		t.Fatalf("reader twice and writer once gave %d roles, the reader's the same cache: %t", s.Len(), a1.closed == a2.closed)
	}
	ca, _ := a1.cfg.Credentials.Retrieve(t.Context())
	cb, _ := b.cfg.Credentials.Retrieve(t.Context())
	if ca.AccessKeyID == cb.AccessKeyID || f.count() != 2 || f.calls[0].form.Get("RoleArn") != reader || f.calls[1].form.Get("RoleArn") != writer {
		t.Fatalf("two roles share credentials (%s, %s) or were not each assumed once (%d calls)", ca.AccessKeyID, cb.AccessKeyID, f.count())
	}
	// A malformed ARN builds nothing.
	if _, _, err := s.For("arn:aws:iam::1:role/x"); err == nil || s.Len() != 2 {
		t.Fatalf("a malformed ARN: %v, %d roles", err, s.Len())
	}
}

// Past Max roles, the least recently used role that no read is using leaves (its cache is
// closed); when every role is in use, a new role is refused with TooManyRoles (429), naming it.
func TestRolesAreBounded(t *testing.T) {
	s := newSet(t, &fakeSTS{}, 2)
	arn := func(i int) string { return fmt.Sprintf("arn:aws:iam::210987654321:role/r%d", i) }
	r0, rel0, _ := s.For(arn(0))
	r1, rel1, _ := s.For(arn(1))
	rel1()
	rel1() // release is idempotent
	rel0()
	// r0 was used before r1: it is the least recently used, and leaves for r2.
	_, rel0, _ = s.For(arn(0))
	rel0()
	r2, rel2, err := s.For(arn(2))
	if err != nil || r1.closes() != 1 || r0.closes() != 0 || s.Len() != 2 {
		t.Fatalf("r2: %v; closes r0 %d r1 %d, %d roles; want r1 (the least recently used) closed", err, r0.closes(), r1.closes(), s.Len())
	}
	// Both held roles in use: a third is refused, and neither is closed.
	_, rel0, _ = s.For(arn(0))
	_, _, err = s.For(arn(3))
	var e *kinko.Error
	if !errors.As(err, &e) || e.Code != kinko.TooManyRoles || !strings.Contains(e.Message, arn(3)) || r0.closes() != 0 || r2.closes() != 0 {
		t.Fatalf("a third role while two are in use: %v; want TooManyRoles naming it, nothing closed", err)
	}
	rel2()
	if _, rel3, err := s.For(arn(3)); err != nil || r2.closes() != 1 {
		t.Fatalf("once r2 is released: %v, r2 closed %d times", err, r2.closes())
	} else {
		rel3()
	}
	rel0()
}

// Reset (a SnapStart restore) forgets every role: an idle one is closed at once, one in use by its
// last reader, and the next use builds a new cache with a new session. Close refuses new roles.
func TestResetAndClose(t *testing.T) {
	f := &fakeSTS{}
	s := newSet(t, f, 0)
	idle, rel, _ := s.For(reader)
	rel()
	busy, relBusy, _ := s.For(writer)
	if _, err := idle.cfg.Credentials.Retrieve(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	if idle.closes() != 1 || busy.closes() != 0 || s.Len() != 0 {
		t.Fatalf("after Reset: idle closed %d, busy %d, %d held; want 1, 0, 0", idle.closes(), busy.closes(), s.Len())
	}
	relBusy()
	if busy.closes() != 1 {
		t.Fatalf("the busy role was closed %d times at its release, want once", busy.closes())
	}
	again, rel, _ := s.For(reader)
	defer rel()
	if again.closed == idle.closed {
		t.Fatal("after Reset the role's old cache is served again")
	}
	if c, _ := again.cfg.Credentials.Retrieve(t.Context()); c.AccessKeyID == "ASIAROLE1" || f.count() != 2 {
		t.Fatalf("after Reset the role's old session is used (%s, %d calls)", c.AccessKeyID, f.count())
	}
	s.Close()
	if again.closes() != 1 {
		t.Fatalf("Close left a role in use open")
	}
	var e *kinko.Error
	if _, _, err := s.For(reader); !errors.As(err, &e) || e.Code != kinko.ShuttingDown {
		t.Fatalf("For after Close: %v, want ShuttingDown", err)
	}
}

// A session lasts an hour and is replaced ExpiryWindow (5 minutes) before it ends: within it,
// every read signs with the one session (one AssumeRole however many read at once); from 55
// minutes on, a new one. In a synctest bubble, so the hour passes without waiting.
func TestSessionIsRefreshedBeforeItExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSTS{}
		s := New(Options[reads]{AWS: baseConfig(), Getenv: func(string) string { return "" }, HTTPClient: f,
			Build: func(role Role, cfg aws.Config) reads { return reads{role, cfg, new(int), &sync.Mutex{}} }})
		defer s.Close()
		r, release, _ := s.For(reader)
		defer release()
		key := func() string {
			c, err := r.cfg.Credentials.Retrieve(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return c.AccessKeyID
		}
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() { key() })
		}
		wg.Wait()
		if f.count() != 1 {
			t.Fatalf("20 reads at once made %d AssumeRole calls, want 1", f.count())
		}
		time.Sleep(SessionDuration - ExpiryWindow - time.Second)
		if k := key(); k != "ASIAROLE1" || f.count() != 1 {
			t.Fatalf("54:59 into the session: key %s after %d calls, want the first session still", k, f.count())
		}
		time.Sleep(2 * time.Second)
		if k := key(); k != "ASIAROLE2" || f.count() != 2 {
			t.Fatalf("55:01 into the session: key %s after %d calls, want a new session", k, f.count())
		}
	})
}
