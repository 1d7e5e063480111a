// Package metrics counts what kinko does and writes the counts as one log line, which Lambda
// ships to CloudWatch like any other: plain JSON by default, CloudWatch Embedded Metric Format
// (custom metrics, billed) only when KINKO_METRICS=emf asks for it.
package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
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
func (c *Counters) UpstreamCall(_ kinko.Kind, took time.Duration, err error) {
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

// Flush returns what was counted since the last Flush and starts a new interval. Each line
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

// Write flushes the counters and writes them in the given format: one plain JSON log line
// (MetricsLog), one EMF line (MetricsEMF), or nothing (MetricsNone; the interval is still
// flushed, so a later line never counts it). Both lines use the same field names, so one
// CloudWatch Logs Insights query reads either.
func (c *Counters) Write(w io.Writer, format config.MetricsFormat, now time.Time, functionName string) error {
	switch format {
	case config.MetricsEMF:
		return c.WriteEMF(w, now, functionName)
	case config.MetricsNone:
		c.Flush()
		return nil
	}
	return c.WriteLog(w, now, functionName)
}

// field is one counted figure as it appears in both lines.
type field struct {
	name  string
	unit  string // EMF unit; empty for a property that is not a declared metric
	value any
}

// fields lists a snapshot's figures in the order both lines write them. A new counter is
// one more row here.
func (s Snapshot) fields() []field {
	return []field{
		{"Hits", "Count", s.Hits},
		{"Misses", "Count", s.Misses},
		{"Collapsed", "Count", s.Collapsed},
		{"StaleServed", "Count", s.StaleServed},
		// No unit: an EMF property, not a declared metric, so queryable without another billed metric.
		{"StaleWhileRevalidate", "", s.StaleWhileRevalidate},
		{"UpstreamCalls", "Count", s.UpstreamCalls},
		{"UpstreamErrors", "Count", s.UpstreamErrors},
		{"UpstreamLatencyAvg", "Milliseconds", ms(s.UpstreamLatencyAvg)},
		{"UpstreamLatencyMax", "Milliseconds", ms(s.UpstreamLatencyMax)},
	}
}

// WriteLog flushes the counters into one JSON log line shaped like kinko's other lines
// (time, level, msg "metrics", extension), free to store and to query.
func (c *Counters) WriteLog(w io.Writer, now time.Time, functionName string) error {
	s := c.Flush()
	r := slog.NewRecord(now, slog.LevelInfo, "metrics", 0)
	r.AddAttrs(slog.String("extension", Namespace), slog.String("FunctionName", functionName))
	for _, f := range s.fields() {
		r.AddAttrs(slog.Any(f.name, f.value))
	}
	if err := slog.NewJSONHandler(w, nil).Handle(context.Background(), r); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}

// WriteEMF flushes the counters into one EMF line, dimensioned by function name. CloudWatch
// turns each declared figure into a custom metric, billed monthly: only on request.
func (c *Counters) WriteEMF(w io.Writer, now time.Time, functionName string) error {
	s := c.Flush()
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	var defs []metric
	doc := map[string]any{"FunctionName": functionName}
	for _, f := range s.fields() {
		if f.unit != "" {
			defs = append(defs, metric{f.name, f.unit})
		}
		doc[f.name] = f.value
	}
	doc["_aws"] = map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  Namespace,
			"Dimensions": [][]string{{"FunctionName"}},
			"Metrics":    defs,
		}},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode metrics: %w", err)
	}
	_, err = w.Write(append(line, '\n'))
	return err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
