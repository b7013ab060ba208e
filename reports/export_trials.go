package reports

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/sweep"
)

// TrialListing is one trial of a sweep as the csv and json exports list
// it: ranked best first, with its params, value, state, best epoch and the
// files its run left.
type TrialListing struct {
	Rank int `json:"rank,omitempty"` // 1-based among trials with a value; 0 without
	sweep.TrialRow
	Host       string `json:"host,omitempty"`
	TrialDir   string `json:"trial_dir,omitempty"`
	Checkpoint string `json:"checkpoint,omitempty"`
	Model      string `json:"model,omitempty"`
}

// ListTrials reads every trial of a sweep, ranked best first, with its run.
func ListTrials(ctx context.Context, store ExportStore, studyID int) ([]TrialListing, error) {
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
		l := TrialListing{TrialRow: r}
		if sweep.Ranked(r) {
			l.Rank = i + 1
		}
		if run, ok := byTrial[r.ID]; ok {
			l.Host, l.TrialDir, l.Checkpoint, l.Model = run.Host, run.TrialDir, run.Checkpoint, run.ModelPath
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

// WriteTrialsCSV writes one row per trial: rank, number, state, value, best
// epoch, one column per param (spec's search order first, then any other
// param a trial carries, sorted), then duration, reason, baseline and the
// run's files. Numbers are written in full precision.
func WriteTrialsCSV(w io.Writer, spec *sweep.Spec, trials []TrialListing) error {
	params := make([]map[string]any, len(trials))
	for i, t := range trials {
		params[i] = t.Params
	}
	names := sweep.ParamColumns(spec, params)
	cw := csv.NewWriter(w)
	header := append([]string{"rank", "number", "state", "value", "best_epoch"}, names...)
	header = append(header, "duration_s", "reason", "baseline", "host", "trial_dir", "checkpoint")
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("write trials CSV: %w", err)
	}
	for _, t := range trials {
		rec := []string{"", strconv.Itoa(t.Number), t.State, "", ""}
		if t.Rank > 0 {
			rec[0] = strconv.Itoa(t.Rank)
		}
		if t.Value != nil {
			rec[3] = strconv.FormatFloat(*t.Value, 'g', -1, 64)
		}
		if t.BestEpoch != nil {
			rec[4] = strconv.Itoa(*t.BestEpoch)
		}
		for _, n := range names {
			rec = append(rec, csvValue(t.Params[n]))
		}
		rec = append(rec, strconv.FormatFloat(t.Duration, 'f', 3, 64), t.Reason, strconv.FormatBool(t.Baseline),
			t.Host, t.TrialDir, t.Checkpoint)
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write trials CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write trials CSV: %w", err)
	}
	return nil
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
