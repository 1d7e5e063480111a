package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/kinko-dev/kinko/internal/faultproxy"
)

// WrkRow is one connection count: kinko and the floor, across rounds.
type WrkRow struct {
	Conns                     int
	KinkoRPS, FloorRPS, Ratio Summary // ratio = kinko/floor requests per second, same round
	KinkoP50, KinkoP99        Summary // ms
	FloorP50, FloorP99        Summary // ms
	P99Ratio                  Summary // kinko/floor p99, same round
	// CostUs is what kinko spends per request beyond the floor, 1/kinko − 1/floor requests
	// per second, same round: with the machine saturated, its extra CPU time per request.
	CostUs Summary
}

// LoopbackResult is section 2 and the process figures of section 6.
type LoopbackResult struct {
	Rounds      int
	Dur         time.Duration
	Path        string
	Bytes       int // body bytes of each answer
	Rows        []WrkRow
	StartToNext Summary  // ms from exec to the first /event/next
	RSSIdle     Summary  // KiB, after start and prefetch
	HWMLoaded   Summary  // KiB, VmHWM after the wrk runs
	Retries     []string // wrk runs taken again after socket errors, and why
}

// Loopback runs kinko as a real process (the stripped binary of the layer) against a fake
// Extensions API, with one secret prefetched from moto, and loads it with wrk at each
// connection count, then the floor with kinko's own answer, in the same round. A fresh kinko
// process per round gives the start and memory figures too.
func (h *Harness) Loopback(ctx context.Context, rawDir string) (LoopbackResult, error) {
	res := LoopbackResult{Rounds: h.P.Rounds, Dur: h.P.WrkDur}
	proxy, err := faultproxy.Start(h.moto.URL)
	if err != nil {
		return res, err
	}
	defer proxy.Close()
	name := h.newSecretName("wrk")
	if err := h.createSecret(ctx, name); err != nil {
		return res, err
	}
	res.Path = "/secretsmanager/get?" + url.Values{"secretId": {name}}.Encode()
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()

	type acc struct{ krps, frps, ratio, kp50, kp99, fp50, fp99, p99r, cost []float64 }
	accs := make([]acc, len(h.P.WrkConns))
	var startToNext, rss, hwm []float64
	for r := range h.P.Rounds {
		fmt.Fprintf(h.Cfg.Log, "  wrk, round %d/%d\n", r+1, h.P.Rounds)
		err := func() error {
			k, err := StartKinko(ctx, KinkoOptions{Bin: h.Bin.Kinko[runtime.GOARCH], Upstream: proxy.URL, Token: randomToken(),
				Env: map[string]string{"KINKO_PREFETCH": name}})
			if err != nil {
				return err
			}
			defer k.Stop()
			startToNext = append(startToNext, Ms(k.StartToNext))
			answer, err := k.WaitHit(ctx, client, res.Path, 10*time.Second)
			if err != nil {
				return err
			}
			res.Bytes = len(answer.Body)
			client.CloseIdleConnections()
			m, err := k.Memory()
			if err != nil {
				return err
			}
			rss = append(rss, float64(m.RSSKiB))
			floor, err := StartFloor(k.Token, answer)
			if err != nil {
				return err
			}
			defer floor.Close()
			kURL, fURL := k.URL+res.Path, floor.URL+res.Path
			// A run with socket errors (timeouts: the shared machine stalled) is taken again, at most
			// twice, and counted; a non-2xx answer is a broken setup and ends the section.
			run := func(target, label string, conns int, dur time.Duration) (WrkResult, error) {
				for attempt := 1; ; attempt++ {
					w, out, err := RunWrk(ctx, h.Cfg.Wrk, target, k.Token, conns, dur)
					_ = os.WriteFile(filepath.Join(rawDir, fmt.Sprintf("wrk-r%d-%s-c%d-try%d.txt", r+1, label, conns, attempt)), []byte(out), 0o644)
					switch {
					case err != nil:
						return w, err
					case w.Non2xx > 0:
						return w, fmt.Errorf("wrk against %s at %d connections: %d non-2xx answers", label, conns, w.Non2xx)
					case w.Errors == 0:
						return w, nil
					case attempt == 3:
						return w, fmt.Errorf("wrk against %s at %d connections: socket errors in %d runs in a row", label, conns, attempt)
					}
					res.Retries = append(res.Retries, fmt.Sprintf("round %d, %s at %d connections: %d socket errors, p99 %s", r+1, label, conns, w.Errors, w.P99))
					fmt.Fprintf(h.Cfg.Log, "    wrk against %s at %d connections: %d socket errors; again\n", label, conns, w.Errors)
				}
			}
			if h.P.WrkWarmup {
				if _, err := run(kURL, "warmup-kinko", 16, time.Second); err != nil {
					return err
				}
				if _, err := run(fURL, "warmup-floor", 16, time.Second); err != nil {
					return err
				}
			}
			for i, conns := range h.P.WrkConns {
				// Alternate who goes first, so neither always runs on a machine just warmed by the other.
				var kr, fr WrkResult
				var err error
				if r%2 == 0 {
					if kr, err = run(kURL, "kinko", conns, h.P.WrkDur); err == nil {
						fr, err = run(fURL, "floor", conns, h.P.WrkDur)
					}
				} else {
					if fr, err = run(fURL, "floor", conns, h.P.WrkDur); err == nil {
						kr, err = run(kURL, "kinko", conns, h.P.WrkDur)
					}
				}
				if err != nil {
					return err
				}
				a := &accs[i]
				a.krps = append(a.krps, kr.RPS)
				a.frps = append(a.frps, fr.RPS)
				a.ratio = append(a.ratio, kr.RPS/fr.RPS)
				a.kp50 = append(a.kp50, Ms(kr.P50))
				a.kp99 = append(a.kp99, Ms(kr.P99))
				a.fp50 = append(a.fp50, Ms(fr.P50))
				a.fp99 = append(a.fp99, Ms(fr.P99))
				a.p99r = append(a.p99r, float64(kr.P99)/float64(fr.P99))
				a.cost = append(a.cost, (1/kr.RPS-1/fr.RPS)*1e6)
			}
			if m, err = k.Memory(); err != nil {
				return err
			}
			hwm = append(hwm, float64(m.HWMKiB))
			return nil
		}()
		if err != nil {
			return res, err
		}
	}
	for i, conns := range h.P.WrkConns {
		a := accs[i]
		res.Rows = append(res.Rows, WrkRow{Conns: conns, KinkoRPS: Summarize(a.krps), FloorRPS: Summarize(a.frps), Ratio: Summarize(a.ratio),
			KinkoP50: Summarize(a.kp50), KinkoP99: Summarize(a.kp99), FloorP50: Summarize(a.fp50), FloorP99: Summarize(a.fp99), P99Ratio: Summarize(a.p99r), CostUs: Summarize(a.cost)})
	}
	res.StartToNext, res.RSSIdle, res.HWMLoaded = Summarize(startToNext), Summarize(rss), Summarize(hwm)
	return res, nil
}

