package tpe

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/c-bata/goptuna"
	"github.com/lorasweep/lorasweep/sweep/sampling"
)

// Options configures the TPE sampler. Zero values take the defaults.
type Options struct {
	// Seed makes proposals reproducible: a trial's draw depends only on
	// (Seed, trial number, param name) and the history it sees.
	Seed int64
	// StartupTrials finished observations of a param are sampled at random
	// before TPE models it (default 10).
	StartupTrials int
	// Candidates drawn from l(x) per proposal (default 24).
	Candidates int
	// ConstantLiar counts other RUNNING trials as the worst observations so
	// parallel workers are not sent to the same place.
	ConstantLiar bool
	// LogInt names LogUniformDistribution params that are log-scale ints.
	LogInt map[string]bool
	// Unmodelled names params that cannot change training (validation's dead
	// dimensions): they are drawn at random, never modelled.
	Unmodelled map[string]bool
	// Multivariate models the params every finished trial has with one
	// joint Parzen estimator (conditional ones stay univariate).
	Multivariate bool
	// Effective maps a log-scale param to a linear one that multiplies it
	// in training (learning_rate → network_alpha as a ratio of
	// network_dim: the rate a LoRA feels is lr × alpha/dim). The joint model
	// then searches log(lr × ratio) instead of log(lr).
	Effective map[string]string
	// Prior gives params a centre (internal values, from the base config):
	// the prior component of every estimator is centred there, and most
	// startup trials are drawn near it (a prior, never a bound: truncated
	// Gaussians over the whole range, and some trials uniform).
	Prior map[string]float64
	// Local centres the startup draws on the best finished trial so far
	// (the baseline, at first) instead of on Prior once there is one.
	Local bool
	// StartupSpread is the standard deviation of those draws as a share of
	// the param's model-space range (default DefaultStartupSpread).
	StartupSpread float64
	// StartupUniform is the share of startup trials drawn uniformly when
	// there is a centre (default DefaultStartupUniform).
	StartupUniform float64
	// PriorWeight of the prior component in every estimator (default 1;
	// negative disables the prior).
	PriorWeight float64
	// Gamma gives the size of the good group from n (default DefaultGamma).
	Gamma func(n int) int
	// Weights gives n observations, oldest first, their weights (default
	// DefaultWeights).
	Weights func(n int) []float64
}

// Defaults of the startup draws near a centre, chosen on lsbench's ablation
// (BENCHMARKS.md): a step of 1/20 of each range, and one trial in four
// uniform so the startup still explores.
const (
	DefaultStartupSpread  = 1.0 / 20
	DefaultStartupUniform = 0.25
)

// Sampler is the TPE sampler. It implements goptuna.Sampler and is safe for
// concurrent use; the direction is read from the study.
type Sampler struct {
	opts   Options
	cache  sampling.HistoryCache
	joints jointCache
}

var _ goptuna.Sampler = (*Sampler)(nil)

// NewSampler returns a TPE sampler with opts' zero fields defaulted.
func NewSampler(opts Options) *Sampler {
	if opts.StartupTrials <= 0 {
		opts.StartupTrials = 10
	}
	if opts.Candidates <= 0 {
		opts.Candidates = 24
	}
	if opts.PriorWeight == 0 {
		opts.PriorWeight = 1
	}
	if opts.PriorWeight < 0 {
		opts.PriorWeight = 0
	}
	if opts.Gamma == nil {
		opts.Gamma = DefaultGamma
	}
	if opts.Weights == nil {
		opts.Weights = DefaultWeights
	}
	return &Sampler{opts: opts}
}

// Sample proposes param's internal value for trial: an index for
// categoricals, an integer-valued float for ints and log-ints.
func (s *Sampler) Sample(study *goptuna.Study, trial goptuna.FrozenTrial, param string, dist interface{}) (float64, error) {
	d, err := sampling.DomainOf(dist, s.opts.LogInt[param])
	if err != nil {
		return 0, fmt.Errorf("sample %s: %w", param, err)
	}
	r := sampling.NewRand(s.opts.Seed, trial.Number, param)
	if d.Low == d.High {
		return d.Low, nil
	}
	if s.opts.Unmodelled[param] {
		return sampling.Uniform(r, d), nil
	}
	h, err := s.cache.Get(study, trial, s.opts.ConstantLiar)
	if err != nil {
		return 0, fmt.Errorf("sample %s: read history: %w", param, err)
	}
	below, above, finished := split(h, param, d, s.opts.Gamma)
	if finished < s.opts.StartupTrials {
		centre, ok := s.opts.Prior[param]
		if s.opts.Local && len(h.Order) > 0 && h.ByNumber[h.Order[0]].Status == sampling.Complete {
			if v, has := h.ByNumber[h.Order[0]].Value(param, d); has {
				centre, ok = v, true
			}
		}
		// One coin per trial, not per param: a trial near the centre moves
		// every param a little; the others explore the whole space.
		near := sampling.NewRand(s.opts.Seed, trial.Number, "\x00startup").Float64() >= s.uniformShare()
		return s.startup(r, d, centre, ok && near), nil
	}
	if s.opts.Multivariate {
		v, ok, err := s.joint(study, trial, param, d)
		if err != nil {
			return 0, fmt.Errorf("sample %s: %w", param, err)
		}
		if ok {
			return v, nil
		}
	}
	if d.Kind == sampling.Categorical {
		return s.sampleCategorical(r, d, below, above), nil
	}
	return s.sampleNumeric(r, param, d, below, above), nil
}

