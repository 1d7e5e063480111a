package roles

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// DefaultMax is how many roles a Set holds a cache for at once.
const DefaultMax = 16

// Closer is what a Set holds per role: a cache with its upstream, closed when the role leaves.
type Closer interface{ Close() }

// Options configure a Set.
type Options[C Closer] struct {
	// AWS is the sandbox's own configuration: its region, and the credentials AssumeRole is
	// signed with. Each role's configuration is a copy with the role's credentials.
	AWS aws.Config
	// Getenv reads the STS endpoint override (AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL).
	Getenv func(string) string
	// FunctionName goes into the role session name (SessionName).
	FunctionName string
	// Max is how many roles are held at once (default DefaultMax). Past it, the least recently
	// used role that no read is using leaves; when every one is in use, a new role is refused.
	Max int
	// Build makes the cache of role, reading with cfg (AWS with the role's credentials). It is
	// called under the Set's lock, once per role until the role leaves: it must not block.
	Build func(role Role, cfg aws.Config) C
	// HTTPClient carries AssumeRole (tests record it); nil: a pooled client with the SDK's
	// transport settings, built on the first AssumeRole.
	HTTPClient aws.HTTPClient
}

// Set holds one cache per role, built on the role's first use. It costs nothing until then:
// no STS client, no connection.
type Set[C Closer] struct {
	o       Options[C]
	session string

	stsMu  sync.Mutex
	stsCli *stsClient // built on the first AssumeRole

	mu     sync.Mutex
	held   map[string]*held[C] // by role ARN, as given
	tick   uint64              // orders uses, for the least recently used
	closed bool
}

type held[C Closer] struct {
	arn     string
	c       C
	users   int    // reads using c now
	used    uint64 // the Set's tick at the last use
	retired bool   // out of the Set: closed by its last user
}

// New returns an empty Set.
func New[C Closer](o Options[C]) *Set[C] {
	if o.Max <= 0 {
		o.Max = DefaultMax
	}
	return &Set[C]{o: o, session: SessionName(o.FunctionName), held: map[string]*held[C]{}}
}

