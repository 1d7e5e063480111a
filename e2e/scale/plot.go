package scale

import (
	"fmt"
	"image/color"
	"math"
	"net/http"
	"path/filepath"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	blue   = color.RGBA{31, 119, 180, 255}
	orange = color.RGBA{255, 127, 14, 255}
	red    = color.RGBA{214, 39, 40, 255}
	green  = color.RGBA{44, 160, 44, 255}
	purple = color.RGBA{148, 103, 189, 255}
	gray   = color.RGBA{120, 120, 120, 255}
	black  = color.RGBA{0, 0, 0, 255}
)

// Plot writes the scenario's two figures into dir: KEY-calls.png (calls/s reaching Secrets
// Manager over time, by answer, against the quota line) and KEY-wait.png (the functions'
// wait per read over time: p50, p99 and max per bin, failed reads marked). It sets s.Plots.
func Plot(s *Scenario, dir string, bin time.Duration) error {
	calls := filepath.Join(dir, s.Key+"-calls.png")
	wait := filepath.Join(dir, s.Key+"-wait.png")
	if err := plotCalls(s, bin, calls); err != nil {
		return fmt.Errorf("plot %s: %w", calls, err)
	}
	if err := plotWait(s, bin, wait); err != nil {
		return fmt.Errorf("plot %s: %w", wait, err)
	}
	s.Plots = []string{calls, wait}
	return nil
}

func plotCalls(s *Scenario, bin time.Duration, file string) error {
	p := plot.New()
	p.Title.Text = s.Title + ": calls reaching Secrets Manager"
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = fmt.Sprintf("calls/s (bins of %s)", bin)
	p.Legend.Top = true
	end := s.End
	if s.Compare != nil {
		end = max(end, lastCall(s.Compare.Calls)+bin)
	}
	top := 0.0
	add := func(label string, ys []float64, c color.Color, width vg.Length, dashes ...vg.Length) error {
		if maxOf(ys) == 0 && label != "all calls" && label != "kinko fleet" {
			return nil // a result that never happened needs no line
		}
		l, err := plotter.NewLine(binXYs(ys, bin))
		if err != nil {
			return err
		}
		l.Color, l.Width, l.Dashes = c, width, dashes
		p.Add(l)
		p.Legend.Add(label, l)
		top = max(top, maxOf(ys))
		return nil
	}
	name := "all calls"
	if s.Compare != nil {
		name = "kinko fleet"
	}
	if err := add(name, perSecond(s.Calls, bin, end), blue, vg.Points(1.5)); err != nil {
		return err
	}
	if err := add("throttled", perSecond(s.Calls, bin, end, Throttled), orange, vg.Points(1)); err != nil {
		return err
	}
	if err := add("503 or hung", perSecond(s.Calls, bin, end, Failed503, Hung), red, vg.Points(1)); err != nil {
		return err
	}
	if s.Compare != nil {
		if err := add(s.Compare.Label, perSecond(s.Compare.Calls, bin, end), purple, vg.Points(1.5)); err != nil {
			return err
		}
	}
	if s.Quota > 0 {
		q, err := plotter.NewLine(plotter.XYs{{X: 0, Y: s.Quota}, {X: end.Seconds(), Y: s.Quota}})
		if err != nil {
			return err
		}
		q.Color, q.Width, q.Dashes = black, vg.Points(1), []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(q)
		p.Legend.Add(fmt.Sprintf("quota %.0f /s", s.Quota), q)
		top = max(top, s.Quota)
	}
	if err := addMarks(p, s.Marks, 0, top*1.05); err != nil {
		return err
	}
	// Headroom above the data for the legend and the marks' labels.
	p.Y.Min, p.Y.Max = 0, top*1.45
	p.X.Min, p.X.Max = 0, end.Seconds()
	return p.Save(9*vg.Inch, 4.5*vg.Inch, file)
}

