package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

func TestEMFLine(t *testing.T) {
	var c Counters
	c.Hit()
	c.Hit()
	c.Miss()
	c.Collapsed()
	c.StaleServed()
	c.UpstreamCall(kinko.SecretsManager, 10*time.Millisecond, nil)
	c.UpstreamCall(kinko.SecretsManager, 30*time.Millisecond, errors.New("x"))
	var buf bytes.Buffer
	if err := c.WriteEMF(&buf, time.UnixMilli(1700000000000), "fn"); err != nil {
		t.Fatal(err)
	}
	if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("want exactly one line, got %q", buf.String())
	}
	var doc struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		FunctionName                           string
		Hits, Misses, Collapsed, StaleServed   int64
		UpstreamCalls, UpstreamErrors          int64
		UpstreamLatencyAvg, UpstreamLatencyMax float64
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	m := doc.AWS.CloudWatchMetrics
	if doc.AWS.Timestamp != 1700000000000 || len(m) != 1 || m[0].Namespace != "kinko" || len(m[0].Metrics) != 8 || doc.FunctionName != "fn" {
		t.Fatalf("bad EMF envelope: %s", buf.String())
	}
	// Every declared metric must have a value at the top level, or CloudWatch drops it.
	var top map[string]any
	_ = json.Unmarshal(buf.Bytes(), &top)
	for _, d := range m[0].Metrics {
		if _, ok := top[d.Name]; !ok {
			t.Errorf("metric %s declared but has no value", d.Name)
		}
	}
	if doc.Hits != 2 || doc.Misses != 1 || doc.Collapsed != 1 || doc.StaleServed != 1 || doc.UpstreamCalls != 2 ||
		doc.UpstreamErrors != 1 || doc.UpstreamLatencyAvg != 20 || doc.UpstreamLatencyMax != 30 {
		t.Fatalf("values wrong: %s", buf.String())
	}
}

func TestEachLineCarriesOneInterval(t *testing.T) {
	var c Counters
	c.Hit()
	c.UpstreamCall(kinko.SSM, 40*time.Millisecond, nil)
	first := c.Flush()
	c.Hit()
	c.Hit()
	c.UpstreamCall(kinko.SSM, 10*time.Millisecond, nil)
	second := c.Flush()
	third := c.Flush()
	if first.Hits != 1 || first.UpstreamLatencyMax != 40*time.Millisecond ||
		second.Hits != 2 || second.UpstreamCalls != 1 || second.UpstreamLatencyMax != 10*time.Millisecond || second.UpstreamLatencyAvg != 10*time.Millisecond ||
		third != (Snapshot{}) {
		t.Fatalf("intervals %+v / %+v / %+v: each must count only its own events", first, second, third)
	}
}

// count records the same events on c as TestEMFLine does.
func count(c *Counters) {
	c.Hit()
	c.Hit()
	c.Miss()
	c.Collapsed()
	c.StaleServed()
	c.UpstreamCall(kinko.SecretsManager, 10*time.Millisecond, nil)
	c.UpstreamCall(kinko.SecretsManager, 30*time.Millisecond, errors.New("x"))
}

func TestDefaultLineIsPlainJSON(t *testing.T) {
	var c Counters
	count(&c)
	var buf bytes.Buffer
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if err := c.Write(&buf, config.MetricsLog, at, "fn"); err != nil {
		t.Fatal(err)
	}
	if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("want exactly one line, got %q", buf.String())
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not JSON: %v: %s", err, buf.String())
	}
	// No "_aws" key: CloudWatch makes custom metrics only from lines that carry one.
	if _, emf := line["_aws"]; emf {
		t.Fatalf("the default line is EMF: %s", buf.String())
	}
	want := map[string]any{
		"time": "2026-12-01T10:00:00Z", "level": "INFO", "msg": "metrics", "extension": "kinko", "FunctionName": "fn",
		"Hits": 2.0, "Misses": 1.0, "Collapsed": 1.0, "StaleServed": 1.0, "StaleWhileRevalidate": 0.0, "UpstreamCalls": 2.0, "UpstreamErrors": 1.0,
		"UpstreamLatencyAvg": 20.0, "UpstreamLatencyMax": 30.0,
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
	if len(line) != len(want) {
		t.Errorf("line has %d keys, want %d: %s", len(line), len(want), buf.String())
	}
}

func TestEMFOnlyWhenAsked(t *testing.T) {
	for format, wantEMF := range map[config.MetricsFormat]bool{config.MetricsLog: false, config.MetricsEMF: true} {
		var c Counters
		count(&c)
		var buf bytes.Buffer
		if err := c.Write(&buf, format, time.UnixMilli(1700000000000), "fn"); err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(buf.Bytes(), []byte(`"_aws"`)); got != wantEMF {
			t.Errorf("%s: EMF = %t, want %t: %s", format, got, wantEMF, buf.String())
		}
		if !bytes.Contains(buf.Bytes(), []byte(`"Hits":2`)) {
			t.Errorf("%s: the counts are missing: %s", format, buf.String())
		}
	}
}

func TestNoneWritesNothingAndEndsTheInterval(t *testing.T) {
	var c Counters
	count(&c)
	var buf bytes.Buffer
	if err := c.Write(&buf, config.MetricsNone, time.Now(), "fn"); err != nil || buf.Len() != 0 {
		t.Fatalf("none wrote %q, %v; want nothing", buf.String(), err)
	}
	if s := c.Flush(); s != (Snapshot{}) {
		t.Fatalf("after none, the counters still hold %+v; want the interval ended", s)
	}
}
