package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/sweep"
)

// Store is what a report reads of a sweep: the controller's store plus the
// study-wide run listing. storage.Store satisfies it.
type Store interface {
	sweep.Store
	// Runs returns every run of the study's trials in trial-number order.
	Runs(ctx context.Context, studyID int) ([]sweep.RunRecord, error)
}

// DefaultDetail is how many of the best trials Load reads in full (samples
// and step metrics) besides the baseline.
const DefaultDetail = 8

// Data is everything a report shows of one sweep, read once.
type Data struct {
	Sweep   string
	StudyID int
	Spec    *sweep.Spec
	// Direction is the study's direction (the objective's).
	Direction goptuna.StudyDirection
	// StopReason is why the sweep last stopped launching trials ("" while it
	// runs or when it never stopped cleanly).
	StopReason string
	// FirstStart is when the sweep first started (zero if unknown).
	FirstStart time.Time
	// Trials are ranked best first (sweep.Rank's order).
	Trials  []Trial
	Ratings []sweep.Rating
}

// Trial is one trial with its records. Samples and Metrics are filled only
// for detailed trials (see Load and LoadDetail).
type Trial struct {
	// TrialRow's Params are the values as trained (Spec.TrainedParams: a
	// ratio_of param multiplied out), what tables and slices show.
	sweep.TrialRow
	// Searched are the params as the sampler searched them (a ratio_of
	// param as its ratio): the importance chart and config rebuilding use
	// these.
	Searched map[string]any
	// Run is the trial's latest run record, nil when it never started.
	Run    *sweep.RunRecord
	Epochs []sweep.EpochRecord
	// Components are the objective's components at the best epoch (nil
	// without a scored best epoch), in the order the objective lists them.
	Components []objective.Component
	Samples    []sweep.SampleRecord
	Metrics    []sweep.MetricPoint
	// Detailed says Samples and Metrics were read.
	Detailed bool
}

// Load reads a sweep for a report: its stored spec, every trial ranked best
// first with its run and epoch records, and samples and step metrics of the
// DefaultDetail best trials and the baseline. LoadDetail reads more trials
// in full.
func Load(ctx context.Context, store Store, studyID int) (*Data, error) {
	name, err := store.GetStudyNameFromID(studyID)
	if err != nil {
		return nil, fmt.Errorf("read sweep %d: %w", studyID, err)
	}
	spec, _, err := sweep.LoadStoredSpec(store, name)
	if err != nil {
		return nil, err
	}
	dir, err := store.GetStudyDirection(studyID)
	if err != nil {
		return nil, fmt.Errorf("read direction of sweep %q: %w", name, err)
	}
	attrs, err := store.GetStudySystemAttrs(studyID)
	if err != nil {
		return nil, fmt.Errorf("read sweep %q: %w", name, err)
	}
	d := &Data{Sweep: name, StudyID: studyID, Spec: spec, Direction: dir, StopReason: attrs[sweep.AttrStopReason]}
	if s, ok := attrs[sweep.AttrFirstStart]; ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			d.FirstStart = t
		}
	}
	trials, err := store.GetAllTrials(studyID)
	if err != nil {
		return nil, fmt.Errorf("read trials of sweep %q: %w", name, err)
	}
	rows := sweep.Rank(trials, dir)
	runs, err := store.Runs(ctx, studyID)
	if err != nil {
		return nil, fmt.Errorf("read runs of sweep %q: %w", name, err)
	}
	byTrial := make(map[int]*sweep.RunRecord, len(runs))
	for i := range runs {
		// One run per trial today; a later run of the same trial wins.
		byTrial[runs[i].TrialID] = &runs[i]
	}
	d.Trials = make([]Trial, len(rows))
	for i, r := range rows {
		r.Frozen = goptuna.FrozenTrial{} // the row keeps what reports need
		t := Trial{TrialRow: r, Run: byTrial[r.ID], Searched: r.Params}
		t.Params = spec.TrainedParams(r.Params)
		if t.Run != nil && t.Run.Ended != nil && !t.Run.Started.IsZero() {
			// The run's own times: how long the trainer held its slot,
			// without the wait in the queue.
			t.Duration = t.Run.Ended.Sub(t.Run.Started).Seconds()
		}
		if t.Run != nil || r.State != "waiting" {
			eps, err := store.Epochs(ctx, r.ID)
			if err != nil {
				return nil, fmt.Errorf("read epochs of trial %d: %w", r.Number, err)
			}
			t.Epochs = eps
		}
		t.Components = bestComponents(t)
		d.Trials[i] = t
	}
	var detail []int
	for i, t := range d.Trials {
		if i < DefaultDetail || t.Baseline {
			detail = append(detail, t.Number)
		}
	}
	if err := d.LoadDetail(ctx, store, detail...); err != nil {
		return nil, err
	}
	d.Ratings, err = store.Ratings(ctx, studyID)
	if err != nil {
		return nil, fmt.Errorf("read ratings of sweep %q: %w", name, err)
	}
	return d, nil
}

