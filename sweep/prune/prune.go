// Package prune holds lorasweep's early-stopping rules — median and
// asynchronous successive halving — as goptuna.Pruner implementations, and
// the helpers that report a scored epoch as an intermediate value.
//
// Intermediate values are indexed by the fraction of a trial's schedule
// completed (Step), not by raw epoch, so trials with different epoch counts
// or batch sizes are compared at the same point of their LR schedules. The
// rules are written from the algorithms rather than wrapping goptuna's
// pruners, which overwrite successive-halving rungs, count warm-up in raw
// steps and compare only at exactly equal steps (goptuna.md §3).
//
// It knows goptuna's Study and FrozenTrial only; it must not know about
// specs, runners, objectives or storage implementations.
package prune

import (
	"fmt"
	"math"
	"slices"

	"github.com/lorasweep/lorasweep/sweep/sampling"

	"github.com/c-bata/goptuna"
)

// Scale is the step of a trial that has completed its whole schedule.
const Scale = 1000

// Step is the intermediate-value step of a fraction of the schedule:
// round(fraction × 1000), clamped to [0, 1000].
func Step(fraction float64) int {
	if math.IsNaN(fraction) || fraction < 0 {
		return 0
	}
	return int(math.Round(math.Min(fraction, 1) * Scale))
}

// Report stores value as trial's intermediate value at step and, when pruner
// is not nil, asks it whether to stop the trial. Unlike goptuna's
// Trial.ShouldPrune, the value is stored even without a pruner.
func Report(study *goptuna.Study, pruner goptuna.Pruner, trialID, step int, value float64) (bool, error) {
	if err := study.Storage.SetTrialIntermediateValue(trialID, step, value); err != nil {
		return false, fmt.Errorf("report step %d of trial %d: %w", step, trialID, err)
	}
	if pruner == nil {
		return false, nil
	}
	ft, err := study.Storage.GetTrial(trialID)
	if err != nil {
		return false, fmt.Errorf("report step %d of trial %d: %w", step, trialID, err)
	}
	stop, err := pruner.Prune(study, ft)
	if err != nil {
		return false, fmt.Errorf("prune trial %d: %w", trialID, err)
	}
	return stop, nil
}

// Best returns the best intermediate value of trial given the direction and
// the step it was reached at: the value a pruned trial keeps (its best
// epoch's score). ok is false when the trial has no finite value.
func Best(trial goptuna.FrozenTrial, dir goptuna.StudyDirection) (value float64, step int, ok bool) {
	return bestUpTo(trial, math.MaxInt, dir)
}

// bestUpTo is the best finite value among steps ≤ limit.
func bestUpTo(trial goptuna.FrozenTrial, limit int, dir goptuna.StudyDirection) (value float64, step int, ok bool) {
	for s, v := range trial.IntermediateValues {
		if s > limit || math.IsNaN(v) {
			continue
		}
		if !ok || better(v, value, dir) || (v == value && s < step) {
			value, step, ok = v, s, true
		}
	}
	return value, step, ok
}

// superseded reports a trial scored under an older objective of the sweep:
// its values do not compare with this trial's.
func superseded(t *goptuna.FrozenTrial) bool {
	return t.SystemAttrs[sampling.AttrSuperseded] != ""
}

func better(a, b float64, dir goptuna.StudyDirection) bool {
	if dir == goptuna.StudyDirectionMaximize {
		return a > b
	}
	return a < b
}

// latest is the trial's last step and the value reported there.
func latest(trial goptuna.FrozenTrial) (step int, value float64, ok bool) {
	step, ok = trial.GetLatestStep()
	if !ok {
		return 0, 0, false
	}
	return step, trial.IntermediateValues[step], true
}

// MedianOptions configures the median pruner.
type MedianOptions struct {
	// StartupTrials: nothing is pruned until this many trials have finished
	// with values to compare against (default 5).
	StartupTrials int
	// WarmupFraction of its schedule a trial completes before it can be
	// pruned (0..1).
	WarmupFraction float64
	// Percentile compared against, 0 < q < 100 (default 50, the median).
	Percentile float64
}

// Median prunes a trial whose best value so far is worse than the median of
// the best values other finished trials had reached by the same point of
// their schedules. It implements goptuna.Pruner.
type Median struct{ opts MedianOptions }

// NewMedian returns the median pruner with zero fields defaulted.
func NewMedian(opts MedianOptions) *Median {
	if opts.StartupTrials <= 0 {
		opts.StartupTrials = 5
	}
	if opts.Percentile <= 0 || opts.Percentile >= 100 {
		opts.Percentile = 50
	}
	return &Median{opts: opts}
}

var _ goptuna.Pruner = (*Median)(nil)