// sts is the STS client, built on the first AssumeRole.
func (s *Set[C]) sts() *stsClient {
	s.stsMu.Lock()
	defer s.stsMu.Unlock()
	if s.stsCli == nil {
		hc := s.o.HTTPClient
		if hc == nil {
			// As the SDK's own client: its transport settings, the proxy from the environment,
			// and no redirect followed.
			hc = &http.Client{Transport: awshttp.NewBuildableClient().GetTransport(),
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		}
		s.stsCli = &stsClient{base: s.o.AWS, endpoint: Endpoint(s.o.Getenv, s.o.AWS), http: hc, signer: v4.NewSigner()}
	}
	return s.stsCli
}

// For returns the cache of the role arn names, built on first use, and release, to call once
// the read is done (it may be called more than once). Its error is a *kinko.Error: a malformed
// ARN (BadRequest), every role held in use (TooManyRoles), the Set closed (ShuttingDown).
func (s *Set[C]) For(arn string) (C, func(), error) {
	var zero C
	role, err := Parse(arn)
	if err != nil {
		return zero, nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return zero, nil, kinko.ShuttingDownError(nil)
	}
	h, ok := s.held[arn]
	var evicted *held[C]
	if !ok {
		if len(s.held) >= s.o.Max {
			if evicted = s.idlest(); evicted == nil {
				s.mu.Unlock()
				return zero, nil, &kinko.Error{Code: kinko.TooManyRoles,
					Message: fmt.Sprintf("kinko holds caches for %d roles at once, all with reads in flight; role %s must wait: try again", s.o.Max, arn)}
			}
			delete(s.held, evicted.arn)
		}
		cfg := s.o.AWS.Copy()
		cfg.Credentials = s.credentials(role)
		h = &held[C]{arn: arn, c: s.o.Build(role, cfg)}
		s.held[arn] = h
	}
	h.users++
	s.tick++
	h.used = s.tick
	s.mu.Unlock()
	if evicted != nil {
		evicted.c.Close()
	}
	return h.c, sync.OnceFunc(func() { s.release(h) }), nil
}

// idlest is the least recently used role no read is using, or nil. Under s.mu.
func (s *Set[C]) idlest() *held[C] {
	var out *held[C]
	for _, h := range s.held {
		if h.users == 0 && (out == nil || h.used < out.used) {
			out = h
		}
	}
	return out
}

func (s *Set[C]) release(h *held[C]) {
	s.mu.Lock()
	h.users--
	last := h.retired && h.users == 0
	s.mu.Unlock()
	if last {
		h.c.Close()
	}
}

// Reset forgets every role: their values, their sessions' credentials and their connections
// (a SnapStart restore: none may be served again, and connections from before lead nowhere). A
// role in use is closed by its last reader.
func (s *Set[C]) Reset() {
	for _, h := range s.drop(false) {
		h.c.Close()
	}
	s.stsMu.Lock()
	if s.stsCli != nil {
		if c, ok := s.stsCli.http.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
	s.stsMu.Unlock()
}

// Close closes every role's cache, in use or not, and refuses roles from then on (kinko is
// shutting down).
func (s *Set[C]) Close() {
	for _, h := range s.drop(true) {
		h.c.Close()
	}
}

// drop empties the Set and returns what to close now: every role when closing, else the idle.
func (s *Set[C]) drop(closing bool) []*held[C] {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = s.closed || closing
	var now []*held[C]
	for arn, h := range s.held {
		delete(s.held, arn)
		if closing || h.users == 0 {
			now = append(now, h)
		} else {
			h.retired = true
		}
	}
	return now
}

// Len is how many roles are held.
func (s *Set[C]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

// credentials is role's session, assumed on the first signed call and again ExpiryWindow
// before it expires. STS's refusal is remembered for RefusalMemory: every read of a role the
// function may not assume would otherwise be one more AssumeRole call.
func (s *Set[C]) credentials(role Role) aws.CredentialsProvider {
	var mu sync.Mutex
	var refused *kinko.Error
	var refusedAt time.Time
	assume := aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		mu.Lock()
		if refused != nil && time.Since(refusedAt) < RefusalMemory {
			err := refused
			mu.Unlock()
			return aws.Credentials{}, err
		}
		mu.Unlock()
		creds, err := s.sts().assumeRole(ctx, role, s.session)
		var e *kinko.Error
		if errors.As(err, &e) && isRefusal(e) {
			mu.Lock()
			refused, refusedAt = e, time.Now()
			mu.Unlock()
		}
		return creds, err
	})
	return roleCredentials{aws.NewCredentialsCache(assume, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = ExpiryWindow }), role}
}

// RefusalMemory is how long STS's refusal to let the function assume a role is answered again
// without asking STS: as long as a not-found is remembered (KINKO_NOT_FOUND_TTL's default), and
// short beside the seconds a corrected trust policy takes to be seen (IAM is eventually
// consistent).
const RefusalMemory = 5 * time.Second

// isRefusal reports whether STS refused the role itself (AccessDenied, a malformed policy, a
// region not enabled): a 4xx that is neither throttling nor the sandbox's own credentials
// lapsing, each of which the next attempt may get past.
func isRefusal(e *kinko.Error) bool {
	return e.AWSStatus >= 400 && e.AWSStatus < 500 && e.Code != kinko.Throttled && e.Code != kinko.CredentialsExpired
}

// roleCredentials is a role's credentials cache. A caller whose deadline passes while it waits
// on the cache's AssumeRole gets the cache's own cancellation error, which says nothing of STS:
// it is told that STS did not answer in time for that role.
type roleCredentials struct {
	*aws.CredentialsCache
	role Role
}

func (r roleCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := r.CredentialsCache.Retrieve(ctx)
	var ke *kinko.Error
	if err != nil && !errors.As(err, &ke) && ctx.Err() != nil {
		err = transportError(r.role, ctx.Err())
	}
	return c, err
}
