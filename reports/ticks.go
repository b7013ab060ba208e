package reports

import (
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
)

// cleanTicks marks a numeric axis with few ticks at round values (1, 2 or
// 5 × 10^k) labelled with no more digits than tell them apart, and never
// more than fit side by side on the axis: gonum's own markers print float
// noise (9.9999999e-05) on narrow log axes and pack labels into each other.
// Log axes spanning a decade or more tick at powers of ten; narrower ones
// tick like a linear axis over the same range.
type cleanTicks struct {
	log      bool
	integer  bool // ticks at whole numbers only (steps, trial numbers)
	vertical bool
	// length is the axis's drawn length, style its tick label style: both
	// decide how many labels fit.
	length vg.Length
	style  text.Style
}

var _ plot.Ticker = cleanTicks{}

// Ticks returns the densest set of round ticks whose labels fit.
func (c cleanTicks) Ticks(lo, hi float64) []plot.Tick {
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil
	}
	if hi < lo {
		lo, hi = hi, lo
	}
	if hi == lo {
		ts := labelTicks([]plot.Tick{{Value: lo}}, math.Max(math.Abs(lo)/100, 1e-12))
		ts[0].Label = trimZeros(ts[0].Label)
		return ts
	}
	most := 6 // a few labels read better than many
	if c.vertical {
		most = 8
	}
	var best []plot.Tick
	for n := 2; n <= most; n++ {
		var ts []plot.Tick
		if c.log && lo > 0 && hi/lo >= 10 {
			ts = decadeTicks(lo, hi, n)
		} else {
			ts = linearTicks(lo, hi, n, c.integer)
		}
		if best != nil && !c.fits(ts, lo, hi) {
			break
		}
		best = ts
	}
	if c.log && lo > 0 && hi/lo < 10 {
		// Under a decade, log-spaced round values (2, 3, 5, 10) often
		// label a log axis better than evenly spaced ones.
		for _, ms := range [][]float64{{1, 2, 5}, {1, 2, 3, 5}, {1, 1.5, 2, 3, 4, 5, 7}} {
			ts := mantissaTicks(lo, hi, ms, c.integer)
			if len(ts) > len(labelled(best)) && len(ts) <= most && c.fits(ts, lo, hi) {
				best = ts
			}
		}
	}
	return best
}

// mantissaTicks labels m × 10^k for each mantissa m within [lo, hi].
func mantissaTicks(lo, hi float64, ms []float64, integer bool) []plot.Tick {
	var out []plot.Tick
	for k := math.Floor(math.Log10(lo)) - 1; k <= math.Ceil(math.Log10(hi)); k++ {
		p := math.Pow(10, k)
		for _, m := range ms {
			v := m * p
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) || (integer && v != math.Round(v)) {
				continue
			}
			out = append(out, plot.Tick{Value: v, Label: "x"})
		}
	}
	sci := lo < 1e-3 || hi >= 1e6
	for i, t := range out {
		d := math.Pow(10, math.Floor(math.Log10(t.Value)+1e-9)-1)
		out[i].Label = trimZeros(fmtTick(t.Value, d, sci))
	}
	return out
}

// trimZeros drops trailing zeros after a decimal point (1.50 → 1.5).
func trimZeros(s string) string {
	m, e, isExp := strings.Cut(s, "e")
	if strings.Contains(m, ".") {
		m = strings.TrimRight(strings.TrimRight(m, "0"), ".")
	}
	if isExp {
		return m + "e" + e
	}
	return m
}

// fits says whether no two neighbouring labels would touch.
func (c cleanTicks) fits(ts []plot.Tick, lo, hi float64) bool {
	if c.length <= 0 {
		return len(labelled(ts)) <= 5
	}
	pos := func(v float64) vg.Length {
		f := (v - lo) / (hi - lo)
		if c.log && lo > 0 {
			f = math.Log(v/lo) / math.Log(hi/lo)
		}
		return vg.Length(f) * c.length
	}
	size := func(s string) vg.Length {
		if c.vertical {
			return c.style.Height(s)
		}
		return c.style.Width(s)
	}
	gap := c.style.Font.Size * 0.8
	lt := labelled(ts)
	for i := 1; i < len(lt); i++ {
		if pos(lt[i].Value)-pos(lt[i-1].Value) < (size(lt[i].Label)+size(lt[i-1].Label))/2+gap {
			return false
		}
	}
	return true
}

func labelled(ts []plot.Tick) []plot.Tick {
	var out []plot.Tick
	for _, t := range ts {
		if t.Label != "" {
			out = append(out, t)
		}
	}
	return out
}

// niceStep is the smallest of 1, 2, 5 × 10^k that puts at most n ticks on
// span.
func niceStep(span float64, n int) float64 {
	raw := span / float64(max(n-1, 1))
	e := math.Floor(math.Log10(raw))
	for {
		for _, m := range []float64{1, 2, 5} {
			if s := m * math.Pow(10, e); s >= raw*(1-1e-9) {
				return s
			}
		}
		e++
	}
}

func linearTicks(lo, hi float64, n int, integer bool) []plot.Tick {
	s := niceStep(hi-lo, n)
	if integer {
		s = math.Max(1, math.Round(s))
	}
	k0, k1 := math.Ceil(lo/s-1e-9), math.Floor(hi/s+1e-9)
	var out []plot.Tick
	for k := k0; k <= k1; k++ {
		out = append(out, plot.Tick{Value: k * s})
	}
	return labelTicks(out, s)
}

