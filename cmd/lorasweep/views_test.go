package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/runner"
	"github.com/lorasweep/lorasweep/storage"
	"github.com/lorasweep/lorasweep/sweep"
)

// listingJSON is what `trials --format json` writes of a trial.
type listingJSON struct {
	Number     int            `json:"number"`
	State      string         `json:"state"`
	Value      *float64       `json:"value"`
	BestEpoch  *int           `json:"best_epoch"`
	BestStep   *int           `json:"best_step"`
	Partial    string         `json:"partial"`
	Enqueued   string         `json:"enqueued"`
	Best       string         `json:"best"`
	Params     map[string]any `json:"params"`
	Ratios     map[string]any `json:"ratios"`
	Candidates []struct {
		Candidate  string            `json:"candidate"`
		Epoch      int               `json:"epoch"`
		Step       int               `json:"step"`
		Value      *float64          `json:"value"`
		State      string            `json:"state"`
		Images     int               `json:"images"`
		Expected   int               `json:"expected"`
		Best       bool              `json:"best"`
		Components []json.RawMessage `json:"components"`
		Checkpoint string            `json:"checkpoint"`
	} `json:"candidates"`
}

func trialsAs(t *testing.T, dir, name, dsn, format string) string {
	t.Helper()
	stdout, stderr, code := runCLI(t, dir, "trials", "--sweep", name, "--storage", dsn, "--format", format)
	if code != 0 {
		t.Fatalf("trials --format %s exited %d: %s", format, code, stderr)
	}
	return stdout
}

// csvByColumn reads CSV output into maps of column name → value.
func csvByColumn(t *testing.T, out string) []map[string]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("trials --format csv: %v\n%s", err, out)
	}
	var rows []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		rows = append(rows, m)
	}
	return rows
}

