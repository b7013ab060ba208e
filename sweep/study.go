package sweep

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/c-bata/goptuna"
)

// Study-level system attribute keys. The spec itself is kept by the
// storage's dedicated SetStudySpec/StudySpec.
const (
	attrSpace = "lorasweep:space"
)

// SpaceChangedError is returned when a sweep is resumed with a search space
// that differs from the one its trials were drawn from.
type SpaceChangedError struct {
	Sweep string
	Diff  []string
}

func (e *SpaceChangedError) Error() string {
	return fmt.Sprintf("sweep %q was started with a different search space:\n  %s\nrun with --allow-space-change to continue anyway (the sampler then mixes trials from both spaces), or give the sweep a new name",
		e.Sweep, strings.Join(e.Diff, "\n  "))
}

// Direction returns the study direction for an objective direction.
func Direction(objectiveDirection string) goptuna.StudyDirection {
	if strings.EqualFold(objectiveDirection, "minimize") {
		return goptuna.StudyDirectionMinimize
	}
	return goptuna.StudyDirectionMaximize
}

// OpenStudy creates the spec's study, or loads it when it exists (resume, or
// another worker). A new study records the resolved spec and, when the spec
// asks for it, enqueues the base config as trial 0. Resuming with a changed
// search space is refused unless allowSpaceChange; a changed objective or
// trainer config is refused (see OpenStudyWith to allow them).
func OpenStudy(ctx context.Context, store Store, spec *Spec, allowSpaceChange bool) (*goptuna.Study, error) {
	return openStudy(ctx, store, spec, StudyOptions{AllowSpaceChange: allowSpaceChange}, false)
}

// OpenStudyWith is OpenStudy with the changes a resume may make.
func OpenStudyWith(ctx context.Context, store Store, spec *Spec, opts StudyOptions) (*goptuna.Study, error) {
	return openStudy(ctx, store, spec, opts, false)
}

