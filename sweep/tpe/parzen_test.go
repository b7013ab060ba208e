package tpe

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/c-bata/goptuna"
	"github.com/lorasweep/lorasweep/sweep/sampling"
)

// The expected log densities below were computed by hand (Python's math.erf)
// from the definition: a mixture, weights ½/½, of the observation's Gaussian
// (σ from the neighbour-gap rule, clipped below at width/3 with two
// components) and the prior N(mid, width), each truncated to the domain.
func TestNumericEstimatorDensities(t *testing.T) {
	tests := []struct {
		name string
		dist interface{}
		log  bool // log-int
		obs  float64
		// at: external values; want: log density (continuous) or log
		// probability (discrete).
		at   []float64
		want []float64
	}{
		{"continuous", goptuna.UniformDistribution{Low: 0, High: 1}, false, 0.3,
			[]float64{0.4, 0, 1}, []float64{0.21118677543025483, -0.0410112007616628, -0.6118003296950342}},
		{"log float, density in log space", goptuna.LogUniformDistribution{Low: 1e-3, High: 1}, false, 0.01,
			[]float64{0.03}, []float64{-1.7728428355203767}},
		{"int, mass of each bin", goptuna.IntUniformDistribution{Low: 1, High: 5}, false, 2,
			[]float64{1, 3, 5}, []float64{-1.5136519097001497, -1.4780773961109746, -2.0659216481787777}},
		{"log int, bins in log space", goptuna.LogUniformDistribution{Low: 2, High: 128}, true, 16,
			[]float64{16, 128}, []float64{-4.072408795916932, -6.674868061844075}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := sampling.DomainOf(tc.dist, tc.log)
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := d.ModelBounds()
			e := newNumeric([]float64{d.ToModel(tc.obs)}, []float64{1}, lo, hi, 1, d.Kind == sampling.Discrete)
			for i, x := range tc.at {
				var got float64
				if d.Kind == sampling.Discrete {
					a, b := d.Bin(x)
					got = e.logMassIn(a, b)
				} else {
					got = e.logPDF(d.ToModel(x))
				}
				if math.Abs(got-tc.want[i]) > 1e-9 {
					t.Errorf("log density at %g = %.12f, want %.12f", x, got, tc.want[i])
				}
			}
		})
	}
}

// Truncation: whatever the observations (at the bounds included), the
// density integrates to 1 over the domain and the bin masses of a discrete
// domain sum to 1; draws never leave the domain.
func TestNumericEstimatorTruncation(t *testing.T) {
	tests := []struct {
		name   string
		xs     []float64
		lo, hi float64
		merge  bool
	}{
		{"observation at the low bound", []float64{0}, 0, 1, false},
		{"observations at both bounds", []float64{0, 1, 1}, 0, 1, false},
		{"clustered", []float64{0.5, 0.51, 0.52, 0.49}, 0, 1, false},
		{"no observations: prior only", nil, -3, 2, false},
		{"repeated values merged", []float64{0.5, 0.5, 0.5, 0.75, 0.75, 0.25}, 0, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := make([]float64, len(tc.xs))
			for i := range ws {
				ws[i] = 1
			}
			e := newNumeric(tc.xs, ws, tc.lo, tc.hi, 1, tc.merge)
			const n = 20000
			h := (tc.hi - tc.lo) / n
			var integral float64
			for i := 0; i <= n; i++ {
				f := math.Exp(e.logPDF(tc.lo + float64(i)*h))
				if i == 0 || i == n {
					f /= 2
				}
				integral += f * h
			}
			if math.Abs(integral-1) > 1e-4 {
				t.Errorf("density integrates to %.6f, want 1", integral)
			}
			var mass float64
			for i := 0; i < 10; i++ {
				a := tc.lo + float64(i)*(tc.hi-tc.lo)/10
				mass += math.Exp(e.logMassIn(a, a+(tc.hi-tc.lo)/10))
			}
			if math.Abs(mass-1) > 1e-9 {
				t.Errorf("bin masses sum to %.12f, want 1", mass)
			}
			r := rand.New(rand.NewPCG(1, 2))
			for range 2000 {
				if x := e.sample(r); x < tc.lo || x > tc.hi {
					t.Fatalf("draw %g outside [%g, %g]", x, tc.lo, tc.hi)
				}
			}
		})
	}
}

func TestCategoricalEstimator(t *testing.T) {
	tests := []struct {
		name  string
		idx   []int
		ws    []float64
		prior float64
		want  []float64
	}{
		// ε = 1/(3+1): each observation puts 1.25/1.75 on its choice and
		// 0.25/1.75 elsewhere; the prior is uniform; four unit weights.
		{"smoothed counts with prior", []int{0, 0, 2}, []float64{1, 1, 1}, 1,
			[]float64{0.47619047619047616, 0.19047619047619047, 0.3333333333333333}},
		{"no observations: uniform", nil, nil, 1, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}},
		{"no prior: raw weighted counts", []int{1, 1, 2}, []float64{1, 3, 4}, 0, []float64{0, 0.5, 0.5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCategorical(tc.idx, tc.ws, 3, tc.prior)
			for i, w := range tc.want {
				if got := math.Exp(c.logPMF(i)); math.Abs(got-w) > 1e-12 {
					t.Errorf("p(%d) = %.15f, want %.15f", i, got, w)
				}
			}
		})
	}
}

func TestLogMassTails(t *testing.T) {
	tests := []struct {
		name string
		a, b float64
		want float64
	}{
		{"centre", -1, 1, math.Log(0.6826894921370859)},
		{"upper tail", 8, 9, math.Log(6.219831985865866e-16)},
		{"far lower tail", -41, -40, -804.6084420137538},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := logMass(tc.a, tc.b); math.Abs(got-tc.want) > 1e-3*math.Max(1, math.Abs(tc.want)) {
				t.Errorf("logMass(%g, %g) = %g, want %g", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func TestDefaultGammaAndWeights(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		gamma int
		first float64
		last  float64
	}{
		{"small history", 9, 1, 1, 1},
		{"ten", 10, 1, 1, 1},
		{"hundred", 100, 10, 0.01, 1},
		{"large: gamma capped", 1000, 25, 0.001, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if g := DefaultGamma(tc.n); g != tc.gamma {
				t.Errorf("gamma(%d) = %d, want %d", tc.n, g, tc.gamma)
			}
			w := DefaultWeights(tc.n)
			if len(w) != tc.n || math.Abs(w[0]-tc.first) > 1e-12 || w[tc.n-1] != tc.last {
				t.Errorf("weights(%d): len %d, first %g, last %g", tc.n, len(w), w[0], w[tc.n-1])
			}
		})
	}
}
