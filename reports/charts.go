package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/sweep"
)

// Chart is one rendered chart: an inline SVG and a caption that says what
// it shows (and how many points, when thinned).
type Chart struct {
	Title   string
	Caption string
	SVG     template.HTML
}

var (
	colBest     = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colComplete = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colPruned   = color.RGBA{R: 0x9e, G: 0x9e, B: 0x9e, A: 0xff}
	colBaseline = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	colFront    = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	// series colours for per-trial curves (tab10 without grey).
	series = []color.RGBA{
		{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, {R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, {R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
		{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}, {R: 0xe3, G: 0x77, B: 0xc2, A: 0xff},
		{R: 0xbc, G: 0xbd, B: 0x22, A: 0xff}, {R: 0x17, G: 0xbe, B: 0xcf, A: 0xff},
		{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	}
)

const (
	chartW = 16 * vg.Centimeter
	chartH = 9 * vg.Centimeter
)

// svgOf renders a plot as an SVG fragment for inlining in HTML: without the
// XML prolog and comment, which mean nothing inside an HTML document.
func svgOf(p *plot.Plot, w, h vg.Length) (svg template.HTML, err error) {
	// gonum/plot panics on some degenerate data (a log axis over an empty or
	// one-value range); one odd chart must not take the whole report down.
	defer func() {
		if r := recover(); r != nil {
			svg, err = "", fmt.Errorf("render chart: %v", r)
		}
	}()
	c := vgsvg.New(w, h)
	// A small margin at the top and right: the label of a tick at the end of
	// an axis reaches past the plot, and the SVG would cut it in half.
	p.Draw(draw.Crop(draw.New(c), 0, -vg.Points(6), 0, -vg.Points(7)))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", fmt.Errorf("render chart: %w", err)
	}
	s := b.String()
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	// gonum escapes every text it draws (html.EscapeString), and the rest is
	// numbers and fixed markup: safe to inline.
	return template.HTML(s), nil
}

// chartFailure is how a chart that could not be drawn reads in a report.
const chartFailure = "could not be drawn"

// drawChart runs one chart's drawing and turns an error or a panic (gonum
// panics on some data) into a chart that is only a note: one odd chart
// never fails a report or the live page.
func drawChart(title string, f func() (*Chart, error)) (c *Chart) {
	defer func() {
		if r := recover(); r != nil {
			c = noteChart(title, fmt.Errorf("%v", r))
		}
	}()
	c, err := f()
	if err != nil {
		return noteChart(title, err)
	}
	return c
}

func noteChart(title string, err error) *Chart {
	return &Chart{Title: title, Caption: "This chart " + chartFailure + " (" + err.Error() + "); the ranking table holds the same data."}
}

// Drawn lengths of a chart's axes, roughly: the chart less the room its
// labels take. Tick markers use them to decide how many labels fit.
func xLen(w vg.Length) vg.Length { return w - 2.2*vg.Centimeter }
func yLen(h vg.Length) vg.Length { return h - 2.4*vg.Centimeter }

// valueScale is what charts plot as a trial's value. For an objective of
// one loss (or validation loss) scorer it is the loss itself, the number
// the user knows from the trainer's console, recovered exactly from the
// stored value (the scorer's normalisation scale/(scale+loss), or one minus
// it when minimising); lower is better. Otherwise it is the stored value.
type valueScale struct {
	label        string
	higherBetter bool
	lossScale    float64 // > 0: plot the loss
	minimize     bool
}

func valueScaleOf(d *Data) valueScale {
	v := valueScale{label: "value", higherBetter: d.maximize()}
	if d.Spec == nil {
		return v
	}
	var scored []objective.ScorerSpec
	for _, sc := range d.Spec.Objective.Scorers {
		if sc.Kind != objective.KindRating {
			scored = append(scored, sc)
		}
	}
	if len(scored) != 1 || (scored[0].Kind != objective.KindLoss && scored[0].Kind != objective.KindValidation) {
		return v
	}
	v.lossScale = scored[0].Scale
	if v.lossScale <= 0 {
		v.lossScale = objective.DefaultLossScale
	}
	v.label, v.higherBetter, v.minimize = "training loss", false, !d.maximize()
	if scored[0].Kind == objective.KindValidation {
		v.label = "validation loss"
	}
	return v
}

// of returns the plotted value of a trial with a value.
func (v valueScale) of(t *Trial) (float64, bool) {
	if t.Value == nil {
		return 0, false
	}
	x := *t.Value
	if v.lossScale <= 0 {
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	}
	n := x
	if v.minimize {
		n = 1 - x
	}
	if !(n > 0 && n <= 1) {
		return 0, false
	}
	return v.lossScale * (1 - n) / n, true
}

// better reports whether plotted value a beats b.
func (v valueScale) better(a, b float64) bool {
	if v.higherBetter {
		return a > b
	}
	return a < b
}

// lossNote is " (training loss 0.0812)" for a loss objective, else "".
func lossNote(d *Data, t *Trial) string {
	vs := valueScaleOf(d)
	if vs.lossScale <= 0 {
		return ""
	}
	if l, ok := vs.of(t); ok {
		return fmt.Sprintf(" (%s %s)", vs.label, strconv.FormatFloat(l, 'g', 4, 64))
	}
	return ""
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	return p
}

func scatter(xys plotter.XYs, c color.Color, shape draw.GlyphDrawer, r vg.Length) (*plotter.Scatter, error) {
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, err
	}
	s.GlyphStyle.Color = c
	s.GlyphStyle.Radius = r
	s.GlyphStyle.Shape = draw.CircleGlyph{}
	if shape != nil {
		s.GlyphStyle.Shape = shape
	}
	return s, nil
}

// valued returns the trials with a value in trial-number order.
func valued(d *Data) []*Trial {
	var out []*Trial
	for i := range d.Trials {
		if d.Trials[i].Value != nil {
			out = append(out, &d.Trials[i])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out
}

// thinned keeps at most max of ts (in their order): the best-ranked fifth
// of max always, the rest evenly spaced, so dense charts stay small while
// the region that matters is drawn in full.
func thinned(d *Data, ts []*Trial, max int) []*Trial {
	if max <= 0 || len(ts) <= max {
		return ts
	}
	keep := map[int]bool{}
	top := max / 5
	for i := 0; i < len(d.Trials) && len(keep) < top; i++ {
		if d.Trials[i].Value != nil {
			keep[d.Trials[i].Number] = true
		}
	}
	rest := max - len(keep)
	step := float64(len(ts)) / float64(rest)
	for k := 0; k < rest; k++ {
		keep[ts[int(float64(k)*step)].Number] = true
	}
	out := make([]*Trial, 0, len(keep))
	for _, t := range ts {
		if keep[t.Number] {
			out = append(out, t)
		}
	}
	return out
}

func shownCaption(shown, total int) string {
	if shown == total {
		return fmt.Sprintf("%d trials.", total)
	}
	return fmt.Sprintf("%d of %d trials shown (the best always, the rest evenly thinned).", shown, total)
}

// historyChart plots every valued trial's value by trial number with the
// best value so far as a step line.
func historyChart(d *Data, maxPts int) (*Chart, error) {
	vs := valueScaleOf(d)
	var all []*Trial
	for _, t := range valued(d) {
		if _, ok := vs.of(t); ok {
			all = append(all, t)
		}
	}
	if len(all) == 0 {
		return nil, nil
	}
	p := newPlot("", "trial", vs.label)
	var best plotter.XYs
	cur := math.NaN()
	for _, t := range all {
		v, _ := vs.of(t)
		if math.IsNaN(cur) || vs.better(v, cur) {
			if len(best) > 0 {
				best = append(best, plotter.XY{X: float64(t.Number), Y: cur})
			}
			cur = v
		}
		best = append(best, plotter.XY{X: float64(t.Number), Y: cur})
	}
	shown := thinned(d, all, maxPts)
	var comp, pruned, base plotter.XYs
	for _, t := range shown {
		v, _ := vs.of(t)
		pt := plotter.XY{X: float64(t.Number), Y: v}
		switch {
		case t.Baseline:
			base = append(base, pt)
		case t.State == "pruned":
			pruned = append(pruned, pt)
		default:
			comp = append(comp, pt)
		}
	}
	line, err := plotter.NewLine(best)
	if err != nil {
		return nil, fmt.Errorf("history chart: %w", err)
	}
	line.Color, line.Width = colBest, vg.Points(1.5)
	p.Add(line)
	// No legend: over a thousand points it hides data; the caption says it.
	for _, s := range []struct {
		xys   plotter.XYs
		c     color.Color
		shape draw.GlyphDrawer
		name  string
	}{{pruned, colPruned, nil, "pruned"}, {comp, colComplete, nil, "complete"}, {base, colBaseline, draw.TriangleGlyph{}, "baseline"}} {
		if len(s.xys) == 0 {
			continue
		}
		sc, err := scatter(s.xys, s.c, s.shape, vg.Points(2.5))
		if err != nil {
			return nil, fmt.Errorf("history chart: %w", err)
		}
		p.Add(sc)
	}
	tidyAxis(&p.X, false, true, false, xLen(chartW))
	tidyAxis(&p.Y, false, false, true, yLen(chartH))
	svg, err := svgOf(p, chartW, chartH)
	if err != nil {
		return nil, err
	}
	what := "Each trial's value (its best epoch)"
	if vs.lossScale > 0 {
		what = "Each trial's " + vs.label + " at its best epoch (lower is better)"
	}
	return &Chart{Title: "Optimization history", SVG: svg,
		Caption: what + " by trial number: blue complete, grey pruned, orange triangle the baseline; the red line is the best so far. " + shownCaption(len(shown), len(all))}, nil
}

// componentNames lists objective component names in the objective's order,
// as the first trial with components recorded them.
func componentNames(d *Data) []string {
	for _, t := range d.Trials {
		if len(t.Components) > 0 {
			names := make([]string, len(t.Components))
			for i, c := range t.Components {
				names[i] = c.Name
			}
			return names
		}
	}
	return nil
}

// componentValue returns a component's plotted value and its goodness
// (larger is better, for the Pareto front): the normalised value, or for a
// loss component the loss itself, lower being better.
func componentValue(t *Trial, name string) (shown, good float64, ok bool) {
	for _, c := range t.Components {
		if c.Name == name && !c.Unscorable {
			if isLossKind(c.Kind) {
				return c.Raw, -c.Raw, finite(c.Raw)
			}
			return c.Normalized, c.Normalized, finite(c.Normalized)
		}
	}
	return 0, 0, false
}

func isLossKind(k string) bool { return k == objective.KindLoss || k == objective.KindValidation }

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// componentLabel is a component's axis label.
func componentLabel(d *Data, name string) string {
	for _, t := range d.Trials {
		for _, c := range t.Components {
			if c.Name == name {
				if isLossKind(c.Kind) {
					return name + " (loss, lower is better)"
				}
				return name + " (normalised)"
			}
		}
	}
	return name
}

// paretoFront returns the indexes of points not dominated by any other
// (both coordinates larger is better), ordered by x descending.
func paretoFront(xys plotter.XYs) []int {
	idx := make([]int, len(xys))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		if xys[idx[a]].X != xys[idx[b]].X {
			return xys[idx[a]].X > xys[idx[b]].X
		}
		return xys[idx[a]].Y > xys[idx[b]].Y
	})
	var front []int
	bestY := math.Inf(-1)
	for _, i := range idx {
		if xys[i].Y > bestY {
			front = append(front, i)
			bestY = xys[i].Y
		}
	}
	return front
}

// componentCharts plots pairs of objective components (normalised, 1 is
// best; a loss as the loss) against each other with the Pareto front
// marked: where likeness and prompt-following trade off, the front is the
// set worth looking at.
func componentCharts(d *Data, maxPts int) []Chart {
	names := componentNames(d)
	var out []Chart
	for i := 0; i < len(names) && len(out) < 3; i++ {
		for j := i + 1; j < len(names) && len(out) < 3; j++ {
			title := names[i] + " vs " + names[j]
			if c := drawChart(title, func() (*Chart, error) { return componentChart(d, maxPts, names[i], names[j]) }); c != nil {
				out = append(out, *c)
			}
		}
	}
	return out
}

func componentChart(d *Data, maxPts int, xn, yn string) (*Chart, error) {
	all := valued(d)
	shown := thinned(d, all, maxPts)
	var xys, good plotter.XYs
	var nums []int
	for _, t := range all {
		x, gx, ok1 := componentValue(t, xn)
		y, gy, ok2 := componentValue(t, yn)
		if ok1 && ok2 {
			xys = append(xys, plotter.XY{X: x, Y: y})
			good = append(good, plotter.XY{X: gx, Y: gy})
			nums = append(nums, t.Number)
		}
	}
	if len(xys) == 0 {
		return nil, nil
	}
	front := paretoFront(good)
	onFront := map[int]bool{}
	var fxys plotter.XYs
	var labels []string
	for _, k := range front {
		onFront[nums[k]] = true
		fxys = append(fxys, xys[k])
		labels = append(labels, fmt.Sprint(nums[k]))
	}
	keep := map[int]bool{}
	for _, t := range shown {
		keep[t.Number] = true
	}
	var rest plotter.XYs
	for k, n := range nums {
		if keep[n] && !onFront[n] {
			rest = append(rest, xys[k])
		}
	}
	p := newPlot("", componentLabel(d, xn), componentLabel(d, yn))
	if len(rest) > 0 {
		sc, err := scatter(rest, colPruned, nil, vg.Points(2.5))
		if err != nil {
			return nil, fmt.Errorf("components chart: %w", err)
		}
		p.Add(sc)
		p.Legend.Add("trial", sc)
	}
	fl, fs, err := plotter.NewLinePoints(fxys)
	if err != nil {
		return nil, fmt.Errorf("components chart: %w", err)
	}
	fl.Color, fl.Width = colFront, vg.Points(1)
	fl.StepStyle = plotter.PreStep
	fs.GlyphStyle.Color, fs.GlyphStyle.Radius, fs.GlyphStyle.Shape = colFront, vg.Points(3.5), draw.CircleGlyph{}
	p.Add(fl, fs)
	p.Legend.Add("Pareto front", fl, fs)
	if len(fxys) <= 30 {
		lab, err := plotter.NewLabels(plotter.XYLabels{XYs: fxys, Labels: labels})
		if err == nil {
			lab.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(2)}
			p.Add(lab)
		}
	}
	p.Legend.Top, p.Legend.Left = false, true
	tidyAxis(&p.X, false, false, false, xLen(chartW))
	tidyAxis(&p.Y, false, false, true, yLen(chartH))
	svg, err := svgOf(p, chartW, chartH)
	if err != nil {
		return nil, err
	}
	return &Chart{Title: xn + " vs " + yn, SVG: svg,
		Caption: fmt.Sprintf("Each trial's best epoch; %d trials on the Pareto front (labelled by trial number), where improving one component costs the other.", len(front))}, nil
}

// paramAxis maps a param's values onto a numeric axis.
type paramAxis struct {
	name    string
	log     bool
	integer bool     // int params tick at whole numbers
	choices []string // categorical: labels in order
}

func (a paramAxis) value(v any) (float64, bool) {
	if a.choices != nil {
		s := sweep.FormatValue(v)
		for i, c := range a.choices {
			if c == s {
				return float64(i), true
			}
		}
		return 0, false
	}
	f, ok := toFloat(v)
	if !ok || (a.log && f <= 0) {
		return 0, false
	}
	return f, true
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// axes describes each param's axis: the spec's type and choices where it
// has them, else what the trials' values look like.
func axes(d *Data) []paramAxis {
	spec := map[string]sweep.Param{}
	if d.Spec != nil {
		for _, p := range d.Spec.Search {
			spec[p.Name] = p
		}
	}
	var out []paramAxis
	for _, name := range d.ParamNames() {
		a := paramAxis{name: name}
		p, inSpec := spec[name]
		switch {
		case inSpec && p.Type == sweep.ParamCategorical:
			for _, c := range p.Choices {
				a.choices = append(a.choices, sweep.FormatValue(c))
			}
		case inSpec:
			a.log = p.Log
			a.integer = p.Type == sweep.ParamInt && p.RatioOf == ""
		}
		// Values outside the declared choices (an enqueued config) and
		// non-numeric values of an undeclared param become categories.
		seen := map[string]bool{}
		for _, c := range a.choices {
			seen[c] = true
		}
		numeric := a.choices == nil
		var extra []string
		for _, t := range d.Trials {
			v, ok := t.Params[name]
			if !ok {
				continue
			}
			if _, isNum := toFloat(v); numeric && isNum {
				continue
			}
			numeric = false
			if s := sweep.FormatValue(v); !seen[s] {
				seen[s] = true
				extra = append(extra, s)
			}
		}
		if !numeric {
			sort.Strings(extra)
			a.choices = append(a.choices, extra...)
			if a.choices == nil {
				continue
			}
			a.log = false
		}
		out = append(out, a)
	}
	return out
}

// jitter spreads categorical points deterministically by trial number.
func jitter(n int) float64 {
	f := math.Mod(float64(n)*0.6180339887, 1)
	return (f - 0.5) * 0.4
}

// sliceCharts plots value against each param, one chart per param.
func sliceCharts(d *Data, maxPts int) []Chart {
	vs := valueScaleOf(d)
	var all []*Trial
	for _, t := range valued(d) {
		if _, ok := vs.of(t); ok {
			all = append(all, t)
		}
	}
	if len(all) == 0 {
		return nil
	}
	shown := thinned(d, all, maxPts)
	var out []Chart
	for _, a := range axes(d) {
		if c := drawChart(a.name, func() (*Chart, error) { return sliceChart(a, vs, shown) }); c != nil {
			out = append(out, *c)
		}
	}
	return out
}

const (
	sliceW = chartW / 2
	sliceH = chartH * 2 / 3
)

func sliceChart(a paramAxis, vs valueScale, shown []*Trial) (*Chart, error) {
	var pts, base plotter.XYs
	n := 0
	for _, t := range shown {
		v, ok := t.Params[a.name]
		if !ok {
			continue
		}
		x, ok := a.value(v)
		if !ok {
			continue
		}
		if a.choices != nil {
			x += jitter(t.Number)
		}
		y, _ := vs.of(t)
		n++
		pt := plotter.XY{X: x, Y: y}
		if t.Baseline {
			base = append(base, pt)
		} else {
			pts = append(pts, pt)
		}
	}
	if n == 0 {
		return nil, nil
	}
	p := newPlot("", a.name, vs.label)
	if len(pts) > 0 {
		sc, err := scatter(pts, colComplete, nil, vg.Points(2.5))
		if err != nil {
			return nil, fmt.Errorf("slice chart %s: %w", a.name, err)
		}
		p.Add(sc)
	}
	if len(base) > 0 {
		sc, err := scatter(base, colBaseline, draw.TriangleGlyph{}, vg.Points(3.5))
		if err != nil {
			return nil, fmt.Errorf("slice chart %s: %w", a.name, err)
		}
		p.Add(sc)
	}
	caption := fmt.Sprintf("%d trials with %s.", n, a.name)
	if len(base) > 0 {
		caption += " The orange triangle is the baseline."
	}
	w := sliceW
	if a.choices != nil {
		// Widen the chart (up to a full one) so long choice names fit.
		need := vg.Length(0)
		for _, c := range a.choices {
			l, _ := fitLabels([]string{c}, 2*vg.Centimeter, p.X.Tick.Label)
			need = max(need, p.X.Tick.Label.Width(l[0])/0.85+vg.Points(6))
		}
		w = min(max(sliceW, need*vg.Length(len(a.choices))+2.2*vg.Centimeter), chartW)
		labels, cut := fitLabels(a.choices, xLen(w)/vg.Length(len(a.choices))*0.85, p.X.Tick.Label)
		ticks := make(plot.ConstantTicks, len(a.choices))
		for i := range a.choices {
			ticks[i] = plot.Tick{Value: float64(i), Label: labels[i]}
		}
		p.X.Tick.Marker = ticks
		p.X.Min, p.X.Max = -0.5, float64(len(a.choices))-0.5
		if cut {
			caption += " Choices in order: " + strings.Join(a.choices, ", ") + "."
		}
	} else {
		tidyAxis(&p.X, a.log, a.integer, false, xLen(sliceW))
	}
	tidyAxis(&p.Y, false, false, true, yLen(sliceH))
	svg, err := svgOf(p, w, sliceH)
	if err != nil {
		return nil, err
	}
	return &Chart{Title: a.name, SVG: svg, Caption: caption}, nil
}

// norm maps each axis's values to 0..1 over the trials drawn.
func axisRanges(ax []paramAxis, ts []*Trial) (lo, hi []float64) {
	lo, hi = make([]float64, len(ax)), make([]float64, len(ax))
	for i, a := range ax {
		lo[i], hi[i] = math.Inf(1), math.Inf(-1)
		if a.choices != nil {
			lo[i], hi[i] = 0, math.Max(1, float64(len(a.choices)-1))
			continue
		}
		for _, t := range ts {
			if x, ok := a.value(t.Params[a.name]); ok {
				if a.log {
					x = math.Log(x)
				}
				lo[i], hi[i] = math.Min(lo[i], x), math.Max(hi[i], x)
			}
		}
	}
	return lo, hi
}

// parallelChart draws the best trials as lines across one vertical axis
// per param (each scaled to its range, log params in log space) and a last
// axis for the value; the best trial is red and drawn on top. Each axis is
// labelled with its range (numbers) or its choices.
func parallelChart(d *Data, maxLines int) (*Chart, error) {
	vs := valueScaleOf(d)
	var ts []*Trial
	total := 0
	for i := range d.Trials {
		t := &d.Trials[i]
		if _, ok := vs.of(t); !ok {
			continue
		}
		total++
		if len(ts) < maxLines || t.Baseline {
			ts = append(ts, t)
		}
	}
	ax := axes(d)
	if len(ts) == 0 || len(ax) == 0 {
		return nil, nil
	}
	lo, hi := axisRanges(ax, ts)
	vlo, vhi := math.Inf(1), math.Inf(-1)
	for _, t := range ts {
		v, _ := vs.of(t)
		vlo, vhi = math.Min(vlo, v), math.Max(vhi, v)
	}
	scale := func(x, l, h float64) float64 {
		if h <= l {
			return 0.5
		}
		return (x - l) / (h - l)
	}
	// Room for every axis name and its value labels: neighbours must not meet.
	w := max(chartW, vg.Length(len(ax)+1)*3*vg.Centimeter)
	// Browsers may draw the SVG's text in a wider face than gonum measured.
	slot := xLen(w) / vg.Length(float64(len(ax))+0.8) * 0.85
	p := newPlot("", "", "scaled to each axis's range")
	p.Y.Min, p.Y.Max = -0.08, 1.08
	p.Y.Tick.Marker = plot.ConstantTicks{{Value: 0, Label: "low"}, {Value: 1, Label: "high"}}
	names := make([]string, 0, len(ax)+1)
	for _, a := range ax {
		names = append(names, a.name)
	}
	names = append(names, vs.label)
	fitted, _ := fitLabels(names, slot, p.X.Tick.Label)
	ticks := make(plot.ConstantTicks, 0, len(ax)+1)
	var marks plotter.XYLabels
	mark := func(i int, y float64, label string) {
		marks.XYs = append(marks.XYs, plotter.XY{X: float64(i), Y: y})
		marks.Labels = append(marks.Labels, label)
	}
	valueLabelStyle := p.X.Tick.Label
	valueLabelStyle.Font.Size = vg.Points(7)
	for i, a := range ax {
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: fitted[i]})
		l, err := plotter.NewLine(plotter.XYs{{X: float64(i), Y: 0}, {X: float64(i), Y: 1}})
		if err != nil {
			return nil, fmt.Errorf("parallel chart: %w", err)
		}
		l.Color = color.Black
		p.Add(l)
		if a.choices != nil {
			short, _ := fitLabels(a.choices, slot-vg.Points(6), valueLabelStyle)
			for k := range a.choices {
				mark(i, scale(float64(k), lo[i], hi[i]), short[k])
			}
			continue
		}
		if math.IsInf(lo[i], 0) {
			continue
		}
		l0, h0 := lo[i], hi[i]
		if a.log {
			l0, h0 = math.Exp(l0), math.Exp(h0)
		}
		if h0 <= l0 {
			mark(i, 0.5, fmtSig(l0))
			continue
		}
		mark(i, 0, fmtSig(l0))
		mark(i, 1, fmtSig(h0))
	}
	best, worst := vhi, vlo
	if !vs.higherBetter {
		best, worst = vlo, vhi
	}
	if vhi > vlo {
		mark(len(ax), 1, "best "+fmtSig(best))
		mark(len(ax), 0, fmtSig(worst))
	} else {
		mark(len(ax), 0.5, fmtSig(best))
	}
	ticks = append(ticks, plot.Tick{Value: float64(len(ax)), Label: fitted[len(ax)]})
	p.X.Tick.Marker = ticks
	p.X.Min, p.X.Max = -0.2, float64(len(ax))+0.6
	// Worst first, so better lines are drawn over worse ones.
	for k := len(ts) - 1; k >= 0; k-- {
		t := ts[k]
		var xys plotter.XYs
		for i, a := range ax {
			x, ok := a.value(t.Params[a.name])
			if !ok {
				continue // a conditional param this trial did not have
			}
			if a.log {
				x = math.Log(x)
			}
			xys = append(xys, plotter.XY{X: float64(i), Y: scale(x, lo[i], hi[i])})
		}
		tv, _ := vs.of(t)
		v := scale(tv, vlo, vhi)
		if !vs.higherBetter {
			v = 1 - v // "high" is always better on the value axis
		}
		xys = append(xys, plotter.XY{X: float64(len(ax)), Y: v})
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("parallel chart: %w", err)
		}
		switch {
		case k == 0:
			l.Color, l.Width = colBest, vg.Points(2)
		case t.Baseline:
			l.Color, l.Width = colBaseline, vg.Points(1.5)
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		default:
			// Better ranks darker: the shape of good regions shows.
			f := float64(k) / float64(len(ts))
			l.Color = color.RGBA{R: uint8(0x1f + f*0xb0), G: uint8(0x77 + f*0x70), B: uint8(0xb4 + f*0x40), A: 0xff}
			l.Width = vg.Points(0.6)
		}
		p.Add(l)
	}
	if len(marks.XYs) > 0 {
		lab, err := plotter.NewLabels(marks)
		if err != nil {
			return nil, fmt.Errorf("parallel chart: %w", err)
		}
		for i := range lab.TextStyle {
			lab.TextStyle[i] = valueLabelStyle
			lab.TextStyle[i].XAlign, lab.TextStyle[i].YAlign = draw.XLeft, draw.YCenter
		}
		lab.Offset = vg.Point{X: vg.Points(3)}
		p.Add(lab)
	}
	svg, err := svgOf(p, w, chartH)
	if err != nil {
		return nil, err
	}
	cap := fmt.Sprintf("The %d best trials", len(ts))
	if len(ts) == total {
		cap = fmt.Sprintf("All %d trials with a value", total)
	}
	return &Chart{Title: "Parallel coordinates", SVG: svg,
		Caption: cap + " (darker is better; best in red, baseline dashed orange). Each axis spans the values drawn, labelled at its ends; categorical axes list their choices; on the " + vs.label + " axis high is better."}, nil
}

