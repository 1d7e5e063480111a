package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/internal/faultproxy"
)

// The outage suite (issue 11): AWS fails while kinko holds a value, with kinko's default
// settings (no *_TIMEOUT_MILLIS, KINKO_MAX_WAIT_MS 250). Every answer must be 200 with the
// value at hand; attempts are few and falling; the fresh value arrives soon after AWS does.
// Run with -v to print the `outage-row` lines RELIABILITY.md holds.

const (
	outageFor     = 12 * time.Second
	outageCallers = 4
	callerPace    = 100 * time.Millisecond
)

// call is one request as a caller saw it. It never keeps the body, only whether values are in it.
type call struct {
	status      int
	cacheStatus string
	took        time.Duration
	has         []bool // for each value asked about: is it in the body
	err         error
}

// ask sends one request without failing the test (it may run on any goroutine).
func (x *extension) ask(client *http.Client, path string, values ...string) call {
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", x.port, path), nil)
	req.Header.Set("X-Aws-Parameters-Secrets-Token", testToken)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return call{took: time.Since(start), err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	c := call{status: resp.StatusCode, cacheStatus: resp.Header.Get("Cache-Status"), took: time.Since(start), err: err}
	for _, v := range values {
		c.has = append(c.has, strings.Contains(string(body), v))
	}
	return c
}

// quantiles are p50, p99 and max of ds.
func quantiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	r := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d.Microseconds())/1000) }
	return fmt.Sprintf("%s / %s / %s ms", r(q(0.5)), r(q(0.99)), r(s[len(s)-1]))
}

// attemptsBetween counts arrivals in [from, to) after t0.
func attemptsBetween(arr []faultproxy.Arrival, t0 time.Time, from, to time.Duration) int {
	n := 0
	for _, a := range arr {
		if d := a.At.Sub(t0); d >= from && d < to {
			n++
		}
	}
	return n
}

func TestOutageWithAValueCached(t *testing.T) {
	a := startAWS(t)
	faults := []faultproxy.Fault{faultproxy.Status500, faultproxy.Status503, faultproxy.Throttle, faultproxy.Hang,
		faultproxy.Reset, faultproxy.Truncate, faultproxy.Malformed}
	// Timers, not CPU: all at once, each with its own proxy and extension.
	var wg sync.WaitGroup
	for i, f := range faults {
		wg.Go(func() { t.Run(f.String(), func(t *testing.T) { runOutage(t, a.withOwnProxy(t), i, f) }) })
	}
	wg.Wait()
}

