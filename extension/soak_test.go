package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/kinko-dev/kinko/internal/faultproxy"
)

// The soak runs the whole process under 64 keep-alive connections of mixed traffic while the
// upstream flaps between working and failing. `make test` runs it for soakDefault; `make soak`
// sets KINKO_SOAK_SECONDS=60. Run with -v for the figures RELIABILITY.md holds.

const (
	soakDefault     = 5 * time.Second
	soakMax         = 10 * time.Minute // KINKO_SOAK_SECONDS is capped: a soak always ends
	soakConnections = 64
	soakHot         = 16  // secrets every worker keeps asking for: always cached
	soakHotParams   = 4   // SSM parameters, likewise
	soakCold        = 400 // secrets asked for at random: over three times the cache
	soakCacheSize   = 128
	// The extension runs inside the test process, so the test reads its memory from
	// /proc/self/status. Without the race detector: RSS may grow by soakRSSGrowth from before
	// the extension starts to after it stops, and peak (VmHWM) at soakPeakRSS. Under -race the
	// detector's own memory grows with every goroutine ever run and is not given back, so there
	// RSS is reported, the peak bound is soakPeakRSSRace, and the leak check is the live heap.
	soakRSSGrowth   = 32 << 20
	soakPeakRSS     = 128 << 20
	soakPeakRSSRace = 2 << 30
	// soakHeapGrowth bounds the live Go heap's growth (after a collection), with or without -race.
	soakHeapGrowth = 16 << 20
	// soakMarker starts every secret value of the soak, so a scan for it finds any leak.
	soakMarker = "soak-secret-"
)

func soakDuration(t *testing.T) time.Duration {
	v := os.Getenv("KINKO_SOAK_SECONDS")
	if v == "" {
		return soakDefault
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("KINKO_SOAK_SECONDS=%q: want a whole number of seconds", v)
	}
	return min(time.Duration(n)*time.Second, soakMax)
}

func soakValue(kind string, i int) string { return fmt.Sprintf("%s%s-%03d-end", soakMarker, kind, i) }

// flapSchedule is the upstream's life during the soak: working, then each transient fault in turn.
var flapSchedule = []struct {
	fault faultproxy.Fault
	for_  time.Duration
}{
	{faultproxy.None, 1500 * time.Millisecond},
	{faultproxy.Status500, 500 * time.Millisecond},
	{faultproxy.None, time.Second},
	{faultproxy.Status503, 500 * time.Millisecond},
	{faultproxy.None, time.Second},
	{faultproxy.Throttle, 500 * time.Millisecond},
	{faultproxy.None, time.Second},
	{faultproxy.Reset, 500 * time.Millisecond},
	{faultproxy.None, time.Second},
	{faultproxy.Hang, 700 * time.Millisecond},
	{faultproxy.None, time.Second},
	{faultproxy.Malformed, 500 * time.Millisecond},
	{faultproxy.None, time.Second},
	{faultproxy.Truncate, 500 * time.Millisecond},
	{faultproxy.None, time.Second},
	{faultproxy.Trickle, 500 * time.Millisecond},
}

// soakClass is a kind of request in the mix.
type soakClass string

const (
	hotSecret    soakClass = "hit: hot secret"
	hotParameter soakClass = "hit: hot parameter"
	coldSecret   soakClass = "cold secret (400 ids, cache of 128)"
	missing      soakClass = "missing secret"
	refreshNow   soakClass = "refreshNow of a hot secret"
	badToken     soakClass = "bad token"
	badRequest   soakClass = "unknown parameter"
)

// soakMix is the share of each class, in percent.
var soakMix = []struct {
	class soakClass
	pct   int
}{{hotSecret, 45}, {hotParameter, 10}, {coldSecret, 20}, {missing, 5}, {refreshNow, 5}, {badToken, 10}, {badRequest, 5}}

// soakStats counts outcomes; one mutex is plenty at these rates.
type soakStats struct {
	mu         sync.Mutex
	requests   int
	byOutcome  map[string]int // class | status | __type or Cache-Status outcome
	violations map[string]int
	example    string // the first violation, without any body
}

func (s *soakStats) record(class soakClass, outcome string, violation string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.byOutcome[string(class)+" | "+outcome]++
	if violation != "" {
		s.violations[violation]++
		if s.example == "" {
			s.example = string(class) + ": " + violation + " (" + outcome + ")"
		}
	}
}

