package sampling

import (
	"hash/fnv"
	"math/rand/v2"
)

// NewRand returns the random stream for one parameter of one trial. It is a
// pure function of (seed, trial number, parameter name), so a sweep is
// reproducible whatever order parallel workers ask in, and no sampler holds
// shared random state.
func NewRand(seed int64, trialNumber int, param string) *rand.Rand {
	h := fnv.New64a()
	_, _ = h.Write([]byte(param)) // hash.Hash never fails
	return rand.New(rand.NewPCG(uint64(seed)^0x9e3779b97f4a7c15, h.Sum64()^uint64(trialNumber)*0xbf58476d1ce4e5b9))
}

// Uniform draws a value of d uniformly in model space: uniform in log space
// for Log domains, uniform over grid points for linear Discrete domains,
// uniform over choices for Categorical. It returns the internal value.
func Uniform(r *rand.Rand, d Domain) float64 {
	switch d.Kind {
	case Categorical:
		return float64(r.IntN(len(d.Choices)))
	case Discrete:
		if !d.Log {
			return d.Low + float64(r.IntN(d.Size()))*d.Step
		}
	}
	lo, hi := d.ModelBounds()
	return d.Snap(lo + r.Float64()*(hi-lo))
}
