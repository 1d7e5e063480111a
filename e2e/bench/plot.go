package bench

import (
	"errors"
	"fmt"
	"image/color"
	"os"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// barSeries is one variant across the groups of a panel: medians and their min–max.
type barSeries struct {
	name string
	vals []Summary
}

// PlotHeadline draws the headline comparisons as a PNG at path: the warm invoke (section 3)
// and the first invoke with a slow runtime init (section 4), each the extra latency over the
// empty function for kinko, the SDK in the function and a global cache (or kinko without a
// prefetch), grouped by Secrets Manager's latency, with min–max whiskers across rounds.
func PlotHeadline(res *Results, path string) error {
	var panels []*plot.Plot
	if wr := res.Warm; wr != nil && len(wr.Rows) > 0 {
		var groups []string
		series := []barSeries{{name: varKinko().Name}, {name: varSDK().Name}, {name: varGlobalCache().Name}}
		for _, d := range res.Params.WarmDelays {
			groups = append(groups, plusDur(d))
			for i := range series {
				series[i].vals = append(series[i].vals, wr.Row(series[i].name, d).Extra)
			}
		}
		p, err := barPanel("Warm invoke", "Secrets Manager latency", groups, series)
		if err != nil {
			return err
		}
		panels = append(panels, p)
	}
	if c := res.Cold; c != nil && len(c.Rows) > 0 && len(res.Params.ColdInits) > 0 {
		slow := slices.Max(res.Params.ColdInits)
		var groups []string
		series := []barSeries{{name: varKinko().Name}, {name: varKinkoNoPrefetch().Name}, {name: varSDK().Name}}
		for _, d := range res.Params.ColdDelays {
			groups = append(groups, plusDur(d))
			for i := range series {
				series[i].vals = append(series[i].vals, c.Row(series[i].name, d, slow).Extra)
			}
		}
		p, err := barPanel(fmt.Sprintf("First invoke, runtime init %s", durf(slow)),
			"Secrets Manager latency", groups, series)
		if err != nil {
			return err
		}
		panels = append(panels, p)
	}
	if len(panels) == 0 {
		return errors.New("no warm or cold figures to plot")
	}
	const panelW, height = 12 * vg.Centimeter, 9 * vg.Centimeter
	img := vgimg.NewWith(vgimg.UseWH(panelW*vg.Length(len(panels)), height), vgimg.UseDPI(144), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Centimeter, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{panels}, tiles, dc)
	for i, p := range panels {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

var plotColors = []color.Color{
	color.RGBA{R: 0x1b, G: 0x9e, B: 0x77, A: 0xff}, // kinko
	color.RGBA{R: 0xd9, G: 0x5f, B: 0x02, A: 0xff}, // the SDK, or kinko without a prefetch
	color.RGBA{R: 0x75, G: 0x70, B: 0xb3, A: 0xff},
}

// barPanel is one grouped bar chart: a bar per series in each group, its median labelled,
// whiskers from the min to the max across rounds.
func barPanel(title, xlabel string, groups []string, series []barSeries) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = "extra ms over the empty function"
	p.Y.Min = 0
	p.Legend.Top, p.Legend.Left = true, true
	// Room above the tallest whisker for the legend.
	var top float64
	for _, s := range series {
		for _, v := range s.vals {
			top = max(top, v.Max, v.Median)
		}
	}
	p.Y.Max = top * 1.35
	width := vg.Points(18)
	for i, s := range series {
		vals := make(plotter.Values, len(s.vals))
		xys := make(plotter.XYs, len(s.vals))
		labels := make([]string, len(s.vals))
		for g, v := range s.vals {
			vals[g] = max(v.Median, 0)
			xys[g].X, xys[g].Y = float64(g), max(v.Max, v.Median)
			labels[g] = msLabel(v.Median)
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, err
		}
		bars.Color, bars.LineStyle.Width = plotColors[i%len(plotColors)], 0
		bars.Offset = width * vg.Length(float64(i)-float64(len(series)-1)/2)
		p.Add(bars)
		p.Legend.Add(s.name, bars)

		p.Add(whiskers{vals: s.vals, offset: bars.Offset})

		lab, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return nil, err
		}
		for j := range lab.TextStyle {
			lab.TextStyle[j].XAlign, lab.TextStyle[j].Font.Size = draw.XCenter, vg.Points(7)
		}
		lab.Offset = vg.Point{X: bars.Offset, Y: vg.Points(2)}
		p.Add(lab)
	}
	p.NominalX(groups...)
	return p, nil
}

// whiskers draw each group's min–max across rounds over a bar, offset like the bar (the
// library's error bars cannot be offset).
type whiskers struct {
	vals   []Summary
	offset vg.Length
}

func (wh whiskers) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	style := draw.LineStyle{Color: color.Black, Width: vg.Points(0.7)}
	cap := vg.Points(3)
	for g, v := range wh.vals {
		if v.N == 0 {
			continue
		}
		x := trX(float64(g)) + wh.offset
		lo, hi := trY(max(v.Min, 0)), trY(max(v.Max, 0))
		c.StrokeLine2(style, x, lo, x, hi)
		c.StrokeLine2(style, x-cap, lo, x+cap, lo)
		c.StrokeLine2(style, x-cap, hi, x+cap, hi)
	}
}

func msLabel(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.0f", v)
}
