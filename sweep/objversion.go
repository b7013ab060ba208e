package sweep

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/sweep/sampling"
)

// One sweep has one objective. A resume whose objective (direction,
// scorers, weights, reference images) or trainer config (kind, script,
// fixed args, base config content) differs from the stored one is refused
// unless the user allows it; an allowed change starts a new objective
// version. Finished trials are scored again under it from their stored
// components and samples where the scorers allow; the rest keep their
// value, are marked AttrSuperseded and are ranked apart, below every trial
// of the current version, so values of two objectives never rank together.

const (
	// AttrObjectiveVersion (trial) is the objective version the trial's
	// value was scored under; absent means 1.
	AttrObjectiveVersion = "lorasweep:objective_version"
	// AttrSuperseded (trial) marks a trial scored under an older objective
	// that could not be scored again; its value is the direction it was
	// scored in (maximize|minimize), by which such trials rank among
	// themselves.
	AttrSuperseded = sampling.AttrSuperseded
	// AttrBestEpoch (trial) is the best scored epoch; AttrBestStep takes
	// its place when the best candidate is a step.
	AttrBestEpoch = "lorasweep:best_epoch"
	AttrBestStep  = "lorasweep:best_step"
	// AttrPartial (trial) is "k/n" when its value comes from a candidate
	// scored on k of its n expected sample images.
	AttrPartial = "lorasweep:partial"

	// attrObjectives (study) is the JSON history of objective versions;
	// attrObjectiveVersion (study) the current version number.
	attrObjectives       = "lorasweep:objectives"
	attrStudyObjVersion  = "lorasweep:objective_version"
	flagObjectiveChange  = "--allow-objective-change"
	flagTrainerChange    = "--allow-trainer-change"
	objectiveChangeNoun  = "objective"
	trainerChangeNoun    = "trainer config"
	defaultObjectiveVers = 1
)

// ChangedError is returned when a sweep is resumed with another objective
// or trainer config than the one its trials were scored or trained with.
type ChangedError struct {
	Sweep string
	// Objective and Trainer list the changes, one line each; Space those of
	// the search space when it changed too (alone, it is a
	// SpaceChangedError).
	Objective []string
	Trainer   []string
	Space     []string
}

func (e *ChangedError) Error() string {
	var b strings.Builder
	if len(e.Space) > 0 {
		fmt.Fprintf(&b, "sweep %q was started with a different search space:\n  %s\n", e.Sweep, strings.Join(e.Space, "\n  "))
	}
	if len(e.Objective) > 0 {
		fmt.Fprintf(&b, "sweep %q was started with a different %s:\n  %s\n", e.Sweep, objectiveChangeNoun, strings.Join(e.Objective, "\n  "))
	}
	if len(e.Trainer) > 0 {
		fmt.Fprintf(&b, "sweep %q was started with a different %s:\n  %s\n", e.Sweep, trainerChangeNoun, strings.Join(e.Trainer, "\n  "))
	}
	var flags []string
	if len(e.Space) > 0 {
		flags = append(flags, "--allow-space-change (the sampler then mixes trials from both spaces)")
	}
	if len(e.Objective) > 0 {
		flags = append(flags, flagObjectiveChange+" (finished trials are scored again from their stored samples where the scorers allow; the rest are listed apart as scored under an older objective)")
	}
	if len(e.Trainer) > 0 {
		flags = append(flags, flagTrainerChange+" (trials trained before the change are listed apart, never ranked with new ones)")
	}
	fmt.Fprintf(&b, "nothing was changed. Run with %s to continue anyway, or give the sweep a new name", strings.Join(flags, " and "))
	return b.String()
}

// StudyOptions say which changes a resume may make to a stored sweep, and
// what scores finished trials again after an objective change.
type StudyOptions struct {
	AllowSpaceChange     bool
	AllowObjectiveChange bool
	AllowTrainerChange   bool
	// Scorer is the new objective; when it is a Rescorer, components of
	// unchanged scorers are reused. Nil: no trial is scored again.
	Scorer Scorer
	// Report, when set, hears of an objective change once it is recorded:
	// the new version, the changes, and how many finished trials were
	// scored again or are listed apart.
	Report func(version int, changes []string, rescored, apart int)
}

// Rescorer scores a stored epoch again, reusing the stored components of
// the scorers named in reuse. *objective.Objective implements it.
type Rescorer interface {
	Rescore(ctx context.Context, in objective.EpochInput, prior []objective.Component, reuse map[string]bool) (objective.Result, error)
}

