package document

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// secretOf is a GetSecretValue answer for name holding text.
func secretOf(name, text string) *secretsmanager.GetSecretValueOutput {
	return &secretsmanager.GetSecretValueOutput{
		ARN: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf"), Name: aws.String(name),
		SecretString: aws.String(text), VersionId: aws.String("v1"), VersionStages: []string{"AWSCURRENT"},
	}
}

// A value made of characters encoding/json escapes for HTML (<, >, &: six bytes each by
// default) is rendered at its own size: AWS's extension does not escape them either, and the
// document is what the cache keeps.
func TestHTMLCharactersAreNotEscaped(t *testing.T) {
	text := strings.Repeat("<", 64<<10)
	v, err := RenderSecret(secretOf("lt", text))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(v.Body); n > len(text)+1024 {
		t.Fatalf("a 64 KiB value of '<' renders to %d bytes (%.1fx)", n, float64(n)/float64(len(text)))
	}
	if !strings.Contains(string(v.Body), `"SecretString":"<<<`) {
		t.Fatal(`the document does not hold the value's '<' as they are`)
	}
}

// The cache keeps one copy of each value: the rendered document, nothing beside it. Measured as
// the live heap that many cached 64 KiB values hold, so any representation is judged the same.
func TestCachedValueCostsItsSize(t *testing.T) {
	const n, size = 40, 64 << 10
	for _, fill := range []string{"a", "<"} {
		t.Run("fill="+fill, func(t *testing.T) {
			c := cache.New[kinko.Request, Value](costedSource(func(_ context.Context, r kinko.Request) (Value, error) {
				return RenderSecret(secretOf(r.ID, strings.Repeat(fill, size-len(r.ID))+r.ID))
			}), cache.Options[kinko.Request]{
				TTL:          func(kinko.Request) time.Duration { return time.Hour },
				Size:         1000,
				RefreshAhead: 1,
			})
			defer c.Close()
			before := liveHeap()
			for i := range n {
				if _, _, err := c.Get(t.Context(), kinko.Request{Kind: kinko.SecretsManager, ID: fmt.Sprintf("s%03d", i), Stage: kinko.CurrentStage}); err != nil {
					t.Fatal(err)
				}
			}
			grown := int64(liveHeap()) - int64(before)
			if c.Len() != n {
				t.Fatalf("%d entries, want %d", c.Len(), n)
			}
			// One copy per value, rounded up to the allocator's 8 KiB pages, and a little for the
			// keys and bookkeeping.
			if limit := int64(n) * (size + 12<<10); grown > limit {
				t.Fatalf("%d values of %d KiB hold %d KiB of heap (%.1fx their size), want at most %d KiB",
					n, size>>10, grown>>10, float64(grown)/float64(n*size), limit>>10)
			}
			// What the byte budget counts is what the values really hold, within a few percent.
			if counted := int64(c.Bytes()); counted < grown*9/10 || counted > grown*11/10 {
				t.Errorf("the cache counts %d KiB for %d KiB of heap", counted>>10, grown>>10)
			}
			t.Logf("%d values of %d KiB: %d KiB of heap, %d KiB counted", n, size>>10, grown>>10, c.Bytes()>>10)
			runtime.KeepAlive(c)
		})
	}
}

// costedSource loads without aliases, each entry costed as kinko's cache counts it (Cost).
type costedSource func(context.Context, kinko.Request) (Value, error)

func (f costedSource) Load(ctx context.Context, r kinko.Request) (Value, error) { return f(ctx, r) }
func (costedSource) Aliases(kinko.Request, Value) []kinko.Request               { return nil }
func (costedSource) Cost(r kinko.Request, v Value) int                          { return Cost(r, v) }

// liveHeap is the heap still referenced after a collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