// fmtSig writes v with at most 3 significant digits, in the tick labels'
// style (9.96e-4, 0.0992, 126).
func fmtSig(v float64) string {
	a := math.Abs(v)
	if a == 0 || !finite(v) {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	step := math.Pow(10, math.Floor(math.Log10(a)+1e-9)-2)
	return trimZeros(fmtTick(v, step, a < 1e-3 || a >= 1e6))
}

// importanceChart draws the importances as horizontal bars, largest on top.
func importanceChart(imp []Importance) (*Chart, error) {
	if len(imp) == 0 {
		return nil, nil
	}
	vals := make(plotter.Values, len(imp))
	names := make([]string, len(imp))
	for i, x := range imp {
		// NominalY puts the first name at the bottom.
		vals[len(imp)-1-i] = x.Value
		names[len(imp)-1-i] = x.Param
	}
	p := newPlot("", "importance (share of total)", "")
	bars, err := plotter.NewBarChart(vals, vg.Points(10))
	if err != nil {
		return nil, fmt.Errorf("importance chart: %w", err)
	}
	bars.Horizontal = true
	bars.Color = colComplete
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalY(names...)
	p.X.Min = 0
	tidyAxis(&p.X, false, false, false, xLen(chartW))
	h := vg.Length(len(imp))*vg.Points(18) + 2*vg.Centimeter
	svg, err := svgOf(p, chartW, h)
	if err != nil {
		return nil, err
	}
	return &Chart{Title: "Parameter importance (PED-ANOVA)", SVG: svg,
		Caption: "How differently each parameter is distributed among the top 10% of trials than among all trials with a value (PED-ANOVA, Pearson divergence of Parzen estimates), as a share of the total. Needs 10 or more valued trials."}, nil
}

// curveChart draws one line per trial from pick(metric point). A trial
// with a single point (a trainer that reported one step) is drawn as a
// dot: a line through one point draws nothing.
func curveChart(title, ylabel string, ts []*Trial, pick func(t *Trial) plotter.XYs, logY bool) (*Chart, error) {
	p := newPlot("", "step", ylabel)
	n, single := 0, 0
	for i, t := range ts {
		xys := pick(t)
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("%s chart: %w", ylabel, err)
		}
		l.Color, l.Width = series[i%len(series)], vg.Points(1)
		p.Add(l)
		name := fmt.Sprintf("trial %d", t.Number)
		if t.Baseline {
			name += " (baseline)"
		}
		if len(xys) == 1 {
			sc, err := scatter(xys, series[i%len(series)], nil, vg.Points(3))
			if err != nil {
				return nil, fmt.Errorf("%s chart: %w", ylabel, err)
			}
			p.Add(sc)
			p.Legend.Add(name, sc)
			single++
		} else {
			p.Legend.Add(name, l)
		}
		n++
	}
	if n == 0 {
		return nil, nil
	}
	log := logY && spansDecades(ts, pick)
	p.Legend.Top = true
	tidyAxis(&p.X, false, true, false, xLen(chartW))
	tidyAxis(&p.Y, log, false, true, yLen(chartH))
	svg, err := svgOf(p, chartW, chartH)
	if err != nil {
		return nil, err
	}
	c := &Chart{Title: title, SVG: svg}
	if single == n {
		c.Caption = "Each trial reported one step: its dot is its only value."
	}
	return c, nil
}

