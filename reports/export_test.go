package reports_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/reports"
	"github.com/lorasweep/lorasweep/runner"
	"github.com/lorasweep/lorasweep/storage"
	"github.com/lorasweep/lorasweep/sweep"
	"github.com/lorasweep/lorasweep/sweep/sampling"
)

// exportSweep is a finished kohya sweep in real SQLite storage: trials
// trained by exportRunner (which writes trial.toml with the runner's own
// TrialConfig, per-epoch checkpoints and a final model) and scored by
// exportScorer (each trial's best epoch is 2 of 4).
type exportSweep struct {
	dir     string
	dsn     string
	store   *storage.Store
	spec    *sweep.Spec
	studyID int
}

const exportEpochs = 4

func newExportSweep(t *testing.T, trials int) *exportSweep {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"train/10_cat", "runs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"train_network.py":   "# stand-in\n",
		"model.safetensors":  "x",
		"prompts.txt":        "a photo of sks cat --n blurry\n",
		"train/10_cat/a.png": "x",
		"base.toml": `pretrained_model_name_or_path = "model.safetensors"
train_data_dir = "train"
output_dir = "out"
output_name = "mylora"
resolution = "512,512"
network_module = "networks.lora"
optimizer_type = "AdamW"
lr_scheduler = "cosine"
learning_rate = 1e-4
network_dim = 8
network_alpha = 4.0
train_batch_size = 1
mixed_precision = "fp16"
save_model_as = "safetensors"
cache_latents = true
`,
		"sweep.yaml": fmt.Sprintf(`name: export-test
output_root: ./runs
trainer:
  kind: kohya
  script: ./train_network.py
  launcher: [accelerate, launch, --num_cpu_threads_per_process, "2"]
  base: ./base.toml
  fixed:
    max_train_epochs: %d
    save_every_n_epochs: 1
    sample_every_n_epochs: 1
    sample_prompts: ./prompts.txt
search:
  network_dim:   {int: [4, 32], log: true}
  network_alpha: {ratio_of: network_dim, float: [0.25, 1.0]}
  learning_rate: {float: [1.0e-5, 1.0e-3], log: true}
  lr_scheduler:  {choice: [cosine, polynomial, constant_with_warmup]}
  lr_scheduler_power: {float: [0.5, 3.0], when: {lr_scheduler: polynomial}}
  lr_warmup_steps:    {float: [0.01, 0.1], when: {lr_scheduler: constant_with_warmup}}
  rank_dropout:  {float: [0.0, 0.3]}
sampler: {kind: random, seed: 7}
objective: {direction: maximize, scorers: [{kind: health}]}
budget: {trials: %d, parallel: 2}
gpus: none
baseline: true
`, exportEpochs, trials),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec, err := sweep.ParseSpecFile(filepath.Join(dir, "sweep.yaml"))
	if err != nil {
		t.Fatalf("parse spec: %v", err)
	}
	dsn := "sqlite://" + filepath.Join(dir, "sweep.db")
	st, err := storage.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &sweep.Controller{
		Spec: spec, Store: st, Runner: newExportRunner(2), Scorer: exportScorer{},
		Sampler:  sampling.NewRandom(sampling.RandomOptions{Seed: spec.Sampler.Seed}),
		WorkerID: "test", Host: "testhost", Parallel: 2,
	}
	res, err := c.Run(context.Background(), false)
	if err != nil {
		t.Fatalf("run sweep: %v", err)
	}
	stored, id, err := sweep.LoadStoredSpec(st, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if id != res.StudyID {
		t.Fatalf("study id %d, want %d", id, res.StudyID)
	}
	return &exportSweep{dir: dir, dsn: dsn, store: st, spec: stored, studyID: id}
}

// exportRunner trains nothing but leaves what a kohya run leaves: the
// trial.toml the runner writes, a sample per epoch, a checkpoint per epoch
// and the final model.
type exportRunner struct{ slots chan int }

func newExportRunner(n int) *exportRunner {
	r := &exportRunner{slots: make(chan int, n)}
	for i := 0; i < n; i++ {
		r.slots <- i
	}
	return r
}

type exportLease struct {
	r    *exportRunner
	slot int
	once sync.Once
}

func (l *exportLease) GPUs() []string { return nil }
func (l *exportLease) Slot() int      { return l.slot }
func (l *exportLease) Release()       { l.once.Do(func() { l.r.slots <- l.slot }) }

func (r *exportRunner) Acquire(ctx context.Context) (sweep.Lease, error) {
	select {
	case s := <-r.slots:
		return &exportLease{r: r, slot: s}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *exportRunner) Run(ctx context.Context, _ sweep.Lease, job runner.Job, onEvent func(runner.Event)) runner.Outcome {
	fail := func(err error) runner.Outcome { return runner.Outcome{Reason: runner.ReasonCrash, Detail: err.Error()} }
	out := filepath.Join(job.Dir, "output")
	if err := os.MkdirAll(filepath.Join(out, "sample"), 0o755); err != nil {
		return fail(err)
	}
	prompts := filepath.Join(job.Dir, runner.PromptsFile)
	if err := os.WriteFile(prompts, []byte("a photo of sks cat --d 1000\n"), 0o644); err != nil {
		return fail(err)
	}
	data, err := kohya.WriteTOML(runner.TrialConfig(job, prompts))
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(job.Dir, runner.ConfigFile), data, 0o644); err != nil {
		return fail(err)
	}
	name := runner.OutputName(job.Number)
	for e := 1; e <= exportEpochs; e++ {
		onEvent(runner.Event{Kind: runner.EventEpoch, Epoch: e, Epochs: exportEpochs})
		onEvent(runner.Event{Kind: runner.EventProgress, Step: e, Total: exportEpochs, Loss: 0.2 / float64(e), LR: 1e-4 * float64(e)})
		img := filepath.Join(out, "sample", fmt.Sprintf("%s_e%06d_00_1000.png", name, e))
		var pngData bytes.Buffer
		if err := png.Encode(&pngData, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
			return fail(err)
		}
		if err := os.WriteFile(img, pngData.Bytes(), 0o644); err != nil {
			return fail(err)
		}
		onEvent(runner.Event{Kind: runner.EventSamples, Epoch: e, Samples: []runner.Sample{{Path: img, Epoch: e, Prompt: "a photo of sks cat"}}})
		if e < exportEpochs {
			ck := filepath.Join(out, fmt.Sprintf("%s-%06d.safetensors", name, e))
			if err := os.WriteFile(ck, []byte(fmt.Sprintf("weights of trial %d epoch %d", job.Number, e)), 0o644); err != nil {
				return fail(err)
			}
			onEvent(runner.Event{Kind: runner.EventCheckpoint, Epoch: e, Path: ck})
		}
	}
	model := filepath.Join(out, name+".safetensors")
	if err := os.WriteFile(model, []byte("final"), 0o644); err != nil {
		return fail(err)
	}
	onEvent(runner.Event{Kind: runner.EventModelSaved})
	return runner.Outcome{OK: true, ModelPath: model}
}

// exportScorer scores by network_dim (bigger is better) and makes epoch 2
// every trial's best epoch.
type exportScorer struct{}

func (exportScorer) NeedsSamples() bool { return true }
func (exportScorer) ScoreEpoch(_ context.Context, in objective.EpochInput) (objective.Result, error) {
	dim, _ := in.Params["network_dim"].(int64)
	v := float64(dim) - math.Abs(float64(in.Epoch-2))
	return objective.Result{Value: v, Components: []objective.Component{{Name: "fake", Raw: v, Normalized: v, Weight: 1}}}, nil
}

// bestNumber is the number of the COMPLETE trial with the largest value.
func (s *exportSweep) bestNumber(t *testing.T) int {
	t.Helper()
	list, err := reports.ListTrials(context.Background(), s.store, s.spec, s.studyID)
	if err != nil {
		t.Fatal(err)
	}
	best, bestV := -1, math.Inf(-1)
	for _, l := range list {
		if l.State == "complete" && l.Value != nil && *l.Value > bestV {
			best, bestV = l.Number, *l.Value
		}
	}
	return best
}

func (s *exportSweep) export(t *testing.T, opt reports.TrialOptions) *reports.TrialExport {
	t.Helper()
	ex, err := reports.LoadTrialExport(context.Background(), s.store, s.spec, s.studyID, opt)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	return ex
}

func TestExportKohyaTOMLRoundTrip(t *testing.T) {
	s := newExportSweep(t, 5)
	outDir := filepath.Join(s.dir, "final")
	ex := s.export(t, reports.TrialOptions{Trial: reports.BestTrial, OutputDir: outDir, OutputName: "best"})
	if want := s.bestNumber(t); ex.Number != want {
		t.Fatalf("best trial %d, want %d", ex.Number, want)
	}
	data, err := ex.KohyaTOML()
	if err != nil {
		t.Fatal(err)
	}
	// An independent TOML parser reads the file sd-scripts would read.
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("TOML does not parse: %v\n%s", err, data)
	}
	back, err := kohya.ParseConfigTOML("export.toml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc) != len(back) {
		t.Errorf("go-toml sees %d keys, kohya.ParseConfigTOML %d: the file is not flat", len(doc), len(back))
	}
	want := s.spec.TrialConfig(ex.Params)
	want["output_dir"] = outDir
	want["output_name"] = "best"
	for _, k := range want.Keys() {
		if !sameTOML(t, back[k], want[k]) {
			t.Errorf("%s = %#v, want %#v", k, back[k], want[k])
		}
	}
	for _, k := range back.Keys() {
		if _, ok := want[k]; !ok {
			t.Errorf("extra key %s = %#v (sweep-only?)", k, back[k])
		}
		if _, ok := kohya.LookupArg(k); !ok {
			t.Errorf("%s is not an sd-scripts argument", k)
		}
		if str, ok := back[k].(string); ok && strings.Contains(str, filepath.Join(s.dir, "runs")) {
			t.Errorf("%s points into the sweep's run folder: %s", k, str)
		}
	}
	for _, k := range []string{"pretrained_model_name_or_path", "train_data_dir", "sample_prompts", "output_dir"} {
		if p, _ := back[k].(string); !filepath.IsAbs(p) {
			t.Errorf("%s = %q is not absolute", k, p)
		}
	}
	if got := back["max_train_epochs"]; got != int64(exportEpochs) {
		t.Errorf("max_train_epochs = %v, want %d (as trained, not cut to the best epoch)", got, exportEpochs)
	}
	if ex.BestEpoch != 2 || !ex.CheckpointOK || !strings.HasSuffix(ex.Checkpoint, "-000002.safetensors") {
		t.Errorf("best epoch %d checkpoint %q ok=%v, want epoch 2's file", ex.BestEpoch, ex.Checkpoint, ex.CheckpointOK)
	}
	if !bytes.Contains(data, []byte("# best epoch: 2 of 4; its checkpoint: "+ex.Checkpoint)) {
		t.Errorf("header does not name the best epoch and its checkpoint:\n%s", data)
	}
	if ex.Source != "trial.toml" {
		t.Errorf("source %q, want trial.toml", ex.Source)
	}

	// What the trainer read, minus the runner's per-trial keys, is what
	// the export holds.
	trained, err := kohya.ReadConfigFile(filepath.Join(filepath.Dir(filepath.Dir(ex.Checkpoint)), runner.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range trained.Keys() {
		switch k {
		case "output_dir", "output_name", "logging_dir", "sample_prompts":
			continue
		}
		if !sameTOML(t, back[k], trained[k]) {
			t.Errorf("%s = %#v in the export, %#v in trial.toml", k, back[k], trained[k])
		}
	}
}

// sameTOML compares two values as TOML writes them (types included).
func sameTOML(t *testing.T, a, b any) bool {
	t.Helper()
	x, err1 := kohya.WriteTOML(kohya.Config{"v": a})
	y, err2 := kohya.WriteTOML(kohya.Config{"v": b})
	if err1 != nil || err2 != nil {
		t.Fatalf("write TOML: %v %v", err1, err2)
	}
	return string(x) == string(y)
}

func TestExportGUIJSONRoundTrip(t *testing.T) {
	s := newExportSweep(t, 6)
	list, err := reports.ListTrials(context.Background(), s.store, s.spec, s.studyID)
	if err != nil {
		t.Fatal(err)
	}
	// The current GUI's LoRA-tab keys (kohya_ss@45088f04); the older
	// gui_saved_config_full.json is a DreamBooth-era schema.
	ref, refErr := os.ReadFile("/work/shared/kohya/gui_lora_config_keys.json")
	for _, l := range list {
		if l.State != "complete" {
			continue
		}
		t.Run(fmt.Sprintf("trial-%d", l.Number), func(t *testing.T) {
			ex := s.export(t, reports.TrialOptions{Trial: l.Number})
			data, err := ex.GUIJSON()
			if err != nil {
				t.Fatal(err)
			}
			// Import it as a base config, as a new sweep would.
			cfg, _, err := kohya.ImportGUI("export.json", data)
			if err != nil {
				t.Fatalf("import exported GUI config: %v", err)
			}
			got := s.spec.ParamsFromConfig(cfg)
			// ParamsFromConfig reads a ratio_of param back as its ratio:
			// the listing's Params are as trained, its Ratios as searched.
			searched := map[string]any{}
			for name, v := range l.Params {
				searched[name] = v
			}
			for name, v := range l.Ratios {
				searched[name] = v
			}
			for name, want := range searched {
				if !sameParam(got[name], want) {
					t.Errorf("%s = %#v after the GUI round trip, want %#v", name, got[name], want)
				}
			}
			for name := range got {
				if _, ok := l.Params[name]; !ok && name != "lr_warmup_steps" && name != "lr_scheduler_power" {
					t.Errorf("%s = %#v appeared in the GUI round trip", name, got[name])
				}
			}
			if refErr != nil {
				return // the reference file is not on this machine
			}
			var refDoc struct {
				Keys []string `json:"saved_json_keys"`
			}
			var gotDoc map[string]any
			if err := json.Unmarshal(ref, &refDoc); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &gotDoc); err != nil {
				t.Fatal(err)
			}
			for _, k := range refDoc.Keys {
				if _, ok := gotDoc[k]; !ok {
					t.Errorf("GUI key %s missing", k)
				}
			}
			if len(gotDoc) != len(refDoc.Keys) {
				t.Errorf("%d keys, the GUI saves %d", len(gotDoc), len(refDoc.Keys))
			}
		})
	}
}

// sameParam compares param values: numbers within float rounding (the GUI
// writes percents and strings), others exactly.
func sameParam(a, b any) bool {
	fa, okA := num(a)
	fb, okB := num(b)
	if okA && okB {
		return math.Abs(fa-fb) <= 1e-9*math.Max(1, math.Abs(fb))
	}
	return a == b
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func TestExportArgs(t *testing.T) {
	s := newExportSweep(t, 3)
	ex := s.export(t, reports.TrialOptions{Trial: reports.BestTrial, OutputDir: filepath.Join(s.dir, "with space")})
	argv, err := ex.Argv("")
	if err != nil {
		t.Fatal(err)
	}
	wantPrefix := []string{"accelerate", "launch", "--num_cpu_threads_per_process", "2", filepath.Join(s.dir, "train_network.py")}
	if len(argv) < len(wantPrefix) || strings.Join(argv[:len(wantPrefix)], " ") != strings.Join(wantPrefix, " ") {
		t.Fatalf("argv starts %q, want %q", argv, wantPrefix)
	}
	// Read the flags back the way argparse would, and compare with the config.
	got := map[string][]string{}
	var cur string
	for _, a := range argv[len(wantPrefix):] {
		if strings.HasPrefix(a, "--") {
			cur = strings.TrimPrefix(a, "--")
			got[cur] = []string{}
			continue
		}
		got[cur] = append(got[cur], a)
	}
	for _, k := range ex.Config.Keys() {
		v := ex.Config[k]
		vals, ok := got[k]
		switch x := v.(type) {
		case bool:
			if ok != x {
				t.Errorf("flag --%s present=%v, want %v", k, ok, x)
			}
		case []any:
			if len(vals) != len(x) {
				t.Errorf("--%s has %d values, want %d", k, len(vals), len(x))
			}
		default:
			if len(vals) != 1 {
				t.Errorf("--%s has values %q, want one", k, vals)
				continue
			}
			if f, isF := v.(float64); isF && !strings.ContainsAny(vals[0], ".e") {
				t.Errorf("--%s %s lost its float form (%v)", k, vals[0], f)
			}
		}
	}
	line := reports.ShellJoin(argv)
	if !strings.Contains(line, "'"+filepath.Join(s.dir, "with space")+"'") {
		t.Errorf("a path with a space is not quoted: %s", line)
	}
}

func TestShellJoin(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want string
	}{
		{name: "plain", argv: []string{"accelerate", "launch", "--lr", "1e-4"}, want: "accelerate launch --lr 1e-4"},
		{name: "space", argv: []string{"a b"}, want: "'a b'"},
		{name: "quote", argv: []string{"it's"}, want: `'it'\''s'`},
		{name: "empty", argv: []string{""}, want: "''"},
		{name: "dollar", argv: []string{"$HOME"}, want: "'$HOME'"},
		{name: "network arg", argv: []string{"rank_dropout=0.1"}, want: "rank_dropout=0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := reports.ShellJoin(tc.argv); got != tc.want {
				t.Errorf("ShellJoin(%q) = %s, want %s", tc.argv, got, tc.want)
			}
		})
	}
}

