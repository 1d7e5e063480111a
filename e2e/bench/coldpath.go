package bench

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/kinko-dev/kinko/e2e/stack"
)

func varEmptyBare() Variant {
	return Variant{Name: "empty + bare extension", Function: "empty", BareLayer: true}
}

func varEmptyLate() Variant {
	return Variant{Name: "empty + kinko registering late", Function: "empty", Layer: true, NoEarly: true}
}

// installExtension makes opt an /opt holding bin alone, as opt/extensions/name.
func installExtension(bin, opt, name string) error {
	b, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	dir := filepath.Join(opt, "extensions")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), b, 0o755)
}

// StartPair is one start milestone: kinko and the bare extension, and kinko ÷ bare per round.
type StartPair struct {
	Kinko, Bare Summary // ms from exec, across rounds (each round's median)
	Ratio       Summary // kinko's median ÷ the bare one's, same round
	// Late is kinko registering from main (KINKO_EARLY_REGISTER=false), as before the early start.
	Late, LateRatio Summary
}

// ColdPathResult is the cold-path section: kinko's start and footprint against a bare Go
// extension (e2e/bench/bareext) that binds, registers for SHUTDOWN and waits, and the INIT
// REPORT of a Go function with and without the layer.
type ColdPathResult struct {
	Rounds, PerRound int
	Register, Next   StartPair // exec -> /register, exec -> first /event/next
	// Serving is exec -> the first HTTP answer on the port: kinko registers and sends /event/next
	// before its heavy packages have initialised, and a request waits in the listen backlog meanwhile.
	Serving StartPair

	InitEmpty, InitLayer, InitExtra Summary // ms: INIT REPORT without, with the layer; with − without, same round
	InitBare, InitBareExtra         Summary // ms: INIT REPORT with the bare extension; its extra, same round
	InitLate, InitLateExtra         Summary // ms: the same with KINKO_EARLY_REGISTER=false

	// Per-invoke cost of an extension: warm invokes of the empty function with kinko and with
	// the bare extension (subscribed to SHUTDOWN only), minus the empty function alone, same round.
	InvokesPerRound         int
	InvokeKinko, InvokeBare Summary // ms

	BurstConns                  int
	BurstDur                    time.Duration
	KinkoRSS, BareRSS           Summary // KiB, idle after start and one answer
	KinkoAnon, BareAnon         Summary // KiB, the anonymous part of that (heap, stacks); the rest is the binary's pages
	KinkoHWM, BareHWM           Summary // KiB, VmHWM after a BurstConns-connection wrk burst
	KinkoBurstRPS, BareBurstRPS Summary
}