// spansDecades says whether a log Y axis can be drawn: every value positive
// and not all equal (gonum's log ticks panic on a one-value range).
func spansDecades(ts []*Trial, pick func(t *Trial) plotter.XYs) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, t := range ts {
		for _, xy := range pick(t) {
			lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
		}
	}
	return lo > 0 && hi > lo*1.0001 && !math.IsInf(hi, 0)
}

// buildCharts draws every chart of the page. Each is drawn on its own:
// one that fails (an error, or a panic inside gonum/plot) becomes a note in
// its place and the rest of the page is drawn as usual.
func buildCharts(pg *page, d *Data, opts Options) {
	pg.Charts["history"] = drawChart("Optimization history", func() (*Chart, error) { return historyChart(d, opts.MaxPoints) })
	pg.Components = componentCharts(d, opts.MaxPoints)
	if len(componentNames(d)) < 2 {
		pg.Notes = append(pg.Notes, "The objective has fewer than two components: there is nothing to trade off.")
	}
	pg.Slices = sliceCharts(d, opts.MaxPoints)
	pg.Charts["parallel"] = drawChart("Parallel coordinates", func() (*Chart, error) { return parallelChart(d, opts.MaxLines) })
	pg.Importance = ParamImportance(d)
	if len(pg.Importance) > 0 && pg.Importance[0].Value == 0 {
		pg.Importance = nil
		pg.Charts["importance"] = &Chart{Title: "Parameter importance", Caption: "No parameter takes more than one value among the trials with a value: there is nothing to rank."}
	} else {
		pg.Charts["importance"] = drawChart("Parameter importance", func() (*Chart, error) { return importanceChart(pg.Importance) })
		if c := pg.Charts["importance"]; c != nil {
			c.Caption += ratioNote(d.Spec)
		}
	}
	var curves []*Trial
	for i := range d.Trials {
		t := &d.Trials[i]
		if t.Value != nil && t.Detailed && len(t.Metrics) > 0 && len(curves) < opts.CurveTrials {
			curves = append(curves, t)
		}
	}
	if b := d.Baseline(); b != nil && b.Detailed && len(b.Metrics) > 0 && !containsTrial(curves, b) {
		curves = append(curves, b)
	}
	loss := drawChart("Training loss", func() (*Chart, error) {
		return curveChart("Training loss", "loss (avr_loss)", curves, func(t *Trial) plotter.XYs {
			var xys plotter.XYs
			for _, m := range t.Metrics {
				if m.Loss > 0 && !math.IsInf(m.Loss, 0) {
					xys = append(xys, plotter.XY{X: float64(m.Step), Y: m.Loss})
				}
			}
			return thinXYs(xys, 400)
		}, false)
	})
	if loss != nil {
		if loss.SVG != "" {
			loss.Caption = strings.TrimSpace("Training loss (sd-scripts' running average) of the best trials. " + loss.Caption)
		}
		pg.Curves = append(pg.Curves, *loss)
	}
	lr := drawChart("Learning rate schedule", func() (*Chart, error) {
		return curveChart("Learning rate schedule", "learning rate", curves, func(t *Trial) plotter.XYs {
			return thinXYs(lrCurve(d, t), 400)
		}, false)
	})
	if lr != nil {
		if lr.SVG != "" {
			lr.Caption = strings.TrimSpace("Learning rate by step: as the trainer reported it, or computed from the trial's config with sd-scripts' scheduler formulas when it did not. " + lr.Caption)
		}
		pg.Curves = append(pg.Curves, *lr)
	}
	pg.Charts["timeline"] = drawChart("GPU timeline", func() (*Chart, error) { return timelineChart(d) })
}

