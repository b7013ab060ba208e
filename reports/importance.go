package reports

import (
	"math"
	"sort"
)

// Importance is one parameter's share of the total PED-ANOVA importance.
type Importance struct {
	Param string
	// Value is the share of the total (all params sum to 1); Raw is the
	// Pearson divergence itself.
	Value, Raw float64
}

const (
	// topQuantile is PED-ANOVA's γ': the share of trials called good.
	topQuantile = 0.1
	// minImportanceTrials is the fewest valued trials for which importance
	// is computed: with fewer, the top set has one or two members and the
	// divergence is noise.
	minImportanceTrials = 10
	gridPoints          = 128
)

// ParamImportance computes PED-ANOVA importances (Watanabe et al., "PED-ANOVA:
// Efficiently Quantifying Hyperparameter Importance in Arbitrary
// Subspaces", IJCAI 2023) of the search space's params over the trials with
// a value: for each param, the Pearson divergence between its distribution
// among the top 10% of trials and among all of them,
//
//	D = ∫ p_all(x) (p_top(x)/p_all(x) − 1)² dx,
//
// with 1-D Parzen estimates (Gaussian kernels, Scott's bandwidth, on [0,1]
// after min-max scaling, in log space for log params; smoothed frequencies
// for categoricals). A param no trial of the top set carries (a
// conditional one) scores 0. Results are sorted by importance, ties by name;
// nil with fewer than 10 valued trials.
func ParamImportance(d *Data) []Importance {
	var ts []*Trial
	for i := range d.Trials {
		if d.Trials[i].Value != nil {
			ts = append(ts, &d.Trials[i])
		}
	}
	if len(ts) < minImportanceTrials {
		return nil
	}
	// d.Trials is ranked best first: the first nTop valued ones are the top set.
	nTop := int(math.Ceil(topQuantile * float64(len(ts))))
	nTop = max(nTop, 2)
	var out []Importance
	total := 0.0
	for _, a := range axes(d) {
		var all, top []float64
		for k, t := range ts {
			// The searched coordinate: a ratio_of param's ratio, not the
			// value trained, which also moves with its reference.
			v, ok := t.searched()[a.name]
			if !ok {
				continue
			}
			x, ok := a.value(v)
			if !ok {
				continue
			}
			if a.log {
				x = math.Log(x)
			}
			all = append(all, x)
			if k < nTop {
				top = append(top, x)
			}
		}
		var raw float64
		switch {
		case len(top) < 2 || len(all) < 2:
		case a.choices != nil:
			raw = categoricalDivergence(all, top, len(a.choices))
		default:
			raw = numericDivergence(all, top)
		}
		out = append(out, Importance{Param: a.name, Raw: raw})
		total += raw
	}
	for i := range out {
		if total > 0 {
			out[i].Value = out[i].Raw / total
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Value != out[j].Value {
			return out[i].Value > out[j].Value
		}
		return out[i].Param < out[j].Param
	})
	return out
}

// categoricalDivergence compares smoothed category frequencies (one
// pseudo-count spread over the categories, so an unseen category in the
// top set does not make the ratio infinite).
func categoricalDivergence(all, top []float64, k int) float64 {
	pa, pt := make([]float64, k), make([]float64, k)
	seen := 0
	for _, x := range all {
		if pa[int(x)] == 0 {
			seen++
		}
		pa[int(x)]++
	}
	if seen < 2 {
		// One choice throughout carries no information; the smoothing alone
		// (it differs between the two set sizes) would make it look as if it did.
		return 0
	}
	for _, x := range top {
		pt[int(x)]++
	}
	d := 0.0
	for c := 0; c < k; c++ {
		a := (pa[c] + 1/float64(k)) / (float64(len(all)) + 1)
		t := (pt[c] + 1/float64(k)) / (float64(len(top)) + 1)
		d += a * (t/a - 1) * (t/a - 1)
	}
	return d
}

// numericDivergence compares Parzen estimates on a grid over [0,1] after
// scaling both sets by the range of all.
func numericDivergence(all, top []float64) float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range all {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	if hi <= lo {
		return 0 // a constant param carries no information
	}
	scale := func(xs []float64) []float64 {
		out := make([]float64, len(xs))
		for i, x := range xs {
			out[i] = (x - lo) / (hi - lo)
		}
		return out
	}
	pa := parzen(scale(all))
	pt := parzen(scale(top))
	d := 0.0
	for i := range pa {
		d += pa[i] * (pt[i]/pa[i] - 1) * (pt[i]/pa[i] - 1)
	}
	return d
}

// parzen evaluates a Gaussian-kernel density of xs (in [0,1]) on a grid,
// normalised to sum to 1 over the grid. The bandwidth is Scott's rule with
// a floor, so a top set of near-identical values stays a bump rather than a
// spike between grid points.
func parzen(xs []float64) []float64 {
	n := float64(len(xs))
	mean := 0.0
	for _, x := range xs {
		mean += x
	}
	mean /= n
	v := 0.0
	for _, x := range xs {
		v += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(v / math.Max(1, n-1))
	bw := math.Max(1.06*sd*math.Pow(n, -0.2), 0.05)
	p := make([]float64, gridPoints)
	sum := 0.0
	for i := range p {
		g := (float64(i) + 0.5) / gridPoints
		for _, x := range xs {
			z := (g - x) / bw
			p[i] += math.Exp(-0.5 * z * z)
		}
		p[i] += 1e-12
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}