var _ Rescorer = (*objective.Objective)(nil)

// trainerIdentity is what makes two trials trained alike: which trainer,
// and every argument the trials share.
type trainerIdentity struct {
	Kind    string         `json:"kind"`
	Script  string         `json:"script,omitempty"`
	Command []string       `json:"command,omitempty"`
	Fixed   map[string]any `json:"fixed,omitempty"`
	Base    map[string]any `json:"base,omitempty"`
}

// objectiveVersion is one entry of a sweep's objective history.
type objectiveVersion struct {
	Version   int               `json:"version"`
	Objective objective.Spec    `json:"objective"`
	Refs      map[string]string `json:"references,omitempty"`
	Trainer   trainerIdentity   `json:"trainer"`
}

func identityOf(spec *Spec) objectiveVersion {
	dir := ""
	if spec.Path != "" {
		dir = filepath.Dir(spec.Path)
	}
	script := spec.Trainer.Script
	if script != "" {
		// The script's name says which trainer it is; its folder may differ
		// between machines of one sweep.
		script = filepath.Base(script)
	}
	// A searched param's base value never reaches a sampled trial (the
	// baseline's params were fixed when it was enqueued): not part of what
	// the trials share.
	base := jsonRoundTrip(spec.Base)
	for _, p := range spec.Search {
		delete(base, p.Name)
	}
	return objectiveVersion{
		Objective: spec.Objective,
		Refs:      objective.ReferenceDigests(spec.Objective, dir),
		Trainer: trainerIdentity{Kind: spec.Trainer.Kind, Script: script, Command: spec.Trainer.Command,
			Fixed: jsonRoundTrip(spec.Trainer.Fixed), Base: base},
	}
}

// jsonRoundTrip makes a map compare as it will once stored.
func jsonRoundTrip(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return m
	}
	var out map[string]any
	if json.Unmarshal(b, &out) != nil {
		return m
	}
	return out
}

// diffTrainer lists how trainer config b differs from a. A fixed argument
// changes the base config too: it is named once, as fixed.
func diffTrainer(a, b trainerIdentity) []string {
	var out []string
	if a.Kind != b.Kind {
		out = append(out, fmt.Sprintf("trainer.kind: %s → %s", a.Kind, b.Kind))
	}
	if a.Script != b.Script {
		out = append(out, fmt.Sprintf("trainer.script: %s → %s", orNone(a.Script), orNone(b.Script)))
	}
	if !reflect.DeepEqual(a.Command, b.Command) {
		out = append(out, fmt.Sprintf("trainer.command: %q → %q", a.Command, b.Command))
	}
	out = append(out, diffMaps("trainer.fixed", a.Fixed, b.Fixed, nil)...)
	fixed := map[string]bool{}
	for k := range a.Fixed {
		fixed[k] = true
	}
	for k := range b.Fixed {
		fixed[k] = true
	}
	out = append(out, diffMaps("base config", a.Base, b.Base, fixed)...)
	return out
}

// diffMaps lists keys whose values differ, skipping those in skip.
func diffMaps(what string, a, b map[string]any, skip map[string]bool) []string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		if !skip[k] {
			sorted = append(sorted, k)
		}
	}
	sort.Strings(sorted)
	var out []string
	for _, k := range sorted {
		va, inA := a[k]
		vb, inB := b[k]
		switch {
		case !inA:
			out = append(out, fmt.Sprintf("%s: added %s = %s", what, k, showValue(vb)))
		case !inB:
			out = append(out, fmt.Sprintf("%s: removed %s (was %s)", what, k, showValue(va)))
		case !reflect.DeepEqual(va, vb):
			out = append(out, fmt.Sprintf("%s: %s %s → %s", what, k, showValue(va), showValue(vb)))
		}
	}
	return out
}

func showValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// readObjectives returns the sweep's objective history, oldest first. A
// sweep from before versioning has none: its stored spec is version 1.
func readObjectives(attrs map[string]string, stored *Spec) []objectiveVersion {
	var hist []objectiveVersion
	if raw, ok := attrs[attrObjectives]; ok && json.Unmarshal([]byte(raw), &hist) == nil && len(hist) > 0 {
		return hist
	}
	if stored == nil {
		return nil
	}
	v := identityOf(stored)
	v.Version = defaultObjectiveVers
	return []objectiveVersion{v}
}