func runOutage(t *testing.T, a *awsStack, i int, fault faultproxy.Fault) {
	v1, v2 := fmt.Sprintf("outage-v1-%d-5e2a9c", i), fmt.Sprintf("outage-v2-%d-77b1d0", i)
	name := fmt.Sprintf("outage%d/db", i)
	a.createSecret(t, name, v1)
	x := startExtension(t, a, map[string]string{"SECRETS_MANAGER_TTL": "1"})
	x.waitLog(`"msg":"ready"`)
	path := "/secretsmanager/get?secretId=" + name
	client := &http.Client{Timeout: 10 * time.Second}
	if c := x.ask(client, path, v1); c.status != 200 || !c.has[0] {
		t.Fatalf("priming: %d %q", c.status, c.cacheStatus)
	}
	time.Sleep(time.Second) // the value lives at most its TTL: now it is expired, inside the stale window

	a.proxy.SetFault(fault)
	a.proxy.ResetCounts()
	// AWS rotates the secret meanwhile: once AWS answers, the new value must show.
	if _, err := a.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(v2)}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var mu sync.Mutex
	var waits []time.Duration
	statuses := map[string]int{}
	bad := 0
	var wg sync.WaitGroup
	for range outageCallers {
		wg.Go(func() {
			for time.Since(t0) < outageFor {
				c := x.ask(client, path, v1)
				mu.Lock()
				waits = append(waits, c.took)
				statuses[c.cacheStatus]++
				if c.err != nil || c.status != 200 || !c.has[0] ||
					c.cacheStatus != "kinko; hit; detail=stale-if-error" && c.cacheStatus != "kinko; hit; detail=stale-while-revalidate" {
					bad++
					if bad <= 3 {
						t.Errorf("during the outage: %d %q %v, want 200 with the value at hand, served stale", c.status, c.cacheStatus, c.err)
					}
				}
				mu.Unlock()
				time.Sleep(callerPace)
			}
		})
	}
	wg.Wait()
	arr := a.proxy.Arrivals("GetSecretValue")
	first, later := attemptsBetween(arr, t0, 0, 5*time.Second), attemptsBetween(arr, t0, 5*time.Second, outageFor)
	if first > 20 {
		t.Errorf("%d attempts in the first 5 s, want at most 20", first)
	}
	if fault == faultproxy.Hang {
		// Each attempt hangs for its 2 s timeout and only one is in flight: at most one per 2 s.
		if later > 4 {
			t.Errorf("%d attempts from 5 s to 12 s of a hang, want at most 4", later)
		}
	} else if float64(later)/7 >= float64(first)/5 {
		t.Errorf("attempts per second %.2f in the first 5 s, %.2f after: want the rate falling", float64(first)/5, float64(later)/7)
	}

	a.proxy.SetFault(faultproxy.None)
	recovered := time.Now()
	var took time.Duration
	for {
		c := x.ask(client, path, v1, v2)
		if c.err != nil || c.status != 200 || !c.has[0] && !c.has[1] {
			t.Fatalf("after the outage: %d %q %v, want 200 with a value", c.status, c.cacheStatus, c.err)
		}
		if c.has[1] {
			took = time.Since(recovered)
			break
		}
		if time.Since(recovered) > 15*time.Second {
			t.Fatal("no fresh value 15 s after AWS answered again")
		}
		time.Sleep(callerPace)
	}
	t.Logf("outage-row | %s | %d | %s | %.1f | %.2f | %s | %v |", fault, len(waits), quantiles(waits),
		float64(first)/5, float64(later)/7, took.Round(100*time.Millisecond), statuses)
	stopClean(t, x, a, v1, v2)
}

// With no value to fall back on, a caller waits on the key's one retrying fetch for at most
// its budget: 504 within 5 s while AWS hangs (default settings), throttling retried inside it.
func TestOutageWithoutAValue(t *testing.T) {
	a := startAWS(t)
	var wg sync.WaitGroup
	wg.Go(func() {
		t.Run("hang", func(t *testing.T) {
			a := a.withOwnProxy(t)
			x := startExtension(t, a, nil)
			x.waitLog(`"msg":"ready"`)
			a.proxy.SetFault(faultproxy.Hang)
			client := &http.Client{Timeout: 30 * time.Second}
			const n = 8
			calls := make([]call, n)
			var cwg sync.WaitGroup
			for i := range n {
				cwg.Go(func() { calls[i] = x.ask(client, "/secretsmanager/get?secretId=never/cached") })
			}
			cwg.Wait()
			var waits []time.Duration
			for _, c := range calls {
				waits = append(waits, c.took)
				if c.err != nil || c.status != 504 || strings.Contains(c.cacheStatus, "ttl=") || c.took >= 5*time.Second {
					t.Errorf("no value, AWS hanging: %d %q %v after %s, want 504 within 5 s", c.status, c.cacheStatus, c.err, c.took)
				}
			}
			// One retrying fetch for all 8: attempts of 2 s each within a 4 s budget.
			if got := a.proxy.Calls("GetSecretValue"); got < 1 || got > 3 {
				t.Errorf("%d attempts for %d callers, want the callers to share one retrying fetch (1-3)", got, n)
			}
			t.Logf("outage-row | hang, no value, %d callers | %s | %d attempts |", n, quantiles(waits), a.proxy.Calls("GetSecretValue"))
			stopClean(t, x, a)
		})
	})
	wg.Go(func() {
		t.Run("throttled twice", func(t *testing.T) {
			a := a.withOwnProxy(t)
			const value = "outage-throttled-9d3c1e"
			a.createSecret(t, "throttled/db", value)
			x := startExtension(t, a, nil)
			x.waitLog(`"msg":"ready"`)
			a.proxy.SetFaultFor(faultproxy.Throttle, 2)
			c := x.ask(&http.Client{Timeout: 30 * time.Second}, "/secretsmanager/get?secretId=throttled/db", value)
			if c.err != nil || c.status != 200 || !c.has[0] || !isFresh(c.cacheStatus, "kinko; fwd=miss; stored") {
				t.Errorf("throttled twice, no value: %d %q %v, want 200 stored after kinko's retries", c.status, c.cacheStatus, c.err)
			}
			if got := a.proxy.Calls("GetSecretValue"); got != 3 {
				t.Errorf("%d attempts, want 3 (two throttled, retried after a jittered backoff)", got)
			}
			t.Logf("outage-row | throttled twice, no value | %s | 3 attempts |", c.took.Round(10*time.Millisecond))
			stopClean(t, x, a, value)
		})
	})
	wg.Wait()
}

