package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/internal/faultproxy"
)

// TestFaultTable measures what callers see while AWS fails, for RELIABILITY.md's fault table:
// a secret cached and then expired (TTL 2 s), 8 callers at a function's pace (a request every
// 50 ms each, client timeout 3 s) for 5 s while Secrets Manager fails, kinko's default settings
// otherwise; and one caller with no cached value while AWS hangs (client timeout 10 s). It
// prints `table-row` lines: answers, the callers' wait (p50/p99/max, over all answers and over
// those asked for after the first second, when the callers that arrived together at the expiry
// have had their answers) and attempts per second.
//
// It measures, it does not judge (the outage tests do), so it runs only when asked:
// `make faulttable` (this tree) and `make faulttable-before` (the same file against commit
// 5737f0b, the code before issue 11). It uses only the harness that commit already had.
// Bounded: every case runs at most 5 s of load plus its client timeouts, all at once.
func TestFaultTable(t *testing.T) {
	if os.Getenv("KINKO_FAULT_TABLE") == "" {
		t.Skip("a measurement: set KINKO_FAULT_TABLE=1 (make faulttable)")
	}
	a := startAWS(t)
	faults := []faultproxy.Fault{faultproxy.Status500, faultproxy.Status503, faultproxy.Throttle, faultproxy.Hang,
		faultproxy.Reset, faultproxy.Truncate, faultproxy.Malformed}
	rows := make([]string, len(faults)+1)
	var wg sync.WaitGroup
	for i, f := range faults {
		wg.Go(func() { rows[i] = measureCached(t, a.withOwnProxy(t), i, f) })
	}
	wg.Go(func() { rows[len(faults)] = measureUncachedHang(t, a.withOwnProxy(t)) })
	wg.Wait()
	for _, r := range rows {
		t.Log(r)
	}
}

type sample struct {
	at     time.Duration // when it was asked, since the fault began
	took   time.Duration
	status int // 0: no answer within the client's timeout
	value  bool
}

func measureGet(client *http.Client, port int, path, value string) sample {
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
	req.Header.Set("X-Aws-Parameters-Secrets-Token", testToken)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return sample{took: time.Since(start)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return sample{took: time.Since(start), status: resp.StatusCode, value: strings.Contains(string(body), value)}
}

func summarize(ss []sample) (answers, waits string) {
	var ds []time.Duration
	ok, failed, none := 0, 0, 0
	for _, s := range ss {
		ds = append(ds, s.took)
		switch {
		case s.status == 0:
			none++
		case s.status == 200 && s.value:
			ok++
		default:
			failed++
		}
	}
	slices.Sort(ds)
	q := func(p float64) string {
		if len(ds) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f", float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds())/1000)
	}
	return fmt.Sprintf("%d: %d × 200 with the value, %d errors, %d no answer in 3 s", len(ss), ok, failed, none),
		fmt.Sprintf("%s / %s / %s ms", q(0.5), q(0.99), q(1))
}

func measureCached(t *testing.T, a *awsStack, i int, f faultproxy.Fault) string {
	value := fmt.Sprintf("table-value-%d-0b7e4d", i)
	name := fmt.Sprintf("table%d/db", i)
	a.createSecret(t, name, value)
	x := startExtension(t, a, map[string]string{"SECRETS_MANAGER_TTL": "2"})
	x.waitLog(`"msg":"ready"`)
	path := "/secretsmanager/get?secretId=" + name
	client := &http.Client{Timeout: 3 * time.Second}
	if s := measureGet(client, x.port, path, value); s.status != 200 {
		t.Fatalf("%s: priming answered %d", f, s.status)
	}
	time.Sleep(2 * time.Second) // expired, inside the stale window
	a.proxy.SetFault(f)
	a.proxy.ResetCounts()
	start := time.Now()
	var mu sync.Mutex
	var ss []sample
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Since(start) < 5*time.Second {
				at := time.Since(start)
				s := measureGet(client, x.port, path, value)
				s.at = at
				mu.Lock()
				ss = append(ss, s)
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	attempts := float64(a.proxy.Calls("GetSecretValue")) / time.Since(start).Seconds()
	a.proxy.SetFault(faultproxy.None)
	answers, waits := summarize(ss)
	var late []sample
	for _, s := range ss {
		if s.at >= time.Second {
			late = append(late, s)
		}
	}
	_, lateWaits := summarize(late)
	x.assertNoSecrets(a, value)
	return fmt.Sprintf("table-row | %s, value cached then expired | %s | %s; after 1 s: %s | %.1f |", f, answers, waits, lateWaits, attempts)
}

func measureUncachedHang(t *testing.T, a *awsStack) string {
	x := startExtension(t, a, nil)
	x.waitLog(`"msg":"ready"`)
	a.proxy.SetFault(faultproxy.Hang)
	start := time.Now()
	s := measureGet(&http.Client{Timeout: 10 * time.Second}, x.port, "/secretsmanager/get?secretId=table/uncached", "-")
	what := fmt.Sprintf("%d", s.status)
	if s.status == 0 {
		what = "no answer in 10 s"
	}
	attempts := float64(a.proxy.Calls("GetSecretValue")) / time.Since(start).Seconds()
	a.proxy.SetFault(faultproxy.None)
	return fmt.Sprintf("table-row | hang, no cached value | 1: %s | %.0f ms | %.1f |", what, float64(s.took.Microseconds())/1000, attempts)
}
