package bench

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{5, 1, 4, 2, 3})
	if s.N != 5 || s.Median != 3 || s.Min != 1 || s.Max != 5 {
		t.Errorf("Summarize = %+v", s)
	}
	if got := Summarize([]float64{1, 2, 3, 4}).Median; got != 2.5 {
		t.Errorf("median of an even count = %v, want 2.5", got)
	}
	if got := Percentile([]float64{0, 10}, 90); math.Abs(got-9) > 1e-9 {
		t.Errorf("p90 of [0 10] = %v, want 9", got)
	}
	if Summarize(nil).N != 0 || Summarize(nil).Format(msf) != "n/a" {
		t.Error("an empty set should summarise to n/a")
	}
	if got := Summarize([]float64{1.5, 0.2, 12}).Format(msf); got != "1.50 ms (0.200 ms–12.0 ms)" {
		t.Errorf("Format = %q", got)
	}
}

const wrkReport = `Running 1s test @ http://127.0.0.1:37853/secretsmanager/get?secretId=bench-wrk-1
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   706.91us    1.88ms  14.00ms   92.03%
    Req/Sec     6.02k     1.04k    7.25k    80.00%
  Latency Distribution
     50%  151.00us
     75%  183.00us
     90%    1.62ms
     99%   10.00ms
  6000 requests in 1.00s, 2.83MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:   5994.09
Transfer/sec:      2.82MB
`

func TestParseWrk(t *testing.T) {
	r, err := ParseWrk(wrkReport)
	if err != nil {
		t.Fatal(err)
	}
	want := WrkResult{RPS: 5994.09, P50: 151 * time.Microsecond, P99: 10 * time.Millisecond, Requests: 6000, Non2xx: 7, Errors: 3}
	if r != want {
		t.Errorf("ParseWrk = %+v, want %+v", r, want)
	}
	if _, err := ParseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("a report without figures parsed")
	}
	for in, want := range map[string]time.Duration{"1.50ms": 1500 * time.Microsecond, "2.00s": 2 * time.Second, "1.00m": time.Minute, "12us": 12 * time.Microsecond} {
		if got, err := parseWrkDuration(in); err != nil || got != want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
BenchmarkHitHandler-2     12202   9215 ns/op   1532 B/op   17 allocs/op
BenchmarkHitHandler-2     14016   8448 ns/op   1532 B/op   17 allocs/op
BenchmarkHitLoopback-2     9000 133000 ns/op   6400 B/op   80 allocs/op
PASS
`
	lines := ParseGoBench(out)
	if len(lines) != 2 || lines[0].Name != "BenchmarkHitHandler" || lines[1].Name != "BenchmarkHitLoopback" {
		t.Fatalf("ParseGoBench = %+v", lines)
	}
	if l := lines[0]; l.NsPerOp.N != 2 || l.NsPerOp.Median != (9215+8448)/2.0 || l.BPerOp.Median != 1532 || l.Allocs.Median != 17 {
		t.Errorf("HitHandler = %+v", l)
	}
}

func TestInitDuration(t *testing.T) {
	log := "29 Nov 2026 02:24:52,755 [INFO] (rapid) INIT REPORT(durationMs: 157.612000)\nREPORT RequestId: x Init Duration: 0.03 ms\n"
	d, ok := InitDuration(log)
	if !ok || d != 157612*time.Microsecond {
		t.Errorf("InitDuration = %v, %v", d, ok)
	}
	if _, ok := InitDuration("REPORT RequestId: x Init Duration: 0.03 ms"); ok {
		t.Error("read the REPORT line's Init Duration, which is wrong under the emulator")
	}
}

func TestFloorChecksTheTokenAndAnswersTheSameBytes(t *testing.T) {
	a := Answer{Status: 200, Header: http.Header{"Content-Type": {"application/json"}, "Cache-Status": {"kinko; hit; ttl=287"},
		"Date": {"Sun, 29 Nov 2026 02:00:00 GMT"}}, Body: []byte(`{"Name":"x"}`)}
	srv := httptest.NewServer(FloorHandler("tok", a))
	defer srv.Close()
	get := func(token string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/secretsmanager/get?secretId=x", nil)
		if token != "" {
			req.Header.Set(TokenHeader, token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := get("tok")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"Name":"x"}` || resp.Header.Get("Cache-Status") != "kinko; hit; ttl=287" {
		t.Errorf("with the token: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	for _, bad := range []string{"", "tok2", "to"} {
		if resp := get(bad); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token %q: status %d, want 401", bad, resp.StatusCode)
		} else {
			resp.Body.Close()
		}
	}
	// An empty expected token refuses everything, as kinko does.
	empty := httptest.NewRecorder()
	FloorHandler("", a).ServeHTTP(empty, httptest.NewRequest(http.MethodGet, "/", nil))
	if empty.Code != http.StatusUnauthorized {
		t.Errorf("empty expected token: %d, want 401", empty.Code)
	}
}

