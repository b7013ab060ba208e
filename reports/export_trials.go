package reports

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/sweep"
)

// TrialListing is one trial of a sweep as the csv and json exports list
// it: ranked best first, with its params as trained (the searched ratio of
// a ratio_of param in Ratios), value, state, best candidate, every
// candidate it was scored at and the files its run left.
type TrialListing struct {
	Rank int `json:"rank,omitempty"` // 1-based among trials with a value; 0 without
	sweep.TrialRow
	// Best labels the best candidate ("epoch 3", "step 1600").
	Best string `json:"best,omitempty"`
	// Ratios are the searched ratios of ratio_of params (network_alpha:
	// 0.5 of network_dim); Params hold the values trained.
	Ratios     map[string]any `json:"ratios,omitempty"`
	Candidates []Candidate    `json:"candidates"`
	Host       string         `json:"host,omitempty"`
	TrialDir   string         `json:"trial_dir,omitempty"`
	Checkpoint string         `json:"checkpoint,omitempty"`
	Model      string         `json:"model,omitempty"`
}

// Candidate is one saved-and-sampled epoch or step of a trial with the
// numbers the ranking and the pruner used: its value, the share of the
// schedule done (the pruner's step) and how completely it was scored.
type Candidate struct {
	// Candidate labels it ("epoch 2", "step 1600"); Epoch is 0 for a step
	// candidate, Step 0 for an epoch.
	Candidate string   `json:"candidate"`
	Epoch     int      `json:"epoch"`
	Step      int      `json:"step"`
	Fraction  float64  `json:"fraction"`
	Value     *float64 `json:"value"`
	// State is "complete", "partial k/n" (scored on k of its n expected
	// images) or "unscorable" (Reason says why).
	State string `json:"state"`
	// Images of Expected sample images were scored (0 of 0: not recorded,
	// by a version that did not count them).
	Images   int    `json:"images"`
	Expected int    `json:"expected"`
	Reason   string `json:"reason,omitempty"`
	Best     bool   `json:"best,omitempty"`
	// Components are the objective's components as stored (per scorer:
	// raw and normalised values, weights, per-image scores).
	Components        json.RawMessage `json:"components,omitempty"`
	Checkpoint        string          `json:"checkpoint,omitempty"`
	CheckpointDeleted bool            `json:"checkpoint_deleted,omitempty"`
}

func candidateOf(row sweep.TrialRow, e sweep.EpochRecord) Candidate {
	c := Candidate{Candidate: e.Candidate(), Epoch: e.Epoch, Step: e.Step, Fraction: e.Fraction, Value: e.Value,
		State: "complete", Images: e.Images, Expected: e.Expected, Reason: e.Reason, Best: row.IsBest(e),
		Checkpoint: e.Checkpoint, CheckpointDeleted: e.Deleted}
	switch {
	case e.Unscorable:
		c.State = "unscorable"
	case e.Partial:
		c.State = e.Completeness()
	}
	if e.Value != nil && (math.IsNaN(*e.Value) || math.IsInf(*e.Value, 0)) {
		c.Value = nil // JSON has no NaN; the state says what happened
	}
	if e.Components != "" && json.Valid([]byte(e.Components)) {
		c.Components = json.RawMessage(e.Components)
	}
	return c
}

// ListTrials reads every trial of a sweep, ranked best first, with its run
// and candidates. spec (the stored spec; nil shows params as stored)
// converts ratio_of params to the values trained.
func ListTrials(ctx context.Context, store ExportStore, spec *sweep.Spec, studyID int) ([]TrialListing, error) {
	trials, err := store.GetAllTrials(studyID)
	if err != nil {
		return nil, fmt.Errorf("read trials: %w", err)
	}
	dir, err := store.GetStudyDirection(studyID)
	if err != nil {
		return nil, fmt.Errorf("read direction: %w", err)
	}
	runs, err := store.Runs(ctx, studyID)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	byTrial := make(map[int]sweep.RunRecord, len(runs))
	for _, r := range runs {
		byTrial[r.TrialID] = r
	}
	rows := sweep.Rank(trials, dir)
	out := make([]TrialListing, len(rows))
	for i, r := range rows {
		l := TrialListing{TrialRow: r, Best: r.BestCandidate(), Ratios: spec.Ratios(r.Params), Candidates: []Candidate{}}
		l.Params = spec.TrainedParams(r.Params)
		if sweep.Ranked(r) {
			l.Rank = i + 1
		}
		if run, ok := byTrial[r.ID]; ok {
			l.Host, l.TrialDir, l.Checkpoint, l.Model = run.Host, run.TrialDir, run.Checkpoint, run.ModelPath
		}
		eps, err := store.Epochs(ctx, r.ID)
		if err != nil {
			return nil, fmt.Errorf("read candidates of trial %d: %w", r.Number, err)
		}
		for _, e := range eps {
			l.Candidates = append(l.Candidates, candidateOf(r, e))
		}
		out[i] = l
	}
	return out, nil
}

