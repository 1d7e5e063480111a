// Package sigv4 checks that a request to kinko's SDK endpoint was signed (AWS Signature
// Version 4) with the sandbox's own credentials: the ones kinko holds, which in Lambda every
// process of the sandbox has. It does not canonicalise requests itself: it signs the received
// request again with aws-sdk-go-v2's own v4 signer, over the headers the caller signed, at the
// caller's time and with the hash of the body kinko read, and compares the two signatures in
// constant time. Around that it holds the rules a local endpoint needs: the access key and
// session token are kinko's own, the credential scope is kinko's region and the service
// addressed, the time is within five minutes, host, x-amz-date, x-amz-target and
// x-amz-security-token are signed, the body is hashed here (no UNSIGNED-PAYLOAD, no
// aws-chunked), and no signature rides in the query string (a presigned URL would let a plain
// GET through an SSRF).
//
// Once keeps a signature from being used twice within the window. It is the caller's to ask,
// for what a replay could harm: an SDK that signs only the headers SigV4 requires (botocore:
// the AWS CLI, boto3) makes the same signature for the same read twice in one second, and a
// read replayed gives nothing the session token in the captured request would not.
package sigv4

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Window is how far a request's signing time may be from kinko's clock, either way: AWS's own
// skew allowance. A signature is remembered for as long as it could be accepted.
const Window = 5 * time.Minute

// MaxRemembered bounds the replay memory: signatures accepted within the window. Past it a
// signed request is refused as Busy (retried by the SDK) rather than remembered by forgetting
// another: about 220 signed requests a second for five minutes, some 4 MB at most.
const MaxRemembered = 1 << 16

const (
	algorithm  = "AWS4-HMAC-SHA256"
	dateLayout = "20060102T150405Z"
	terminator = "aws4_request"
)

// required are the headers every accepted signature covers: the endpoint (host), the time
// (x-amz-date), the operation (x-amz-target) and the session (x-amz-security-token).
func required() [4]string {
	return [...]string{"host", "x-amz-date", "x-amz-security-token", "x-amz-target"}
}

// Reason is why a request was refused.
type Reason uint8

const (
	Unsigned         Reason = iota + 1 // no Authorization header
	Presigned                          // a signature in the query string
	Malformed                          // an Authorization or X-Amz-Date header kinko cannot read
	Scope                              // another region or service than the one addressed
	Stale                              // signed more than Window away from now
	OtherCredentials                   // signed with an access key that is not kinko's
	Token                              // X-Amz-Security-Token missing or not kinko's session token
	Headers                            // a required header not signed, or a signed one missing
	Payload                            // the body is not hashed (UNSIGNED-PAYLOAD, aws-chunked) or its hash is wrong
	Mismatch                           // the signature does not match the request
	Replayed                           // this signature was accepted before
	Busy                               // the replay memory is full
	NoCredentials                      // kinko has no credentials (or no session token) to check with
)

// Error is a refusal: why, and what to do, in words safe to show (never a key, a token or a
// signature).
type Error struct {
	Reason  Reason
	Message string
	Err     error // the cause, for NoCredentials
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

func refuse(r Reason, msg string) *Error { return &Error{Reason: r, Message: msg} }

// Verifier checks requests against kinko's credentials. Safe for concurrent use.
type Verifier struct {
	region string
	owner  string // whose credentials kinko's are, in messages: "the function", "kinko"
	creds  aws.CredentialsProvider
	now    func() time.Time
	signer *v4.Signer

	mu   sync.Mutex
	seen map[[16]byte]time.Time // a signature's first half -> until when it could be accepted
	// order is seen's keys by when they were accepted (roughly by expiry: signing times are
	// within the window of arrival), swept from head.
	order []remembered
	head  int
}

type remembered struct {
	sig   [16]byte
	until time.Time
}

// New returns a Verifier for requests signed for region with the credentials creds gives (the
// same provider kinko signs its own calls with); now is the wall clock. owner names, in its
// messages, whose credentials those are: "the function" in Lambda, "kinko" outside it.
func New(region string, creds aws.CredentialsProvider, now func() time.Time, owner string) *Verifier {
	return &Verifier{region: region, owner: owner, creds: creds, now: now, signer: v4.NewSigner(), seen: map[[16]byte]time.Time{}}
}

// authorization is an Authorization header, read.
type authorization struct {
	accessKey, date, region, service string
	signedHeaders                    string
	signature                        [32]byte
}

// Signature is an accepted signature, for Once.
type Signature struct {
	sig   [32]byte
	until time.Time // the end of the window it could be accepted in
}

// Verify checks r, addressed to service ("secretsmanager", "ssm"), whose body kinko read whole
// into body. It returns r's signature, or an *Error saying why r is refused.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte, service string) (Signature, error) {
	if InQuery(r.URL.RawQuery) {
		return Signature{}, refuse(Presigned, "a signature in the query string (a presigned URL) is not accepted: sign the request's headers, as the AWS SDKs do")
	}
	auth, err := v.readAuthorization(r.Header.Values("Authorization"))
	if err != nil {
		return Signature{}, err
	}
	signedAt, err := v.check(ctx, r, body, service, auth)
	if err != nil {
		return Signature{}, err
	}
	return Signature{sig: auth.signature, until: signedAt.Add(Window)}, nil
}