func TestExportSourceAndSelection(t *testing.T) {
	s := newExportSweep(t, 4)
	best := s.bestNumber(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		trial   int
		prepare func(t *testing.T, ex *reports.TrialExport)
		wantErr string
		check   func(t *testing.T, ex *reports.TrialExport)
	}{
		{name: "no such trial", trial: 99, wantErr: "no trial 99"},
		{name: "explicit trial", trial: 0, check: func(t *testing.T, ex *reports.TrialExport) {
			if ex.Number != 0 || ex.Config["output_dir"] != filepath.Join(s.dir, "out") || ex.Config["output_name"] != "mylora" {
				t.Errorf("trial %d output %v/%v, want the base config's", ex.Number, ex.Config["output_dir"], ex.Config["output_name"])
			}
		}},
		{name: "trial.toml changed after the spec", trial: best, prepare: func(t *testing.T, ex *reports.TrialExport) {
			path := filepath.Join(filepath.Dir(filepath.Dir(ex.Checkpoint)), runner.ConfigFile)
			c, err := kohya.ReadConfigFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c["mixed_precision"] = "bf16"
			data, _ := kohya.WriteTOML(c)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}, check: func(t *testing.T, ex *reports.TrialExport) {
			if ex.Config["mixed_precision"] != "bf16" || !hasNote(ex, "mixed_precision") {
				t.Errorf("mixed_precision = %v, notes %q: want trial.toml's value, noted", ex.Config["mixed_precision"], ex.Notes)
			}
		}},
		{name: "trial.toml gone", trial: best, prepare: func(t *testing.T, ex *reports.TrialExport) {
			if err := os.Remove(filepath.Join(filepath.Dir(filepath.Dir(ex.Checkpoint)), runner.ConfigFile)); err != nil {
				t.Fatal(err)
			}
		}, check: func(t *testing.T, ex *reports.TrialExport) {
			want := s.spec.TrialConfig(ex.Params)
			if ex.Source != "spec" || !hasNote(ex, "rebuilt from the stored spec") {
				t.Errorf("source %q notes %q, want spec, noted", ex.Source, ex.Notes)
			}
			for _, k := range want.Keys() {
				if k != "output_dir" && !sameTOML(t, ex.Config[k], want[k]) {
					t.Errorf("%s = %v, want %v", k, ex.Config[k], want[k])
				}
			}
		}},
		{name: "checkpoint gone", trial: best, prepare: func(t *testing.T, ex *reports.TrialExport) {
			if err := os.Remove(ex.Checkpoint); err != nil {
				t.Fatal(err)
			}
		}, check: func(t *testing.T, ex *reports.TrialExport) {
			if ex.CheckpointOK || !hasNote(ex, "not readable from this machine") {
				t.Errorf("checkpoint ok=%v notes %q", ex.CheckpointOK, ex.Notes)
			}
			if _, err := ex.CopyCheckpoint(t.TempDir()); err == nil {
				t.Error("copying a missing checkpoint succeeded")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prepare != nil {
				tc.prepare(t, s.export(t, reports.TrialOptions{Trial: tc.trial}))
			}
			ex, err := reports.LoadTrialExport(ctx, s.store, s.spec, s.studyID, reports.TrialOptions{Trial: tc.trial})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, ex)
		})
	}
}

