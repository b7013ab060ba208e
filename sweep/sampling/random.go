package sampling

import (
	"fmt"

	"github.com/c-bata/goptuna"
)

// RandomOptions configures the random sampler.
type RandomOptions struct {
	// Seed makes the sweep reproducible: a trial's value for a param depends
	// only on (Seed, trial number, param name).
	Seed int64
	// LogInt names LogUniformDistribution params that are log-scale ints.
	LogInt map[string]bool
}

// Random samples each param independently and uniformly (in log space for
// log params), with inclusive integer bounds. It implements goptuna.Sampler.
type Random struct {
	opts RandomOptions
}

// NewRandom returns a seeded random sampler.
func NewRandom(opts RandomOptions) *Random {
	return &Random{opts: opts}
}

var _ goptuna.Sampler = (*Random)(nil)

// Sample returns an internal value for param: an index for categoricals,
// an integer-valued float for ints and log-ints.
func (r *Random) Sample(_ *goptuna.Study, trial goptuna.FrozenTrial, param string, dist interface{}) (float64, error) {
	d, err := DomainOf(dist, r.opts.LogInt[param])
	if err != nil {
		return 0, fmt.Errorf("sample %s: %w", param, err)
	}
	return Uniform(NewRand(r.opts.Seed, trial.Number, param), d), nil
}