// openStudy is OpenStudy; join opens an existing sweep only and leaves its
// stored spec as it is (a worker's spec came from there, perhaps with a
// local output root). Every check runs before anything is written: a
// refused resume changes nothing.
func openStudy(ctx context.Context, store Store, spec *Spec, opts StudyOptions, join bool) (*goptuna.Study, error) {
	space, err := spec.SpaceJSON()
	if err != nil {
		return nil, fmt.Errorf("encode search space: %w", err)
	}
	studyOpts := []goptuna.StudyOption{
		goptuna.StudyOptionStorage(store),
		goptuna.StudyOptionDirection(Direction(spec.Objective.Direction)),
		goptuna.StudyOptionLogger(nil),
	}
	created := false
	study, err := goptuna.LoadStudy(spec.Name, studyOpts...)
	if err != nil && join {
		return nil, fmt.Errorf("join sweep %q: %w", spec.Name, err)
	}
	if err != nil {
		study, err = goptuna.CreateStudy(spec.Name, studyOpts...)
		if err != nil {
			// Another worker may have created it in between.
			var lerr error
			study, lerr = goptuna.LoadStudy(spec.Name, studyOpts...)
			if lerr != nil {
				return nil, fmt.Errorf("create sweep %q: %w", spec.Name, err)
			}
		} else {
			created = true
		}
	}
	if created {
		hist, _, _ := checkObjective(nil, nil, spec)
		if err := recordSpec(ctx, store, study.ID, spec); err != nil {
			return nil, err
		}
		if err := recordObjectives(store, study.ID, hist); err != nil {
			return nil, err
		}
		if err := store.SetStudySystemAttr(study.ID, attrSpace, string(space)); err != nil {
			return nil, fmt.Errorf("record search space: %w", err)
		}
		if spec.Baseline {
			if _, err := Enqueue(ctx, store, study.ID, spec.ParamsFromConfig(spec.Base), "baseline"); err != nil {
				return nil, fmt.Errorf("enqueue baseline: %w", err)
			}
		}
		return study, nil
	}
	attrs, err := store.GetStudySystemAttrs(study.ID)
	if err != nil {
		return nil, fmt.Errorf("read sweep %q: %w", spec.Name, err)
	}
	var spaceDiff []string
	if stored, ok := attrs[attrSpace]; ok {
		spaceDiff = DiffSpaces([]byte(stored), space)
	}
	var stored *Spec
	if raw, err := store.StudySpec(ctx, study.ID); err == nil {
		var s Spec
		if json.Unmarshal(raw, &s) == nil {
			stored = &s
		}
	}
	var hist []objectiveVersion
	var objDiff, trainerDiff []string
	if join {
		// A worker runs the stored spec itself; its machine may not even
		// see the reference images at the same paths.
		hist = readObjectives(attrs, spec)
		spec.ObjectiveVersion = max(spec.ObjectiveVersion, hist[len(hist)-1].Version)
	} else {
		hist, objDiff, trainerDiff = checkObjective(attrs, stored, spec)
	}
	refused := &ChangedError{Sweep: spec.Name}
	if !opts.AllowSpaceChange {
		refused.Space = spaceDiff
	}
	if !opts.AllowObjectiveChange {
		refused.Objective = objDiff
	}
	if !opts.AllowTrainerChange {
		refused.Trainer = trainerDiff
	}
	if len(refused.Objective) > 0 || len(refused.Trainer) > 0 {
		return nil, refused
	}
	if len(refused.Space) > 0 {
		return nil, &SpaceChangedError{Sweep: spec.Name, Diff: refused.Space}
	}
	if len(spaceDiff) > 0 {
		if err := store.SetStudySystemAttr(study.ID, attrSpace, string(space)); err != nil {
			return nil, fmt.Errorf("record search space: %w", err)
		}
	}
	if len(objDiff) > 0 || len(trainerDiff) > 0 {
		rescored, apart, err := changeObjective(ctx, store, study.ID, hist, opts.Scorer)
		if err != nil {
			return nil, fmt.Errorf("sweep %q: start objective version %d: %w", spec.Name, spec.ObjectiveVersion, err)
		}
		if opts.Report != nil {
			opts.Report(spec.ObjectiveVersion, append(objDiff, trainerDiff...), rescored, apart)
		}
		// The direction may have changed: goptuna's study reads it once.
		if study, err = goptuna.LoadStudy(spec.Name, studyOpts...); err != nil {
			return nil, fmt.Errorf("reload sweep %q: %w", spec.Name, err)
		}
	} else if _, ok := attrs[attrObjectives]; !ok {
		// A sweep from before objective versions: record version 1.
		if err := recordObjectives(store, study.ID, hist); err != nil {
			return nil, err
		}
	}
	if join {
		return study, nil
	}
	if err := recordSpec(ctx, store, study.ID, spec); err != nil {
		return nil, err
	}
	return study, nil
}

func recordSpec(ctx context.Context, store Store, studyID int, spec *Spec) error {
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("encode spec: %w", err)
	}
	if err := store.SetStudySpec(ctx, studyID, specJSON); err != nil {
		return fmt.Errorf("record spec: %w", err)
	}
	return nil
}

func recordObjectives(store Store, studyID int, hist []objectiveVersion) error {
	raw, err := json.Marshal(hist)
	if err != nil {
		return fmt.Errorf("encode objective history: %w", err)
	}
	if err := store.SetStudySystemAttr(studyID, attrObjectives, string(raw)); err != nil {
		return fmt.Errorf("record objective: %w", err)
	}
	if err := store.SetStudySystemAttr(studyID, attrStudyObjVersion, fmt.Sprint(hist[len(hist)-1].Version)); err != nil {
		return fmt.Errorf("record objective version: %w", err)
	}
	return nil
}

// LoadStoredSpec reads the spec a sweep was started with, so `worker`,
// `status`, `report` and `export` need only the storage and the sweep name.
func LoadStoredSpec(store Store, name string) (*Spec, int, error) {
	id, err := store.GetStudyIDFromName(name)
	if err != nil {
		return nil, 0, fmt.Errorf("no sweep named %q in this storage%s", name, sweepsHere(store, name))
	}
	// The signature predates ctx-first reads; the read is one row.
	raw, err := store.StudySpec(context.Background(), id)
	if err != nil {
		return nil, 0, fmt.Errorf("sweep %q has no stored spec (it was not created by lorasweep): %w", name, err)
	}
	var spec Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, 0, fmt.Errorf("decode stored spec of sweep %q: %w", name, err)
	}
	return &spec, id, nil
}