// 40 secrets fetched together (one prefetch) are refreshed spread over the end of their TTL,
// not all in the same millisecond, every TTL.
func TestRefreshesOfSecretsFetchedTogetherSpread(t *testing.T) {
	a := startAWS(t)
	const n = 40
	ttl := 10 * time.Second
	var ids []string
	for i := range n {
		id := fmt.Sprintf("spread/s%02d", i)
		a.createSecret(t, id, fmt.Sprintf("spread-value-%02d-4c1a", i))
		ids = append(ids, id)
	}
	x := startExtension(t, a, map[string]string{"SECRETS_MANAGER_TTL": "10", "KINKO_PREFETCH": strings.Join(ids, ",")})
	ready := x.waitLog(`"msg":"ready"`)
	// The baseline: how long the 40 fetches of the prefetch took through kinko's connections on
	// this machine, now. A refresh waits in the same queue before it reaches AWS.
	var init struct {
		PrefetchMs float64 `json:"prefetch_ms"`
	}
	if err := json.Unmarshal([]byte(ready), &init); err != nil {
		t.Fatalf("ready line %q: %v", ready, err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	lateness := timerLateness()
	defer lateness()
	start := time.Now()
	// One caller per secret, each every 100 ms: a refresh starts within 100 ms of its point,
	// whatever the order of the secrets.
	var mu sync.Mutex
	var notHits []string // answers given while a refresh had not landed
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			for time.Since(start) < ttl+500*time.Millisecond {
				c := x.ask(client, "/secretsmanager/get?secretId="+id)
				if c.err != nil || c.status != 200 {
					t.Errorf("%s: %d %q %v, want the value", id, c.status, c.cacheStatus, c.err)
					return
				}
				if !strings.HasPrefix(c.cacheStatus, "kinko; hit; ttl=") {
					mu.Lock()
					notHits = append(notHits, id+": "+c.cacheStatus)
					mu.Unlock()
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	// How late a refresh may reach AWS here, past its point: the prefetch's queue, and twice the
	// worst timer lateness of this process meanwhile (the hit that starts it, then the fetch).
	queue, late := time.Duration(init.PrefetchMs*float64(time.Millisecond)), lateness()
	slack := queue + 2*late
	// The lead a refresh keeps before its value expires is at least a quarter of the window from
	// TTL/1.2 to the shortest lifetime (90% of the TTL): 167 ms. Within it, on a machine that
	// fetches in time, the refresh lands before the value expires and every answer is a hit.
	minLead := (ttl*9/10 - time.Duration(float64(ttl)/1.2)) / 4
	if slack < minLead && len(notHits) > 0 {
		t.Errorf("%d answers were not hits (%s), want every answer a hit: the refresh runs in the background and lands before expiry (slack here %s)",
			len(notHits), strings.Join(notHits[:min(len(notHits), 5)], "; "), slack.Round(time.Millisecond))
	}
	first, second := map[string]time.Time{}, map[string]time.Duration{}
	for _, ar := range a.proxy.Arrivals("GetSecretValue") {
		if t0, ok := first[ar.ID]; !ok {
			first[ar.ID] = ar.At
		} else if _, ok := second[ar.ID]; !ok {
			second[ar.ID] = ar.At.Sub(t0)
		}
	}
	lo, hi := ttl, time.Duration(0)
	for _, id := range ids {
		d, ok := second[id]
		if !ok {
			t.Fatalf("%s was not refreshed within its TTL", id)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	// The earliest refresh point is TTL/1.2 (the cost bound), the latest the value's lifetime.
	// A loaded machine delays a refresh's arrival by up to the slack; never its start.
	if lo < time.Duration(float64(ttl)/1.2)-100*time.Millisecond || hi > ttl+slack || hi-lo < ttl/20 { // 500 ms
		t.Errorf("refreshes %s to %s after the prefetch, want spread (at least %s apart) within [TTL/1.2, TTL + %s of slack]", lo, hi, ttl/20, slack.Round(time.Millisecond))
	}
	t.Logf("spread-row | %d secrets prefetched together, TTL %s | refreshed %s to %s after their fetch (spread %s) | prefetch %s, timers up to %s late, %d answers not hits |",
		n, ttl, lo.Round(time.Millisecond), hi.Round(time.Millisecond), (hi - lo).Round(time.Millisecond), queue.Round(time.Millisecond), late.Round(time.Millisecond), len(notHits))
	stopClean(t, x, a)
}

// #18 points 9, 10 and 12: with caching disabled.
func TestCacheDisabledEdges(t *testing.T) {
	a := startAWS(t)
	const value = "disabled-edge-6f2b8a"
	a.createSecret(t, "off/db", value)
	env := map[string]string{"PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "false", "KINKO_PREFETCH": "off/db"}

	t.Run("no prefetch", func(t *testing.T) {
		a := a.withOwnProxy(t)
		x := startExtension(t, a, env)
		x.waitLog(`"msg":"ready"`, `"prefetch_failed":0`)
		if got := a.proxy.Calls("GetSecretValue"); got != 0 {
			t.Errorf("%d calls at init with caching disabled, want 0: a prefetched value would be thrown away", got)
		}
		stopClean(t, x, a, value)
	})
	t.Run("a caller hanging up is not a shutdown", func(t *testing.T) {
		a := a.withOwnProxy(t)
		x := startExtension(t, a, env)
		x.waitLog(`"msg":"ready"`)
		a.proxy.Hold()
		defer a.proxy.Release()
		ctx, hangUp := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/secretsmanager/get?secretId=off/db", x.port), nil)
		req.Header.Set("X-Aws-Parameters-Secrets-Token", testToken)
		done := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		waitFor(t, "the request to reach AWS", 10*time.Second, func() bool { return a.proxy.InFlight() == 1 })
		hangUp()
		<-done
		x.waitLog(`"msg":"caller went away before the answer"`)
		if logs := x.logs.String(); strings.Contains(logs, "shutting down") || strings.Contains(logs, `"msg":"upstream error"`) {
			t.Errorf("a caller hanging up was logged as an upstream error or a shutdown")
		}
		a.proxy.Release()
		stopClean(t, x, a, value)
	})
	t.Run("requests in flight at the drain deadline are answered", func(t *testing.T) {
		a := a.withOwnProxy(t)
		a.proxy.Hold()
		defer a.proxy.Release()
		x := startExtension(t, a, map[string]string{"PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "false"})
		x.waitLog(`"msg":"ready"`)
		const n = 3 // MAX_CONNECTIONS: all reach AWS and are held there
		outcomes := runInFlight(t, x, n, value, func(int) string { return "/secretsmanager/get?secretId=off/db" })
		waitFor(t, "the fetches to reach AWS", 10*time.Second, func() bool { return a.proxy.InFlight() == n })
		x.shutdownIn(t, 1500*time.Millisecond)
		if counts := outcomes(); counts[shuttingDown] != n {
			t.Errorf("outcomes %v, want every request answered 503 ExtensionShuttingDown, none cut", counts)
		}
		x.assertNoSecrets(a, value)
	})
}