// checkObjective compares the spec with the stored sweep's current
// objective version. It writes nothing: changes holds the diffs, and hist
// the history to record (with a new version appended when anything
// changed). spec.ObjectiveVersion is set to the version it runs under.
func checkObjective(attrs map[string]string, stored, spec *Spec) (hist []objectiveVersion, objDiff, trainerDiff []string) {
	hist = readObjectives(attrs, stored)
	cur := identityOf(spec)
	if len(hist) == 0 {
		cur.Version = defaultObjectiveVers
		spec.ObjectiveVersion = cur.Version
		return []objectiveVersion{cur}, nil, nil
	}
	last := hist[len(hist)-1]
	objDiff = objective.DiffObjectives(last.Objective, cur.Objective, last.Refs, cur.Refs)
	trainerDiff = diffTrainer(last.Trainer, cur.Trainer)
	if len(objDiff) == 0 && len(trainerDiff) == 0 {
		spec.ObjectiveVersion = last.Version
		return hist, nil, nil
	}
	cur.Version = last.Version + 1
	spec.ObjectiveVersion = cur.Version
	return append(hist, cur), objDiff, trainerDiff
}

// changeObjective records a new objective version (hist's last) and scores
// the finished trials again under it. Every trial with a value is first
// marked superseded in the same transaction that switches the direction, so
// a crash part-way leaves trials apart, never mixed; each trial scored
// again loses its mark in the transaction that writes its new scores.
func changeObjective(ctx context.Context, store Store, studyID int, hist []objectiveVersion, scorer Scorer) (rescored, apart int, err error) {
	cur := hist[len(hist)-1]
	byVersion := map[int]objectiveVersion{}
	for _, h := range hist {
		byVersion[h.Version] = h
	}
	trials, err := store.GetAllTrials(studyID)
	if err != nil {
		return 0, 0, fmt.Errorf("read trials: %w", err)
	}
	supersede := map[int]string{}
	var candidates []goptuna.FrozenTrial
	for _, t := range trials {
		if !hasValue(t) {
			continue
		}
		v := TrialObjectiveVersion(t)
		if v == cur.Version {
			continue
		}
		dir := string(Direction(byVersion[v].Objective.Direction))
		if d := t.SystemAttrs[AttrSuperseded]; d != "" {
			dir = d // already apart: keep the direction its value was scored in
		}
		supersede[t.ID] = dir
		candidates = append(candidates, t)
	}
	raw, err := json.Marshal(hist)
	if err != nil {
		return 0, 0, fmt.Errorf("encode objective history: %w", err)
	}
	attrs := map[string]string{attrObjectives: string(raw), attrStudyObjVersion: strconv.Itoa(cur.Version)}
	if err := store.ChangeObjective(ctx, studyID, Direction(cur.Objective.Direction), attrs, supersede); err != nil {
		return 0, 0, err
	}
	for _, t := range candidates {
		old, ok := byVersion[TrialObjectiveVersion(t)]
		if !ok || scorer == nil || !reflect.DeepEqual(old.Trainer, cur.Trainer) {
			apart++
			continue
		}
		r, ok, err := rescoreTrial(ctx, store, t, old, cur, scorer)
		if err != nil {
			return rescored, apart, err
		}
		if !ok {
			apart++
			continue
		}
		if err := store.RescoreTrial(ctx, r); err != nil {
			return rescored, apart, fmt.Errorf("trial %d: %w", t.Number, err)
		}
		rescored++
	}
	return rescored, apart, nil
}

func hasValue(t goptuna.FrozenTrial) bool {
	return (t.State == goptuna.TrialStateComplete || t.State == goptuna.TrialStatePruned) &&
		!math.IsNaN(t.Value) && !math.IsInf(t.Value, 0)
}

// TrialObjectiveVersion is the objective version a trial was scored under.
func TrialObjectiveVersion(t goptuna.FrozenTrial) int {
	if v, err := strconv.Atoi(t.SystemAttrs[AttrObjectiveVersion]); err == nil && v > 0 {
		return v
	}
	return defaultObjectiveVers
}

