package bench

import (
	"context"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestColdPathReportJudgesTheGoals(t *testing.T) {
	one := func(v float64) Summary { return Summarize([]float64{v, v, v, v, v}) }
	res := &Results{Params: ParamsFor(true), ColdPath: &ColdPathResult{
		Rounds: 5, PerRound: 3,
		Register:  StartPair{Kinko: one(3.3), Bare: one(3), Ratio: one(1.1)},
		Next:      StartPair{Kinko: one(4.2), Bare: one(3), Ratio: one(1.4)},
		InitEmpty: one(4), InitLayer: one(7), InitExtra: one(3),
		BurstConns: 64, BurstDur: time.Second,
		KinkoRSS: one(9 * 1024), BareRSS: one(6.5 * 1024), KinkoHWM: one(13 * 1024), BareHWM: one(12.5 * 1024),
		InvokesPerRound: 40, InvokeKinko: one(0.01), InvokeBare: one(0.02),
	}, Sizes: []SizeRow{{What: "kinko extension (layer zip)", Arch: "arm64", BinBytes: 7_700_000, ZipBytes: 3_100_000}}}
	md := markdown(t, res)
	for _, want := range []string{
		"| exec -> `/register` | 3.30 ms (3.30 ms–3.30 ms) | 3.00 ms (3.00 ms–3.00 ms) | 1.10× (1.10×–1.10×) | <= 1.2× | met |",
		"| 1.40× (1.40×–1.40×) | <= 1.2× | **not met** |",
		"| <= 8 MiB | **not met** |",
		"| <= 14 MiB | met |",
		"| 3.00 ms (3.00 ms–3.00 ms) | <= +2 ms | **not met** |",
		"| 0.010 ms (0.010 ms–0.010 ms) | <= 0.05 ms | met |",
		"| layer zip, arm64 (binary 7.70 MB) | 3.10 MB | <= 3.00 MB | **not met** |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("section 8 lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "![") {
		t.Error("the report shows a plot that was not drawn")
	}
	res.Plot = "e2e/bench/results/headline.png"
	if md := markdown(t, res); !strings.Contains(md, "](e2e/bench/results/headline.png)") {
		t.Errorf("the report does not show the plot:\n%s", md)
	}
}

func TestPlotHeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headline.png")
	p := ParamsFor(true)
	if err := PlotHeadline(&Results{Params: p}, path); err == nil {
		t.Error("a plot with nothing to plot")
	}
	s := func(xs ...float64) Summary { return Summarize(xs) }
	res := &Results{Params: p, Warm: &WarmResult{}, Cold: &ColdResult{}}
	for _, d := range p.WarmDelays {
		res.Warm.Rows = append(res.Warm.Rows,
			WarmRow{Variant: varKinko().Name, Delay: d, Extra: s(0.5, 0.7, 0.9)},
			WarmRow{Variant: varSDK().Name, Delay: d, Extra: s(Ms(d)+4, Ms(d)+5, Ms(d)+9)},
			WarmRow{Variant: varGlobalCache().Name, Delay: d, Extra: s(-0.1, 0.05, 0.2)})
	}
	for _, d := range p.ColdDelays {
		for _, v := range []Variant{varKinko(), varKinkoNoPrefetch(), varSDK()} {
			res.Cold.Rows = append(res.Cold.Rows, ColdRow{Variant: v.Name, Delay: d, Init: 150 * time.Millisecond, Extra: s(5, Ms(d), Ms(d)+20)})
		}
	}
	if err := PlotHeadline(res, path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	// Two panels side by side, wider than high.
	if cfg.Width <= cfg.Height || cfg.Height < 300 {
		t.Errorf("plot is %dx%d", cfg.Width, cfg.Height)
	}
}

// The bare extension does what section 8 relies on: bind, register, /event/next, answer the
// given bytes behind the token, exit 0 at SHUTDOWN.
func TestBareExtension(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "bareext")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./bareext").CombinedOutput(); err != nil {
		t.Fatalf("go build ./bareext: %v\n%s", err, out)
	}
	k, err := StartKinko(t.Context(), KinkoOptions{Bin: bin, Upstream: "http://127.0.0.1:1", Token: "tok",
		Env: map[string]string{"BAREEXT_BODY": `{"Name":"x"}`}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	if k.StartToRegister <= 0 || k.StartToRegister > k.StartToNext {
		t.Errorf("exec -> /register %v, exec -> /event/next %v", k.StartToRegister, k.StartToNext)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	a, err := k.Get(context.Background(), client, "/anything")
	if err != nil || a.Status != http.StatusOK || string(a.Body) != `{"Name":"x"}` {
		t.Errorf("with the token: %d %q %v", a.Status, a.Body, err)
	}
	k.Token = "wrong"
	if a, err := k.Get(context.Background(), client, "/anything"); err != nil || a.Status != http.StatusUnauthorized {
		t.Errorf("with a wrong token: %d %v", a.Status, err)
	}
	client.CloseIdleConnections()
	if err := k.Stop(); err != nil {
		t.Errorf("at SHUTDOWN: %v: %s", err, k.Log())
	}
}