// memoryKB reads VmRSS and VmHWM of this process (the extension runs inside it).
func memoryKB(t *testing.T) (rss, hwm int) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		switch name {
		case "VmRSS":
			rss = kb
		case "VmHWM":
			hwm = kb
		}
	}
	return rss, hwm
}

func TestSoak(t *testing.T) {
	length := soakDuration(t)
	a := startAWS(t)
	setupSoakData(t, a)

	var leaks, warnLines atomic.Int64
	var emf atomic.Value // the metrics line, written last: past what the buffer keeps
	logs := &syncBuffer{keep: 1 << 20, onWrite: func(p []byte) {
		if bytes.Contains(p, []byte(`"msg":"metrics"`)) {
			emf.Store(string(p))
		}
		if bytes.Contains(p, []byte(soakMarker)) {
			leaks.Add(1)
		}
		if bytes.Contains(p, []byte(`"level":"WARN"`)) || bytes.Contains(p, []byte(`"level":"ERROR"`)) {
			warnLines.Add(1)
		}
	}}
	prefetch := make([]string, 0, soakHot+soakHotParams)
	for i := range soakHot {
		prefetch = append(prefetch, fmt.Sprintf("soak/hot-%d", i))
	}
	for i := range soakHotParams {
		prefetch = append(prefetch, fmt.Sprintf("ssm:/soak/param-%d", i))
	}

	goroutinesBefore := runtime.NumGoroutine()
	rssBefore, _ := memoryKB(t)
	heapBefore := liveHeap()

	x := startExtensionLogging(t, a, map[string]string{
		"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL":  "INFO",
		"PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE": strconv.Itoa(soakCacheSize),
		"SECRETS_MANAGER_TTL":                     "2",
		"SSM_PARAMETER_STORE_TTL":                 "2",
		"SECRETS_MANAGER_TIMEOUT_MILLIS":          "1000",
		"SSM_PARAMETER_STORE_TIMEOUT_MILLIS":      "1000",
		"KINKO_STALE_IF_ERROR":                    "3600",
		"KINKO_PREFETCH":                          strings.Join(prefetch, ","),
	}, logs)
	x.waitLog(`"msg":"ready"`, fmt.Sprintf(`"prefetch":%d`, len(prefetch)), `"prefetch_failed":0`)

	stats := &soakStats{byOutcome: map[string]int{}, violations: map[string]int{}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxConnsPerHost: soakConnections, MaxIdleConnsPerHost: soakConnections, DisableCompression: true}}
	deadline := time.Now().Add(length)

	var peakGoroutines atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() { flap(a.proxy, deadline) })
	wg.Go(func() {
		for time.Now().Before(deadline) {
			n := int64(runtime.NumGoroutine())
			if n > peakGoroutines.Load() {
				peakGoroutines.Store(n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// Bounded in time by the deadline and in count by perWorker.
	const perWorker = 1 << 20
	for w := range soakConnections {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 0x6b696e6b6f))
			for range perWorker {
				if !time.Now().Before(deadline) {
					return
				}
				soakRequest(x, client, rng, stats)
			}
		})
	}
	wg.Wait()
	a.proxy.SetFault(faultproxy.None)
	_, hwmDuring := memoryKB(t)

	client.CloseIdleConnections()
	x.client.CloseIdleConnections()
	if err := x.stop(); err != nil {
		t.Errorf("run returned %v after SHUTDOWN", err)
	}
	metrics, _ := emf.Load().(string)
	if !strings.Contains(metrics, `"UpstreamCalls"`) {
		t.Error("no metrics line at SHUTDOWN")
	}
	a.proxy.Close()
	x.lambda.Close()
	goroutinesAfter := settleGoroutines(t, goroutinesBefore, 15*time.Second)
	heapAfter := liveHeap() // collects, and returns freed pages to the OS
	rssAfter, hwm := memoryKB(t)

	reportSoak(t, stats, length, soakReport{
		goroutinesBefore: goroutinesBefore, goroutinesPeak: int(peakGoroutines.Load()), goroutinesAfter: goroutinesAfter,
		rssBefore: rssBefore, rssAfter: rssAfter, hwm: max(hwm, hwmDuring), heapBefore: heapBefore, heapAfter: heapAfter, warnLines: warnLines.Load(), emf: strings.TrimSpace(metrics),
	})
	if leaks.Load() != 0 {
		t.Errorf("secret values appear in %d log writes", leaks.Load())
	}
	if strings.Contains(logs.String(), "panic") {
		t.Error("the extension's log mentions a panic")
	}
	if len(stats.violations) != 0 {
		t.Errorf("contract violations: %v; first: %s", stats.violations, stats.example)
	}
	if growth := int64(heapAfter) - int64(heapBefore); growth > soakHeapGrowth {
		t.Errorf("live heap grew by %.1f MiB over the soak, bound %d MiB", float64(growth)/(1<<20), soakHeapGrowth>>20)
	}
	peakBound := soakPeakRSS
	if raceEnabled {
		peakBound = soakPeakRSSRace
	} else if growth := (rssAfter - rssBefore) << 10; growth > soakRSSGrowth {
		t.Errorf("RSS grew by %d MiB over the soak, bound %d MiB", growth>>20, soakRSSGrowth>>20)
	}
	if peak := max(hwm, hwmDuring) << 10; peak > peakBound {
		t.Errorf("peak RSS %d MiB, bound %d MiB", peak>>20, peakBound>>20)
	}
}

