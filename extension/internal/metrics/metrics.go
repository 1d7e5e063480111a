// Package metrics counts what kinko does and writes the counts as one CloudWatch Embedded
// Metric Format line, which Lambda ships to CloudWatch like any log line.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/config"
)

// Namespace is the CloudWatch namespace of kinko's metrics.
const Namespace = "kinko"

// Counters is safe for concurrent use; the zero value is ready.
type Counters struct {
	hits, misses, collapsed, stale atomic.Int64
	upstreamCalls, upstreamErrors  atomic.Int64
	latencyTotal, latencyMax       atomic.Int64 // nanoseconds
}

func (c *Counters) Hit()         { c.hits.Add(1) }
func (c *Counters) Miss()        { c.misses.Add(1) }
func (c *Counters) Collapsed()   { c.collapsed.Add(1) }
func (c *Counters) StaleServed() { c.stale.Add(1) }

// UpstreamCall records one call to AWS.
func (c *Counters) UpstreamCall(_ config.Kind, took time.Duration, err error) {
	c.upstreamCalls.Add(1)
	if err != nil {
		c.upstreamErrors.Add(1)
	}
	c.latencyTotal.Add(int64(took))
	for {
		max := c.latencyMax.Load()
		if int64(took) <= max || c.latencyMax.CompareAndSwap(max, int64(took)) {
			return
		}
	}
}

// Snapshot is the counters at one moment.
type Snapshot struct {
	Hits, Misses, Collapsed, StaleServed   int64
	UpstreamCalls, UpstreamErrors          int64
	UpstreamLatencyAvg, UpstreamLatencyMax time.Duration
}

// Snapshot reads the counters.
func (c *Counters) Snapshot() Snapshot {
	s := Snapshot{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Collapsed: c.collapsed.Load(), StaleServed: c.stale.Load(),
		UpstreamCalls: c.upstreamCalls.Load(), UpstreamErrors: c.upstreamErrors.Load(),
		UpstreamLatencyMax: time.Duration(c.latencyMax.Load()),
	}
	if s.UpstreamCalls > 0 {
		s.UpstreamLatencyAvg = time.Duration(c.latencyTotal.Load() / s.UpstreamCalls)
	}
	return s
}

// WriteEMF writes one EMF line with the counters, dimensioned by function name.
func (c *Counters) WriteEMF(w io.Writer, now time.Time, functionName string) error {
	s := c.Snapshot()
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
		"FunctionName":       functionName,
		"Hits":               s.Hits,
		"Misses":             s.Misses,
		"Collapsed":          s.Collapsed,
		"StaleServed":        s.StaleServed,
		"UpstreamCalls":      s.UpstreamCalls,
		"UpstreamErrors":     s.UpstreamErrors,
		"UpstreamLatencyAvg": ms(s.UpstreamLatencyAvg),
		"UpstreamLatencyMax": ms(s.UpstreamLatencyMax),
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode metrics: %w", err)
	}
	_, err = w.Write(append(line, '\n'))
	return err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
