package scale

import (
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinko-dev/kinko/e2e/stack"
)

// TestShortRun runs the whole program small (20 sandboxes, a 1 s TTL, a few seconds a
// scenario) so that it cannot rot, and checks behaviour, not timings: what the functions got
// and how many calls reached Secrets Manager, within bounds the contract sets.
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 kinko processes five times (about 30 s)")
	}
	root, err := stack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin, err := BuildKinko(t.Context(), root, dir)
	if err != nil {
		t.Fatal(err)
	}
	p := Short()
	r := &Runner{P: p, Kinko: bin, Log: t.Output()}
	runs, err := r.Record(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	scenarios := Analyze(p, runs)
	by := map[string]*Scenario{}
	for _, s := range scenarios {
		by[s.Key] = s
	}
	for _, k := range []string{"steady", "lockstep", "storm", "brownout", "cost"} {
		if by[k] == nil {
			t.Fatalf("scenario %s did not run; ran %d", k, len(scenarios))
		}
	}
	ids := p.Sandboxes * p.Secrets
	for _, s := range scenarios {
		if len(s.Leaked) > 0 {
			t.Errorf("%s: a secret value is in the log of sandboxes %v (not printed here)", s.Key, s.Leaked)
		}
	}

	t.Run("steady", func(t *testing.T) {
		s := by["steady"]
		win := span{p.TTL, 4 * p.TTL}
		reads := readsIn(s.Reads, win)
		if a := countAnswers(reads); a.Failed > 0 || a.Total == 0 {
			t.Errorf("steady state: %d of %d reads failed", a.Failed, a.Total)
		}
		// The cache works: the fleet reads far more than it calls, and it does refresh.
		calls := countCalls(s.Calls, win)
		if calls >= len(reads)/2 || float64(calls) < 0.5*p.ideal()*win.seconds() {
			t.Errorf("steady state: %d calls for %d reads; ideal %.0f", calls, len(reads), p.ideal()*win.seconds())
		}
		// Every sandbox signed with its own key, through kinko's SDK, and the stand-in told them apart.
		seen := map[int]bool{}
		for _, c := range s.Calls {
			if c.Sandbox < 0 || c.Sandbox >= p.Sandboxes {
				t.Fatalf("a call from an unknown sandbox: %+v", c)
			}
			seen[c.Sandbox] = true
		}
		if len(seen) != p.Sandboxes {
			t.Errorf("calls came from %d sandboxes, want %d", len(seen), p.Sandboxes)
		}
	})

	t.Run("lockstep", func(t *testing.T) {
		s := by["lockstep"]
		first := 0
		for _, rd := range s.Reads {
			if rd.First {
				first++
				if rd.Status != http.StatusOK {
					t.Errorf("lockstep: sandbox %d's first read of secret %d: %d %s", rd.Sandbox, rd.Secret, rd.Status, rd.CacheStatus)
				}
			}
		}
		if first != ids {
			t.Errorf("lockstep: %d first reads, want %d", first, ids)
		}
	})

	t.Run("storm", func(t *testing.T) {
		s := by["storm"]
		first := 0
		for _, rd := range s.Reads {
			if rd.First {
				first++
				// Every wait is bounded: each first read gets an answer inside the budget.
				if rd.Status == 0 {
					t.Errorf("storm: sandbox %d's first read of secret %d got no answer within %s", rd.Sandbox, rd.Secret, p.Budget)
				}
			}
		}
		if first != ids {
			t.Errorf("storm: %d first reads, want %d", first, ids)
		}
	})

	t.Run("brownout", func(t *testing.T) {
		s := by["brownout"]
		hang := span{p.TTL * 3 / 2, p.TTL*3/2 + p.Hang}
		if countCalls(s.Calls, hang, Hung) == 0 {
			t.Error("brownout: no call reached the hanging stand-in")
		}
		if countCalls(s.Calls, span{hang.To, hang.To + p.Unavailable}, Failed503) == 0 {
			t.Error("brownout: no call got a 503")
		}
		brown := span{hang.From, hang.To + p.Unavailable}
		reads := readsIn(s.Reads, brown)
		// Every function here had a value: while AWS fails it gets that value, never an error.
		if a := countAnswers(reads); a.Total == 0 || a.Failed > 0 {
			t.Errorf("brownout: %d of %d reads failed, though every sandbox held a value", a.Failed, a.Total)
		}
		// Backoff, not traffic: far fewer calls than reads reach the failing AWS.
		if calls := countCalls(s.Calls, brown); calls*2 > len(reads) {
			t.Errorf("brownout: %d calls reached AWS for %d reads: calls follow the traffic", calls, len(reads))
		}
	})

	t.Run("cost", func(t *testing.T) {
		c := by["cost"].Compare
		// The SDK fleet calls once per secret per invoke, no more, no less.
		if a := countAnswers(c.Reads); a.Failed > 0 || len(c.Calls) != c.Invokes*p.Secrets || c.Invokes == 0 {
			t.Errorf("SDK fleet: %d calls for %d invokes of %d secrets, %d reads failed", len(c.Calls), c.Invokes, p.Secrets, a.Failed)
		}
	})

	t.Run("report", func(t *testing.T) {
		figures := filepath.Join(dir, "figures")
		if err := os.MkdirAll(figures, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, s := range scenarios {
			if err := Plot(s, figures, p.Bin); err != nil {
				t.Fatal(err)
			}
			for _, f := range s.Plots {
				fh, err := os.Open(f)
				if err != nil {
					t.Fatal(err)
				}
				cfg, err := png.DecodeConfig(fh)
				fh.Close()
				if err != nil || cfg.Width < 400 || cfg.Height < 200 {
					t.Errorf("%s: %v, %dx%d", f, err, cfg.Width, cfg.Height)
				}
			}
		}
		md, err := Markdown(NewReport(p, Meta{Commands: []string{"go test"}}, scenarios, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range scenarios {
			if !strings.Contains(md, "## "+s.Title) || !strings.Contains(md, "](figures/"+s.Key+"-calls.png)") {
				t.Errorf("the report lacks scenario %q or its plot", s.Title)
			}
		}
		if !strings.Contains(md, "## Must show") || !strings.Contains(md, "## On paper") {
			t.Error("the report lacks its Must show table or its closing section")
		}
		// A recorded run renders again to the same report.
		path := filepath.Join(dir, "run.json")
		if err := SaveRecorded(path, Recorded{Params: p, Runs: runs}); err != nil {
			t.Fatal(err)
		}
		rec, err := LoadRecorded(path)
		if err != nil {
			t.Fatal(err)
		}
		again := Analyze(rec.Params, rec.Runs)
		for _, s := range again {
			s.Plots = by[s.Key].Plots
		}
		if mdAgain, err := Markdown(NewReport(rec.Params, Meta{Commands: []string{"go test"}}, again, dir)); err != nil || mdAgain != md {
			t.Error("the report rendered again from the recorded run differs from the original")
		}
	})
}