// setupSoakData creates the soak's secrets and parameters, a few at a time.
func setupSoakData(t *testing.T, a *awsStack) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	create := func(f func()) {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			f()
		})
	}
	for i := range soakHot {
		create(func() { a.createSecret(t, fmt.Sprintf("soak/hot-%d", i), soakValue("hot", i)) })
	}
	for i := range soakCold {
		create(func() { a.createSecret(t, fmt.Sprintf("soak/cold-%d", i), soakValue("cold", i)) })
	}
	for i := range soakHotParams {
		create(func() {
			a.putParameter(t, fmt.Sprintf("/soak/param-%d", i), soakValue("param", i), ssmtypes.ParameterTypeSecureString)
		})
	}
	wg.Wait()
}

// flap cycles the proxy through flapSchedule until deadline.
func flap(p *faultproxy.Proxy, deadline time.Time) {
	for i := 0; time.Now().Before(deadline); i++ {
		step := flapSchedule[i%len(flapSchedule)]
		p.SetFault(step.fault)
		time.Sleep(min(step.for_, time.Until(deadline)))
	}
}

// soakRequest makes one request of a random class and records whether its answer keeps the contract.
func soakRequest(x *extension, client *http.Client, rng *rand.Rand, stats *soakStats) {
	class, roll := soakMix[0].class, rng.IntN(100)
	for _, m := range soakMix {
		if roll < m.pct {
			class = m.class
			break
		}
		roll -= m.pct
	}
	var path, value string
	token := testToken
	switch class {
	case hotSecret, refreshNow, badToken, badRequest:
		i := rng.IntN(soakHot)
		path, value = fmt.Sprintf("/secretsmanager/get?secretId=soak/hot-%d", i), soakValue("hot", i)
		switch class {
		case refreshNow:
			path += "&refreshNow=true"
		case badToken:
			token = testToken[:len(testToken)-1] + "X"
		case badRequest:
			path += "&secretID=x"
		}
	case hotParameter:
		i := rng.IntN(soakHotParams)
		path, value = fmt.Sprintf("/systemsmanager/parameters/get?name=%%2Fsoak%%2Fparam-%d&withDecryption=true", i), soakValue("param", i)
	case coldSecret:
		i := rng.IntN(soakCold)
		path, value = fmt.Sprintf("/secretsmanager/get?secretId=soak/cold-%d", i), soakValue("cold", i)
	case missing:
		path = fmt.Sprintf("/secretsmanager/get?secretId=soak/missing-%d", rng.IntN(1000))
	}
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", x.port, path), nil)
	req.Header.Set("X-Aws-Parameters-Secrets-Token", token)
	resp, err := client.Do(req)
	if err != nil {
		stats.record(class, "transport error", "no answer")
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		stats.record(class, fmt.Sprintf("%d, body cut short", resp.StatusCode), "answer cut short")
		return
	}
	outcome, violation := judge(class, resp.StatusCode, resp.Header.Get("Cache-Status"), string(body), value)
	stats.record(class, outcome, violation)
}