// ConcurrentCold starts kinko without a prefetch, upstream ConcDelay away, and sends
// Concurrent requests for the same secret at once: singleflight must make one upstream call.
// Each run is a fresh process.
func (h *Harness) ConcurrentCold(ctx context.Context) (calls Summary, allOK bool, err error) {
	proxy, err := faultproxy.Start(h.moto.URL)
	if err != nil {
		return calls, false, err
	}
	defer proxy.Close()
	proxy.SetDelay(h.P.ConcDelay)
	var counts []float64
	allOK = true
	for range h.P.Rounds {
		name := h.newSecretName("burst")
		if err := h.createSecret(ctx, name); err != nil {
			return calls, false, err
		}
		proxy.ResetCounts()
		n, ok, err := h.burst(ctx, proxy, name)
		if err != nil {
			return calls, false, err
		}
		allOK = allOK && ok
		counts = append(counts, float64(n))
	}
	return Summarize(counts), allOK, nil
}

func (h *Harness) burst(ctx context.Context, proxy *faultproxy.Proxy, name string) (int, bool, error) {
	k, err := StartKinko(ctx, KinkoOptions{Bin: h.Bin.Kinko[runtime.GOARCH], Upstream: proxy.URL, Token: randomToken(),
		Env: map[string]string{"KINKO_PREFETCH": ""}})
	if err != nil {
		return 0, false, err
	}
	defer k.Stop()
	// A connection each: released together, every request reaches kinko well inside the
	// upstream delay, so all of them find the first one's fetch in flight.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: h.P.Concurrent, MaxConnsPerHost: h.P.Concurrent},
		Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	path := "/secretsmanager/get?" + url.Values{"secretId": {name}}.Encode()
	go0 := make(chan struct{})
	statuses := make([]int, h.P.Concurrent)
	var wg sync.WaitGroup
	for i := range h.P.Concurrent {
		wg.Go(func() {
			<-go0
			a, err := k.Get(ctx, client, path)
			if err == nil {
				statuses[i] = a.Status
			}
		})
	}
	close(go0)
	wg.Wait()
	ok := true
	for _, s := range statuses {
		ok = ok && s == http.StatusOK
	}
	return proxy.Calls("GetSecretValue"), ok, k.Stop()
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "bench-session-" + hex.EncodeToString(b)
}