// sweepsHere names the sweeps a storage holds, for an error about a name
// that is not among them: a typo, or the wrong --storage.
func sweepsHere(store Store, name string) string {
	sums, err := store.GetAllStudySummaries()
	if err != nil {
		return ""
	}
	if len(sums) == 0 {
		return " (it holds no sweep: check --storage or LORASWEEP_STORAGE)"
	}
	names := make([]string, len(sums))
	for i, s := range sums {
		names[i] = s.Name
	}
	sort.Strings(names)
	return didYouMean(name, names) + "; sweeps here: " + strings.Join(names, ", ")
}

// Enqueue adds a trial that runs with the given user-facing params (values as
// users write them, not goptuna internals). It runs with its own values even
// where they lie outside the search space; only in-space values enter the
// sampler's history. kind names where it came from (baseline, enqueue).
func Enqueue(ctx context.Context, store Store, studyID int, params map[string]any, kind string) (int, error) {
	return enqueueWith(ctx, store, studyID, params, kind, nil)
}

// enqueueWith is Enqueue with extra system attrs (links to other trials).
func enqueueWith(ctx context.Context, store Store, studyID int, params map[string]any, kind string, extra map[string]string) (int, error) {
	raw, err := encodeParams(params)
	if err != nil {
		return 0, err
	}
	attrs := map[string]string{attrParams: string(raw), attrEnqueued: kind}
	if kind == "baseline" {
		attrs[attrBaseline] = "true"
	}
	for k, v := range extra {
		attrs[k] = v
	}
	now := time.Now()
	return store.CloneTrial(studyID, goptuna.FrozenTrial{
		StudyID:            studyID,
		State:              goptuna.TrialStateWaiting,
		IntermediateValues: map[int]float64{},
		DatetimeStart:      now,
		InternalParams:     map[string]float64{},
		Params:             map[string]interface{}{},
		Distributions:      map[string]interface{}{},
		UserAttrs:          map[string]string{},
		SystemAttrs:        attrs,
	})
}

// resolveDeadline turns the budget's deadline into a time. A clock time
// ("07:00") means its next occurrence after the sweep first started, so a
// sweep launched at 23:00 stops launching at 07:00 the next morning and a
// resumed sweep keeps the same deadline.
func (c *Controller) resolveDeadline(ctx context.Context) (time.Time, error) {
	first, err := c.firstStart()
	if err != nil {
		return time.Time{}, err
	}
	return ParseDeadline(c.Spec.Budget.Deadline, first)
}

func (c *Controller) firstStart() (time.Time, error) {
	attrs, err := c.Store.GetStudySystemAttrs(c.study.ID)
	if err != nil {
		return time.Time{}, fmt.Errorf("read sweep attrs: %w", err)
	}
	if s, ok := attrs[attrFirstStart]; ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, nil
		}
	}
	now := c.now()
	if err := c.Store.SetStudySystemAttr(c.study.ID, attrFirstStart, now.Format(time.RFC3339Nano)); err != nil {
		return time.Time{}, fmt.Errorf("record sweep start: %w", err)
	}
	return now, nil
}

// ParseDeadline reads a deadline relative to the sweep's first start: empty
// (none), a clock time "HH:MM" (next occurrence, in the first start's
// location), a duration ("8h"), or an RFC 3339 timestamp.
func ParseDeadline(s string, first time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return first.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("15:04", s); err == nil {
		d := time.Date(first.Year(), first.Month(), first.Day(), t.Hour(), t.Minute(), 0, 0, first.Location())
		if !d.After(first) {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	return time.Time{}, fmt.Errorf("invalid deadline %q: use a clock time (07:00), a duration (8h) or an RFC 3339 time", s)
}