func plotWait(s *Scenario, bin time.Duration, file string) error {
	p := plot.New()
	p.Title.Text = s.Title + ": functions' wait per read"
	p.X.Label.Text = "time the read was sent (s)"
	p.Y.Label.Text = fmt.Sprintf("wait (ms, log; bins of %s)", bin)
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	end := s.End
	if s.Compare != nil {
		end = max(end, lastRead(s.Compare.Reads)+bin)
	}
	const floor = 0.05 // ms: a log axis has no zero
	lo, hi := math.Inf(1), floor*10
	series := func(prefix string, reads []Read, c50, c99, cmax color.Color) error {
		p50, p99, top := waitBins(reads, bin, end)
		for _, sr := range []struct {
			label string
			ys    []float64
			c     color.Color
			dash  []vg.Length
		}{
			{prefix + "p50", p50, c50, nil},
			{prefix + "p99", p99, c99, nil},
			{prefix + "max", top, cmax, []vg.Length{vg.Points(2), vg.Points(2)}},
		} {
			xys := binXYs(sr.ys, bin)
			for i := range xys {
				xys[i].Y = max(xys[i].Y, floor)
				lo, hi = min(lo, xys[i].Y), max(hi, xys[i].Y)
			}
			if len(xys) == 0 {
				continue
			}
			l, err := plotter.NewLine(xys)
			if err != nil {
				return err
			}
			l.Color, l.Width, l.Dashes = sr.c, vg.Points(1.2), sr.dash
			p.Add(l)
			p.Legend.Add(sr.label, l)
		}
		var failed plotter.XYs
		for _, r := range reads {
			if r.Status != http.StatusOK && r.At < end {
				failed = append(failed, plotter.XY{X: r.At.Seconds(), Y: max(ms(r.Wait), floor)})
			}
		}
		if len(failed) > 0 {
			sc, err := plotter.NewScatter(failed)
			if err != nil {
				return err
			}
			sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = red, draw.CrossGlyph{}, vg.Points(2)
			p.Add(sc)
			p.Legend.Add(prefix+fmt.Sprintf("failed reads (%d)", len(failed)), sc)
		}
		return nil
	}
	prefix := ""
	if s.Compare != nil {
		prefix = "kinko "
	}
	if err := series(prefix, s.Reads, blue, green, gray); err != nil {
		return err
	}
	if s.Compare != nil {
		if err := series("SDK ", s.Compare.Reads, purple, orange, red); err != nil {
			return err
		}
	}
	if math.IsInf(lo, 1) {
		lo = floor
	}
	if err := addMarks(p, s.Marks, lo, hi); err != nil {
		return err
	}
	p.Y.Min, p.Y.Max = lo, hi*30 // a log axis: headroom for the legend
	p.X.Min, p.X.Max = 0, end.Seconds()
	return p.Save(9*vg.Inch, 4.5*vg.Inch, file)
}

// addMarks draws each phase boundary as a dotted vertical line.
func addMarks(p *plot.Plot, marks []Mark, y0, y1 float64) error {
	for _, m := range marks {
		l, err := plotter.NewLine(plotter.XYs{{X: m.At.Seconds(), Y: y0}, {X: m.At.Seconds(), Y: y1}})
		if err != nil {
			return err
		}
		l.Color, l.Width, l.Dashes = gray, vg.Points(1), []vg.Length{vg.Points(1), vg.Points(3)}
		p.Add(l)
		if m.Label != "" {
			lb, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: m.At.Seconds(), Y: y1}}, Labels: []string{" " + m.Label}})
			if err != nil {
				return err
			}
			for i := range lb.TextStyle {
				lb.TextStyle[i].Color = gray
			}
			p.Add(lb)
		}
	}
	return nil
}

// binXYs places each bin's value at the bin's middle, skipping empty (NaN) bins.
func binXYs(ys []float64, bin time.Duration) plotter.XYs {
	var out plotter.XYs
	for i, y := range ys {
		if !math.IsNaN(y) {
			out = append(out, plotter.XY{X: (time.Duration(i)*bin + bin/2).Seconds(), Y: y})
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func lastCall(calls []Call) time.Duration {
	var t time.Duration
	for _, c := range calls {
		t = max(t, c.At)
	}
	return t
}

func lastRead(reads []Read) time.Duration {
	var t time.Duration
	for _, r := range reads {
		t = max(t, r.At)
	}
	return t
}
