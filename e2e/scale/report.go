package scale

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// Meta is what the report's header says about the run.
type Meta struct {
	Started   time.Time
	Took      time.Duration
	Commit    string
	Machine   string
	LoadStart string
	LoadEnd   string
	Commands  []string
	Notes     []string // about the code measured (e.g. which branch's rules it has)
	Failures  []string // scenarios that could not run
}

// Report is what SCALE.md shows: the run's parameters and header, each scenario's section,
// and the figures carried to 10,000 sandboxes. NewReport computes it from a run's scenarios;
// Markdown renders it through report.md.tmpl; the command writes it beside the run's record
// (report.json), the page's figures as data.
type Report struct {
	Params    Params
	Meta      Meta
	Scenarios []ScenarioReport
	// Leaks of Logs: kinko's sandbox logs that held a secret value, of those searched (the
	// SDK fleet runs no kinko).
	Leaks, Logs int
	Paper       Paper
}

// ScenarioReport is one scenario's section.
type ScenarioReport struct {
	Key, Title, What string
	Table            []Row
	Checks           []Check
	Notes            []string
	Plots            []string // relative to the report's directory
}

// Paper is what the closing section carries over from the measured figures to 10,000
// sandboxes with 3 secrets each, TTL 300 s. A nil scenario did not run. What scales with the
// TTL (calls per key per TTL) is carried over; what does not (kinko's backoff, the jitter's
// share of the TTL) is computed from kinko's rules, and the page says so.
type Paper struct {
	Steady   *SteadyPaper
	Storm    *StormPaper
	Brownout *BrownoutPaper
}

// SteadyPaper: calls per key per TTL over the steady state's three measured TTLs.
type SteadyPaper struct{ PerKey float64 }

// StormPaper: calls per sandbox-secret until the storm's last first read was answered, and
// how many first reads were.
type StormPaper struct {
	PerPair    float64
	FirstReads string
}

// BrownoutPaper: calls per key per second over the brownout (hang and 503), which lasted
// Seconds at a TTL of TTL.
type BrownoutPaper struct {
	PerKeySecond float64
	Seconds      float64
	TTL          time.Duration
}

// The fleet on paper.
const (
	paperSandboxes = 10000
	paperSecrets   = 3
	paperTTL       = 300.0  // seconds
	paperQuota     = 10000. // GetSecretValue calls a second, per account and region
	paperPace      = 2.0    // invokes a second per sandbox
	dollarsPerCall = 0.05 / 10000
	month          = 86400.0 * 30 // seconds
	// capWait is the mean wait at the 30 s cap of the backoff: a sandbox's failing keys draw
	// with equal jitter, 15 to 30 s.
	capWait = 22.5
)

// NewReport computes SCALE.md's content. Plot paths are written relative to root, where
// SCALE.md lives.
func NewReport(p Params, m Meta, scenarios []*Scenario, root string) Report {
	r := Report{Params: p, Meta: m}
	for _, s := range scenarios {
		sr := ScenarioReport{Key: s.Key, Title: s.Title, What: s.What, Table: s.Table, Checks: s.Checks, Notes: s.Notes}
		for _, pl := range s.Plots {
			sr.Plots = append(sr.Plots, rel(root, pl))
		}
		r.Scenarios = append(r.Scenarios, sr)
		if s.Compare == nil {
			r.Leaks += len(s.Leaked)
			r.Logs += p.Sandboxes
		}
		pairs := float64(p.Sandboxes * p.Secrets)
		switch s.Key {
		case "steady":
			r.Paper.Steady = &SteadyPaper{PerKey: float64(countCalls(s.Calls, span{p.TTL, 4 * p.TTL})) / pairs / 3}
		case "storm":
			r.Paper.Storm = &StormPaper{PerPair: float64(stormCalls(s)) / pairs, FirstReads: firstReadsAnswered(s.Reads, p)}
		case "brownout":
			win := span{p.TTL * 3 / 2, p.TTL*3/2 + p.Hang + p.Unavailable}
			r.Paper.Brownout = &BrownoutPaper{PerKeySecond: rate(s.Calls, win) / pairs, Seconds: (p.Hang + p.Unavailable).Seconds(), TTL: p.TTL}
		}
	}
	return r
}