// judge names an answer's outcome and, if it breaks the contract, how.
func judge(class soakClass, status int, cacheStatus, body, value string) (outcome, violation string) {
	var e struct {
		Type string `json:"__type"`
	}
	if status != 200 {
		_ = json.Unmarshal([]byte(body), &e)
		outcome = fmt.Sprintf("%d %s", status, e.Type)
	} else {
		outcome = "200 " + cacheOutcome(cacheStatus)
	}
	hasMarker := strings.Contains(body, soakMarker)
	// Transient failures: what a caller gets when AWS fails and kinko has no value to give.
	transient := status >= 500 || status == 400 && e.Type == "ThrottlingException"
	switch {
	case hasMarker && status != 200:
		return outcome, "secret in an error answer"
	case status == 200 && (value == "" || !strings.Contains(body, value)):
		return outcome, "200 without the value asked for"
	case class == hotSecret || class == hotParameter:
		if status != 200 {
			return outcome, "error for a cached value"
		}
	case class == badToken:
		if status != 401 || e.Type != "AccessDeniedException" {
			return outcome, "bad token not refused with 401"
		}
	case class == badRequest:
		if status != 400 || e.Type != "InvalidRequest" {
			return outcome, "bad request not refused with 400"
		}
	case class == coldSecret, class == refreshNow:
		// Evicted or never fetched (cold), or asked to bypass the cache (refreshNow): AWS's
		// failure is the answer.
		if status != 200 && !transient {
			return outcome, "non-transient error for an existing secret"
		}
	case class == missing:
		if !transient && !(notFoundStatus(status) && e.Type == "ResourceNotFoundException") {
			return outcome, "missing secret not ResourceNotFound"
		}
	}
	return outcome, ""
}

// cacheOutcome is the part of Cache-Status that names how the answer was made.
func cacheOutcome(cs string) string {
	switch {
	case strings.HasPrefix(cs, "kinko; hit; ttl="):
		return "hit"
	case strings.HasPrefix(cs, "kinko; "):
		// Fresh answers carry their ttl: count them by kind, not by seconds left.
		cs, _, _ = strings.Cut(cs, "; ttl=")
		return strings.TrimPrefix(cs, "kinko; ")
	}
	return cs
}

type soakReport struct {
	goroutinesBefore, goroutinesPeak, goroutinesAfter int
	rssBefore, rssAfter, hwm                          int    // kB
	heapBefore, heapAfter                             uint64 // bytes of live heap after a collection
	warnLines                                         int64
	emf                                               string
}

func reportSoak(t *testing.T, s *soakStats, length time.Duration, r soakReport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Logf("soak | %s at %d connections, upstream flapping through %d faults | %d requests (%.0f/s) | %d contract violations |",
		length, soakConnections, len(flapSchedule)/2, s.requests, float64(s.requests)/length.Seconds(), len(s.violations))
	keys := make([]string, 0, len(s.byOutcome))
	for k := range s.byOutcome {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		t.Logf("soak-outcome | %s | %d |", k, s.byOutcome[k])
	}
	bounds := fmt.Sprintf("growth %d MiB, peak %d MiB", soakRSSGrowth>>20, soakPeakRSS>>20)
	if raceEnabled {
		bounds = fmt.Sprintf("race detector on: peak %d MiB; RSS growth reported, not bounded", soakPeakRSSRace>>20)
	}
	t.Logf("soak-memory | VmRSS before %d MiB, after %d MiB, peak (VmHWM) %d MiB | bounds: %s |",
		r.rssBefore>>10, r.rssAfter>>10, r.hwm>>10, bounds)
	t.Logf("soak-heap | live Go heap before %.1f MiB, after %.1f MiB | bound: growth %d MiB |",
		float64(r.heapBefore)/(1<<20), float64(r.heapAfter)/(1<<20), soakHeapGrowth>>20)
	t.Logf("soak-goroutines | before %d, peak %d, after %d |", r.goroutinesBefore, r.goroutinesPeak, r.goroutinesAfter)
	t.Logf("soak-logs | %d WARN/ERROR lines | metrics: %s", r.warnLines, r.emf)
}

// liveHeap collects garbage, returns freed pages to the OS, and reports the live heap: what the
// process still refers to, whatever its RSS (which the race detector's shadow memory inflates).
func liveHeap() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
