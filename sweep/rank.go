package sweep

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/c-bata/goptuna"
)

// TrialRow is one trial as listings and reports show it.
type TrialRow struct {
	ID        int      `json:"-"`
	Number    int      `json:"number"`
	State     string   `json:"state"`
	Value     *float64 `json:"value"`
	BestEpoch *int     `json:"best_epoch,omitempty"`
	BestStep  *int     `json:"best_step,omitempty"`
	// Partial is "k/n" when the value was scored on k of n expected sample
	// images (the trial has no complete candidate); such a trial ranks
	// below every trial with a complete one.
	Partial string `json:"partial,omitempty"`
	// Warnings are what the trial's run warned about though it did not
	// fail it (the trainer used other settings than asked, a crash at
	// teardown after the model was saved, …).
	Warnings []string            `json:"warnings,omitempty"`
	Params   map[string]any      `json:"params"`
	Started  time.Time           `json:"started"`
	Duration float64             `json:"duration_s,omitempty"`
	Reason   string              `json:"reason,omitempty"`
	Baseline bool                `json:"baseline,omitempty"`
	Enqueued string              `json:"enqueued,omitempty"`
	Outside  bool                `json:"outside_space,omitempty"`
	RetryOf  string              `json:"retry_of,omitempty"`
	Steps    map[int]float64     `json:"-"`
	Frozen   goptuna.FrozenTrial `json:"-"`

	// ObjectiveVersion is the sweep objective version the value was scored
	// under; OlderObjective marks a value of an older version that could
	// not be scored again (ranked apart, below the current version's).
	ObjectiveVersion int  `json:"objective_version,omitempty"`
	OlderObjective   bool `json:"older_objective,omitempty"`
}

// stateName is the lowercase state users see.
func stateName(s goptuna.TrialState) string {
	switch s {
	case goptuna.TrialStateRunning:
		return "running"
	case goptuna.TrialStateComplete:
		return "complete"
	case goptuna.TrialStatePruned:
		return "pruned"
	case goptuna.TrialStateFail:
		return "fail"
	case goptuna.TrialStateWaiting:
		return "waiting"
	}
	return s.String()
}

// RowFromTrial builds a TrialRow from a stored trial: user-facing params
// come from the params the controller recorded (typed as the trainer got
// them), falling back to goptuna's external params.
func RowFromTrial(t goptuna.FrozenTrial) TrialRow {
	r := TrialRow{
		ID:       t.ID,
		Number:   t.Number,
		State:    stateName(t.State),
		Started:  t.DatetimeStart,
		Reason:   t.SystemAttrs[attrFailReason],
		Baseline: t.SystemAttrs[attrBaseline] == "true",
		Enqueued: t.SystemAttrs[attrEnqueued],
		Outside:  t.SystemAttrs[attrOutsideSpace] == "true",
		RetryOf:  t.SystemAttrs[AttrRetryOf],
		Partial:  t.SystemAttrs[attrPartial],
		Steps:    t.IntermediateValues,
		Frozen:   t,

		OlderObjective: t.SystemAttrs[AttrSuperseded] != "",
	}
	if raw, ok := t.SystemAttrs[attrParams]; ok {
		if p, err := decodeParams(raw); err == nil {
			r.Params = p
		}
	}
	if r.Params == nil {
		r.Params = map[string]any{}
		for k, v := range t.Params {
			r.Params[k] = v
		}
	}
	if (t.State == goptuna.TrialStateComplete || t.State == goptuna.TrialStatePruned) && !math.IsNaN(t.Value) && !math.IsInf(t.Value, 0) {
		v := t.Value
		r.Value = &v
	}
	if s, ok := t.SystemAttrs[attrBestEpoch]; ok {
		if e, err := strconv.Atoi(s); err == nil {
			r.BestEpoch = &e
		}
	}
	if raw, ok := t.SystemAttrs[attrWarnings]; ok {
		_ = json.Unmarshal([]byte(raw), &r.Warnings) // written by recordEnd: always valid
	}
	if s, ok := t.SystemAttrs[attrBestStep]; ok {
		if e, err := strconv.Atoi(s); err == nil {
			r.BestStep = &e
		}
	}
	if r.Value != nil {
		r.ObjectiveVersion = TrialObjectiveVersion(t)
	}
	if !t.DatetimeComplete.IsZero() && !t.DatetimeStart.IsZero() {
		r.Duration = t.DatetimeComplete.Sub(t.DatetimeStart).Seconds()
	}
	return r
}

