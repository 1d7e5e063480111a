package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// manyKeys is a JSON object with n keys, k0000 to k(n-1).
func manyKeys(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%04d":"s3cr3t-value-%04d"`, i, i)
	}
	b.WriteByte('}')
	return b.String()
}

// A jsonKey hit does not parse the whole secret again: its work (counted in allocations, which
// a parse of every key makes one or more of each) does not grow with the number of keys.
func TestJSONKeyHitDoesNotReparseTheSecret(t *testing.T) {
	v := textValue("many", manyKeys(3500))
	recounts := 0
	recount := func() { recounts++ }
	if got, code, problem := lookupJSONKey(v, "k1234", recount); problem != "" || got != "s3cr3t-value-1234" {
		t.Fatalf("k1234: %v %q, value right: %t", code, problem, got == "s3cr3t-value-1234")
	}
	allocs := testing.AllocsPerRun(20, func() { lookupJSONKey(v, "k3499", recount) })
	if allocs > 10 {
		t.Fatalf("a jsonKey hit on a 3,500-key secret makes %.0f allocations, want a handful (the key's value, not the secret)", allocs)
	}
	// The index was built once, by the first lookup, and the cache was told to count it once.
	if recounts != 1 {
		t.Fatalf("the cache was asked to recount %d times, want once (when the index was built)", recounts)
	}
}

// The jsonKey index is built for a secret somebody asks a key of, never for one read whole,
// and the cache's byte budget counts it from then on.
func TestJSONKeyIndexIsCountedInTheCache(t *testing.T) {
	secret := textValue("many", manyKeys(3500))
	c := cache.New[kinko.Request, document.Value](costed(func(context.Context, kinko.Request) (document.Value, error) { return secret, nil }), cache.Options[kinko.Request]{
		TTL:          func(kinko.Request) time.Duration { return time.Hour },
		Size:         10,
		MaxBytes:     1 << 20,
		RefreshAhead: 1,
	})
	defer c.Close()
	h, _ := newTestHandler(t, c, token)
	for range 3 {
		if a := do(t, h, "GET", "/secretsmanager/get?secretId=many", withToken()); a.status != http.StatusOK {
			t.Fatalf("whole secret: status %d", a.status)
		}
	}
	whole := c.Bytes()
	if secret.Indexed() || whole > len(secret.Body)+4<<10 {
		t.Fatalf("read whole three times: indexed %t, %d bytes counted for a %d-byte document", secret.Indexed(), whole, len(secret.Body))
	}
	for range 3 {
		if a := do(t, h, "GET", "/secretsmanager/get?secretId=many&jsonKey=k0042", withToken()); a.status != http.StatusOK || a.body != "s3cr3t-value-0042" {
			t.Fatalf("jsonKey: status %d", a.status)
		}
	}
	if !secret.Indexed() || c.Bytes() != document.Cost(kinko.Request{Kind: kinko.SecretsManager, ID: "many", Stage: kinko.CurrentStage}, secret) || c.Bytes() <= whole {
		t.Fatalf("after jsonKey requests: indexed %t, %d bytes counted (%d before)", secret.Indexed(), c.Bytes(), whole)
	}
}

// costed is a source that loads without aliases, each entry costed as kinko's cache counts it
// (document.Cost).
type costed func(context.Context, kinko.Request) (document.Value, error)

func (f costed) Load(ctx context.Context, r kinko.Request) (document.Value, error) { return f(ctx, r) }
func (costed) Aliases(kinko.Request, document.Value) []kinko.Request               { return nil }
func (costed) Cost(r kinko.Request, v document.Value) int                          { return document.Cost(r, v) }
