package bench

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/client"
	"github.com/kinko-dev/kinko/internal/faultproxy"
	"github.com/kinko-dev/kinko/internal/moto"
)

// The Go client's cache against the real extension (the binary, a fake Extensions API, moto
// behind the fault proxy): the ttl it keeps by is the one kinko really sends.
func TestClientCacheAgainstTheRealExtension(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the extension")
	}
	ctx := t.Context()
	bin := filepath.Join(t.TempDir(), "kinko")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./extension")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./extension: %v\n%s", err, out)
	}
	m := moto.ForTest(t)
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.URL),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	proxy, err := faultproxy.Start(m.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	const keyV1, keyV2 = "sk-client-cache-v1-0123456789abcdef", "sk-client-cache-v2-0123456789abcdef"
	put := func(name, key string, create bool) {
		t.Helper()
		doc := aws.String(`{"OPENAI_API_KEY":"` + key + `"}`)
		if create {
			_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: doc})
		} else {
			_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: doc})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	start := func(t *testing.T, name string, env map[string]string) *Kinko {
		env["KINKO_PREFETCH"] = name
		k, err := StartKinko(ctx, KinkoOptions{Bin: bin, Upstream: proxy.URL, Token: randomToken(), Env: env})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k.Stop() })
		return k
	}
	// The client's clock is the real one plus an offset the test moves: its window passes
	// without waiting, while kinko keeps its own time.
	var mu sync.Mutex
	var offset time.Duration
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	advance := func(d time.Duration) { mu.Lock(); offset += d; mu.Unlock() }
	newClient := func(t *testing.T, k *Kinko) *client.Client {
		c, err := client.New(func(string) string { return "" }, client.WithBaseURL(k.URL), client.WithToken(k.Token), client.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// read returns which key the secret holds (1 or 2, never the value) and the Cache-Status.
	read := func(t *testing.T, c *client.Client, name string, opts ...client.SecretOption) (int, string) {
		t.Helper()
		var status string
		v, err := c.SecretJSONKey(ctx, name, "OPENAI_API_KEY", append(opts, client.CacheStatusTo(&status))...)
		switch {
		case err != nil:
			t.Fatalf("read %s: %v", name, err)
		case v == keyV1:
			return 1, status
		case v == keyV2:
			return 2, status
		}
		t.Fatalf("read %s: neither key (%d bytes; not printed)", name, len(v))
		return 0, ""
	}

	t.Run("kept for half of kinko's ttl", func(t *testing.T) {
		const name = "client-cache-window"
		put(name, keyV1, true)
		proxy.ResetCounts()
		k := start(t, name, map[string]string{})
		if _, err := k.WaitHit(ctx, httpClient(), "/secretsmanager/get?secretId="+name, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		c := newClient(t, k)
		_, st := read(t, c, name)
		ttl, ok := ttlOf(st)
		if !ok || !strings.HasPrefix(st, "kinko; hit; ") || ttl < 200 {
			t.Fatalf("first read: Cache-Status %q, want kinko's hit with a ttl near the default 300 s", st)
		}
		if v, st := read(t, c, name); v != 1 || !strings.HasPrefix(st, "client; hit; ttl=") {
			t.Fatalf("second read: key %d, Cache-Status %q, want key 1 from the client's memory", v, st)
		}
		// Rotate: the kept key stays until refreshNow, which goes to kinko and replaces it.
		put(name, keyV2, false)
		if v, st := read(t, c, name); v != 1 || !strings.HasPrefix(st, "client; hit;") {
			t.Fatalf("after the rotation: key %d (%q), want the kept key 1", v, st)
		}
		v, st := read(t, c, name, client.RefreshNow())
		if v != 2 || !strings.HasPrefix(st, "kinko; fwd=request; stored") {
			t.Fatalf("refreshNow: key %d (%q), want key 2 from kinko's refresh", v, st)
		}
		refreshTTL, refreshKept := ttlOf(st)
		v, st = read(t, c, name)
		if v != 2 {
			t.Fatalf("after refreshNow: key %d (%q), want key 2", v, st)
		}
		// kinko without ttl on refreshed answers: nothing kept, so this read went to kinko.
		if want := "kinko; hit; ttl="; refreshKept {
			want = "client; hit; ttl="
			if !strings.HasPrefix(st, want) {
				t.Errorf("after refreshNow with ttl=%d: %q, want %q...", refreshTTL, st, want)
			}
		} else if !strings.HasPrefix(st, want) {
			t.Errorf("after refreshNow without a ttl: %q, want %q...", st, want)
		}
		// Past half of kinko's ttl the client asks kinko again, which answers from its cache.
		// kinko's TTL is 300 s here, so no window is longer than 150 s.
		advance(151 * time.Second)
		if _, st = read(t, c, name); !strings.HasPrefix(st, "kinko; hit; ttl=") {
			t.Errorf("past the window: %q, want kinko's hit", st)
		}
		if n := proxy.Calls("GetSecretValue"); n != 2 {
			t.Errorf("Secrets Manager got %d calls, want 2 (the prefetch, refreshNow)", n)
		}
	})

	t.Run("a rotation arrives by kinko's TTL alone", func(t *testing.T) {
		const name = "client-cache-ttl"
		put(name, keyV1, true)
		proxy.SetFault(faultproxy.None)
		k := start(t, name, map[string]string{"SECRETS_MANAGER_TTL": "3"})
		if _, err := k.WaitHit(ctx, httpClient(), "/secretsmanager/get?secretId="+name, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		c := newClient(t, k)
		if v, _ := read(t, c, name); v != 1 {
			t.Fatalf("before the rotation: key %d", v)
		}
		put(name, keyV2, false)
		rotated := time.Now()
		// Poll (bounded) without refreshNow: the client's windows and kinko's TTL bring key 2.
		deadline := rotated.Add(15 * time.Second)
		var kept int
		for {
			v, st := read(t, c, name)
			if strings.HasPrefix(st, "client;") {
				kept++
			}
			if v == 2 {
				t.Logf("key 2 in use %v after the rotation (kinko's TTL 3 s); %d reads came from the client's memory",
					time.Since(rotated).Round(time.Millisecond), kept)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("key 2 not in use 15 s after the rotation (kinko's TTL is 3 s); last Cache-Status %q", st)
			}
			time.Sleep(50 * time.Millisecond) // a poll interval, not a readiness guess
		}
	})

	t.Run("stale answers are not kept", func(t *testing.T) {
		const name = "client-cache-stale"
		put(name, keyV1, true)
		proxy.SetFault(faultproxy.None)
		k := start(t, name, map[string]string{"SECRETS_MANAGER_TTL": "1", "SECRETS_MANAGER_TIMEOUT_MILLIS": "500"})
		if _, err := k.WaitHit(ctx, httpClient(), "/secretsmanager/get?secretId="+name, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		c := newClient(t, k)
		proxy.SetFault(faultproxy.Status503)
		t.Cleanup(func() { proxy.SetFault(faultproxy.None) })
		// Poll (bounded) until kinko's TTL of 1 s has run out and it serves the value stale.
		deadline := time.Now().Add(15 * time.Second)
		var st string
		for {
			if _, st = read(t, c, name); st == "kinko; hit; detail=stale-if-error" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no stale-if-error answer within 15 s; last Cache-Status %q", st)
			}
			time.Sleep(50 * time.Millisecond) // a poll interval, not a readiness guess
		}
		for i := range 3 {
			if _, st := read(t, c, name); strings.HasPrefix(st, "client;") {
				t.Fatalf("read %d after a stale answer came from the client's memory (%q)", i+1, st)
			}
		}
	})
}

// ttlOf reads the ttl parameter of a Cache-Status.
func ttlOf(status string) (int, bool) {
	for p := range strings.SplitSeq(status, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "ttl="); ok {
			n := 0
			for _, r := range v {
				if r < '0' || r > '9' {
					return 0, false
				}
				n = n*10 + int(r-'0')
			}
			return n, v != ""
		}
	}
	return 0, false
}

func httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}
}