// check is Verify past reading the Authorization header: it returns the signing time.
func (v *Verifier) check(ctx context.Context, r *http.Request, body []byte, service string, auth authorization) (time.Time, error) {
	if auth.service != service || auth.region != v.region {
		return time.Time{}, refuse(Scope, "the signature's credential scope is "+clip(auth.region)+"/"+clip(auth.service)+
			", but this request is a "+service+" call in kinko's region "+v.region+": sign for "+v.region+", "+v.owner+"'s region")
	}
	signedAt, err := v.signingTime(r, auth)
	if err != nil {
		return time.Time{}, err
	}
	names, err := checkSignedHeaders(r, auth.signedHeaders)
	if err != nil {
		return time.Time{}, err
	}
	hash, err := payloadHash(r, body)
	if err != nil {
		return time.Time{}, err
	}
	creds, err := v.creds.Retrieve(ctx)
	if err != nil {
		return time.Time{}, &Error{Reason: NoCredentials, Message: "kinko could not get its own credentials to check the signature with; try again", Err: err}
	}
	if err := v.checkIdentity(r, auth, creds); err != nil {
		return time.Time{}, err
	}
	want, err := v.sign(ctx, r, names, hash, creds, service, signedAt)
	if err != nil {
		return time.Time{}, err
	}
	if want.signedHeaders != auth.signedHeaders {
		return time.Time{}, refuse(Headers, "the signature covers headers kinko's verifier (aws-sdk-go-v2's v4 signer) does not sign ("+
			clip(auth.signedHeaders)+"); sign with an AWS SDK")
	}
	if subtle.ConstantTimeCompare(want.signature[:], auth.signature[:]) != 1 {
		return time.Time{}, refuse(Mismatch, "the signature does not match the request: it was not signed with "+v.owner+"'s own credentials, "+
			"or the request changed after signing")
	}
	return signedAt, nil
}

// Once records s, accepted by Verify, for as long as it could be accepted, and refuses it if
// it was recorded before (Replayed), or if the memory is full (Busy).
func (v *Verifier) Once(s Signature) error { return v.remember(s.sig, s.until) }

// InQuery reports whether the query string carries any part of a query-string signature (a
// presigned URL). A query kinko cannot parse counts as one: it is refused either way.
func InQuery(rawQuery string) bool {
	if rawQuery == "" {
		return false
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return true
	}
	for k := range q {
		switch strings.ToLower(k) {
		case "x-amz-signature", "x-amz-credential", "x-amz-algorithm", "x-amz-date", "x-amz-security-token", "x-amz-signedheaders":
			return true
		}
	}
	return false
}

