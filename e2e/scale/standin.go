package scale

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kinko-dev/kinko/e2e/loopback"
)

// Mode is how the stand-in answers every call.
type Mode int

const (
	Healthy     Mode = iota // answer within the quota, throttle beyond it
	Hang                    // hold the call until the mode changes (or the caller gives up)
	Unavailable             // 503 ServiceUnavailable
)

// Result is what one call got.
type Result uint8

const (
	OK Result = iota
	Throttled
	Failed503
	Hung
	NotFound
)

// Call is one GetSecretValue that reached the stand-in.
type Call struct {
	At      time.Duration // since the stand-in's epoch (Reset)
	Sandbox int           // from the caller's access key id; -1 when unknown
	Secret  string
	Result  Result
}

// Bucket is a token bucket: Rate tokens a second, at most Burst kept. Not safe for concurrent
// use; the stand-in holds its lock around it.
type Bucket struct {
	Rate, Burst float64
	tokens      float64
	last        time.Time
}

// NewBucket starts full at now. rate <= 0 means no quota.
func NewBucket(rate, burst float64, now time.Time) *Bucket {
	return &Bucket{Rate: rate, Burst: burst, tokens: burst, last: now}
}

// Take spends one token at now, or says there is none.
func (b *Bucket) Take(now time.Time) bool {
	if b.Rate <= 0 {
		return true
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(b.Burst, b.tokens+dt*b.Rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// StandIn is one account's Secrets Manager, as far as GetSecretValue goes: a quota (a token
// bucket shared by every caller, as AWS's per-account, per-region quota is), a latency, a mode
// for brownouts, and a version that Rotate moves on. It records every call.
type StandIn struct {
	URL string

	srv     *loopback.Server
	latency time.Duration
	now     func() time.Time
	closed  chan struct{}
	once    sync.Once

	mu      sync.Mutex
	secrets map[string]bool
	bucket  *Bucket
	mode    Mode
	changed chan struct{} // closed and replaced at every mode change: releases hung calls
	version int
	epoch   time.Time
	calls   []Call
}

// StandInOptions configure a stand-in.
type StandInOptions struct {
	Secrets []string      // the names it knows; others are ResourceNotFoundException
	Latency time.Duration // added to every answer, a throttle included (the round trip to AWS)
	Now     func() time.Time
}

// StartStandIn serves on a free loopback port until Close. The quota starts off (SetQuota).
func StartStandIn(o StandInOptions) (*StandIn, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &StandIn{latency: o.Latency, now: o.Now, closed: make(chan struct{}), secrets: map[string]bool{},
		changed: make(chan struct{}), version: 1}
	for _, n := range o.Secrets {
		s.secrets[n] = true
	}
	s.epoch = o.Now()
	s.bucket = NewBucket(0, 0, s.epoch)
	srv, err := loopback.Serve("127.0.0.1:0", http.HandlerFunc(s.serve))
	if err != nil {
		return nil, err
	}
	s.srv, s.URL = srv, srv.URL
	return s, nil
}

// Close releases hung calls and stops the server.
func (s *StandIn) Close() error {
	s.once.Do(func() { close(s.closed) })
	return s.srv.Close(5 * time.Second)
}

// Reset forgets the calls so far and counts Call.At from epoch; it keeps mode, quota and version.
func (s *StandIn) Reset(epoch time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch, s.calls = epoch, nil
}

// SetQuota sets the token bucket: rate calls a second, burst kept (it starts full). rate <= 0: none.
func (s *StandIn) SetQuota(rate, burst float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucket = NewBucket(rate, burst, s.now())
}

// SetMode changes how later calls are answered, and releases calls held by Hang.
func (s *StandIn) SetMode(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
	close(s.changed)
	s.changed = make(chan struct{})
}

// Rotate makes a new version current, as a rotation does.
func (s *StandIn) Rotate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
}

// VersionID is the id Secrets Manager answers for version n.
func VersionID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// Calls is a copy of the calls since Reset, in arrival order.
func (s *StandIn) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

func (s *StandIn) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
		awsError(w, http.StatusBadRequest, "UnknownOperationException", "the stand-in answers GetSecretValue only")
		return
	}
	var in struct {
		SecretId     string
		VersionId    string
		VersionStage string
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil {
		awsError(w, http.StatusBadRequest, "SerializationException", "the body is not GetSecretValue's JSON")
		return
	}
	sandbox := sandboxOf(r.Header.Get("Authorization"))

	s.mu.Lock()
	now := s.now()
	mode, changed, version := s.mode, s.changed, s.version
	res := OK
	switch {
	case mode == Hang:
		res = Hung
	case mode == Unavailable:
		res = Failed503
	case !s.secrets[in.SecretId]:
		res = NotFound
	case !s.bucket.Take(now):
		res = Throttled
	}
	s.calls = append(s.calls, Call{At: now.Sub(s.epoch), Sandbox: sandbox, Secret: in.SecretId, Result: res})
	s.mu.Unlock()

	// The round trip to AWS, for every answer. A caller that gives up ends it early.
	if !s.wait(r, nil, s.latency) {
		return
	}
	switch res {
	case Hung:
		if !s.wait(r, changed, 0) {
			return
		}
		// Released when the hang ends: the call fails as a hung call does when AWS comes back.
		awsError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "Secrets Manager is unavailable")
	case Failed503:
		awsError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "Secrets Manager is unavailable")
	case NotFound:
		awsError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	case Throttled:
		awsError(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
	default:
		writeSecret(w, in.SecretId, version)
	}
}

// wait returns after d (0: only on release), or when release closes; false if the caller or
// the stand-in went away first.
func (s *StandIn) wait(r *http.Request, release <-chan struct{}, d time.Duration) bool {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	} else if release == nil {
		return true
	}
	select {
	case <-timer:
		return true
	case <-release:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closed:
		return false
	}
}

// writeSecret answers as Secrets Manager does (awsJson1.1: dates in epoch seconds).
func writeSecret(w http.ResponseWriter, name string, version int) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"ARN":           "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf",
		"Name":          name,
		"CreatedDate":   1764547200 + version,
		"SecretString":  fmt.Sprintf(`{"API_KEY":"%s%s-v%d"}`, valuePrefix, name, version),
		"VersionId":     VersionID(version),
		"VersionStages": []string{"AWSCURRENT"},
	})
}

// valuePrefix starts every secret value the stand-in serves: a log line holding it leaked one.
const valuePrefix = "scale-value-"

func awsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
}

// AccessKeyID is the access key sandbox i signs with: the stand-in tells sandboxes apart by it.
func AccessKeyID(i int) string { return fmt.Sprintf("AKIASCALE%07d", i) }

// sandboxOf reads the sandbox's number out of a SigV4 Authorization header
// ("AWS4-HMAC-SHA256 Credential=AKIASCALE0000017/20261201/us-east-1/secretsmanager/aws4_request, ...").
func sandboxOf(auth string) int {
	_, rest, ok := strings.Cut(auth, "Credential=AKIASCALE")
	if !ok {
		return -1
	}
	id, _, _ := strings.Cut(rest, "/")
	n, err := strconv.Atoi(id)
	if err != nil {
		return -1
	}
	return n
}