// ColdPath measures the section. Starts: each round runs the bare extension and kinko
// PerRound times each, alternating, every start a fresh process against a fresh fake
// Extensions API; the round's medians are compared. Footprint: per round one kinko (one
// secret prefetched from moto) and one bare extension answering kinko's bytes, idle RSS, then
// a wrk burst each and VmHWM. INIT REPORT: per round a fresh emulator sandbox of the empty Go
// function without and with the layer, in alternating order.
func (h *Harness) ColdPath(ctx context.Context) (ColdPathResult, error) {
	p := h.P
	res := ColdPathResult{Rounds: p.Rounds, PerRound: p.ColdPathStarts, BurstConns: 64, BurstDur: p.ColdPathBurst}
	raw := h.rawCSV("coldpath-starts.csv", "round,variant,register_ms,next_ms,serving_ms")
	defer raw.flush()
	// 0 kinko (registering during package initialisation), 1 the bare extension, 2 kinko
	// registering from main, as before the early start (KINKO_EARLY_REGISTER=false).
	type starter struct {
		name string
		bin  string
		env  map[string]string
	}
	kinko := h.Bin.Kinko[runtime.GOARCH]
	starters := []starter{{"kinko", kinko, nil}, {"bare", h.Bin.BareExt, nil}, {"kinko-late", kinko, map[string]string{"KINKO_EARLY_REGISTER": "false"}}}
	const n = 3
	var reg, next, serve [n][]float64 // per round medians
	var regRatio, nextRatio, serveRatio [n][]float64
	for r := range p.Rounds {
		fmt.Fprintf(h.Cfg.Log, "  starts, round %d/%d\n", r+1, p.Rounds)
		var rr, nn, ss [n][]float64
		for i := range n * p.ColdPathStarts {
			// ABC CBA: none always runs right after another.
			which := i % n
			if (i/n)%2 == 1 {
				which = n - 1 - which
			}
			st := starters[which]
			env := map[string]string{"KINKO_PREFETCH": ""}
			maps.Copy(env, st.env)
			k, err := StartKinko(ctx, KinkoOptions{Bin: st.bin, Upstream: h.moto.URL, Token: randomToken(), Env: env})
			if err != nil {
				return res, fmt.Errorf("%s: %w", st.name, err)
			}
			serving, err := k.Serving(ctx)
			if err != nil {
				k.Stop()
				return res, fmt.Errorf("%s's first answer: %w", st.name, err)
			}
			if err := k.Stop(); err != nil {
				return res, fmt.Errorf("%s at SHUTDOWN: %w: %s", st.name, err, k.Log())
			}
			rr[which] = append(rr[which], Ms(k.StartToRegister))
			nn[which] = append(nn[which], Ms(k.StartToNext))
			ss[which] = append(ss[which], Ms(serving))
			raw.add(r+1, st.name, Ms(k.StartToRegister), Ms(k.StartToNext), Ms(serving))
		}
		for w := range n {
			reg[w] = append(reg[w], Summarize(rr[w]).Median)
			next[w] = append(next[w], Summarize(nn[w]).Median)
			serve[w] = append(serve[w], Summarize(ss[w]).Median)
		}
		for _, w := range []int{0, 2} {
			regRatio[w] = append(regRatio[w], reg[w][r]/reg[1][r])
			nextRatio[w] = append(nextRatio[w], next[w][r]/next[1][r])
			serveRatio[w] = append(serveRatio[w], serve[w][r]/serve[1][r])
		}
	}
	pair := func(v [n][]float64, ratio [n][]float64) StartPair {
		return StartPair{Kinko: Summarize(v[0]), Bare: Summarize(v[1]), Ratio: Summarize(ratio[0]),
			Late: Summarize(v[2]), LateRatio: Summarize(ratio[2])}
	}
	res.Register, res.Next, res.Serving = pair(reg, regRatio), pair(next, nextRatio), pair(serve, serveRatio)

	if h.Cfg.Wrk == "" {
		return res, fmt.Errorf("footprint: wrk not found on PATH (apt-get install wrk; make bench installs it)")
	}
	var krss, brss, kanon, banon, khwm, bhwm, krps, brps []float64
	for r := range p.Rounds {
		fmt.Fprintf(h.Cfg.Log, "  footprint, round %d/%d\n", r+1, p.Rounds)
		m, err := h.footprintRound(ctx, r%2 == 1)
		if err != nil {
			return res, err
		}
		krss, brss = append(krss, float64(m.kinkoIdle.RSSKiB)), append(brss, float64(m.bareIdle.RSSKiB))
		kanon, banon = append(kanon, float64(m.kinkoIdle.AnonKiB)), append(banon, float64(m.bareIdle.AnonKiB))
		khwm, bhwm = append(khwm, float64(m.kinkoLoaded.HWMKiB)), append(bhwm, float64(m.bareLoaded.HWMKiB))
		krps, brps = append(krps, m.kinkoRPS), append(brps, m.bareRPS)
	}
	res.KinkoRSS, res.BareRSS, res.KinkoHWM, res.BareHWM = Summarize(krss), Summarize(brss), Summarize(khwm), Summarize(bhwm)
	res.KinkoBurstRPS, res.BareBurstRPS = Summarize(krps), Summarize(brps)
	res.KinkoAnon, res.BareAnon = Summarize(kanon), Summarize(banon)

	var ie, il, ix, ib, ibx, id, idx []float64
	for r := range p.Rounds {
		fmt.Fprintf(h.Cfg.Log, "  INIT REPORT, round %d/%d\n", r+1, p.Rounds)
		vs := []Variant{varEmpty(), varEmptyLayer(), varEmptyBare(), varEmptyLate()}
		if r%2 == 1 {
			slices.Reverse(vs)
		}
		got := map[string]float64{}
		for _, v := range vs {
			d, err := h.initReport(ctx, v)
			if err != nil {
				return res, err
			}
			got[v.Name] = Ms(d)
		}
		e, l, b, d := got[varEmpty().Name], got[varEmptyLayer().Name], got[varEmptyBare().Name], got[varEmptyLate().Name]
		ie, il, ix, ib, ibx = append(ie, e), append(il, l), append(ix, l-e), append(ib, b), append(ibx, b-e)
		id, idx = append(id, d), append(idx, d-e)
	}
	res.InitBare, res.InitBareExtra = Summarize(ib), Summarize(ibx)
	res.InitLate, res.InitLateExtra = Summarize(id), Summarize(idx)

	res.InvokesPerRound = p.ColdPathInvokes
	var err error
	if res.InvokeKinko, res.InvokeBare, err = h.perInvoke(ctx); err != nil {
		return res, err
	}
	res.InitEmpty, res.InitLayer, res.InitExtra = Summarize(ie), Summarize(il), Summarize(ix)
	return res, nil
}

type footprintSample struct {
	kinkoIdle, bareIdle, kinkoLoaded, bareLoaded Memory
	kinkoRPS, bareRPS                            float64
}

