package sigv4

import (
	"fmt"
	"net/http"
	"testing"
)

// BenchmarkVerify is the cost of checking one signed request as kinko's SDK endpoint does:
// parse, the SDK's signer over the signed headers, the constant-time compare and the replay
// memory. Each request is distinct (a replay would be refused); a new verifier every batch keeps
// the memory at a realistic size.
func BenchmarkVerify(b *testing.B) {
	const batch = 1024
	reqs := make([]*http.Request, batch)
	bodies := make([][]byte, batch)
	for i := range batch {
		reqs[i], bodies[i] = request(b, kinkoCreds, signedAt, fmt.Sprintf(`{"SecretId":"prod/db-%d"}`, i), nil)
	}
	v := newVerifier(signedAt)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%batch == 0 && i > 0 {
			b.StopTimer()
			v = newVerifier(signedAt)
			b.StartTimer()
		}
		if err := v.Verify(b.Context(), reqs[i%batch], bodies[i%batch], "secretsmanager"); err != nil {
			b.Fatal(err)
		}
	}
}
