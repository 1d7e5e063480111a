package sigv4

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzVerify feeds the verifier requests built from a valid one with any part replaced: it
// must never panic, and it may accept only the request that was signed (up to what SigV4
// itself treats as equal: spaces in a header value, the layout of the Authorization header).
func FuzzVerify(f *testing.F) {
	const body = `{"SecretId":"prod/db"}`
	seed, _ := request(f, kinkoCreds, signedAt, body, nil)
	auth, date := seed.Header.Get("Authorization"), seed.Header.Get("X-Amz-Date")
	target, token := seed.Header.Get("X-Amz-Target"), seed.Header.Get("X-Amz-Security-Token")
	f.Add(auth, date, target, token, seed.Host, "/", "", []byte(body), "")
	f.Add(auth, date, target, token, seed.Host, "/", "X-Amz-Signature=x", []byte(body), "")
	f.Add(strings.ReplaceAll(auth, ", ", ","), date, target, token, seed.Host, "/", "", []byte(body), "")
	f.Add(auth, date, target+" ", token, seed.Host, "/", "", []byte(body), "")
	f.Add(auth, date, target, token, seed.Host, "/secretsmanager/", "", []byte(body), "UNSIGNED-PAYLOAD")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=00", "x", "", "", "", "/", "a=%zz", []byte{}, "")
	want, _ := (&Verifier{owner: "the function"}).readAuthorization([]string{auth})
	f.Fuzz(func(t *testing.T, a, d, tgt, tok, host, path, query string, b []byte, sha string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " ?#\x00") || strings.ContainsAny(host, "/ ?#@\x00") {
			return // not a request line a server would parse
		}
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:2773/", bytes.NewReader(b))
		r.URL.Path, r.URL.RawQuery, r.Host = path, query, host
		for k, v := range map[string]string{"Authorization": a, "X-Amz-Date": d, "X-Amz-Target": tgt,
			"X-Amz-Security-Token": tok, "X-Amz-Content-Sha256": sha, "Content-Type": "application/x-amz-json-1.1"} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		_, err := newVerifier(signedAt).Verify(t.Context(), r, b, "secretsmanager")
		if err == nil {
			got, _ := (&Verifier{owner: "the function"}).readAuthorization([]string{a})
			if got != want || d != date || !bytes.Equal(b, []byte(body)) || squeeze(tgt) != target || tok != token ||
				host != seed.Host || path != "/" || query != "" {
				t.Fatalf("accepted a request that was not signed: auth %q date %q target %q host %q path %q query %q body %q",
					a, d, tgt, host, path, query, b)
			}
		} else if _, ok := err.(*Error); !ok {
			t.Fatalf("error %T, want *Error", err)
		}
	})
}

// squeeze is a header value as SigV4 canonicalises it: trimmed, inner runs of spaces as one.
func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }
