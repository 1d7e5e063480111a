// Package bench measures kinko against what a user would pick instead and writes the figures
// (BENCHMARKS.md; `make bench`, command e2e/cmd/bench). Absolute times drift on shared
// machines, so every comparison here is a ratio or a difference taken within one round, and
// every figure is the median over at least five rounds, with its spread.
//
// The parts: Go benchmarks of the handler (GoBench), wrk against kinko and against a bare
// net/http floor (Floor, Wrk), invokes through AWS's Lambda emulator with small function
// variants (functions/, Harness), kinko as a real process against a fake Extensions API
// (internal/extensionsapitest, Kinko) for memory, start time and request collapsing, and sizes.
package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Summary describes a set of samples: their median and spread.
type Summary struct {
	N                int
	Median, Min, Max float64
	P10, P90         float64
}

// Summarize sorts a copy of xs and describes it. An empty set gives a zero Summary (N 0).
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return Summary{
		N:      len(s),
		Median: Percentile(s, 50),
		Min:    s[0],
		Max:    s[len(s)-1],
		P10:    Percentile(s, 10),
		P90:    Percentile(s, 90),
	}
}

// Percentile of sorted samples, interpolating linearly between the two nearest ranks (the
// definition most tools use, so a median of an even count is the mean of the middle two).
func Percentile(sorted []float64, p float64) float64 {
	switch len(sorted) {
	case 0:
		return math.NaN()
	case 1:
		return sorted[0]
	}
	rank := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(rank))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	frac := rank - float64(lo)
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}

// Ms is a duration in milliseconds, the unit of most figures here.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Format renders a summary as "median (min–max)" with unit and precision chosen by f.
func (s Summary) Format(f func(float64) string) string {
	if s.N == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.Median), f(s.Min), f(s.Max))
}

// fixed returns a formatter with d decimals and a unit suffix.
func fixed(d int, unit string) func(float64) string {
	return func(v float64) string { return fmt.Sprintf("%.*f%s", d, v, unit) }
}

// msf formats milliseconds with a precision that suits their size.
func msf(v float64) string {
	switch a := math.Abs(v); {
	case a < 1:
		return fmt.Sprintf("%.3f ms", v)
	case a < 10:
		return fmt.Sprintf("%.2f ms", v)
	default:
		return fmt.Sprintf("%.1f ms", v)
	}
}

// ratiof formats a ratio as "1.23×".
func ratiof(v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return "n/a"
	}
	if math.Abs(v) >= 100 {
		return fmt.Sprintf("%.0f×", v)
	}
	return fmt.Sprintf("%.2f×", v)
}

// jsonFloat is a float64 that survives JSON when it is not finite: a ratio over a zero
// median is +Inf, which encoding/json refuses, and results.json must still be written.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return []byte(`"` + strconv.FormatFloat(v, 'g', -1, 64) + `"`), nil
	}
	return json.Marshal(v)
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	s := string(b)
	if u, err := strconv.Unquote(s); err == nil {
		s = u
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("not a number: %s", b)
	}
	*f = jsonFloat(v)
	return nil
}

// summaryJSON is Summary's form in results.json.
type summaryJSON struct {
	N                int
	Median, Min, Max jsonFloat
	P10, P90         jsonFloat
}

// MarshalJSON writes s as an object of its fields, non-finite figures as strings ("+Inf").
func (s Summary) MarshalJSON() ([]byte, error) {
	return json.Marshal(summaryJSON{s.N, jsonFloat(s.Median), jsonFloat(s.Min), jsonFloat(s.Max), jsonFloat(s.P10), jsonFloat(s.P90)})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *Summary) UnmarshalJSON(b []byte) error {
	var j summaryJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Summary{j.N, float64(j.Median), float64(j.Min), float64(j.Max), float64(j.P10), float64(j.P90)}
	return nil
}
