package sweep

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/c-bata/goptuna"
)

// TrialRow is one trial as listings and reports show it.
type TrialRow struct {
	ID        int                 `json:"-"`
	Number    int                 `json:"number"`
	State     string              `json:"state"`
	Value     *float64            `json:"value"`
	BestEpoch *int                `json:"best_epoch,omitempty"`
	Params    map[string]any      `json:"params"`
	Started   time.Time           `json:"started"`
	Duration  float64             `json:"duration_s,omitempty"`
	Reason    string              `json:"reason,omitempty"`
	Baseline  bool                `json:"baseline,omitempty"`
	Enqueued  string              `json:"enqueued,omitempty"`
	Outside   bool                `json:"outside_space,omitempty"`
	RetryOf   string              `json:"retry_of,omitempty"`
	Steps     map[int]float64     `json:"-"`
	Frozen    goptuna.FrozenTrial `json:"-"`
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
		RetryOf:  t.SystemAttrs["lorasweep:retry_of"],
		Steps:    t.IntermediateValues,
		Frozen:   t,
	}
	if raw, ok := t.SystemAttrs[attrParams]; ok {
		p := map[string]any{}
		if json.Unmarshal([]byte(raw), &p) == nil {
			r.Params = normalizeJSONParams(p)
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
	if !t.DatetimeComplete.IsZero() && !t.DatetimeStart.IsZero() {
		r.Duration = t.DatetimeComplete.Sub(t.DatetimeStart).Seconds()
	}
	return r
}

// Rank orders trials best first: trials with a value by the direction
// (COMPLETE before PRUNED at equal value), then running/waiting, then
// failed, each group by trial number.
func Rank(trials []goptuna.FrozenTrial, dir goptuna.StudyDirection) []TrialRow {
	rows := make([]TrialRow, len(trials))
	for i, t := range trials {
		rows[i] = RowFromTrial(t)
	}
	group := func(r TrialRow) int {
		switch {
		case r.Value != nil:
			return 0
		case r.State == "running" || r.State == "waiting":
			return 1
		}
		return 2
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if ga, gb := group(a), group(b); ga != gb {
			return ga < gb
		}
		if a.Value != nil && b.Value != nil && *a.Value != *b.Value {
			if dir == goptuna.StudyDirectionMaximize {
				return *a.Value > *b.Value
			}
			return *a.Value < *b.Value
		}
		if a.Value != nil && b.Value != nil && a.State != b.State {
			return a.State == "complete"
		}
		return a.Number < b.Number
	})
	return rows
}
