package sdkapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/kinko-dev/kinko/extension/internal/server"
	"github.com/kinko-dev/kinko/extension/internal/sigv4"
)

// BenchmarkSDKHit is a cached GetSecretValue through the SDK endpoint's handler (no network):
// with the token header, and signed as an SDK signs it (the signature checked on every request).
func BenchmarkSDKHit(b *testing.B) {
	s := start(b)
	h := New(Deps{Reads: s.cache, Cache: s.cache, Forward: s.aws, Token: []byte(sandboxToken), Logger: slog.New(slog.DiscardHandler),
		Verify: sigv4.New(region, credentials.StaticCredentialsProvider{Value: ownCreds}, time.Now, "the function")})
	const body = `{"SecretId":"prod/db"}`
	token := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:2773/", strings.NewReader(body))
		r.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
		r.Header.Set(server.TokenHeader, sandboxToken)
		return r
	}
	signed := func() *http.Request {
		r := token()
		r.Header.Del(server.TokenHeader)
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(b.Context(), ownCreds, r, hex.EncodeToString(sum[:]), "secretsmanager", region, time.Now()); err != nil {
			b.Fatal(err)
		}
		return r
	}
	for name, req := range map[string]*http.Request{"token": token(), "signed": signed()} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req.Body = io.NopCloser(strings.NewReader(body))
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(`"SecretString"`)) {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