// decadeTicks labels powers of ten (every few when there are many); with
// one or two decades also 2× and 5×. Unlabelled minor ticks mark 2..9 ×.
func decadeTicks(lo, hi float64, n int) []plot.Tick {
	k0, k1 := int(math.Ceil(math.Log10(lo)-1e-9)), int(math.Floor(math.Log10(hi)+1e-9))
	count := k1 - k0 + 1
	every := (count + n - 1) / n
	var out []plot.Tick
	in := func(v float64) bool { return v >= lo*(1-1e-9) && v <= hi*(1+1e-9) }
	for k := k0 - 1; k <= k1; k++ {
		p := math.Pow(10, float64(k))
		if k >= k0 && (k-k0)%every == 0 {
			out = append(out, plot.Tick{Value: p, Label: "x"})
		}
		if every > 1 {
			continue
		}
		for m := 2; m <= 9; m++ {
			v := float64(m) * p
			if !in(v) {
				continue
			}
			t := plot.Tick{Value: v}
			if count <= 2 && (m == 2 || m == 5) && count*3 <= n {
				t.Label = "x"
			}
			out = append(out, t)
		}
	}
	// Each label needs the digits of its own decade (2e-4 next to 1e-3).
	sci := lo < 1e-3 || hi >= 1e6
	for i, t := range out {
		if t.Label != "" {
			d := math.Pow(10, math.Floor(math.Log10(t.Value)+1e-9))
			out[i].Label = fmtTick(t.Value, d, sci)
		}
	}
	return out
}

// labelTicks labels ticks a step apart in one style: fixed point when the
// values are of ordinary size, else all in exponent form, so an axis never
// mixes 0.0010 with 8e-4.
func labelTicks(ts []plot.Tick, step float64) []plot.Tick {
	top := 0.0
	for _, t := range ts {
		top = math.Max(top, math.Abs(t.Value))
	}
	sci := top < 1e-2 || top >= 1e6 || step < 1e-3
	for i := range ts {
		ts[i].Label = fmtTick(ts[i].Value, step, sci)
	}
	return ts
}

// fmtTick writes v with the digits a tick step of step needs, in fixed
// point or in a short exponent form (2.5e-5).
func fmtTick(v, step float64, sci bool) string {
	a := math.Abs(v)
	if a < step*1e-6 {
		return "0"
	}
	if !sci {
		dec := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
		return strconv.FormatFloat(v, 'f', dec, 64)
	}
	sig := int(math.Floor(math.Log10(a)+1e-9)-math.Floor(math.Log10(step)+1e-9)) + 1
	sig = min(max(sig, 1), 6)
	s := strconv.FormatFloat(v, 'e', sig-1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	if strings.Contains(mant, ".") {
		mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
	}
	e, _ := strconv.Atoi(exp)
	return mant + "e" + strconv.Itoa(e)
}

// tidyAxis gives a numeric axis a range that draws (a one-value range is
// widened around its value; a log axis with a value ≤ 0 falls back to
// linear) and clean ticks for its drawn length. Call it after the data is
// added: the data sets the axis's range.
func tidyAxis(a *plot.Axis, log, integer, vertical bool, length vg.Length) {
	if math.IsInf(a.Min, 0) || math.IsInf(a.Max, 0) || math.IsNaN(a.Min) || math.IsNaN(a.Max) {
		a.Min, a.Max = 0, 1
	}
	if log && a.Min <= 0 {
		log = false
		a.Scale = plot.LinearScale{}
	}
	if a.Max-a.Min <= 1e-9*math.Max(math.Abs(a.Min), math.Abs(a.Max)) {
		v := (a.Min + a.Max) / 2
		switch {
		case integer:
			// Trial numbers and steps are never negative: no -1 tick.
			a.Min, a.Max = v-1, v+1
			if v >= 0 {
				a.Min = math.Max(v-1, -0.5)
			}
		case log:
			a.Min, a.Max = v/1.5, v*1.5
		case v == 0:
			a.Min, a.Max = -1, 1
		default:
			a.Min, a.Max = v-math.Abs(v)*0.1, v+math.Abs(v)*0.1
		}
	}
	if log {
		a.Scale = plot.LogScale{}
	}
	a.Tick.Marker = cleanTicks{log: log, integer: integer, vertical: vertical, length: length, style: a.Tick.Label}
}

// fitLabels makes category labels fit slots of width w each: as they are
// when they fit, else wrapped after "_", "-" or " " onto at most three
// lines, else cut short with "…". It says whether any label was cut.
func fitLabels(labels []string, w vg.Length, sty text.Style) ([]string, bool) {
	fit := func(s string) bool { return sty.Width(s) <= w }
	out := make([]string, len(labels))
	cut := false
	for i, l := range labels {
		if fit(l) {
			out[i] = l
			continue
		}
		if wrapped, ok := wrapLabel(l, fit); ok {
			out[i] = wrapped
			continue
		}
		r := []rune(l)
		n := len(r)
		for n > 1 && !fit(string(r[:n])+"…") {
			n--
		}
		out[i], cut = string(r[:n])+"…", true
	}
	return out, cut
}

// wrapLabel breaks s after separators into lines that each fit, at most
// three of them.
func wrapLabel(s string, fit func(string) bool) (string, bool) {
	var words []string
	start := 0
	for i, r := range s {
		if r == '_' || r == '-' || r == ' ' {
			words = append(words, s[start:i+1])
			start = i + 1
		}
	}
	words = append(words, s[start:])
	var lines []string
	cur := ""
	for _, w := range words {
		if cur != "" && !fit(strings.TrimRight(cur+w, " ")) {
			lines = append(lines, strings.TrimRight(cur, " "))
			cur = ""
		}
		cur += w
	}
	lines = append(lines, strings.TrimRight(cur, " "))
	if len(lines) > 3 {
		return "", false
	}
	for _, l := range lines {
		if !fit(l) {
			return "", false
		}
	}
	return strings.Join(lines, "\n"), true
}