// BestCandidate labels the trial's best candidate ("epoch 3", "step
// 1600"), or "" when it has none.
func (r TrialRow) BestCandidate() string {
	switch {
	case r.BestStep != nil:
		return CandidateLabel(0, *r.BestStep)
	case r.BestEpoch != nil:
		return CandidateLabel(*r.BestEpoch, 0)
	}
	return ""
}

// BestLabel is BestCandidate with the evidence beside it when the value
// was scored on part of its sample images ("epoch 2 partial 2/9"), "" when
// the trial has neither.
func (r TrialRow) BestLabel() string {
	s := r.BestCandidate()
	if r.Partial != "" {
		if s != "" {
			s += " "
		}
		s += "partial " + r.Partial
	}
	return s
}

// IsBest reports whether e is the trial's best candidate.
func (r TrialRow) IsBest(e EpochRecord) bool {
	switch {
	case r.BestStep != nil:
		return e.Step == *r.BestStep
	case r.BestEpoch != nil:
		return e.Step == 0 && e.Epoch == *r.BestEpoch
	}
	return false
}

// Rank orders trials best first: COMPLETE trials by value in the
// direction, then PRUNED ones by value (a pruned trial stopped part-way
// through its schedule, so its value does not compare with a finished
// trial's — as in Optuna, the best trial is the best complete one), then
// trials whose value was scored on part of its sample images (partial
// k/n: incomplete evidence never outranks complete evidence), then
// trials scored under an older objective of the sweep that could not be
// scored again (newest version first, each by the direction it was scored
// in: values of two objectives are never ranked together), then
// running/waiting, then failed, each group by trial number. Every view
// (run, trials, status, report, serve, export) ranks with it, passing the
// study's direction, so all of them name the same best trial.
func Rank(trials []goptuna.FrozenTrial, dir goptuna.StudyDirection) []TrialRow {
	rows := make([]TrialRow, len(trials))
	for i, t := range trials {
		rows[i] = RowFromTrial(t)
	}
	group := func(r TrialRow) int {
		switch {
		case r.Value != nil && r.OlderObjective:
			return 3
		case r.Value != nil && r.Partial != "":
			return 2
		case r.Value != nil && r.State == "complete":
			return 0
		case r.Value != nil:
			return 1
		case r.State == "running" || r.State == "waiting":
			return 4
		}
		return 5
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if ga, gb := group(a), group(b); ga != gb {
			return ga < gb
		}
		d := dir
		if group(a) == 3 {
			if a.ObjectiveVersion != b.ObjectiveVersion {
				return a.ObjectiveVersion > b.ObjectiveVersion
			}
			if (a.State == "complete") != (b.State == "complete") {
				return a.State == "complete"
			}
			d = goptuna.StudyDirection(a.Frozen.SystemAttrs[AttrSuperseded])
		}
		if a.Value != nil && b.Value != nil && *a.Value != *b.Value {
			if d == goptuna.StudyDirectionMaximize {
				return *a.Value > *b.Value
			}
			return *a.Value < *b.Value
		}
		return a.Number < b.Number
	})
	return rows
}

// Ranked reports whether a row gets a rank number in listings: it has a
// value of the sweep's current objective. Trials scored under an older one
// are listed below, unranked.
func Ranked(r TrialRow) bool { return r.Value != nil && !r.OlderObjective }

// TrialNotes are the short notes every view shows beside a trial, in
// order: where it came from, whether it lies outside the space or retries
// another, an older objective, its failure reason, partial evidence and
// its warnings.
func TrialNotes(r TrialRow) []string {
	var notes []string
	if r.Baseline {
		notes = append(notes, "baseline")
	} else if r.Enqueued != "" {
		notes = append(notes, r.Enqueued)
	}
	if r.Outside {
		notes = append(notes, "outside space")
	}
	if r.RetryOf != "" {
		notes = append(notes, "retry of "+r.RetryOf)
	}
	if r.OlderObjective {
		notes = append(notes, OlderObjectiveNote(r))
	}
	if r.Reason != "" {
		notes = append(notes, r.Reason)
	}
	if r.Partial != "" {
		notes = append(notes, "scored on "+r.Partial+" sample images")
	}
	switch n := len(r.Warnings); {
	case n == 1:
		notes = append(notes, "warning: "+cutNote(r.Warnings[0]))
	case n > 1:
		notes = append(notes, fmt.Sprintf("%d warnings: %s …", n, cutNote(r.Warnings[0])))
	}
	return notes
}

