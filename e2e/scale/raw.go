package scale

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// WriteRaw writes the scenario's calls and reads as CSV into dir (KEY-calls.csv,
// KEY-reads.csv; the SDK fleet's as KEY-sdk-*.csv), for looking again without running again.
// No secret value is in them: reads keep the status, Cache-Status and version only.
func WriteRaw(s *Scenario, dir string) error {
	series := []struct {
		name  string
		calls []Call
		reads []Read
	}{{s.Key, s.Calls, s.Reads}}
	if s.Compare != nil {
		series = append(series, struct {
			name  string
			calls []Call
			reads []Read
		}{s.Key + "-sdk", s.Compare.Calls, s.Compare.Reads})
	}
	for _, sr := range series {
		if err := writeCSV(filepath.Join(dir, sr.name+"-calls.csv"), "at_ms,sandbox,secret,result", len(sr.calls), func(i int) string {
			c := sr.calls[i]
			return fmt.Sprintf("%.3f,%d,%s,%s", ms(c.At), c.Sandbox, c.Secret, c.Result)
		}); err != nil {
			return err
		}
		if err := writeCSV(filepath.Join(dir, sr.name+"-reads.csv"), "at_ms,sandbox,secret,first,wait_ms,status,cache_status,version", len(sr.reads), func(i int) string {
			r := sr.reads[i]
			return fmt.Sprintf("%.3f,%d,%d,%t,%.3f,%d,%q,%d", ms(r.At), r.Sandbox, r.Secret, r.First, ms(r.Wait), r.Status, r.CacheStatus, r.Version)
		}); err != nil {
			return err
		}
	}
	return nil
}

func writeCSV(path, header string, n int, line func(int) string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, header)
	for i := range n {
		fmt.Fprintln(w, line(i))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (r Result) String() string {
	switch r {
	case OK:
		return "ok"
	case Throttled:
		return "throttled"
	case Failed503:
		return "503"
	case Hung:
		return "hung"
	case NotFound:
		return "not-found"
	}
	return "unknown"
}

// Recorded is a whole run's raw material: enough to render its report again (RenderAgain).
type Recorded struct {
	Params Params
	Meta   Meta
	Runs   map[string]*Run
}

// SaveRecorded writes rec as JSON to path.
func SaveRecorded(path string, rec Recorded) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// LoadRecorded reads what SaveRecorded wrote.
func LoadRecorded(path string) (Recorded, error) {
	var rec Recorded
	b, err := os.ReadFile(path)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("%s is not a recorded run: %w", path, err)
	}
	if len(rec.Runs) == 0 {
		return rec, fmt.Errorf("%s holds no scenario runs", path)
	}
	return rec, nil
}
