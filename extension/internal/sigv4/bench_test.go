package sigv4

import (
	"fmt"
	"net/http"
	"testing"
)

// BenchmarkVerify is the cost of checking one signed request as kinko's SDK endpoint does: parse,
// the SDK's signer over the signed headers and the constant-time compare (a cached read), then
// the replay memory (Once: a forward). Each request is distinct (Once refuses a repeat); a new
// verifier every batch keeps the memory at a realistic size.
func BenchmarkVerify(b *testing.B) {
	b.Run("read", func(b *testing.B) { benchmarkVerify(b, false) })
	b.Run("forward", func(b *testing.B) { benchmarkVerify(b, true) })
}

func benchmarkVerify(b *testing.B, once bool) {
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
		sig, err := v.Verify(b.Context(), reqs[i%batch], bodies[i%batch], "secretsmanager")
		if err == nil && once {
			err = v.Once(sig)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
