package sampling

import (
	"context"
	"math"
	"slices"
	"sync"

	"github.com/c-bata/goptuna"
)

// System attributes the controller writes on trials and samplers read.
const (
	// AttrFailReason holds why a FAIL trial failed (runner reason values).
	AttrFailReason = "lorasweep:fail_reason"
	// AttrOutsideSpace = "true" marks an enqueued trial (the baseline) whose
	// params lie outside the search space: it is never an observation.
	AttrOutsideSpace = "lorasweep:outside_space"
	// AttrSuperseded marks a trial scored under an older objective of the
	// sweep (one changed on resume) that could not be scored again: its
	// value does not compare with the current objective's, so it is never
	// an observation.
	AttrSuperseded = "lorasweep:superseded"
)

// ParamCaused reports whether a failure reason was caused by the trial's
// params (diverged to NaN, out of GPU memory): such trials are the worst
// observations. Infrastructure failures (interrupted, disk-full, crash, hung,
// timeout, bad-args, unscorable) say nothing about the params.
func ParamCaused(reason string) bool {
	return reason == "nan" || reason == "oom"
}

// Status is how an observation enters a sampler's model.
type Status int

const (
	// Complete trials rank by value.
	Complete Status = iota
	// Pruned trials rank after complete ones, by how far they got.
	Pruned
	// Worst covers param-caused failures and, with the constant liar,
	// RUNNING trials: all tie below every scored trial.
	Worst
)

// Observation is one trial as a sampler learns from it.
type Observation struct {
	TrialID int
	Number  int
	Status  Status
	// Running is true for a constant-liar observation.
	Running bool
	// Score is the direction-normalised value (lower is better); +Inf for Worst.
	Score float64
	// Step is a pruned trial's last intermediate step.
	Step   int
	Params map[string]float64
	Dists  map[string]interface{}
}

// History is a study's observations: ByNumber in trial-number order (oldest
// first) and Order, the indices of ByNumber best first (complete by score,
// then pruned by how far they got, then the worst, ties by age).
type History struct {
	ByNumber []Observation
	Order    []int
}

// BuildHistory turns a study's trials into observations. exclude is the trial
// being sampled (never its own observation). With liar, other RUNNING trials
// count as worst observations. maximize flips values so lower is better.
func BuildHistory(trials []goptuna.FrozenTrial, exclude int, maximize, liar bool) History {
	ptrs := make([]*goptuna.FrozenTrial, len(trials))
	for i := range trials {
		ptrs[i] = &trials[i]
	}
	return buildHistory(ptrs, exclude, maximize, liar)
}

// buildHistory is BuildHistory over shared trials: the observations refer to
// the trials' maps and never modify them.
func buildHistory(trials []*goptuna.FrozenTrial, exclude int, maximize, liar bool) History {
	h := History{ByNumber: make([]Observation, 0, len(trials))}
	for _, t := range trials {
		if t.ID == exclude || t.SystemAttrs[AttrOutsideSpace] == "true" || t.SystemAttrs[AttrSuperseded] != "" {
			continue
		}
		o := Observation{TrialID: t.ID, Number: t.Number, Params: t.InternalParams, Dists: t.Distributions}
		switch t.State {
		case goptuna.TrialStateComplete:
			o.Status, o.Score = Complete, norm(t.Value, maximize)
			if math.IsNaN(o.Score) {
				o.Status, o.Score = Worst, math.Inf(1)
			}
		case goptuna.TrialStatePruned:
			o.Status, o.Step, o.Score = Pruned, 0, norm(t.Value, maximize)
			best := math.Inf(1)
			for s, v := range t.IntermediateValues {
				o.Step = max(o.Step, s)
				if nv := norm(v, maximize); nv < best {
					best = nv
				}
			}
			if len(t.IntermediateValues) > 0 {
				o.Score = best
			}
			if math.IsNaN(o.Score) {
				o.Score = math.Inf(1)
			}
		case goptuna.TrialStateFail:
			if !ParamCaused(t.SystemAttrs[AttrFailReason]) {
				continue
			}
			o.Status, o.Score = Worst, math.Inf(1)
		case goptuna.TrialStateRunning:
			if !liar {
				continue
			}
			o.Status, o.Score, o.Running = Worst, math.Inf(1), true
		default:
			continue
		}
		h.ByNumber = append(h.ByNumber, o)
	}
	slices.SortStableFunc(h.ByNumber, func(a, b Observation) int { return a.Number - b.Number })
	h.Order = make([]int, len(h.ByNumber))
	for i := range h.Order {
		h.Order[i] = i
	}
	obs := h.ByNumber
	slices.SortStableFunc(h.Order, func(i, j int) int {
		a, b := &obs[i], &obs[j]
		if a.Status != b.Status {
			return int(a.Status) - int(b.Status)
		}
		if a.Status == Pruned && a.Step != b.Step {
			return b.Step - a.Step // further along ranks better
		}
		switch {
		case a.Score < b.Score:
			return -1
		case a.Score > b.Score:
			return 1
		}
		return 0
	})
	return h
}

