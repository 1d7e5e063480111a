package scale

import (
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/kinko-dev/kinko/e2e/bench"
)

// span is a stretch of a scenario's time, [From, To).
type span struct{ From, To time.Duration }

func (s span) has(t time.Duration) bool { return t >= s.From && t < s.To }
func (s span) seconds() float64         { return (s.To - s.From).Seconds() }

// countCalls counts the calls in s with one of the results (all when none given).
func countCalls(calls []Call, s span, results ...Result) int {
	n := 0
	for _, c := range calls {
		if s.has(c.At) && (len(results) == 0 || slices.Contains(results, c.Result)) {
			n++
		}
	}
	return n
}

// rate is calls a second in s.
func rate(calls []Call, s span, results ...Result) float64 {
	if s.seconds() <= 0 {
		return 0
	}
	return float64(countCalls(calls, s, results...)) / s.seconds()
}

// perSecond bins the calls with one of the results into bins of width bin over [0, end) and
// answers calls a second in each bin.
func perSecond(calls []Call, bin, end time.Duration, results ...Result) []float64 {
	n := int((end + bin - 1) / bin)
	out := make([]float64, n)
	for _, c := range calls {
		if c.At < 0 || c.At >= end || len(results) > 0 && !slices.Contains(results, c.Result) {
			continue
		}
		out[int(c.At/bin)]++
	}
	for i := range out {
		out[i] /= bin.Seconds()
	}
	return out
}

// peakToMean is the highest bin over the mean of the bins from index lo to hi (exclusive).
func peakToMean(bins []float64, lo, hi int) (peak, mean float64) {
	lo, hi = max(lo, 0), min(hi, len(bins))
	if hi <= lo {
		return 0, 0
	}
	sum := 0.0
	for _, v := range bins[lo:hi] {
		sum += v
		peak = max(peak, v)
	}
	return peak, sum / float64(hi-lo)
}

// readsIn are the reads sent in s.
func readsIn(reads []Read, s span) []Read {
	var out []Read
	for _, r := range reads {
		if s.has(r.At) {
			out = append(out, r)
		}
	}
	return out
}

// percentileMs is the p-th percentile of the reads' waits, in ms (NaN for none).
func percentileMs(reads []Read, p float64) float64 {
	xs := make([]float64, len(reads))
	for i, r := range reads {
		xs[i] = bench.Ms(r.Wait)
	}
	slices.Sort(xs)
	return bench.Percentile(xs, p)
}

// answers counts the reads by what the function got.
type answers struct {
	Fresh, Stale, Failed, Total int
}

func countAnswers(reads []Read) answers {
	var a answers
	for _, r := range reads {
		a.Total++
		switch {
		case r.Status != http.StatusOK:
			a.Failed++
		case r.Stale():
			a.Stale++
		default:
			a.Fresh++
		}
	}
	return a
}

// waitBins are, per bin of send time, the p50, p99 and max wait in ms (NaN for an empty bin).
func waitBins(reads []Read, bin, end time.Duration) (p50, p99, top []float64) {
	n := int((end + bin - 1) / bin)
	byBin := make([][]float64, n)
	for _, r := range reads {
		if r.At < 0 || r.At >= end {
			continue
		}
		i := int(r.At / bin)
		byBin[i] = append(byBin[i], bench.Ms(r.Wait))
	}
	p50, p99, top = make([]float64, n), make([]float64, n), make([]float64, n)
	for i, xs := range byBin {
		if len(xs) == 0 {
			p50[i], p99[i], top[i] = math.NaN(), math.NaN(), math.NaN()
			continue
		}
		slices.Sort(xs)
		p50[i], p99[i], top[i] = bench.Percentile(xs, 50), bench.Percentile(xs, 99), xs[len(xs)-1]
	}
	return p50, p99, top
}