// startup draws a value before the model takes over: uniform, or with a
// prior for param, half the time from N(prior, (width/6)²) truncated to the
// domain (categoricals: the prior's choice).
func (s *Sampler) startup(r *rand.Rand, d sampling.Domain, pv float64, ok bool) float64 {
	if !ok || !d.Contains(pv) {
		return sampling.Uniform(r, d)
	}
	if d.Kind == sampling.Categorical {
		return pv
	}
	lo, hi := d.ModelBounds()
	spread := s.opts.StartupSpread
	if spread <= 0 {
		spread = DefaultStartupSpread
	}
	mu, sd := d.ToModel(pv), (hi-lo)*spread
	a, b := phi((lo-mu)/sd), phi((hi-mu)/sd)
	m := mu + sd*math.Sqrt2*math.Erfinv(2*(a+r.Float64()*(b-a))-1)
	if math.IsNaN(m) {
		m = mu
	}
	return d.Snap(math.Min(math.Max(m, lo), hi))
}

func (s *Sampler) uniformShare() float64 {
	if s.opts.StartupUniform <= 0 {
		return DefaultStartupUniform
	}
	return s.opts.StartupUniform
}

// group is one side of the split: values (model space, or category indices)
// oldest first.
type group struct{ xs []float64 }

// split divides the observations that have param (with a value inside d)
// into the best gamma(n) and the rest, each kept oldest first, and counts the
// finished ones (liars excluded) for the startup rule.
func split(h sampling.History, param string, d sampling.Domain, gamma func(int) int) (below, above group, finished int) {
	vals := make([]float64, len(h.ByNumber))
	has := make([]bool, len(h.ByNumber))
	n := 0
	for i := range h.ByNumber {
		o := &h.ByNumber[i]
		v, ok := o.Value(param, d)
		if !ok {
			continue
		}
		vals[i], has[i] = v, true
		n++
		if !o.Running {
			finished++
		}
	}
	nBelow := min(max(gamma(n), 0), n)
	isBelow := make([]bool, len(h.ByNumber))
	k := 0
	for _, i := range h.Order {
		if k == nBelow {
			break
		}
		if has[i] {
			isBelow[i] = true
			k++
		}
	}
	for i := range h.ByNumber {
		if !has[i] {
			continue
		}
		v := vals[i]
		if d.Kind != sampling.Categorical {
			v = d.ToModel(v)
		}
		if isBelow[i] {
			below.xs = append(below.xs, v)
		} else {
			above.xs = append(above.xs, v)
		}
	}
	return below, above, finished
}

func (s *Sampler) sampleNumeric(r randSource, param string, d sampling.Domain, below, above group) float64 {
	lo, hi := d.ModelBounds()
	disc := d.Kind == sampling.Discrete
	centre := (lo + hi) / 2
	if pv, ok := s.opts.Prior[param]; ok && d.Contains(pv) {
		centre = d.ToModel(pv)
	}
	l := newNumericAt(below.xs, s.opts.Weights(len(below.xs)), lo, hi, s.opts.PriorWeight, centre, disc)
	g := newNumericAt(above.xs, s.opts.Weights(len(above.xs)), lo, hi, s.opts.PriorWeight, centre, disc)
	best, bestScore := math.NaN(), math.Inf(-1)
	var scored map[float64]float64 // discrete candidates repeat: score each value once
	if d.Kind == sampling.Discrete {
		scored = make(map[float64]float64, s.opts.Candidates)
	}
	for range s.opts.Candidates {
		m := l.sample(r)
		x := d.Snap(m)
		var score float64
		if d.Kind == sampling.Discrete {
			var ok bool
			if score, ok = scored[x]; !ok {
				a, b := d.Bin(x)
				score = l.logMassIn(a, b) - g.logMassIn(a, b)
				scored[x] = score
			}
		} else {
			score = l.logPDF(m) - g.logPDF(m)
		}
		if math.IsNaN(best) || score > bestScore {
			best, bestScore = x, score
		}
	}
	return best
}

func (s *Sampler) sampleCategorical(r randSource, d sampling.Domain, below, above group) float64 {
	k := len(d.Choices)
	l := newCategorical(toIdx(below.xs), s.opts.Weights(len(below.xs)), k, s.opts.PriorWeight)
	g := newCategorical(toIdx(above.xs), s.opts.Weights(len(above.xs)), k, s.opts.PriorWeight)
	best, bestScore := -1, math.Inf(-1)
	for range s.opts.Candidates {
		c := l.sample(r)
		if score := l.logPMF(c) - g.logPMF(c); best < 0 || score > bestScore {
			best, bestScore = c, score
		}
	}
	return float64(best)
}

func toIdx(xs []float64) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x)
	}
	return out
}