// TestViewsShowRatioParamsAsTrained runs a sweep whose network_alpha is
// searched as a ratio of network_dim through the real binary, and checks
// that run's ranking, `trials` (table, JSON, CSV) and `status` show the
// network_alpha each trial's trainer read in its trial.toml, with the
// ratio beside it.
func TestViewsShowRatioParamsAsTrained(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(e2eSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	runOut, stderr, code := runCLI(t, dir, "run", "sweep.yaml")
	if code != 0 {
		t.Fatalf("run exited %d\n%s\n%s", code, runOut, stderr)
	}
	dsn := "sqlite://" + filepath.Join(dir, "sweep.db")
	var listing []listingJSON
	if err := json.Unmarshal([]byte(trialsAs(t, dir, "e2e", dsn, "json")), &listing); err != nil {
		t.Fatal(err)
	}
	if len(listing) != 4 {
		t.Fatalf("%d trials listed, want 4", len(listing))
	}
	table := trialsAs(t, dir, "e2e", dsn, "table")
	rows := csvByColumn(t, trialsAs(t, dir, "e2e", dsn, "csv"))
	status, stderr, code := runCLI(t, dir, "status", "--sweep", "e2e", "--storage", dsn)
	if code != 0 {
		t.Fatalf("status exited %d: %s", code, stderr)
	}
	for i, l := range listing {
		cfg, err := kohya.ReadConfigFile(filepath.Join(dir, "runs", "e2e", fmt.Sprintf("trial-%04d", l.Number), runner.ConfigFile))
		if err != nil {
			t.Fatal(err)
		}
		alpha, _ := cfg["network_alpha"].(float64)
		dim, _ := cfg["network_dim"].(int64)
		if alpha <= 0 || dim <= 0 {
			t.Fatalf("trial %d's trial.toml: network_alpha %v, network_dim %v", l.Number, cfg["network_alpha"], cfg["network_dim"])
		}
		got, _ := l.Params["network_alpha"].(float64)
		ratio, _ := l.Ratios["network_alpha"].(float64)
		if math.Abs(got-alpha) > 1e-9*alpha || math.Abs(ratio-alpha/float64(dim)) > 1e-9 {
			t.Errorf("trial %d JSON: network_alpha %v ratio %v; trained %v = %v × %d", l.Number, got, ratio, alpha, alpha/float64(dim), dim)
		}
		// Each trial's first CSV row is its first candidate, in rank order.
		var first map[string]string
		for _, r := range rows {
			if r["number"] == strconv.Itoa(l.Number) {
				first = r
				break
			}
		}
		if first == nil {
			t.Fatalf("trial %d has no CSV row", l.Number)
		}
		csvAlpha, _ := strconv.ParseFloat(first["network_alpha"], 64)
		csvRatio, _ := strconv.ParseFloat(first["network_alpha_ratio"], 64)
		if csvAlpha != got || csvRatio != ratio {
			t.Errorf("trial %d CSV: network_alpha %s ratio %s, want %v and %v", l.Number, first["network_alpha"], first["network_alpha_ratio"], got, ratio)
		}
		cell := fmt.Sprintf("%s (%s×network_dim)", sweep.FormatValue(alpha), sweep.FormatValue(ratio))
		if !strings.Contains(table, cell) {
			t.Errorf("trials table lacks trial %d's %q:\n%s", l.Number, cell, table)
		}
		if !strings.Contains(runOut, cell) {
			t.Errorf("run's ranking lacks trial %d's %q:\n%s", l.Number, cell, runOut)
		}
		if i == 0 && !strings.Contains(status, "network_alpha="+cell) {
			t.Errorf("status lacks the best trial's network_alpha=%s:\n%s", cell, status)
		}
		// The candidates the ranking used: sampled epochs 2 and 4, one best.
		if len(l.Candidates) != 2 || l.BestEpoch == nil || l.Best != fmt.Sprintf("epoch %d", *l.BestEpoch) {
			t.Fatalf("trial %d: best %q, candidates %+v; want epochs 2 and 4", l.Number, l.Best, l.Candidates)
		}
		bests := 0
		for k, c := range l.Candidates {
			if c.Epoch != 2*(k+1) || c.Candidate != fmt.Sprintf("epoch %d", c.Epoch) || c.State != "complete" || c.Value == nil || len(c.Components) == 0 {
				t.Errorf("trial %d candidate %d: %+v", l.Number, k, c)
			}
			if c.Best {
				bests++
				if c.Epoch != *l.BestEpoch || *c.Value != *l.Value {
					t.Errorf("trial %d: best candidate %+v, want epoch %d = %v", l.Number, c, *l.BestEpoch, *l.Value)
				}
			}
		}
		if bests != 1 {
			t.Errorf("trial %d has %d best candidates, want 1", l.Number, bests)
		}
	}
	if header := strings.Fields(strings.SplitN(table, "\n", 2)[0]); len(header) < 5 || header[4] != "best" {
		t.Errorf("table header %q, want a best column", header)
	}
}

// storedSweep writes a sweep with step, partial and unscorable candidates
// through the real storage package, as the controller records them.
func storedSweep(t *testing.T, dir string) string {
	t.Helper()
	ctx := context.Background()
	dsn := "sqlite://" + filepath.Join(dir, "sweep.db")
	store, err := storage.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	spec := &sweep.Spec{
		Name:       "cands",
		OutputRoot: filepath.Join(dir, "runs"),
		Trainer:    runner.TrainerSpec{Kind: runner.KindBuiltin},
		Base:       map[string]any{"network_dim": int64(8), "learning_rate": 0.001, "max_train_epochs": int64(2)},
		Search: []sweep.Param{
			{Name: "network_dim", Type: sweep.ParamInt, Low: 4, High: 32, Target: sweep.TargetArg},
			{Name: "network_alpha", Type: sweep.ParamFloat, Low: 0.25, High: 1, RatioOf: "network_dim", Target: sweep.TargetArg},
		},
		Sampler:   sweep.SamplerSpec{Kind: "random", Seed: 1},
		Objective: objective.Spec{Direction: "maximize", Scorers: []objective.ScorerSpec{{Kind: "reference", Name: "likeness", Weight: 1}}},
		Budget:    sweep.Budget{Trials: 4, Parallel: 1},
	}
	study, err := sweep.OpenStudy(ctx, store, spec, false)
	if err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	trials := []struct {
		params string
		value  float64
		attrs  map[string]string
		cands  []sweep.EpochRecord
	}{
		{ // trains by steps: its candidates are steps 100 and 200
			params: `{"network_dim":16,"network_alpha":0.5}`, value: 0.8,
			attrs: map[string]string{"lorasweep:best_step": "200"},
			cands: []sweep.EpochRecord{
				{Step: 100, Fraction: 0.5, Value: f(0.7), Images: 3, Expected: 3, Checkpoint: "/ckpt/t0-step100.safetensors"},
				{Step: 200, Fraction: 1, Value: f(0.8), Images: 3, Expected: 3, Checkpoint: "/ckpt/t0-step200.safetensors"},
			},
		},
		{ // the best value, but scored on 2 of 3 images: ranks last
			params: `{"network_dim":8,"network_alpha":1.0}`, value: 0.95,
			attrs: map[string]string{"lorasweep:best_epoch": "1", "lorasweep:partial": "2/3"},
			cands: []sweep.EpochRecord{
				{Epoch: 1, Fraction: 0.5, Value: f(0.95), Images: 2, Expected: 3, Partial: true},
				{Epoch: 2, Fraction: 1, Unscorable: true, Reason: "no sample images", Expected: 3},
			},
		},
		{
			params: `{"network_dim":32,"network_alpha":0.25}`, value: 0.85,
			attrs: map[string]string{"lorasweep:best_epoch": "2"},
			cands: []sweep.EpochRecord{
				{Epoch: 1, Fraction: 0.5, Value: f(0.6), Images: 3, Expected: 3},
				{Epoch: 2, Fraction: 1, Value: f(0.85), Images: 3, Expected: 3, Checkpoint: "/ckpt/t2-e2.safetensors"},
			},
		},
		{ // running: its last candidate so far was scored on 1 of 3 images
			params: `{"network_dim":4,"network_alpha":0.5}`, attrs: map[string]string{},
			cands: []sweep.EpochRecord{{Epoch: 1, Fraction: 0.5, Value: f(0.4), Images: 1, Expected: 3, Partial: true}},
		},
	}
	for i, tr := range trials {
		claim, err := store.Claim(ctx, study.ID, 0)
		if err != nil || claim.Number != i {
			t.Fatalf("claim %d: %+v %v", i, claim, err)
		}
		tr.attrs["lorasweep:params"] = tr.params
		for k, v := range tr.attrs {
			if err := store.SetTrialSystemAttr(claim.TrialID, k, v); err != nil {
				t.Fatal(err)
			}
		}
		for _, e := range tr.cands {
			e.TrialID = claim.TrialID
			comps, _ := json.Marshal([]objective.Component{{Name: "likeness", Kind: "reference", Weight: 1, Raw: 0.5, Normalized: 0.5}})
			if !e.Unscorable {
				e.Components = string(comps)
			}
			if err := store.RecordEpoch(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if tr.value == 0 { // still running
			now := time.Now()
			if err := store.StartRun(ctx, sweep.RunRecord{TrialID: claim.TrialID, WorkerID: "box:1", Host: "box", GPUs: []string{"0"},
				TrialDir: filepath.Join(dir, "runs", "trial-0003"), Started: now, Heartbeat: now}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := store.SetTrialValue(claim.TrialID, tr.value); err != nil {
			t.Fatal(err)
		}
		if err := store.SetTrialState(claim.TrialID, goptuna.TrialStateComplete); err != nil {
			t.Fatal(err)
		}
	}
	return dsn
}

// TestViewsShowStepAndPartialCandidates: step candidates are labelled by
// step, a trial scored on part of its images is shown as partial and ranks
// below complete ones in every view, and every candidate's state reaches
// `trials --format json|csv`.
func TestViewsShowStepAndPartialCandidates(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	dir := t.TempDir()
	dsn := storedSweep(t, dir)

	table := trialsAs(t, dir, "cands", dsn, "table")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 5 {
		t.Fatalf("table:\n%s", table)
	}
	for i, want := range []struct{ trial, best, alpha string }{
		{"2", "epoch 2", "8 (0.25×network_dim)"},
		{"0", "step 200", "8 (0.5×network_dim)"},
		{"1", "epoch 1 partial 2/3", "8 (1×network_dim)"},
	} {
		f := strings.Fields(lines[i+1])
		if len(f) < 5 || f[1] != want.trial || !strings.Contains(lines[i+1], want.best) || !strings.Contains(lines[i+1], want.alpha) {
			t.Errorf("table row %d = %q, want trial %s at %q with network_alpha %q", i+1, lines[i+1], want.trial, want.best, want.alpha)
		}
	}

	var listing []listingJSON
	if err := json.Unmarshal([]byte(trialsAs(t, dir, "cands", dsn, "json")), &listing); err != nil {
		t.Fatal(err)
	}
	if len(listing) != 4 || listing[0].Number != 2 || listing[1].Number != 0 || listing[2].Number != 1 || listing[3].Number != 3 {
		t.Fatalf("JSON order %+v, want trials 2, 0, 1, 3", listing)
	}
	steps := listing[1]
	if steps.BestStep == nil || *steps.BestStep != 200 || steps.Best != "step 200" || len(steps.Candidates) != 2 ||
		steps.Candidates[1].Candidate != "step 200" || steps.Candidates[1].Epoch != 0 || steps.Candidates[1].Step != 200 ||
		!steps.Candidates[1].Best || steps.Candidates[1].Checkpoint != "/ckpt/t0-step200.safetensors" {
		t.Errorf("step trial: %+v", steps)
	}
	partial := listing[2]
	if partial.Partial != "2/3" || len(partial.Candidates) != 2 {
		t.Fatalf("partial trial: %+v", partial)
	}
	if c := partial.Candidates[0]; c.State != "partial 2/3" || c.Images != 2 || c.Expected != 3 || !c.Best {
		t.Errorf("partial candidate: %+v", c)
	}
	if c := partial.Candidates[1]; c.State != "unscorable" || c.Value != nil || c.Best {
		t.Errorf("unscorable candidate: %+v", c)
	}

	rows := csvByColumn(t, trialsAs(t, dir, "cands", dsn, "csv"))
	if len(rows) != 7 {
		t.Fatalf("%d CSV rows, want one per candidate (7)", len(rows))
	}
	var states []string
	for _, r := range rows {
		states = append(states, r["number"]+":"+r["candidate"]+":"+r["candidate_state"]+":"+r["candidate_best"])
	}
	want := "2:epoch 1:complete:false 2:epoch 2:complete:true 0:step 100:complete:false 0:step 200:complete:true " +
		"1:epoch 1:partial 2/3:true 1:epoch 2:unscorable:false 3:epoch 1:partial 1/3:false"
	if got := strings.Join(states, " "); got != want {
		t.Errorf("CSV candidates:\n got %s\nwant %s", got, want)
	}
	if rows[1]["component_likeness_normalized"] != "0.5" || rows[4]["partial"] != "2/3" {
		t.Errorf("CSV components or partial: %v / %v", rows[1], rows[4])
	}

	status, stderr, code := runCLI(t, dir, "status", "--sweep", "cands", "--storage", dsn)
	if code != 0 || !strings.Contains(status, "best: trial 2 = 0.85 at epoch 2: network_alpha=8 (0.25×network_dim) network_dim=32") ||
		!strings.Contains(status, "epoch 1 scored 0.4 (partial 1/3)") {
		t.Errorf("status exited %d:\n%s%s", code, status, stderr)
	}

	_, stderr, code = runCLI(t, dir, "export", "--sweep", "cands", "--storage", dsn, "--trial", "1", "--format", "kohya-toml", "--out", filepath.Join(dir, "t1.toml"))
	if code != 0 || !strings.Contains(stderr, "warning: trial 1 was scored on 2/3 of its sample images only") {
		t.Errorf("export of the partial trial exited %d without the warning:\n%s", code, stderr)
	}
	_, stderr, code = runCLI(t, dir, "export", "--sweep", "cands", "--storage", dsn, "--format", "kohya-toml", "--out", filepath.Join(dir, "best.toml"))
	if code != 0 || !strings.Contains(stderr, "trial 2") || strings.Contains(stderr, "warning: trial") {
		t.Errorf("export of the best trial exited %d:\n%s", code, stderr)
	}
	_, stderr, code = runCLI(t, dir, "export", "--sweep", "cands", "--storage", dsn, "--trial", "0", "--format", "kohya-toml", "--out", filepath.Join(dir, "t0.toml"))
	if code != 0 || !strings.Contains(stderr, "best step: 200") || !strings.Contains(stderr, "checkpoint: /ckpt/t0-step200.safetensors") {
		t.Errorf("export of the step trial exited %d:\n%s", code, stderr)
	}
	toml, err := os.ReadFile(filepath.Join(dir, "t0.toml"))
	if err != nil || !strings.Contains(string(toml), "network_alpha = 8.0") {
		t.Errorf("exported TOML (%v):\n%s", err, toml)
	}

	report := filepath.Join(dir, "report.html")
	if _, stderr, code := runCLI(t, dir, "report", "--sweep", "cands", "--storage", dsn, "--out", report); code != 0 {
		t.Fatalf("report exited %d: %s", code, stderr)
	}
	html, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{">step 200<", ">epoch 1 partial 2/3<", "8 (0.25×network_dim)", "scored on 2/3 sample images",
		"Best: trial 2, value 0.85 at epoch 2"} {
		if !strings.Contains(string(html), s) {
			t.Errorf("report lacks %q", s)
		}
	}
}

// TestEnqueueRefusesBadValues: a bad --enqueue value is a usage error
// naming the file, line and key, and nothing of any file is enqueued —
// neither on a new sweep nor on one that has trials.
func TestEnqueueRefusesBadValues(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(e2eSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("- {network_dim: 4, network_alpha: 0.5, learning_rate: 0.001, lr_scheduler: cosine}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// network_alpha written as the value trained, not the ratio.
	if err := os.WriteFile(bad, []byte("- network_dim: 4\n  network_alpha: 2\n  lr_scheduler: cosine\n- {network_dim: four}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dsn := "sqlite://" + filepath.Join(dir, "sweep.db")
	refused := func(when string) {
		t.Helper()
		_, stderr, code := runCLI(t, dir, "run", "sweep.yaml", "--enqueue", good, "--enqueue", bad)
		if code != 2 {
			t.Errorf("%s: run with a bad --enqueue file exited %d, want 2:\n%s", when, code, stderr)
		}
		for _, want := range []string{
			"nothing enqueued",
			bad + ":2: config 1: network_alpha: the integer 2 lies outside the search space (float [0.25, 1] × network_dim); network_alpha is searched as a ratio of network_dim: write the ratio, not the value trained",
			bad + `:4: config 2: network_dim: expected a number (log-int [2, 8]), got the string "four"`,
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: stderr lacks\n%s\n---\n%s", when, want, stderr)
			}
		}
		if strings.Contains(stderr, "started") {
			t.Errorf("%s: trials started:\n%s", when, stderr)
		}
	}
	refused("new sweep")
	if _, stderr, code := runCLI(t, dir, "trials", "--sweep", "e2e", "--storage", dsn); code == 0 || !strings.Contains(stderr, `no sweep named "e2e"`) {
		t.Errorf("after a refused --enqueue on a new sweep, trials exited %d: %s", code, stderr)
	}
	if _, stderr, code := runCLI(t, dir, "run", "sweep.yaml"); code != 0 {
		t.Fatalf("run exited %d: %s", code, stderr)
	}
	refused("sweep with trials")
	var listing []listingJSON
	if err := json.Unmarshal([]byte(trialsAs(t, dir, "e2e", dsn, "json")), &listing); err != nil {
		t.Fatal(err)
	}
	for _, l := range listing {
		if l.Enqueued == "enqueue" {
			t.Errorf("trial %d is flagged %q after a refused --enqueue", l.Number, l.Enqueued)
		}
	}
	if len(listing) != 4 {
		t.Errorf("%d trials after a refused --enqueue, want the sweep's 4", len(listing))
	}
	// The good file alone is enqueued (it waits: the budget is spent),
	// listed with network_alpha as it will train: 0.5 × 4.
	_, stderr, code := runCLI(t, dir, "run", "sweep.yaml", "--enqueue", good)
	if code != 0 || !strings.Contains(stderr, "1 config(s) enqueued from "+good) {
		t.Fatalf("run --enqueue good.yaml exited %d:\n%s", code, stderr)
	}
	if err := json.Unmarshal([]byte(trialsAs(t, dir, "e2e", dsn, "json")), &listing); err != nil {
		t.Fatal(err)
	}
	last := listing[len(listing)-1]
	if len(listing) != 5 || last.Enqueued != "enqueue" || last.State != "waiting" ||
		last.Params["network_dim"] != 4.0 || last.Params["network_alpha"] != 2.0 || last.Ratios["network_alpha"] != 0.5 {
		t.Errorf("after enqueueing good.yaml: %d trials, last %+v", len(listing), last)
	}
}