// footprintRound runs kinko and the bare extension side by side: idle memory once each has
// answered one request, then a wrk burst each (bareFirst says who goes first) and the peak.
func (h *Harness) footprintRound(ctx context.Context, bareFirst bool) (footprintSample, error) {
	var f footprintSample
	name := h.newSecretName("footprint")
	if err := h.createSecret(ctx, name); err != nil {
		return f, err
	}
	path := "/secretsmanager/get?" + url.Values{"secretId": {name}}.Encode()
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	k, err := StartKinko(ctx, KinkoOptions{Bin: h.Bin.Kinko[runtime.GOARCH], Upstream: h.moto.URL, Token: randomToken(),
		Env: map[string]string{"KINKO_PREFETCH": name}})
	if err != nil {
		return f, err
	}
	defer k.Stop()
	answer, err := k.WaitHit(ctx, client, path, 10*time.Second)
	if err != nil {
		return f, err
	}
	b, err := StartKinko(ctx, KinkoOptions{Bin: h.Bin.BareExt, Upstream: h.moto.URL, Token: k.Token,
		Env: map[string]string{"BAREEXT_BODY": string(answer.Body)}})
	if err != nil {
		return f, fmt.Errorf("bare extension: %w", err)
	}
	defer b.Stop()
	if a, err := b.Get(ctx, client, path); err != nil || a.Status != http.StatusOK {
		return f, fmt.Errorf("bare extension's answer: %d %v", a.Status, err)
	}
	client.CloseIdleConnections()
	if f.kinkoIdle, err = k.Memory(); err != nil {
		return f, err
	}
	if f.bareIdle, err = b.Memory(); err != nil {
		return f, err
	}
	burst := func(p *Kinko, label string) (float64, error) {
		w, _, err := RunWrk(ctx, h.Cfg.Wrk, p.URL+path, p.Token, 64, h.P.ColdPathBurst)
		if err == nil && w.Non2xx > 0 {
			err = fmt.Errorf("%d non-2xx answers", w.Non2xx)
		}
		if err != nil {
			return 0, fmt.Errorf("wrk burst against %s: %w", label, err)
		}
		return w.RPS, nil
	}
	order := []*Kinko{k, b}
	if bareFirst {
		order = []*Kinko{b, k}
	}
	for _, p := range order {
		label := map[*Kinko]string{k: "kinko", b: "the bare extension"}[p]
		rps, err := burst(p, label)
		if err != nil {
			return f, err
		}
		if p == k {
			f.kinkoRPS = rps
		} else {
			f.bareRPS = rps
		}
	}
	if f.kinkoLoaded, err = k.Memory(); err != nil {
		return f, err
	}
	if f.bareLoaded, err = b.Memory(); err != nil {
		return f, err
	}
	if err := b.Stop(); err != nil {
		return f, fmt.Errorf("bare extension at SHUTDOWN: %w: %s", err, b.Log())
	}
	return f, k.Stop()
}

// perInvoke starts the empty function alone, with kinko and with the bare extension, warms
// each, then takes rounds of ColdPathInvokes invokes each, one at a time in turn, and returns
// the extras of the round medians over the function alone.
func (h *Harness) perInvoke(ctx context.Context) (kinko, bare Summary, err error) {
	vs := []Variant{varEmpty(), varEmptyLayer(), varEmptyBare()}
	stacks := make([]*stack.Stack, len(vs))
	defer func() { _ = closeAll(stacks...) }()
	for i, v := range vs {
		if stacks[i], err = h.startSandbox(ctx, v, 0, 0, nil); err != nil {
			return kinko, bare, err
		}
		for range 3 {
			if _, err := invoke(ctx, stacks[i]); err != nil {
				return kinko, bare, fmt.Errorf("%s: warming up: %w\n%s", v.Name, err, stacks[i].EmulatorLog())
			}
		}
	}
	var xk, xb []float64
	for r := range h.P.Rounds {
		fmt.Fprintf(h.Cfg.Log, "  per-invoke cost, round %d/%d\n", r+1, h.P.Rounds)
		samples := make([][]float64, len(vs))
		for range h.P.ColdPathInvokes {
			for i, st := range stacks {
				d, err := invoke(ctx, st)
				if err != nil {
					return kinko, bare, fmt.Errorf("%s: %w", vs[i].Name, err)
				}
				samples[i] = append(samples[i], Ms(d))
			}
		}
		e := Summarize(samples[0]).Median
		xk, xb = append(xk, Summarize(samples[1]).Median-e), append(xb, Summarize(samples[2]).Median-e)
	}
	return Summarize(xk), Summarize(xb), closeAll(stacks...)
}

// initReport starts a fresh sandbox of v, invokes it once and reads the INIT REPORT line.
func (h *Harness) initReport(ctx context.Context, v Variant) (time.Duration, error) {
	st, err := h.startSandbox(ctx, v, 0, 0, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = st.Close() }()
	if _, err := invoke(ctx, st); err != nil {
		return 0, fmt.Errorf("%s first invoke: %w\n%s", v.Name, err, st.EmulatorLog())
	}
	// The line may trail the answer by a moment: poll for it within a bound.
	deadline := time.Now().Add(2 * time.Second)
	for {
		if d, ok := InitDuration(st.EmulatorLog()); ok {
			return d, st.Close()
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: no INIT REPORT line in the emulator's log:\n%s", v.Name, st.EmulatorLog())
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
