package benchfn

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/sweep/sampling"
)

// Trace is one run of a sampler on a problem.
type Trace struct {
	// True[i] is the noise-free value of trial i (NaN: it diverged and was
	// told as FAIL); BestTrue[i] the best of True[0..i], +Inf while every
	// trial diverged (regret at n trials is BestTrue[n-1] − Optimum).
	True     []float64
	BestTrue []float64
	// Params[i] are trial i's internal params.
	Params []map[string]float64
	// NearDuplicates counts proposals that were within Closeness of a trial
	// still running when they were made (parallel runs only).
	NearDuplicates int
}

// RunOptions configures Run.
type RunOptions struct {
	Trials int
	Seed   int64
	// Parallel > 1 simulates that many workers deterministically: trials are
	// asked while Parallel-1 others are still RUNNING and told oldest first.
	Parallel int
	// Baseline runs the problem's Base config as trial 0, an observation
	// like any other (lorasweep's baseline: true).
	Baseline bool
	// NaNReason is the fail reason a diverged trial is told with (default
	// "nan", which samplers treat as param-caused; "crash" makes them ignore
	// it, as Optuna ignores FAIL trials).
	NaNReason string
	// Closeness is the max-norm distance (numeric params scaled to [0, 1] of
	// their range in model space; a categorical mismatch counts 1) below which
	// a proposal is a near-duplicate of a running trial (default 0.05).
	Closeness float64
}

// Run optimises p with sampler on a fresh in-memory study and returns the
// trace. Noise is drawn from a stream seeded by opts.Seed, independent of the
// sampler's.
func Run(p Problem, sampler goptuna.Sampler, opts RunOptions) (Trace, error) {
	study, err := goptuna.CreateStudy(p.Name,
		goptuna.StudyOptionStorage(goptuna.NewInMemoryStorage()),
		goptuna.StudyOptionSampler(sampler),
		goptuna.StudyOptionLogger(nil),
		goptuna.StudyOptionDirection(goptuna.StudyDirectionMinimize))
	if err != nil {
		return Trace{}, fmt.Errorf("create study: %w", err)
	}
	if opts.Parallel < 1 {
		opts.Parallel = 1
	}
	if opts.Closeness <= 0 {
		opts.Closeness = 0.05
	}
	noise := rand.New(rand.NewPCG(uint64(opts.Seed), 0x6e6f697365))
	tr := Trace{}
	type pending struct {
		id  int
		val float64
	}
	var running []pending
	tell := func(pd pending) error {
		if math.IsNaN(pd.val) {
			// Diverged: a FAIL whose reason is the params, as a real
			// avr_loss=nan is told.
			reason := opts.NaNReason
			if reason == "" {
				reason = "nan"
			}
			if err := study.Storage.SetTrialSystemAttr(pd.id, sampling.AttrFailReason, reason); err != nil {
				return fmt.Errorf("tell trial %d: %w", pd.id, err)
			}
			return study.Storage.SetTrialState(pd.id, goptuna.TrialStateFail)
		}
		v := pd.val + p.Noise*noise.NormFloat64()
		if err := study.Storage.SetTrialValue(pd.id, v); err != nil {
			return fmt.Errorf("tell trial %d: %w", pd.id, err)
		}
		return study.Storage.SetTrialState(pd.id, goptuna.TrialStateComplete)
	}
	for n := 0; n < opts.Trials; n++ {
		if len(running) == opts.Parallel {
			if err := tell(running[0]); err != nil {
				return tr, err
			}
			running = running[1:]
		}
		id, err := study.Storage.CreateNewTrial(study.ID)
		if err != nil {
			return tr, fmt.Errorf("ask trial: %w", err)
		}
		if n == 0 && opts.Baseline && p.Base != nil {
			fixed, err := json.Marshal(p.Base)
			if err != nil {
				return tr, err
			}
			if err := study.Storage.SetTrialSystemAttr(id, "fixed_params", string(fixed)); err != nil {
				return tr, fmt.Errorf("baseline: %w", err)
			}
		}
		t := goptuna.Trial{Study: study, ID: id}
		v, err := p.Evaluate(&t)
		if err != nil {
			return tr, fmt.Errorf("evaluate trial %d: %w", n, err)
		}
		ft, err := study.Storage.GetTrial(id)
		if err != nil {
			return tr, fmt.Errorf("read trial %d: %w", n, err)
		}
		for _, o := range running {
			other, err := study.Storage.GetTrial(o.id)
			if err != nil {
				return tr, fmt.Errorf("read trial: %w", err)
			}
			if Distance(ft, other) < opts.Closeness {
				tr.NearDuplicates++
				break
			}
		}
		running = append(running, pending{id: id, val: v})
		tr.True = append(tr.True, v)
		best := v
		if math.IsNaN(v) {
			best = math.Inf(1) // a diverged trial trains nothing usable
		}
		if n > 0 {
			best = math.Min(best, tr.BestTrue[n-1])
		}
		tr.BestTrue = append(tr.BestTrue, best)
		tr.Params = append(tr.Params, ft.InternalParams)
	}
	for _, pd := range running {
		if err := tell(pd); err != nil {
			return tr, err
		}
	}
	return tr, nil
}

// Distance is the max-norm distance between two trials' params: numeric
// params scaled by their range (in log space for log distributions), a
// categorical mismatch or a param only one of them has counts 1.
func Distance(a, b goptuna.FrozenTrial) float64 {
	var d float64
	for name, da := range a.Distributions {
		va, vb := a.InternalParams[name], 0.0
		vb, ok := b.InternalParams[name]
		if !ok {
			d = 1
			continue
		}
		var lo, hi float64
		log := false
		switch x := da.(type) {
		case goptuna.CategoricalDistribution:
			if va != vb {
				d = 1
			}
			continue
		case goptuna.UniformDistribution:
			lo, hi = x.Low, x.High
		case goptuna.LogUniformDistribution:
			lo, hi, log = x.Low, x.High, true
		case goptuna.IntUniformDistribution:
			lo, hi = float64(x.Low), float64(x.High)
		case goptuna.StepIntUniformDistribution:
			lo, hi = float64(x.Low), float64(x.High)
		case goptuna.DiscreteUniformDistribution:
			lo, hi = x.Low, x.High
		}
		if log {
			lo, hi, va, vb = math.Log(lo), math.Log(hi), math.Log(va), math.Log(vb)
		}
		if hi > lo {
			d = math.Max(d, math.Abs(va-vb)/(hi-lo))
		}
	}
	return d
}