// rescoreTrial scores every scored epoch of t again under cur. ok is false
// when one of them cannot be (a sample file is gone, a new loss scorer has
// no per-epoch losses): a trial is re-scored whole or not at all, since its
// best epoch may be the one left out.
func rescoreTrial(ctx context.Context, store Store, t goptuna.FrozenTrial, old, cur objectiveVersion, scorer Scorer) (RescoredTrial, bool, error) {
	epochs, err := store.Epochs(ctx, t.ID)
	if err != nil {
		return RescoredTrial{}, false, fmt.Errorf("trial %d: read epochs: %w", t.Number, err)
	}
	samples, err := store.Samples(ctx, t.ID)
	if err != nil {
		return RescoredTrial{}, false, fmt.Errorf("trial %d: read samples: %w", t.Number, err)
	}
	byCand := map[candidate][]SampleRecord{}
	for _, s := range samples {
		byCand[candidate{s.Epoch, s.Step}] = append(byCand[candidate{s.Epoch, s.Step}], s)
	}
	reuse := objective.Reusable(old.Objective, cur.Objective, old.Refs, cur.Refs)
	params := RowFromTrial(t).Params
	maximize := Direction(cur.Objective.Direction) == goptuna.StudyDirectionMaximize
	out := RescoredTrial{TrialID: t.ID, Version: cur.Version, Intermediate: map[int]float64{}}
	var scores []candidateScore
	for _, e := range epochs {
		if e.Value == nil {
			continue // never scored: stays as it was
		}
		c := candidate{e.Epoch, e.Step}
		in := objective.EpochInput{TrialNumber: t.Number, Epoch: e.Epoch, Fraction: e.Fraction, Params: params}
		for _, s := range byCand[c] {
			in.Samples = append(in.Samples, objective.Sample{Path: s.Path, Prompt: s.Prompt, PromptIndex: s.PromptIndex, Seed: s.Seed, Epoch: s.Epoch})
		}
		var prior []objective.Component
		_ = json.Unmarshal([]byte(e.Components), &prior)
		var res objective.Result
		if rs, ok := scorer.(Rescorer); ok {
			res, err = rs.Rescore(ctx, in, prior, reuse)
		} else {
			res, err = scorer.ScoreEpoch(ctx, in)
		}
		if err != nil {
			if ctx.Err() != nil {
				return RescoredTrial{}, false, err
			}
			return RescoredTrial{}, false, nil
		}
		if res.Unscorable || math.IsNaN(res.Value) || math.IsInf(res.Value, 0) {
			return RescoredTrial{}, false, nil
		}
		comps, _ := json.Marshal(res.Components)
		v := res.Value
		e.Value, e.Components, e.Unscorable, e.Reason, e.ObjectiveVersion = &v, string(comps), false, "", cur.Version
		out.Epochs = append(out.Epochs, e)
		for _, s := range byCand[c] {
			s.Scores = sampleScores(res, s.Path)
			out.Samples = append(out.Samples, s)
		}
		if !e.Partial {
			// As when first scored: the pruner sees complete candidates only.
			out.Intermediate[int(math.Round(e.Fraction*1000))] = v
		}
		scores = append(scores, scoreOfRecord(e))
	}
	best, found := bestCandidate(scores, maximize)
	if found {
		out.Value, out.BestEpoch, out.BestStep = best.result.Value, best.cand.epoch, best.cand.step
		for _, e := range out.Epochs {
			if (candidate{e.Epoch, e.Step}) == best.cand {
				out.Checkpoint = e.Checkpoint
			}
		}
		if best.partial {
			out.Partial = fmt.Sprintf("%d/%d", best.images, best.expected)
		}
	}
	return out, found, nil
}

// recordObjectiveVersion notes on a trial about to finish which objective
// version scored it; a worker started before the objective changed marks
// its trial superseded, so its value is never ranked with the new ones.
func (c *Controller) recordObjectiveVersion(trialID int) error {
	mine := max(c.Spec.ObjectiveVersion, defaultObjectiveVers)
	if err := c.Store.SetTrialSystemAttr(trialID, AttrObjectiveVersion, strconv.Itoa(mine)); err != nil {
		return fmt.Errorf("record objective version: %w", err)
	}
	attrs, err := c.Store.GetStudySystemAttrs(c.study.ID)
	if err != nil {
		return fmt.Errorf("read objective version: %w", err)
	}
	if cur, err := strconv.Atoi(attrs[attrStudyObjVersion]); err == nil && cur > mine {
		c.log().Warn("the sweep's objective changed while this trial ran: it is listed apart", "trial_id", trialID, "scored_under", mine, "current", cur)
		if err := c.Store.SetTrialSystemAttr(trialID, AttrSuperseded, string(c.study.Direction())); err != nil {
			return fmt.Errorf("mark superseded: %w", err)
		}
	}
	return nil
}