// readAuthorization reads "AWS4-HMAC-SHA256 Credential=K/D/R/S/aws4_request,
// SignedHeaders=a;b, Signature=hex".
func (v *Verifier) readAuthorization(values []string) (authorization, error) {
	var a authorization
	switch len(values) {
	case 0:
		return a, refuse(Unsigned, "the request is not signed: sign it with SigV4 and "+v.owner+"'s own credentials "+
			"(an AWS SDK does, once AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL_SSM points at kinko)")
	case 1:
	default:
		return a, refuse(Malformed, "the Authorization header is given more than once; send it once")
	}
	alg, rest, ok := strings.Cut(values[0], " ")
	if !ok || alg != algorithm {
		return a, refuse(Malformed, "the Authorization header is not a SigV4 signature ("+algorithm+"); SigV4a and other schemes are not accepted")
	}
	var credential, signature string
	var seen [3]bool
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		i := -1
		switch k {
		case "Credential":
			i, credential = 0, val
		case "SignedHeaders":
			i, a.signedHeaders = 1, val
		case "Signature":
			i, signature = 2, val
		}
		if !ok || i < 0 || seen[i] {
			return a, refuse(Malformed, "the Authorization header is malformed: want Credential=, SignedHeaders= and Signature=, once each")
		}
		seen[i] = true
	}
	if seen != [3]bool{true, true, true} {
		return a, refuse(Malformed, "the Authorization header is malformed: want Credential=, SignedHeaders= and Signature=, once each")
	}
	f := strings.Split(credential, "/")
	if len(f) != 5 || f[0] == "" || f[4] != terminator {
		return a, refuse(Malformed, "the signature's Credential is malformed: want ACCESS_KEY/YYYYMMDD/REGION/SERVICE/"+terminator)
	}
	a.accessKey, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
	if len(signature) != 64 || strings.ToLower(signature) != signature {
		return a, refuse(Malformed, "the signature is not 64 lowercase hex digits")
	}
	if _, err := hex.Decode(a.signature[:], []byte(signature)); err != nil {
		return a, refuse(Malformed, "the signature is not 64 lowercase hex digits")
	}
	return a, nil
}

// signingTime reads X-Amz-Date and checks it against the scope's date and kinko's clock.
func (v *Verifier) signingTime(r *http.Request, a authorization) (time.Time, error) {
	d := r.Header.Values("X-Amz-Date")
	if len(d) != 1 {
		return time.Time{}, refuse(Malformed, "want one X-Amz-Date header, the signing time ("+dateLayout+")")
	}
	t, err := time.Parse(dateLayout, d[0])
	if err != nil {
		return time.Time{}, refuse(Malformed, "X-Amz-Date is not a signing time ("+dateLayout+")")
	}
	if a.date != d[0][:8] {
		return time.Time{}, refuse(Scope, "the credential scope's date is not X-Amz-Date's day")
	}
	if skew := v.now().Sub(t); skew > Window || skew < -Window {
		return time.Time{}, refuse(Stale, "the request was signed "+skew.Round(time.Second).String()+
			" from kinko's clock, more than the 5 minutes allowed: sign each request as it is sent")
	}
	return t, nil
}

// checkSignedHeaders reads SignedHeaders (lowercase, sorted, no repeats), checks the required
// ones are among them and every one is present, and returns them.
func checkSignedHeaders(r *http.Request, list string) ([]string, error) {
	names := strings.Split(list, ";")
	for i, n := range names {
		if n == "" || strings.ToLower(n) != n || i > 0 && names[i-1] >= n {
			return nil, refuse(Malformed, "SignedHeaders is not a sorted list of lowercase header names")
		}
	}
	for _, req := range required() {
		if !contains(names, req) {
			return nil, refuse(Headers, "the signature does not cover "+req+"; kinko requires host, x-amz-date, x-amz-security-token "+
				"and x-amz-target to be signed (the AWS SDKs sign them)")
		}
	}
	for _, n := range names {
		switch {
		case n == "host":
			if r.Host == "" {
				return nil, refuse(Headers, "the signed header host is missing")
			}
		case n == "content-length":
			if r.ContentLength <= 0 {
				return nil, refuse(Headers, "content-length is signed but the request has no length")
			}
		case len(r.Header.Values(n)) == 0:
			return nil, refuse(Headers, "the signed header "+clip(n)+" is missing from the request")
		}
	}
	return names, nil
}

func contains(sorted []string, s string) bool {
	for _, x := range sorted {
		if x == s {
			return true
		}
	}
	return false
}

