package tpe

import (
	"math"
	"math/rand/v2"
	"slices"
)

const (
	log2Pi   = 1.8378770664093453 // log(2π)
	invSqrt2 = 0.7071067811865476
)

// numeric is a truncated Gaussian mixture on [lo, hi] in model space.
type numeric struct {
	lo, hi float64
	mu     []float64
	sigma  []float64
	w      []float64 // normalised mixture weights
	// c[i] = log w_i − log Z_i − log σ_i − ½ log 2π, the per-component
	// constant of the log density, with Z_i the mass of N(μ_i, σ_i) in [lo, hi].
	c    []float64
	logZ []float64
	inv  []float64 // 1/σ_i
	wz   []float64 // w_i / Z_i
	cum  []float64 // cumulative weights for drawing a component
}

// newNumeric builds the estimator from observations xs (model space) with
// weights ws, plus a prior component N((lo+hi)/2, hi−lo) of weight prior
// (none when prior ≤ 0). Bandwidths follow the neighbour-gap rule: each
// component's σ is the larger gap to its sorted neighbours (the outermost
// ones use their single inner gap), clipped to [(hi−lo)/min(100, m+1), hi−lo].
//
// merge folds components with equal (μ, σ) into one (same density, fewer
// terms): discrete params repeat values, so g(x) of a long sweep shrinks
// from hundreds of components to a few per grid value.
func newNumeric(xs, ws []float64, lo, hi, prior float64, merge bool) *numeric {
	return newNumericAt(xs, ws, lo, hi, prior, (lo+hi)/2, merge)
}

// newNumericAt is newNumeric with the prior component centred at priorMu.
func newNumericAt(xs, ws []float64, lo, hi, prior, priorMu float64, merge bool) *numeric {
	m := len(xs)
	withPrior := prior > 0 || m == 0
	if withPrior {
		m++
	}
	e := &numeric{lo: lo, hi: hi, mu: make([]float64, 0, m), w: make([]float64, 0, m)}
	e.mu = append(e.mu, xs...)
	e.w = append(e.w, ws...)
	if withPrior {
		e.mu = append(e.mu, priorMu)
		e.w = append(e.w, max(prior, 1e-12))
	}
	width := hi - lo
	order := make([]int, m)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		switch {
		case e.mu[a] < e.mu[b]:
			return -1
		case e.mu[a] > e.mu[b]:
			return 1
		}
		return a - b
	})
	e.sigma = make([]float64, m)
	minSigma := width / math.Min(100, float64(m+1))
	for k, i := range order {
		left, right := e.mu[i]-lo, hi-e.mu[i]
		if k > 0 {
			left = e.mu[i] - e.mu[order[k-1]]
		}
		if k < m-1 {
			right = e.mu[order[k+1]] - e.mu[i]
		}
		var s float64
		switch {
		case m == 1:
			s = width
		case k == 0:
			s = right
		case k == m-1:
			s = left
		default:
			s = math.Max(left, right)
		}
		e.sigma[i] = math.Min(math.Max(s, minSigma), width)
	}
	if withPrior {
		e.sigma[m-1] = width
	}
	if merge {
		e.merge()
		m = len(e.mu)
	}
	var tot float64
	for _, w := range e.w {
		tot += w
	}
	e.c = make([]float64, m)
	e.logZ = make([]float64, m)
	e.inv = make([]float64, m)
	e.cum = make([]float64, m)
	e.wz = make([]float64, m)
	var acc float64
	for i := range e.mu {
		e.w[i] /= tot
		acc += e.w[i]
		e.cum[i] = acc
		e.inv[i] = 1 / e.sigma[i]
		e.logZ[i] = logMass((lo-e.mu[i])*e.inv[i], (hi-e.mu[i])*e.inv[i])
		e.c[i] = math.Log(e.w[i]) - e.logZ[i] - math.Log(e.sigma[i]) - log2Pi/2
		e.wz[i] = e.w[i] / math.Exp(e.logZ[i])
	}
	return e
}

func (e *numeric) merge() {
	type key struct{ mu, sigma float64 }
	at := make(map[key]int, len(e.mu))
	j := 0
	for i := range e.mu {
		k := key{e.mu[i], e.sigma[i]}
		if p, ok := at[k]; ok {
			e.w[p] += e.w[i]
			continue
		}
		at[k] = j
		e.mu[j], e.sigma[j], e.w[j] = e.mu[i], e.sigma[i], e.w[i]
		j++
	}
	e.mu, e.sigma, e.w = e.mu[:j], e.sigma[:j], e.w[:j]
}

// sample draws one value in [lo, hi] from the mixture.
func (e *numeric) sample(r randSource) float64 {
	u := r.Float64() * e.cum[len(e.cum)-1]
	i, _ := slices.BinarySearch(e.cum, u)
	i = min(i, len(e.mu)-1)
	a, b := phi((e.lo-e.mu[i])*e.inv[i]), phi((e.hi-e.mu[i])*e.inv[i])
	p := a + r.Float64()*(b-a)
	x := e.mu[i] + e.sigma[i]*math.Sqrt2*math.Erfinv(2*p-1)
	if math.IsNaN(x) {
		x = e.mu[i]
	}
	return math.Min(math.Max(x, e.lo), e.hi)
}