// Markdown renders r as SCALE.md.
func Markdown(r Report) (string, error) {
	var b strings.Builder
	if err := reportTemplate.Execute(&b, r); err != nil {
		return "", fmt.Errorf("rendering SCALE.md: %w", err)
	}
	return b.String(), nil
}

// SaveReport writes r as JSON to path (report.json).
func SaveReport(path string, r Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// LoadReport reads what SaveReport wrote.
func LoadReport(path string) (Report, error) {
	var r Report
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s is not a scale report: %w", path, err)
	}
	return r, nil
}

//go:embed report.md.tmpl
var reportText string

var reportTemplate = template.Must(template.New("SCALE.md").Funcs(template.FuncMap{
	"thousands": thousands,
	"orNA":      orNA,
	"oneLine":   oneLine,
	"pct":       func(calls float64) float64 { return 100 * calls / paperQuota },
}).Parse(reportText))

// TimeScale is how much faster than real time the run's TTL makes a scenario.
func (r Report) TimeScale() float64 { return 300 / r.Params.TTL.Seconds() }

// Pairs is the run's sandbox-secret pairs: its cache entries.
func (r Report) Pairs() int { return r.Params.Sandboxes * r.Params.Secrets }

// The fleet on paper: its pairs, invokes and reads a second, and what a Lambda function's
// deploy asks (at most 1,000 new sandboxes every 10 s).
func (Paper) Pace() float64       { return paperPace }
func (Paper) Pairs() float64      { return paperSandboxes * paperSecrets }
func (Paper) Invokes() float64    { return paperSandboxes * paperPace }
func (Paper) Reads() float64      { return paperSandboxes * paperPace * paperSecrets }
func (Paper) DeployRate() float64 { return 1000 * paperSecrets / 10.0 }
func (p Paper) RefreshPeak() float64 {
	return p.Pairs() / 30 // TTL jitter spreads a cohort's refreshes over 30 s of every 300 s
}
func (p Paper) KeysDue() float64    { return p.Pairs() / paperTTL }
func (p Paper) CapRate() float64    { return p.Pairs() / capWait }
func (p Paper) SDKMonthly() float64 { return p.Reads() * month * dollarsPerCall }

// SteadyRate is kinko's calls a second in the steady state, whatever the invoke rate.
func (p Paper) SteadyRate() float64 { return p.Pairs() * p.Steady.PerKey / paperTTL }

// SteadyPerInvoke is kinko's calls per invoke in the steady state.
func (p Paper) SteadyPerInvoke() float64 { return p.SteadyRate() / p.Invokes() }

// SteadyMonthly is what SteadyRate costs a month.
func (p Paper) SteadyMonthly() float64 { return p.SteadyRate() * month * dollarsPerCall }

// StormCalls and StormClear are the storm's calls at 10,000 × 3 and the seconds the quota
// takes to clear them.
func (p Paper) StormCalls() float64 { return p.Storm.PerPair * p.Pairs() }
func (p Paper) StormClear() float64 { return p.StormCalls() / paperQuota }

// BrownoutFailing is how many keys are failing after the measured brownout's length, at TTL
// 300 s, where a key only starts failing when its refresh comes due.
func (p Paper) BrownoutFailing() float64 {
	return p.Pairs() * math.Min(p.Brownout.Seconds, paperTTL) / paperTTL
}

// BrownoutRate is the calls a second those keys make at the measured pace.
func (p Paper) BrownoutRate() float64 { return p.Brownout.PerKeySecond * p.BrownoutFailing() }

// stormCalls are the calls that arrived before the storm's last first read was answered.
func stormCalls(s *Scenario) int {
	over := time.Duration(0)
	for _, rd := range s.Reads {
		if rd.First {
			over = max(over, rd.At+rd.Wait)
		}
	}
	return countCalls(s.Calls, span{0, over})
}

// thousands writes a whole number with thousands separators.
func thousands(v float64) string {
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := fmt.Sprintf("%d", n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return p
}