// timelineChart shows which trial ran on which GPU (or CPU slot) and when:
// one row per device, one bar per run, gaps are idle time.
func timelineChart(d *Data) (*Chart, error) {
	type bar struct {
		row        string
		start, end float64
		t          *Trial
	}
	var t0 float64 = math.Inf(1)
	var bars []bar
	hosts := map[string]bool{}
	for i := range d.Trials {
		t := &d.Trials[i]
		if t.Run != nil && !t.Run.Started.IsZero() {
			hosts[t.Run.Host] = true
			t0 = math.Min(t0, float64(t.Run.Started.UnixMicro())/1e6)
		}
	}
	if math.IsInf(t0, 1) {
		return nil, nil
	}
	tmax := 0.0
	for i := range d.Trials {
		t := &d.Trials[i]
		r := t.Run
		if r == nil || r.Started.IsZero() {
			continue
		}
		s := float64(r.Started.UnixMicro())/1e6 - t0
		e := s
		if r.Ended != nil {
			e = float64(r.Ended.UnixMicro())/1e6 - t0
		} else {
			e = math.Max(s, float64(r.Heartbeat.UnixMicro())/1e6-t0)
		}
		tmax = math.Max(tmax, e)
		dev := "cpu"
		if len(r.GPUs) > 0 {
			dev = strings.Join(r.GPUs, "+")
		}
		if len(hosts) > 1 {
			dev = r.Host + ":" + dev
		}
		bars = append(bars, bar{row: dev, start: s, end: e, t: t})
	}
	unit, div := "s", 1.0
	switch {
	case tmax > 3*3600:
		unit, div = "h", 3600
	case tmax > 180:
		unit, div = "min", 60
	}
	rowSet := map[string]bool{}
	for _, b := range bars {
		rowSet[b.row] = true
	}
	rows := make([]string, 0, len(rowSet))
	for r := range rowSet {
		rows = append(rows, r)
	}
	sort.Strings(rows)
	rowIdx := map[string]int{}
	for i, r := range rows {
		rowIdx[r] = i
	}
	sort.Slice(bars, func(i, j int) bool { return bars[i].t.Number < bars[j].t.Number })
	p := newPlot("", "time since the first trial started ("+unit+")", "")
	var labels plotter.XYLabels
	for _, b := range bars {
		y := float64(rowIdx[b.row])
		x0, x1 := b.start/div, math.Max(b.end/div, b.start/div+tmax/div/2000)
		poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: y - 0.35}, {X: x1, Y: y - 0.35}, {X: x1, Y: y + 0.35}, {X: x0, Y: y + 0.35}})
		if err != nil {
			return nil, fmt.Errorf("timeline chart: %w", err)
		}
		switch {
		case b.t.Baseline:
			poly.Color = colBaseline
		case b.t.State == "complete":
			poly.Color = colComplete
		case b.t.State == "pruned":
			poly.Color = colPruned
		case b.t.State == "fail":
			poly.Color = colBest
		default:
			poly.Color = colFront
		}
		poly.LineStyle.Color = color.White
		poly.LineStyle.Width = vg.Points(0.5)
		p.Add(poly)
		if len(bars) <= 80 {
			labels.XYs = append(labels.XYs, plotter.XY{X: (x0 + x1) / 2, Y: y})
			labels.Labels = append(labels.Labels, fmt.Sprint(b.t.Number))
		}
	}
	if len(labels.XYs) > 0 {
		lab, err := plotter.NewLabels(labels)
		if err == nil {
			for i := range lab.TextStyle {
				lab.TextStyle[i].Color = color.White
				lab.TextStyle[i].XAlign = draw.XCenter
				lab.TextStyle[i].XAlign, lab.TextStyle[i].YAlign = draw.XLeft, draw.YCenter
				lab.TextStyle[i].Font.Size = vg.Points(7)
			}
			p.Add(lab)
		}
	}
	p.NominalY(rows...)
	p.Y.Min, p.Y.Max = -0.6, float64(len(rows))-0.4
	p.X.Min = 0
	tidyAxis(&p.X, false, false, false, xLen(chartW))
	h := vg.Length(len(rows))*vg.Points(28) + 2*vg.Centimeter
	svg, err := svgOf(p, chartW, h)
	if err != nil {
		return nil, err
	}
	return &Chart{Title: "GPU timeline", SVG: svg,
		Caption: fmt.Sprintf("%d runs on %d devices: blue complete, grey pruned, red failed, orange baseline, green running; white space is idle time.", len(bars), len(rows))}, nil
}