// DetailReader is what LoadDetail needs of a store.
type DetailReader interface {
	Samples(ctx context.Context, trialID int) ([]sweep.SampleRecord, error)
	Metrics(ctx context.Context, trialID int) ([]sweep.MetricPoint, error)
}

// LoadDetail reads samples and step metrics of the trials with the given
// numbers (unknown numbers are an error; trials already detailed are
// skipped).
func (d *Data) LoadDetail(ctx context.Context, store DetailReader, numbers ...int) error {
	idx := make(map[int]int, len(d.Trials))
	for i, t := range d.Trials {
		idx[t.Number] = i
	}
	for _, n := range numbers {
		i, ok := idx[n]
		if !ok {
			return fmt.Errorf("load trial %d: no such trial in sweep %q", n, d.Sweep)
		}
		t := &d.Trials[i]
		if t.Detailed {
			continue
		}
		s, err := store.Samples(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("read samples of trial %d: %w", n, err)
		}
		m, err := store.Metrics(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("read metrics of trial %d: %w", n, err)
		}
		t.Samples, t.Metrics, t.Detailed = s, m, true
	}
	return nil
}

// bestComponents decodes the best candidate's objective components,
// dropping per-image details (reports need only the component values).
func bestComponents(t Trial) []objective.Component {
	for _, e := range t.Epochs {
		if !t.IsBest(e) || e.Components == "" {
			continue
		}
		var comps []objective.Component
		if json.Unmarshal([]byte(e.Components), &comps) != nil {
			return nil
		}
		for i := range comps {
			comps[i].Images = nil
		}
		return comps
	}
	return nil
}

// Trial returns the trial with the given number, or nil.
func (d *Data) Trial(number int) *Trial {
	for i := range d.Trials {
		if d.Trials[i].Number == number {
			return &d.Trials[i]
		}
	}
	return nil
}

// Best returns the best trial with a value (the first ranked), or nil.
func (d *Data) Best() *Trial {
	if len(d.Trials) > 0 && d.Trials[0].Value != nil {
		return &d.Trials[0]
	}
	return nil
}

// Baseline returns the baseline trial (the base config, usually trial 0),
// or nil when the sweep has none.
func (d *Data) Baseline() *Trial {
	for i := range d.Trials {
		if d.Trials[i].Baseline {
			return &d.Trials[i]
		}
	}
	return nil
}

// ParamNames lists the search space's params in spec order, then any other
// param a trial carries (enqueued configs), sorted.
func (d *Data) ParamNames() []string {
	seen := map[string]bool{}
	var names []string
	if d.Spec != nil {
		for _, p := range d.Spec.Search {
			seen[p.Name] = true
			names = append(names, p.Name)
		}
	}
	var extra []string
	for _, t := range d.Trials {
		for k := range t.Params {
			if !seen[k] {
				seen[k] = true
				extra = append(extra, k)
			}
		}
	}
	sort.Strings(extra)
	return append(names, extra...)
}

// maximize reports whether larger values are better.
func (d *Data) maximize() bool { return d.Direction == goptuna.StudyDirectionMaximize }

// searched is the trial's params as searched (Searched, else Params for a
// Trial built without Load).
func (t *Trial) searched() map[string]any {
	if t.Searched != nil {
		return t.Searched
	}
	return t.Params
}