func norm(v float64, maximize bool) float64 {
	if maximize {
		return -v
	}
	return v
}

// HistoryCache reads a study's trials once per sampled trial: every Sample
// call for the same trial ID reuses the snapshot taken at its first call, so
// a trial with ten params costs one GetAllTrials and one ranking, not ten.
// It is safe for concurrent use.
type HistoryCache struct {
	mu      sync.Mutex
	entries map[int]History
	fifo    []int
}

// cacheSize bounds the snapshots kept: one per trial being asked at once,
// which is at most the slots of the processes sharing the sampler.
const cacheSize = 16

// trialsViewer is what the project's storage offers beside goptuna.Storage:
// the study's trials shared and read-only, without GetAllTrials' deep copy
// of every trial's maps (which, kept in cacheSize snapshots, made a
// 5,000-trial sweep hold hundreds of MB).
type trialsViewer interface {
	TrialsView(ctx context.Context, studyID int) ([]*goptuna.FrozenTrial, error)
}

// Get returns the history for sampling trial (excluding it), loading it from
// study's storage on the first call for that trial ID.
func (c *HistoryCache) Get(study *goptuna.Study, trial goptuna.FrozenTrial, liar bool) (History, error) {
	c.mu.Lock()
	h, ok := c.entries[trial.ID]
	c.mu.Unlock()
	if ok {
		return h, nil
	}
	maximize := study.Direction() == goptuna.StudyDirectionMaximize
	if v, ok := study.Storage.(trialsViewer); ok {
		trials, err := v.TrialsView(context.Background(), study.ID)
		if err != nil {
			return History{}, err
		}
		h = buildHistory(trials, trial.ID, maximize, liar)
	} else {
		trials, err := study.Storage.GetAllTrials(study.ID)
		if err != nil {
			return History{}, err
		}
		h = BuildHistory(trials, trial.ID, maximize, liar)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[int]History, cacheSize)
	}
	if _, dup := c.entries[trial.ID]; !dup {
		if len(c.fifo) >= cacheSize {
			delete(c.entries, c.fifo[0])
			c.fifo = c.fifo[1:]
		}
		c.entries[trial.ID] = h
		c.fifo = append(c.fifo, trial.ID)
	}
	return c.entries[trial.ID], nil
}

// Value returns observation o's internal value of param in domain d, remapping
// categorical indices by choice name when the trial's choice list differs,
// and false when o lacks the param or its value lies outside d.
func (o *Observation) Value(param string, d Domain) (float64, bool) {
	v, ok := o.Params[param]
	if !ok {
		return 0, false
	}
	if d.Kind == Categorical {
		cd, ok := o.Dists[param].(goptuna.CategoricalDistribution)
		if !ok {
			return 0, false
		}
		i := int(v)
		if i < 0 || i >= len(cd.Choices) {
			return 0, false
		}
		if i < len(d.Choices) && cd.Choices[i] == d.Choices[i] {
			return float64(i), true
		}
		j := slices.Index(d.Choices, cd.Choices[i])
		if j < 0 {
			return 0, false
		}
		return float64(j), true
	}
	if _, cat := o.Dists[param].(goptuna.CategoricalDistribution); cat {
		return 0, false
	}
	return v, d.Contains(v)
}