func TestThousandsAndDurations(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 208.3: "208", 62500: "62,500", 1e6: "1,000,000"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
	for d, want := range map[time.Duration]string{0: "0 ms", 20 * time.Millisecond: "20 ms", 6 * time.Second: "6 s"} {
		if got := durf(d); got != want {
			t.Errorf("durf(%v) = %q, want %q", d, got, want)
		}
	}
}

// markdown renders res as the report at /repo, failing the test on a template error.
func markdown(t *testing.T, res *Results) string {
	t.Helper()
	md, err := Markdown(res, "/repo")
	if err != nil {
		t.Fatal(err)
	}
	return md
}

func TestMarkdownSaysWhereKinkoLoses(t *testing.T) {
	p := ParamsFor(true)
	// Nothing measured: a report that says so, no panic.
	if md := markdown(t, &Results{Params: p, Failures: []string{"wrk: not found\nmore"}}); !strings.Contains(md, "wrk: not found …") {
		t.Errorf("failures not listed:\n%s", md)
	}
	one := func(v float64) Summary { return Summarize([]float64{v, v, v, v, v}) }
	res := &Results{Params: p, Warm: &WarmResult{}, Cold: &ColdResult{}}
	for _, d := range p.WarmDelays {
		for _, r := range []WarmRow{{Variant: varEmpty().Name}, {Variant: varKinko().Name, Extra: one(0.6)}, {Variant: varGlobalCache().Name, Extra: one(0.1)}} {
			r.Delay = d
			res.Warm.Rows = append(res.Warm.Rows, r)
		}
		res.Warm.Compare = append(res.Warm.Compare, WarmCompare{Delay: d, What: "via kinko − global cache (extra)", Unit: "ms", Value: one(0.5)})
	}
	slow := slices.Max(p.ColdInits)
	for _, d := range p.ColdDelays {
		res.Cold.Rows = append(res.Cold.Rows,
			ColdRow{Variant: varKinko().Name, Delay: d, Init: slow, Extra: one(8)},
			ColdRow{Variant: varKinkoNoPrefetch().Name, Delay: d, Init: slow, Extra: one(Ms(d) + 10)})
	}
	md := markdown(t, res)
	for _, want := range []string{"a value cached in a global is faster warm than kinko", "0.500 ms", "the upstream latency is hidden"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestMarkdownReportsTheClientCache(t *testing.T) {
	p := ParamsFor(true)
	one := func(v float64) Summary { return Summarize([]float64{v, v, v, v, v}) }
	res := &Results{Params: p, Warm: &WarmResult{}}
	for i, d := range p.WarmDelays {
		for _, r := range []WarmRow{{Variant: varEmpty().Name}, {Variant: varGlobalCache().Name, Extra: one(0.1)}, {Variant: varKinkoClientCache().Name, Extra: one(0.13)}} {
			r.Delay = d
			res.Warm.Rows = append(res.Warm.Rows, r)
		}
		gap := 0.03
		if i == 0 {
			gap = 0.08
		}
		res.Warm.Compare = append(res.Warm.Compare, WarmCompare{Delay: d, What: "via kinko, client cache − global cache (extra)", Unit: "ms", Value: one(gap)})
	}
	md := markdown(t, res)
	for _, want := range []string{"| via kinko, client cache |", "With the Go client's cache",
		fmt.Sprintf("met at %d of %d upstream latencies", len(p.WarmDelays)-1, len(p.WarmDelays)), "0.080 ms (0.080 ms–0.080 ms) at +0 ms"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