// Prune reports whether trial should stop at its latest step. A NaN latest
// value always prunes (the run diverged).
func (m *Median) Prune(study *goptuna.Study, trial goptuna.FrozenTrial) (bool, error) {
	step, last, ok := latest(trial)
	if !ok {
		return false, nil
	}
	if math.IsNaN(last) {
		return true, nil
	}
	if step < Step(m.opts.WarmupFraction) {
		return false, nil
	}
	dir := study.Direction()
	mine, _, ok := bestUpTo(trial, step, dir)
	if !ok {
		return false, nil
	}
	trials, err := study.Storage.GetAllTrials(study.ID)
	if err != nil {
		return false, fmt.Errorf("median prune: %w", err)
	}
	var others []float64
	for i := range trials {
		t := &trials[i]
		if t.ID == trial.ID || !(t.State == goptuna.TrialStateComplete || t.State == goptuna.TrialStatePruned) || superseded(t) {
			continue
		}
		// A trial that stopped before this point says nothing about it.
		if last, ok := t.GetLatestStep(); !ok || last < step {
			continue
		}
		if v, _, ok := bestUpTo(*t, step, dir); ok {
			others = append(others, v)
		}
	}
	if len(others) < m.opts.StartupTrials {
		return false, nil
	}
	q := m.opts.Percentile
	if dir == goptuna.StudyDirectionMaximize {
		q = 100 - q
	}
	return better(percentile(others, q), mine, dir), nil
}

// percentile interpolates linearly between order statistics (numpy's default).
func percentile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q / 100 * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// HalvingOptions configures successive halving.
type HalvingOptions struct {
	// MinFraction is the first rung's fraction of the schedule (default
	// 1/ReductionFactor²); rung k is at MinFraction × ReductionFactor^k.
	MinFraction float64
	// ReductionFactor: the top 1/ReductionFactor of the trials that reached
	// a rung go on (default 3).
	ReductionFactor int
}

// SuccessiveHalving is asynchronous successive halving (Li et al. 2020,
// ASHA): when a trial first reaches a rung, its best value so far is compared
// with the values every trial had at that rung, and it continues only if it
// is in the top 1/ReductionFactor (or is the best, while fewer than
// ReductionFactor trials have reached the rung). A trial's rung value is
// recorded once and never overwritten; it is computed from intermediate
// values, so nothing extra is stored. It implements goptuna.Pruner.
type SuccessiveHalving struct {
	rungs []int // steps
	rf    int
}

// NewSuccessiveHalving returns the pruner with zero fields defaulted.
func NewSuccessiveHalving(opts HalvingOptions) *SuccessiveHalving {
	if opts.ReductionFactor < 2 {
		opts.ReductionFactor = 3
	}
	if opts.MinFraction <= 0 || opts.MinFraction > 1 {
		opts.MinFraction = 1 / float64(opts.ReductionFactor*opts.ReductionFactor)
	}
	sh := &SuccessiveHalving{rf: opts.ReductionFactor}
	for f := opts.MinFraction; Step(f) < Scale; f *= float64(opts.ReductionFactor) {
		if s := Step(f); len(sh.rungs) == 0 || s > sh.rungs[len(sh.rungs)-1] {
			sh.rungs = append(sh.rungs, s)
		}
	}
	return sh
}

// Rungs returns the rung steps, ascending.
func (sh *SuccessiveHalving) Rungs() []int { return slices.Clone(sh.rungs) }

var _ goptuna.Pruner = (*SuccessiveHalving)(nil)

// Prune reports whether trial should stop at its latest step: only the report
// that first crosses a rung can stop it.
func (sh *SuccessiveHalving) Prune(study *goptuna.Study, trial goptuna.FrozenTrial) (bool, error) {
	step, last, ok := latest(trial)
	if !ok {
		return false, nil
	}
	if math.IsNaN(last) {
		return true, nil
	}
	prev := -1
	for s := range trial.IntermediateValues {
		if s < step && s > prev {
			prev = s
		}
	}
	rung := -1
	for k, r := range sh.rungs {
		if prev < r && r <= step {
			rung = k // the highest rung this report crosses
		}
	}
	if rung < 0 {
		return false, nil
	}
	dir := study.Direction()
	trials, err := study.Storage.GetAllTrials(study.ID)
	if err != nil {
		return false, fmt.Errorf("successive halving prune: %w", err)
	}
	mine, ok := sh.rungValue(trial, rung, dir)
	if !ok {
		return false, nil
	}
	competing := []float64{mine}
	for i := range trials {
		if trials[i].ID == trial.ID || superseded(&trials[i]) {
			continue
		}
		if v, ok := sh.rungValue(trials[i], rung, dir); ok {
			competing = append(competing, v)
		}
	}
	slices.SortFunc(competing, func(a, b float64) int {
		switch {
		case better(a, b, dir):
			return -1
		case better(b, a, dir):
			return 1
		}
		return 0
	})
	keep := max(len(competing)/sh.rf, 1)
	return better(competing[keep-1], mine, dir), nil
}

// rungValue is a trial's value at rung k: its best value up to the first step
// at or past the rung, false if it never got there.
func (sh *SuccessiveHalving) rungValue(t goptuna.FrozenTrial, k int, dir goptuna.StudyDirection) (float64, bool) {
	first := -1
	for s := range t.IntermediateValues {
		if s >= sh.rungs[k] && (first < 0 || s < first) {
			first = s
		}
	}
	if first < 0 {
		return 0, false
	}
	v, _, ok := bestUpTo(t, first, dir)
	return v, ok
}