func hasNote(ex *reports.TrialExport, sub string) bool {
	for _, n := range ex.Notes {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}

func TestExportCopyCheckpoint(t *testing.T) {
	s := newExportSweep(t, 2)
	ex := s.export(t, reports.TrialOptions{Trial: reports.BestTrial, OutputName: "winner"})
	want, err := os.ReadFile(ex.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	got, err := ex.CopyCheckpoint(dest)
	if err != nil {
		t.Fatal(err)
	}
	if got != filepath.Join(dest, "winner.safetensors") {
		t.Errorf("copied to %s", got)
	}
	data, err := os.ReadFile(got)
	if err != nil || !bytes.Equal(data, want) {
		t.Errorf("copy holds %q (%v), want %q", data, err, want)
	}
	if _, err := ex.CopyCheckpoint(got); err == nil || !strings.Contains(err.Error(), "not overwriting") {
		t.Errorf("second copy: err = %v, want a refusal to overwrite", err)
	}
	entries, _ := os.ReadDir(dest)
	if len(entries) != 1 {
		t.Errorf("destination holds %d files, want 1 (no temp files left)", len(entries))
	}
}

func TestExportTrialLists(t *testing.T) {
	s := newExportSweep(t, 4)
	list, err := reports.ListTrials(context.Background(), s.store, s.spec, s.studyID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 {
		t.Fatalf("%d trials listed, want 4", len(list))
	}
	var buf bytes.Buffer
	if err := reports.WriteTrialsCSV(&buf, s.spec, list); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// One row per candidate, one for a trial without any.
	want := 1
	for _, l := range list {
		want += max(1, len(l.Candidates))
	}
	if len(recs) != want || want < 1+2*4 {
		t.Fatalf("%d CSV rows, want header + one per candidate (%d)", len(recs), want)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, name := range []string{"number", "state", "value", "best_epoch", "network_dim", "learning_rate", "checkpoint",
		"candidate", "candidate_value", "candidate_state", "candidate_best", "candidate_checkpoint", "component_fake_normalized"} {
		if _, ok := col[name]; !ok {
			t.Errorf("CSV has no %s column: %q", name, recs[0])
		}
	}
	row := 1
	for _, l := range list {
		bests := 0
		for k, c := range l.Candidates {
			rec := recs[row]
			row++
			if rec[col["number"]] != fmt.Sprint(l.Number) || rec[col["state"]] != l.State {
				t.Errorf("row %d = %q, want trial %d %s", row, rec, l.Number, l.State)
			}
			if lr, ok := l.Params["learning_rate"].(float64); ok && rec[col["learning_rate"]] != fmt.Sprint(lr) {
				t.Errorf("learning_rate %s, want full precision %v", rec[col["learning_rate"]], lr)
			}
			if rec[col["candidate"]] != c.Candidate || rec[col["candidate_value"]] != optFloatString(c.Value) {
				t.Errorf("trial %d candidate %d: %q %q, want %s = %v", l.Number, k, rec[col["candidate"]], rec[col["candidate_value"]], c.Candidate, c.Value)
			}
			if rec[col["candidate_best"]] == "true" {
				bests++
				if l.BestEpoch == nil || c.Epoch != *l.BestEpoch || rec[col["component_fake_normalized"]] != optFloatString(c.Value) {
					t.Errorf("trial %d: best row %q, want epoch %v with its component", l.Number, rec, l.BestEpoch)
				}
			}
		}
		if len(l.Candidates) == 0 {
			row++
		}
		if l.Value != nil && bests != 1 {
			t.Errorf("trial %d has %d best candidate rows, want 1", l.Number, bests)
		}
	}

	buf.Reset()
	if err := reports.WriteTrialsJSON(&buf, list); err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != 4 || back[0]["state"] == nil || back[0]["params"] == nil {
		t.Errorf("JSON listing %v", back)
	}
	for i, l := range list {
		cands, _ := back[i]["candidates"].([]any)
		if len(cands) != len(l.Candidates) || len(cands) == 0 {
			t.Fatalf("trial %d: %d candidates in JSON, want %d", l.Number, len(cands), len(l.Candidates))
		}
		c0, _ := cands[0].(map[string]any)
		if c0["candidate"] != l.Candidates[0].Candidate || c0["state"] != "complete" || c0["components"] == nil {
			t.Errorf("trial %d: first candidate %v", l.Number, c0)
		}
	}
	if bytes.Contains(buf.Bytes(), []byte(s.dsn)) {
		t.Error("the storage DSN appears in the export")
	}
}

func optFloatString(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'g', -1, 64)
}

func TestParseExportFormat(t *testing.T) {
	tests := []struct {
		name, in string
		want     reports.ExportFormat
		perTrial bool
		wantErr  bool
	}{
		{name: "toml", in: "kohya-toml", want: reports.FormatKohyaTOML, perTrial: true},
		{name: "gui", in: "gui-json", want: reports.FormatGUIJSON, perTrial: true},
		{name: "args", in: "args", want: reports.FormatArgs, perTrial: true},
		{name: "csv", in: "csv", want: reports.FormatCSV},
		{name: "json", in: "json", want: reports.FormatJSON},
		{name: "unknown", in: "yaml", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := reports.ParseExportFormat(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if f != tc.want || f.PerTrial() != tc.perTrial {
				t.Errorf("got %q per-trial %v", f, f.PerTrial())
			}
		})
	}
}