// logPDF is the log density at x (model space) of the truncated mixture.
// One pass in linear space; log-sum-exp only when that underflows.
func (e *numeric) logPDF(x float64) float64 {
	var s float64
	for i := range e.mu {
		d := (x - e.mu[i]) * e.inv[i]
		// A component more than 9σ away adds under e^-40 of its weight:
		// skipping its exp is most of the cost saved with a long history.
		// If every component is that far, the log-sum-exp below takes all.
		if q := d * d; q < 81 {
			s += math.Exp(e.c[i] - q/2)
		}
	}
	if s > 1e-280 {
		return math.Log(s)
	}
	m := math.Inf(-1)
	for i := range e.mu {
		d := (x - e.mu[i]) * e.inv[i]
		m = math.Max(m, e.c[i]-d*d/2)
	}
	if math.IsInf(m, -1) {
		return m
	}
	s = 0
	for i := range e.mu {
		d := (x - e.mu[i]) * e.inv[i]
		s += math.Exp(e.c[i] - d*d/2 - m)
	}
	return m + math.Log(s)
}

// logMassIn is the log probability that a draw lands in [a, b] (model space):
// the probability of a discrete value whose bin is [a, b]. Summed in linear
// space; per-component logs only when that underflows (a bin far in every
// component's tail).
func (e *numeric) logMassIn(a, b float64) float64 {
	var s float64
	for i := range e.mu {
		s += e.wz[i] * (phi((b-e.mu[i])*e.inv[i]) - phi((a-e.mu[i])*e.inv[i]))
	}
	if s > 1e-200 {
		return math.Log(s)
	}
	m := math.Inf(-1)
	terms := make([]float64, len(e.mu))
	for i := range e.mu {
		t := math.Log(e.w[i]) - e.logZ[i] + logMass((a-e.mu[i])*e.inv[i], (b-e.mu[i])*e.inv[i])
		terms[i] = t
		m = math.Max(m, t)
	}
	if math.IsInf(m, -1) {
		return m
	}
	s = 0
	for _, t := range terms {
		s += math.Exp(t - m)
	}
	return m + math.Log(s)
}

// phi is the standard normal CDF.
func phi(z float64) float64 { return 0.5 * math.Erfc(-z*invSqrt2) }

// logMass is log(Φ(b) − Φ(a)) for a ≤ b, accurate in both tails.
func logMass(a, b float64) float64 {
	if a > 0 { // upper tail: use the mirror image, where Φ is small and exact
		a, b = -b, -a
	}
	d := phi(b) - phi(a)
	if d > 0 {
		return math.Log(d)
	}
	// Both ends deep in the lower tail: log Φ(z) ≈ −z²/2 − log(−z√(2π)),
	// and the interval's mass is dominated by its end nearest the mean.
	if b <= a {
		return math.Inf(-1)
	}
	lb := -b*b/2 - math.Log(-b) - log2Pi/2
	la := -a*a/2 - math.Log(-a) - log2Pi/2
	return lb + math.Log1p(-math.Exp(la-lb))
}

// categorical is a smoothed mixture over k choices: the prior is uniform, and
// each observation puts 1 + ε on its own choice and ε on every other
// (normalised), with ε = prior/(n+1) shrinking as observations grow.
type categorical struct {
	p   []float64
	cum []float64
}

func newCategorical(idx []int, ws []float64, k int, prior float64) *categorical {
	n := len(idx)
	eps := prior / float64(n+1)
	if prior <= 0 {
		eps = 0
	}
	p := make([]float64, k)
	var tot float64
	for j, c := range idx {
		w := ws[j]
		rowTot := 1 + eps*float64(k)
		for i := range p {
			p[i] += w * eps / rowTot
		}
		p[c] += w / rowTot
		tot += w
	}
	if prior > 0 || n == 0 {
		pw := max(prior, 1e-12)
		for i := range p {
			p[i] += pw / float64(k)
		}
		tot += pw
	}
	c := &categorical{p: p, cum: make([]float64, k)}
	var acc float64
	for i := range p {
		p[i] /= tot
		acc += p[i]
		c.cum[i] = acc
	}
	return c
}

func (c *categorical) sample(r randSource) int {
	u := r.Float64() * c.cum[len(c.cum)-1]
	i, _ := slices.BinarySearch(c.cum, u)
	return min(i, len(c.p)-1)
}

func (c *categorical) logPMF(i int) float64 { return math.Log(c.p[i]) }

// DefaultGamma is the number of observations that form l(x): 10% of n,
// at most 25 (Optuna's default; Watanabe 2023 §3.1).
func DefaultGamma(n int) int {
	return min(int(math.Ceil(0.1*float64(n))), 25)
}

// DefaultWeights gives n observations (oldest first) their weights: all 1
// up to 25, then the 25 newest keep 1 and older ones ramp linearly from 1/n
// (Bergstra's "forgetting"; Watanabe 2023 §3.4).
func DefaultWeights(n int) []float64 {
	w := make([]float64, n)
	if n < 25 {
		for i := range w {
			w[i] = 1
		}
		return w
	}
	ramp := n - 25
	for i := 0; i < ramp; i++ {
		if ramp == 1 {
			w[i] = 1.0 / float64(n)
		} else {
			w[i] = 1.0/float64(n) + (1-1.0/float64(n))*float64(i)/float64(ramp-1)
		}
	}
	for i := ramp; i < n; i++ {
		w[i] = 1
	}
	return w
}

// randSource is the part of *rand.Rand the estimators draw with.
type randSource interface{ Float64() float64 }

var _ randSource = (*rand.Rand)(nil)