// cutNote keeps a note to one short line; the full text is in the
// listing's JSON and the report.
func cutNote(s string) string {
	const max = 80
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}

// OlderObjectiveNote is how views label a trial scored under an older
// objective version that could not be scored again.
func OlderObjectiveNote(r TrialRow) string {
	return fmt.Sprintf("scored under older objective v%d, not comparable", r.ObjectiveVersion)
}

// RepeatGroup is one config trained several times with different seeds
// (repeat_top): the original trial and its repeats.
type RepeatGroup struct {
	// Number is the original trial's number; Repeats the repeats' numbers.
	Number  int
	Repeats []int
	Params  map[string]any
	// Values are the finished runs' values (original first); Mean and Std
	// (sample standard deviation, 0 with one value) summarise them.
	Values []float64
	Mean   float64
	Std    float64
}

// RankRepeats groups the trials that have repeats with their repeats and
// orders the groups by mean value (best first by dir), so a lucky seed does
// not win. Trials without repeats are left out; an empty result means the
// sweep has no repeat phase (yet).
func RankRepeats(trials []goptuna.FrozenTrial, dir goptuna.StudyDirection) []RepeatGroup {
	byNumber := map[int]goptuna.FrozenTrial{}
	for _, t := range trials {
		byNumber[t.Number] = t
	}
	groups := map[int]*RepeatGroup{}
	var order []int
	for _, t := range trials {
		of, err := strconv.Atoi(t.SystemAttrs[attrRepeatOf])
		if err != nil {
			continue
		}
		g, ok := groups[of]
		if !ok {
			orig, found := byNumber[of]
			if !found {
				continue
			}
			r := RowFromTrial(orig)
			g = &RepeatGroup{Number: of, Params: r.Params}
			if r.Value != nil && !r.OlderObjective {
				g.Values = append(g.Values, *r.Value)
			}
			groups[of] = g
			order = append(order, of)
		}
		g.Repeats = append(g.Repeats, t.Number)
		if r := RowFromTrial(t); r.Value != nil && r.State == "complete" && !r.OlderObjective {
			g.Values = append(g.Values, *r.Value)
		}
	}
	out := make([]RepeatGroup, 0, len(order))
	for _, n := range order {
		g := groups[n]
		g.Mean, g.Std = meanStd(g.Values)
		out = append(out, *g)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (len(a.Values) == 0) != (len(b.Values) == 0) {
			return len(a.Values) > 0
		}
		if a.Mean != b.Mean {
			if dir == goptuna.StudyDirectionMaximize {
				return a.Mean > b.Mean
			}
			return a.Mean < b.Mean
		}
		return a.Number < b.Number
	})
	return out
}

func meanStd(v []float64) (float64, float64) {
	if len(v) == 0 {
		return math.NaN(), 0
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	mean := sum / float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(v)-1))
}

// encodeParams writes user-facing params for the lorasweep:params attr with
// floats keeping a decimal point, so that a whole float (a categorical
// choice 1.0, a learning rate of 1) reads back as a float and not as the
// integer 1. Values typedJSON cannot write are an error.
func encodeParams(p map[string]any) ([]byte, error) {
	if p == nil {
		p = map[string]any{}
	}
	b, err := typedJSON(p)
	if err != nil {
		return nil, fmt.Errorf("encode params: %w", err)
	}
	return b, nil
}

// decodeParams reads what encodeParams wrote: numbers with a decimal point
// or exponent are float64, others int64 (so an enqueued network_dim stays
// an int in the trainer's TOML). Params stored before floats kept their
// point read whole floats as int64; Spec.canonicalParams maps those back.
func decodeParams(raw string) (map[string]any, error) {
	v, err := untypedJSON([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("decode params: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decode params: expected an object, got %s", raw)
	}
	return m, nil
}
