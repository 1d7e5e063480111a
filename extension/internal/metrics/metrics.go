// Package metrics counts what kinko does and writes the counts as one CloudWatch Embedded
// Metric Format line, which Lambda ships to CloudWatch like any log line.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/config"
)

// Namespace is the CloudWatch namespace of kinko's metrics.
const Namespace = "kinko"

// Counters is safe for concurrent use; the zero value is ready.
type Counters struct {
	// On the hit path: lock-free.
	hits, misses, collapsed, stale atomic.Int64
	// revalidating counts the stale answers given because a refetch outlasted KINKO_MAX_WAIT_MS
	// (a subset of stale; the rest were given because AWS failed).
	revalidating atomic.Int64

	// Upstream calls are rare; their figures are recorded and flushed together under mu, so an
	// interval's average latency always matches its call count.
	mu                         sync.Mutex
	upstreamCalls, upstreamErr int64
	latencyTotal, latencyMax   time.Duration
}

func (c *Counters) Hit()         { c.hits.Add(1) }
func (c *Counters) Miss()        { c.misses.Add(1) }
func (c *Counters) Collapsed()   { c.collapsed.Add(1) }
func (c *Counters) StaleServed() { c.stale.Add(1) }

// StaleWhileRevalidate counts a stale answer given because the refetch was slower than the
// caller's wait; StaleServed counts it too.
func (c *Counters) StaleWhileRevalidate() { c.revalidating.Add(1) }

// UpstreamCall records one call to AWS.
func (c *Counters) UpstreamCall(_ config.Kind, took time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.upstreamCalls++
	if err != nil {
		c.upstreamErr++
	}
	c.latencyTotal += took
	c.latencyMax = max(c.latencyMax, took)
}

// Snapshot is what the counters counted over one interval.
type Snapshot struct {
	Hits, Misses, Collapsed, StaleServed int64
	// StaleWhileRevalidate is the part of StaleServed answered because AWS was slow (past
	// KINKO_MAX_WAIT_MS); StaleServed - StaleWhileRevalidate were answered because AWS failed.
	StaleWhileRevalidate                   int64
	UpstreamCalls, UpstreamErrors          int64
	UpstreamLatencyAvg, UpstreamLatencyMax time.Duration
}

// Flush returns what was counted since the last Flush and starts a new interval. Each EMF line
// carries one interval, so CloudWatch's sums over several lines count every event once.
func (c *Counters) Flush() Snapshot {
	s := Snapshot{Hits: c.hits.Swap(0), Misses: c.misses.Swap(0), Collapsed: c.collapsed.Swap(0), StaleServed: c.stale.Swap(0),
		StaleWhileRevalidate: c.revalidating.Swap(0)}
	c.mu.Lock()
	defer c.mu.Unlock()
	s.UpstreamCalls, s.UpstreamErrors, s.UpstreamLatencyMax = c.upstreamCalls, c.upstreamErr, c.latencyMax
	if c.upstreamCalls > 0 {
		s.UpstreamLatencyAvg = c.latencyTotal / time.Duration(c.upstreamCalls)
	}
	c.upstreamCalls, c.upstreamErr, c.latencyTotal, c.latencyMax = 0, 0, 0, 0
	return s
}

// WriteEMF flushes the counters into one EMF line, dimensioned by function name.
func (c *Counters) WriteEMF(w io.Writer, now time.Time, functionName string) error {
	s := c.Flush()
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	counts := []string{"Hits", "Misses", "Collapsed", "StaleServed", "UpstreamCalls", "UpstreamErrors"}
	var defs []metric
	for _, n := range counts {
		defs = append(defs, metric{n, "Count"})
	}
	defs = append(defs, metric{"UpstreamLatencyAvg", "Milliseconds"}, metric{"UpstreamLatencyMax", "Milliseconds"})
	doc := map[string]any{
		"_aws": map[string]any{
			"Timestamp": now.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  Namespace,
				"Dimensions": [][]string{{"FunctionName"}},
				"Metrics":    defs,
			}},
		},
		"FunctionName": functionName,
		"Hits":         s.Hits,
		"Misses":       s.Misses,
		"Collapsed":    s.Collapsed,
		"StaleServed":  s.StaleServed,
		// A property, not a declared metric: queryable in Logs Insights, no extra custom metric billed.
		"StaleWhileRevalidate": s.StaleWhileRevalidate,
		"UpstreamCalls":        s.UpstreamCalls,
		"UpstreamErrors":       s.UpstreamErrors,
		"UpstreamLatencyAvg":   ms(s.UpstreamLatencyAvg),
		"UpstreamLatencyMax":   ms(s.UpstreamLatencyMax),
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode metrics: %w", err)
	}
	_, err = w.Write(append(line, '\n'))
	return err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