// WriteTrialsJSON writes the listing as an indented JSON array.
func WriteTrialsJSON(w io.Writer, trials []TrialListing) error {
	if trials == nil {
		trials = []TrialListing{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(trials); err != nil {
		return fmt.Errorf("write trials JSON: %w", err)
	}
	return nil
}

// WriteTrialsCSV writes one row per candidate of each trial (one row with
// empty candidate columns for a trial without any), best trial first:
// rank, number, state, value, best candidate, partial, one column per
// param as trained (spec's search order first, then any other param a
// trial carries, sorted) with a NAME_ratio column after each ratio_of
// param, duration, reason, baseline and the run's files; then the
// candidate: its label, epoch, step, schedule fraction, value, state,
// images of expected, reason, whether it is the best, its checkpoint, and
// each objective component's raw and normalised value. Numbers are
// written in full precision. Filter candidate_best = true for one row per
// trial.
func WriteTrialsCSV(w io.Writer, spec *sweep.Spec, trials []TrialListing) error {
	params := make([]map[string]any, len(trials))
	for i, t := range trials {
		params[i] = t.Params
	}
	names := sweep.ParamColumns(spec, params)
	ratio := map[string]bool{}
	for _, t := range trials {
		for k := range t.Ratios {
			ratio[k] = true
		}
	}
	comps := componentColumns(trials)
	header := []string{"rank", "number", "state", "value", "best_epoch", "best_step", "partial"}
	for _, n := range names {
		header = append(header, n)
		if ratio[n] {
			header = append(header, n+"_ratio")
		}
	}
	header = append(header, "duration_s", "reason", "baseline", "host", "trial_dir", "checkpoint",
		"candidate", "candidate_epoch", "candidate_step", "candidate_fraction", "candidate_value", "candidate_state",
		"candidate_images", "candidate_expected", "candidate_reason", "candidate_best", "candidate_checkpoint")
	for _, c := range comps {
		header = append(header, "component_"+c+"_raw", "component_"+c+"_normalized")
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("write trials CSV: %w", err)
	}
	for _, t := range trials {
		rec := []string{"", strconv.Itoa(t.Number), t.State, optFloat(t.Value), optIntCSV(t.BestEpoch), optIntCSV(t.BestStep), t.Partial}
		if t.Rank > 0 {
			rec[0] = strconv.Itoa(t.Rank)
		}
		for _, n := range names {
			rec = append(rec, csvValue(t.Params[n]))
			if ratio[n] {
				rec = append(rec, csvValue(t.Ratios[n]))
			}
		}
		rec = append(rec, strconv.FormatFloat(t.Duration, 'f', 3, 64), t.Reason, strconv.FormatBool(t.Baseline),
			t.Host, t.TrialDir, t.Checkpoint)
		cands := t.Candidates
		if len(cands) == 0 {
			cands = []Candidate{{}}
		}
		for _, c := range cands {
			row := append([]string(nil), rec...)
			if c.Candidate == "" {
				row = append(row, make([]string, 11+2*len(comps))...)
			} else {
				row = append(row, c.Candidate, strconv.Itoa(c.Epoch), strconv.Itoa(c.Step),
					strconv.FormatFloat(c.Fraction, 'g', -1, 64), optFloat(c.Value), c.State,
					strconv.Itoa(c.Images), strconv.Itoa(c.Expected), c.Reason, strconv.FormatBool(c.Best), c.Checkpoint)
				byName := map[string]objective.Component{}
				var list []objective.Component
				if len(c.Components) > 0 && json.Unmarshal(c.Components, &list) == nil {
					for _, x := range list {
						byName[x.Name] = x
					}
				}
				for _, name := range comps {
					x, ok := byName[name]
					if !ok {
						row = append(row, "", "")
						continue
					}
					row = append(row, strconv.FormatFloat(x.Raw, 'g', -1, 64), strconv.FormatFloat(x.Normalized, 'g', -1, 64))
				}
			}
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("write trials CSV: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write trials CSV: %w", err)
	}
	return nil
}

// componentColumns lists the objective components the candidates carry,
// in the order they first appear.
func componentColumns(trials []TrialListing) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range trials {
		for _, c := range t.Candidates {
			var list []objective.Component
			if len(c.Components) == 0 || json.Unmarshal(c.Components, &list) != nil {
				continue
			}
			for _, x := range list {
				if !seen[x.Name] {
					seen[x.Name] = true
					out = append(out, x.Name)
				}
			}
		}
	}
	return out
}

func optFloat(v *float64) string {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return ""
	}
	return strconv.FormatFloat(*v, 'g', -1, 64)
}

func optIntCSV(v *int) string {
	if v == nil {
		return ""
	}
	return strconv.Itoa(*v)
}

// csvValue writes a param value: floats in full precision, absent as "".
func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return x
	}
	s, err := cliValue(v)
	if err != nil {
		data, _ := kohya.WriteTOML(kohya.Config{"v": v})
		return string(data)
	}
	return s
}
