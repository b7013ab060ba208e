package bench

import (
	"fmt"
	"math"
)

// MeanSE returns the mean of xs and its standard error (sample standard
// deviation / √n); the error is 0 for fewer than two values.
func MeanSE(xs []float64) (mean, se float64) {
	if len(xs) == 0 {
		return math.NaN(), 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	var v float64
	for _, x := range xs {
		v += (x - mean) * (x - mean)
	}
	v /= float64(len(xs) - 1)
	return mean, math.Sqrt(v / float64(len(xs)))
}

// Stat is a mean with its standard error over N runs.
type Stat struct {
	Mean float64 `json:"mean"`
	SE   float64 `json:"se"`
	N    int     `json:"n"`
}

// NewStat summarises xs.
func NewStat(xs []float64) Stat {
	m, s := MeanSE(xs)
	return Stat{Mean: m, SE: s, N: len(xs)}
}

// String formats the stat as "0.046 ± 0.006".
func (s Stat) String() string {
	if math.IsNaN(s.Mean) {
		return "—"
	}
	return fmt.Sprintf("%.3f ± %.3f", s.Mean, s.SE)
}

// At picks the value at n trials (1-based) from each best-so-far trace,
// minus offset; traces shorter than n are skipped.
func At(traces [][]float64, n int, offset float64) []float64 {
	var out []float64
	for _, t := range traces {
		if len(t) >= n {
			out = append(out, t[n-1]-offset)
		}
	}
	return out
}
