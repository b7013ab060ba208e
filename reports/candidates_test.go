package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/runner"
	"github.com/lorasweep/lorasweep/storage"
	"github.com/lorasweep/lorasweep/sweep"
)

// TestReportShowsCandidatesAndTrainedValues writes a sweep with a ratio_of
// param, a trial that samples by steps and one scored on part of its
// images into real SQLite, and checks the report: values as trained in the
// ranking, best table and slice charts; the ratio kept for importance and
// said so; candidate rows labelled by epoch or step with their state.
func TestReportShowsCandidatesAndTrainedValues(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	store, err := storage.Open(ctx, "sqlite://"+filepath.Join(dir, "sweep.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	spec := &sweep.Spec{
		Name:       "cands",
		OutputRoot: filepath.Join(dir, "runs"),
		Trainer:    runner.TrainerSpec{Kind: runner.KindBuiltin},
		Base:       map[string]any{"network_dim": int64(8), "learning_rate": 0.001},
		Search: []sweep.Param{
			{Name: "network_dim", Type: sweep.ParamInt, Low: 4, High: 64, Target: sweep.TargetArg},
			{Name: "network_alpha", Type: sweep.ParamFloat, Low: 0.25, High: 1, RatioOf: "network_dim", Target: sweep.TargetArg},
		},
		Sampler:   sweep.SamplerSpec{Kind: "random", Seed: 1},
		Objective: objective.Spec{Direction: "maximize", Scorers: []objective.ScorerSpec{{Kind: "reference", Weight: 1}}},
		Budget:    sweep.Budget{Trials: 12, Parallel: 1},
	}
	study, err := sweep.OpenStudy(ctx, store, spec, false)
	if err != nil {
		t.Fatal(err)
	}
	comps, _ := json.Marshal([]objective.Component{{Name: "reference", Kind: "reference", Weight: 1, Raw: 0.5, Normalized: 0.5}})
	for i := 0; i < 12; i++ {
		claim, err := store.Claim(ctx, study.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		dim := 4 << (i % 4)
		ratio := 0.25 + 0.0625*float64(i)
		attrs := map[string]string{"lorasweep:params": fmt.Sprintf(`{"network_dim":%d,"network_alpha":%v}`, dim, ratio)}
		value := 0.5 + 0.01*float64(i)
		var cands []sweep.EpochRecord
		switch i {
		case 0: // samples by steps
			attrs["lorasweep:best_step"] = "200"
			cands = []sweep.EpochRecord{{Step: 100, Fraction: 0.5, Images: 2, Expected: 2}, {Step: 200, Fraction: 1, Images: 2, Expected: 2}}
		case 1: // the highest value, on 1 of 2 images
			value = 0.99
			attrs["lorasweep:best_epoch"] = "1"
			attrs["lorasweep:partial"] = "1/2"
			cands = []sweep.EpochRecord{{Epoch: 1, Fraction: 0.5, Images: 1, Expected: 2, Partial: true},
				{Epoch: 2, Fraction: 1, Expected: 2, Unscorable: true, Reason: "no sample images"}}
		default:
			attrs["lorasweep:best_epoch"] = "2"
			cands = []sweep.EpochRecord{{Epoch: 1, Fraction: 0.5, Images: 2, Expected: 2}, {Epoch: 2, Fraction: 1, Images: 2, Expected: 2}}
		}
		for k, v := range attrs {
			if err := store.SetTrialSystemAttr(claim.TrialID, k, v); err != nil {
				t.Fatal(err)
			}
		}
		trialDir := filepath.Join(dir, "runs", fmt.Sprintf("trial-%04d", i))
		var samples []sweep.SampleRecord
		for _, e := range cands {
			e.TrialID = claim.TrialID
			if !e.Unscorable {
				v := value - 0.1*(1-e.Fraction)
				e.Value, e.Components = &v, string(comps)
			}
			if err := store.RecordEpoch(ctx, e); err != nil {
				t.Fatal(err)
			}
			for p := 0; p < e.Images; p++ {
				path := filepath.Join(trialDir, "sample", fmt.Sprintf("e%d_s%d_%d.png", e.Epoch, e.Step, p))
				writePNG(t, path, i+p)
				samples = append(samples, sweep.SampleRecord{TrialID: claim.TrialID, Epoch: e.Epoch, Step: e.Step, Path: path,
					Prompt: fmt.Sprintf("prompt %d", p), PromptIndex: p, Seed: 1})
			}
		}
		if err := store.RecordSamples(ctx, samples); err != nil {
			t.Fatal(err)
		}
		if err := store.SetTrialValue(claim.TrialID, value); err != nil {
			t.Fatal(err)
		}
		if err := store.SetTrialState(claim.TrialID, goptuna.TrialStateComplete); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Load(ctx, store, study.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.LoadDetail(ctx, store, 0, 1); err != nil {
		t.Fatal(err)
	}
	pg, err := buildPage(d, Options{Trials: []int{0, 1}, EpochTrials: 12}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	// Ranking: the partial trial last among those with a value, whatever
	// its value; values as trained with the ratio beside them.
	last := pg.Rows[len(pg.Rows)-1]
	if last.Number != 1 || last.Epoch != "epoch 1 partial 1/2" || !strings.Contains(last.Note, "scored on 1/2 sample images") {
		t.Errorf("last row %+v, want trial 1 at epoch 1 partial 1/2", last)
	}
	col := map[string]int{}
	for i, n := range pg.Params {
		col[n] = i
	}
	for _, r := range pg.Rows {
		tr := d.Trial(r.Number)
		dim := tr.Params["network_dim"].(int64)
		ratio := tr.Searched["network_alpha"].(float64)
		want := fmt.Sprintf("%s (%s×network_dim)", sweep.FormatValue(ratio*float64(dim)), sweep.FormatValue(ratio))
		if got := r.Params[col["network_alpha"]]; got != want || tr.Params["network_alpha"] != ratio*float64(dim) {
			t.Errorf("trial %d: network_alpha cell %q, trained %v; want %q", r.Number, got, tr.Params["network_alpha"], want)
		}
		if r.Number == 0 && r.Epoch != "step 200" {
			t.Errorf("step trial's best %q, want step 200", r.Epoch)
		}
	}
	// Candidate rows of the step and the partial trial.
	labels := map[int][]string{}
	for _, g := range pg.Grid {
		for _, e := range g.Epochs {
			labels[g.Number] = append(labels[g.Number], fmt.Sprintf("%s|%s|%v|%d", e.Label, e.State, e.Best, len(e.Cells)))
		}
	}
	if got := strings.Join(labels[0], " "); got != "step 100||false|2 step 200||true|2" {
		t.Errorf("step trial's candidate rows %q", got)
	}
	if got := strings.Join(labels[1], " "); got != "epoch 1|partial 1/2|true|2" {
		t.Errorf("partial trial's candidate rows %q", got)
	}
	// Importance keeps the ratio and says so under its chart.
	imp := pg.Charts["importance"]
	if imp == nil || !strings.Contains(imp.Caption, "network_alpha is measured by its ratio to network_dim") {
		t.Errorf("importance caption: %+v", imp)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, d, Options{Trials: []int{0, 1}}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"trial 0, step 200, seed 1", ">step 200<", "partial 1/2"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("report lacks %q", s)
		}
	}
	// serve's rating page names each trial's best candidate and shows its
	// samples at that candidate: the step trial's at step 200.
	srv, err := NewServer(store, study.ID, ServerOptions{Token: "test-token-0123456789", LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/rate", nil)
	req.Host = "127.0.0.1:8080"
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	page := rec.Body.String()
	for _, s := range []string{"best step 200", "best epoch 1 partial 1/2", "best epoch 2", "trial-0000/sample/e0_s200_0.png"} {
		if !strings.Contains(page, s) {
			t.Errorf("rate page (%d) lacks %q", rec.Code, s)
		}
	}
	if strings.Contains(page, "e0_s100_") {
		t.Error("rate page shows the step trial's step 100 samples, not its best step's")
	}
	// The slice chart of network_alpha is drawn over the values trained:
	// its x ticks reach past the ratio's range [0.25, 1].
	found := false
	for _, c := range pg.Slices {
		if c.Title != "network_alpha" {
			continue
		}
		found = true
		top := 0.0
		for _, m := range regexp.MustCompile(`>([0-9.]+)</text>`).FindAllStringSubmatch(string(c.SVG), -1) {
			if f, err := strconv.ParseFloat(m[1], 64); err == nil && f > top {
				top = f
			}
		}
		if top < 20 {
			t.Errorf("network_alpha slice's largest tick is %v: not the trained values (up to 30)", top)
		}
	}
	if !found {
		t.Error("no network_alpha slice chart")
	}
}