// payloadHash hashes the body kinko read, and checks X-Amz-Content-Sha256 against it when the
// caller sent one: a payload left unsigned or sent in signed chunks is refused.
func payloadHash(r *http.Request, body []byte) (string, error) {
	for _, enc := range r.Header.Values("Content-Encoding") {
		if strings.Contains(strings.ToLower(enc), "aws-chunked") {
			return "", refuse(Payload, "aws-chunked bodies are not accepted: send the body whole, hashed in the signature")
		}
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	switch given := r.Header.Values("X-Amz-Content-Sha256"); {
	case len(given) == 0:
	case len(given) > 1:
		return "", refuse(Payload, "X-Amz-Content-Sha256 is given more than once")
	case given[0] != hash:
		return "", refuse(Payload, "X-Amz-Content-Sha256 is not the SHA-256 of the body (UNSIGNED-PAYLOAD and STREAMING payloads "+
			"are not accepted): sign the body")
	}
	return hash, nil
}

// checkIdentity checks the access key and the session token are kinko's own.
func (v *Verifier) checkIdentity(r *http.Request, a authorization, creds aws.Credentials) error {
	if creds.SessionToken == "" {
		return refuse(NoCredentials, "kinko's own credentials carry no session token, so it cannot tell the sandbox's callers "+
			"from others: the SDK endpoint needs session credentials (as Lambda, an ECS task role or an EC2 instance profile gives)")
	}
	if a.accessKey != creds.AccessKeyID {
		return refuse(OtherCredentials, "the request is signed with access key "+redactKey(a.accessKey)+
			", not "+v.owner+"'s own ("+redactKey(creds.AccessKeyID)+"): a client built with other credentials "+
			"(an assumed role, a profile) must call AWS itself; kinko only acts for "+v.owner+"'s own role")
	}
	tok := r.Header.Values("X-Amz-Security-Token")
	if len(tok) != 1 || subtle.ConstantTimeCompare([]byte(tok[0]), []byte(creds.SessionToken)) != 1 {
		return refuse(Token, "X-Amz-Security-Token is not "+v.owner+"'s own session token: "+
			"sign with "+v.owner+"'s own credentials")
	}
	return nil
}

// sign signs the request r as received, with only the headers the caller signed, through the
// SDK's signer, and returns what the signer wrote.
func (v *Verifier) sign(ctx context.Context, r *http.Request, names []string, hash string, creds aws.Credentials,
	service string, at time.Time) (authorization, error) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	again := &http.Request{Method: r.Method, URL: u, Host: r.Host, Header: make(http.Header, len(names))}
	for _, n := range names {
		switch n {
		case "host":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			again.Header[http.CanonicalHeaderKey(n)] = r.Header.Values(n)
		}
	}
	if err := v.signer.SignHTTP(ctx, creds, again, hash, service, v.region, at); err != nil {
		return authorization{}, refuse(Malformed, "the request could not be signed again to check it")
	}
	return v.readAuthorization(again.Header.Values("Authorization"))
}

// remember records an accepted signature until it could no longer be accepted, and refuses
// one already recorded.
func (v *Verifier) remember(sig [32]byte, until time.Time) error {
	var k [16]byte
	copy(k[:], sig[:16])
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sweep(now)
	if u, ok := v.seen[k]; ok && now.Before(u) {
		return refuse(Replayed, "this exact signed request was already used within the last 5 minutes: sign it anew to repeat it "+
			"(the SDKs' retries do)")
	}
	if len(v.seen) >= MaxRemembered {
		return refuse(Busy, "kinko is remembering too many signed requests from the last 5 minutes to take another; retry shortly")
	}
	v.seen[k] = until
	v.order = append(v.order, remembered{sig: k, until: until})
	return nil
}

// sweep forgets the signatures that can no longer be accepted, oldest first. Called with mu.
func (v *Verifier) sweep(now time.Time) {
	for v.head < len(v.order) && !now.Before(v.order[v.head].until) {
		o := v.order[v.head]
		if u, ok := v.seen[o.sig]; ok && u.Equal(o.until) {
			delete(v.seen, o.sig)
		}
		v.order[v.head] = remembered{}
		v.head++
	}
	if v.head > 0 && v.head >= len(v.order)/2 {
		v.order = append(v.order[:0], v.order[v.head:]...)
		v.head = 0
	}
}

// redactKey shows an access key id's kind and end, enough to tell two apart in a message.
func redactKey(k string) string {
	if len(k) <= 8 {
		return "****"
	}
	return k[:4] + "..." + k[len(k)-4:]
}

// clip keeps text from the request short in a message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
