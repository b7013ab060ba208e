package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/storage"
	"github.com/lorasweep/lorasweep/sweep"
)

// evidenceSpec runs the sd-scripts stand-in with behaviours set through
// trainer.env, and a free objective and extra fixed arguments.
const evidenceSpec = `name: %s
storage: sqlite://sweep.db
output_root: ./runs
trainer:
  kind: kohya
  script: %s
  python: /usr/bin/python3
  base: ./base.toml
  env: {%s}
  fixed:
    max_train_epochs: 3
%s
search:
  network_dim:   {int: [4, 32], log: true}
  learning_rate: {float: [1.0e-5, 1.0e-3], log: true}
sampler: {kind: random, seed: 3}
objective: %s
budget: {trials: %d, parallel: 1}
gpus: none
baseline: false
`

// standInSweep writes a sweep folder for the stand-in trainer: a dataset,
// a prompts file with nPrompts prompts, the base TOML and NAME.yaml.
func standInSweep(t *testing.T, name, env, fixed, objective string, trials, nPrompts int) string {
	t.Helper()
	var prompts strings.Builder
	for i := 0; i < nPrompts; i++ {
		fmt.Fprintf(&prompts, "zkx toy in scene %d --d %d\n", i, 10+i)
	}
	dir, script := standInDataset(t, prompts.String())
	spec := fmt.Sprintf(evidenceSpec, name, script, env, fixed, objective, trials)
	if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// standInDataset skips unless the stand-in can run, and writes a temp dir
// with a two-image dataset (4 repeats), prompts.txt holding prompts and a
// base.toml pointing at both; it returns the dir and the stand-in's path.
func standInDataset(t *testing.T, prompts string) (dir, script string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real binary and Python")
	}
	if !standInAvailable() {
		t.Skip("Debian python3 with toml, tqdm and rich is needed for the sd-scripts stand-in (scripts/test installs them)")
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "runner", "testdata", "train_network.py"))
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	data := filepath.Join(dir, "dataset", "4_zkx toy")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := os.WriteFile(filepath.Join(data, fmt.Sprintf("%02d.png", i)), []byte("\x89PNG\r\n\x1a\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	promptsPath := filepath.Join(dir, "prompts.txt")
	if err := os.WriteFile(promptsPath, []byte(prompts), 0o644); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf(kohyaBase, filepath.Join(dir, "dataset"), promptsPath)
	if err := os.WriteFile(filepath.Join(dir, "base.toml"), []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, script
}

// storedCandidates reads every trial's candidate records straight from the
// sweep's SQLite file, by trial number.
func storedCandidates(t *testing.T, dir, name string) map[int][]sweep.EpochRecord {
	t.Helper()
	ctx := context.Background()
	st, err := storage.OpenExisting(ctx, "sqlite://"+filepath.Join(dir, "sweep.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := st.GetStudyIDFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	trials, err := st.GetAllTrials(id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]sweep.EpochRecord{}
	for _, tr := range trials {
		recs, err := st.Epochs(ctx, tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[tr.Number] = recs
	}
	return out
}

const healthObjective = `{direction: maximize, scorers: [{kind: health}]}`

// TestEvidenceLateAndSlowImages: a trainer that prints its next line
// before the last image of a sampling lands, and one that writes each image
// in two halves with a pause between, still get every epoch scored on all
// its images.
func TestEvidenceLateAndSlowImages(t *testing.T) {
	for _, tc := range []struct{ name, env string }{
		{"late", "STANDIN_LATE_IMAGE: '0.6'"},
		{"slow", "STANDIN_IMAGE_SECONDS: '0.3'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fixed := "    sample_every_n_epochs: 1\n    save_every_n_epochs: 1"
			dir := standInSweep(t, tc.name, tc.env, fixed, healthObjective, 2, 3)
			stdout, stderr, code := runCLI(t, dir, "run", tc.name+".yaml")
			if code != 0 {
				t.Fatalf("run exited %d\n%s\n%s", code, stdout, stderr)
			}
			cands := storedCandidates(t, dir, tc.name)
			if len(cands) != 2 {
				t.Fatalf("%d trials, want 2", len(cands))
			}
			for n, recs := range cands {
				if len(recs) != 3 {
					t.Errorf("trial %d: %d candidates, want epochs 1–3: %+v", n, len(recs), recs)
				}
				for _, r := range recs {
					if r.Partial || r.Images != 3 || r.Expected != 3 || r.Value == nil {
						t.Errorf("trial %d %s: %d/%d images, partial %v, value %v; want scored on all 3", n, r.Candidate(), r.Images, r.Expected, r.Partial, r.Value)
					}
				}
			}
		})
	}
}

// TestEvidenceCrashMidSampling: a trainer that dies after the first of
// epoch 2's images leaves epoch 1 complete and epoch 2 partial 1/3; the
// trial fails as a crash and the partial epoch is stored as such.
func TestEvidenceCrashMidSampling(t *testing.T) {
	fixed := "    sample_every_n_epochs: 1\n    save_every_n_epochs: 1"
	dir := standInSweep(t, "crash", "STANDIN_MODE: crash_mid_sampling", fixed, healthObjective, 1, 3)
	stdout, stderr, _ := runCLI(t, dir, "run", "crash.yaml")
	trials := listTrialsOf(t, dir, "crash")
	if len(trials) != 1 || trials[0].State != "fail" || trials[0].Reason != "crash" {
		t.Fatalf("trials %+v, want one failed as crash\n%s\n%s", trials, stdout, stderr)
	}
	recs := storedCandidates(t, dir, "crash")[0]
	if len(recs) != 2 {
		t.Fatalf("candidates %+v, want epochs 1 and 2", recs)
	}
	if r := recs[0]; r.Epoch != 1 || r.Partial || r.Images != 3 {
		t.Errorf("epoch 1: %+v, want complete on 3 images", r)
	}
	if r := recs[1]; r.Epoch != 2 || !r.Partial || r.Images != 1 || r.Expected != 3 || r.Completeness() != "partial 1/3" {
		t.Errorf("epoch 2: %+v, want partial 1/3", r)
	}
}

// TestValidationScorerScores: sd-scripts' per-epoch validation loss, as
// its tqdm bar prints it (re-drawn with the old value early in the next
// epoch), reaches the validation scorer; each epoch's raw value is the last
// one printed before the epoch ends.
func TestValidationScorerScores(t *testing.T) {
	fixed := "    validation_split: 0.1"
	objective := `{direction: maximize, scorers: [{kind: validation}]}`
	dir := standInSweep(t, "val", "", fixed, objective, 2, 1)
	stdout, stderr, code := runCLI(t, dir, "run", "val.yaml")
	if code != 0 {
		t.Fatalf("run exited %d\n%s\n%s", code, stdout, stderr)
	}
	for _, tr := range listTrialsOf(t, dir, "val") {
		if tr.State != "complete" {
			t.Errorf("trial %d: %s (%s), want complete", tr.Number, tr.State, tr.Reason)
		}
	}
	// The stand-in's last value in epoch e is 0.15·0.8^e + 0.001, printed
	// by tqdm to 3 significant digits.
	want := map[int]float64{1: 0.121, 2: 0.097, 3: 0.0778}
	for n, recs := range storedCandidates(t, dir, "val") {
		if len(recs) != 3 {
			t.Fatalf("trial %d: candidates %+v, want epochs 1–3", n, recs)
		}
		for _, r := range recs {
			var comps []struct {
				Name string  `json:"name"`
				Raw  float64 `json:"raw"`
			}
			if err := json.Unmarshal([]byte(r.Components), &comps); err != nil || len(comps) != 1 {
				t.Fatalf("trial %d %s: components %q (%v)", n, r.Candidate(), r.Components, err)
			}
			if math.Abs(comps[0].Raw-want[r.Epoch]) > 1e-9 {
				t.Errorf("trial %d %s: validation loss %v, want %v", n, r.Candidate(), comps[0].Raw, want[r.Epoch])
			}
		}
	}
}

// TestStepCandidates: a trial that samples and saves by steps gets a
// candidate per sampled step, scored and stored with its checkpoint, and
// its best candidate is named by step.
func TestStepCandidates(t *testing.T) {
	// 2 images × 4 repeats = 8 steps an epoch, 3 epochs: steps 6, 12, 18, 24.
	fixed := "    sample_every_n_steps: 6\n    save_every_n_steps: 6"
	dir := standInSweep(t, "steps", "", fixed, healthObjective, 1, 2)
	stdout, stderr, code := runCLI(t, dir, "run", "steps.yaml")
	if code != 0 {
		t.Fatalf("run exited %d\n%s\n%s", code, stdout, stderr)
	}
	recs := storedCandidates(t, dir, "steps")[0]
	var steps []int
	for _, r := range recs {
		if r.Epoch != 0 || r.Partial || r.Images != 2 || r.Value == nil {
			t.Errorf("%s: %+v, want a complete step candidate", r.Candidate(), r)
		}
		if r.Checkpoint == "" || !strings.Contains(r.Checkpoint, fmt.Sprintf("-step%08d.", r.Step)) {
			t.Errorf("%s: checkpoint %q, want the step's own", r.Candidate(), r.Checkpoint)
		}
		steps = append(steps, r.Step)
	}
	sort.Ints(steps)
	if fmt.Sprint(steps) != "[6 12 18 24]" {
		t.Errorf("step candidates %v, want [6 12 18 24]", steps)
	}
	trials := listTrialsOf(t, dir, "steps")
	if len(trials) != 1 || trials[0].State != "complete" || trials[0].BestStep == nil || trials[0].BestEpoch != nil {
		t.Fatalf("trials %+v, want one complete with a best step", trials)
	}
	best := *trials[0].BestStep
	out, stderr, code := runCLI(t, dir, "export", "--sweep", "steps", "--storage", "sqlite://"+filepath.Join(dir, "sweep.db"), "--format", "kohya-toml")
	if code != 0 {
		t.Fatalf("export exited %d: %s", code, stderr)
	}
	if want := fmt.Sprintf("best step: %d; its checkpoint: ", best); !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("-step%08d.safetensors", best)) {
		t.Errorf("export does not name the best step and its checkpoint (%q):\n%s", want, out)
	}
}

// TestQuickstartEveryEpochComplete runs the README's quickstart sweep
// several times, each in a fresh folder, and checks that no scored epoch
// of any trial was scored on part of its sample images. (Before the
// runner scanned the sample folder ahead of each epoch line, about 2 % of
// the quickstart's epochs were scored on 1–2 of their 9 images.) 20 runs;
// 3 with -short or under the race detector, whose builtin trainer is ~10×
// slower.
func TestQuickstartEveryEpochComplete(t *testing.T) {
	runs := 20
	if testing.Short() || raceEnabled {
		runs = 3
	}
	spec, err := os.ReadFile(filepath.Join("..", "..", "examples", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	scored, partial := 0, 0
	for i := 0; i < runs; i++ {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "examples"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "examples", "quickstart.yaml"), spec, 0o644); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := runCLI(t, dir, "run", "-q", filepath.Join("examples", "quickstart.yaml"))
		if code != 0 {
			t.Fatalf("run %d exited %d\n%s\n%s", i, code, stdout, stderr)
		}
		st, err := storage.OpenExisting(context.Background(), "sqlite://"+filepath.Join(dir, "lorasweep.db"))
		if err != nil {
			t.Fatal(err)
		}
		id, err := st.GetStudyIDFromName("quickstart")
		if err != nil {
			t.Fatal(err)
		}
		trials, err := st.GetAllTrials(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range trials {
			recs, err := st.Epochs(context.Background(), tr.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				scored++
				if r.Partial || r.Images != r.Expected || r.Expected == 0 {
					partial++
					t.Errorf("run %d trial %d %s: scored on %d of %d images (partial %v)", i, tr.Number, r.Candidate(), r.Images, r.Expected, r.Partial)
				}
			}
		}
		st.Close()
	}
	t.Logf("%d quickstart runs: %d scored epochs, %d partial", runs, scored, partial)
}

// builtinValidationSpec: the builtin trainer holds out a quarter of the
// demo's images and prints sd-scripts' validation bar each epoch.
const builtinValidationSpec = `name: val
storage: sqlite://sweep.db
output_root: ./runs
demo: ./demo
trainer:
  kind: builtin
  base: ./demo/base.toml
  fixed:
    train_data_dir: ./demo/train
    max_train_epochs: 3
    validation_split: 0.25
search:
  learning_rate: {float: [1.0e-4, 1.0e-2], log: true}
sampler: {kind: random, seed: 7}
objective: {direction: maximize, scorers: [{kind: validation}]}
budget: {trials: 2, parallel: 1}
gpus: none
baseline: false
`

// TestBuiltinValidationSplit: the builtin trainer's validation split
// reaches the validation scorer through the same console lines sd-scripts
// prints, and every epoch is scored on it.
func TestBuiltinValidationSplit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "val.yaml"), []byte(builtinValidationSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, dir, "run", "val.yaml")
	if code != 0 {
		t.Fatalf("run exited %d\n%s\n%s", code, stdout, stderr)
	}
	for _, tr := range listTrialsOf(t, dir, "val") {
		if tr.State != "complete" || tr.Value == nil {
			t.Errorf("trial %d: %s (%s), want complete with a value", tr.Number, tr.State, tr.Reason)
		}
	}
	log, err := os.ReadFile(filepath.Join(dir, "runs", "val", "trial-0000", "trial.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "epoch validation steps: 100%"); n != 3 {
		t.Errorf("trial.log has %d finished validation bars, want one per epoch (3)", n)
	}
	for n, recs := range storedCandidates(t, dir, "val") {
		if len(recs) != 3 {
			t.Fatalf("trial %d: candidates %+v, want epochs 1–3", n, recs)
		}
		for _, r := range recs {
			if r.Value == nil || r.Unscorable {
				t.Errorf("trial %d %s: unscored (%s)", n, r.Candidate(), r.Reason)
			}
		}
	}
}

// TestFailedTrialKeepsItsLossCurve: losses are recorded as they arrive, so
// a trial that dies before any candidate is scored still has the curve it
// printed.
func TestFailedTrialKeepsItsLossCurve(t *testing.T) {
	dir := standInSweep(t, "dies", "STANDIN_MODE: crash_after_last_step", "", healthObjective, 1, 1)
	runCLI(t, dir, "run", "dies.yaml")
	trials := listTrialsOf(t, dir, "dies")
	if len(trials) != 1 || trials[0].State != "fail" {
		t.Fatalf("trials %+v, want one failed", trials)
	}
	ctx := context.Background()
	st, err := storage.OpenExisting(ctx, "sqlite://"+filepath.Join(dir, "sweep.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := st.GetStudyIDFromName("dies")
	if err != nil {
		t.Fatal(err)
	}
	all, err := st.GetAllTrials(id)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := st.Metrics(ctx, all[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	// 2 images × 4 repeats × 3 epochs: one loss per step.
	if len(pts) != 24 {
		t.Errorf("%d metric points stored for the failed trial, want its 24 steps", len(pts))
	}
}

// TestBestCheckpointSurvivesSaveLastN: with save_last_n_epochs 1 the
// trainer deletes epoch 1's checkpoint when it saves epoch 2; epoch 1 is
// the best (validation loss rises), so lorasweep keeps its weights and
// export names a file that exists and parses.
func TestBestCheckpointSurvivesSaveLastN(t *testing.T) {
	fixed := "    validation_split: 0.1\n    save_every_n_epochs: 1\n    save_last_n_epochs: 1"
	objective := `{direction: maximize, scorers: [{kind: validation}]}`
	dir := standInSweep(t, "lastn", "STANDIN_VAL_RISING: '1'", fixed, objective, 1, 1)
	stdout, stderr, code := runCLI(t, dir, "run", "lastn.yaml")
	if code != 0 {
		t.Fatalf("run exited %d\n%s\n%s", code, stdout, stderr)
	}
	trials := listTrialsOf(t, dir, "lastn")
	if len(trials) != 1 || trials[0].BestEpoch == nil || *trials[0].BestEpoch != 1 {
		t.Fatalf("trials %+v, want one whose best epoch is 1", trials)
	}
	orig := filepath.Join(dir, "runs", "lastn", "trial-0000", "output", "trial-0000-000001.safetensors")
	if _, err := os.Stat(orig); !os.IsNotExist(err) {
		t.Fatalf("the trainer did not delete %s (%v): the test is not testing anything", orig, err)
	}
	recs := storedCandidates(t, dir, "lastn")[0]
	if len(recs) != 3 || recs[0].Deleted || !strings.Contains(recs[0].Checkpoint, string(filepath.Separator)+"kept"+string(filepath.Separator)) {
		t.Fatalf("epoch records %+v, want epoch 1 pointing at its kept copy", recs)
	}
	out, stderr, code := runCLI(t, dir, "export", "--sweep", "lastn", "--storage", "sqlite://"+filepath.Join(dir, "sweep.db"), "--format", "kohya-toml")
	if code != 0 {
		t.Fatalf("export exited %d: %s", code, stderr)
	}
	if !strings.Contains(out, "best epoch: 1 of 3; its checkpoint: "+recs[0].Checkpoint) {
		t.Errorf("export does not name the kept checkpoint %s:\n%s", recs[0].Checkpoint, out)
	}
	if _, err := kohya.ReadSafetensorsHeader(recs[0].Checkpoint); err != nil {
		t.Errorf("kept checkpoint: %v", err)
	}
	// The disk cost: the best candidate's copy and nothing else.
	kept, err := os.ReadDir(filepath.Dir(recs[0].Checkpoint))
	if err != nil || len(kept) != 1 {
		t.Errorf("kept/ holds %v (%v), want the best checkpoint only", kept, err)
	}
}

// TestTrialWarningsAreKept: sd-scripts switches an AdaFactor trial to its
// own scheduler; the ss_* metadata check notices, and the warning is on
// the trial's console line and stored with its run.
func TestTrialWarningsAreKept(t *testing.T) {
	fixed := "    optimizer_type: AdaFactor"
	dir := standInSweep(t, "warn", "", fixed, `{direction: minimize, scorers: [{kind: loss, stat: final}]}`, 1, 1)
	stdout, stderr, code := runCLI(t, dir, "run", "warn.yaml")
	if code != 0 {
		t.Fatalf("run exited %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout+stderr, "warning: ") || !strings.Contains(stdout+stderr, "adafactor:") {
		t.Errorf("no warning about the switched scheduler on the console:\n%s\n%s", stdout, stderr)
	}
	ctx := context.Background()
	st, err := storage.OpenExisting(ctx, "sqlite://"+filepath.Join(dir, "sweep.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := st.GetStudyIDFromName("warn")
	if err != nil {
		t.Fatal(err)
	}
	all, err := st.GetAllTrials(id)
	if err != nil {
		t.Fatal(err)
	}
	run, err := st.GetRun(ctx, all[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(run.Warnings, "\n"), "adafactor:") {
		t.Errorf("stored warnings %q, want the scheduler switch", run.Warnings)
	}
	db := "sqlite://" + filepath.Join(dir, "sweep.db")
	for _, view := range [][]string{
		{"trials", "--sweep", "warn", "--storage", db},
		{"trials", "--sweep", "warn", "--storage", db, "--format", "json"},
		{"status", "--sweep", "warn", "--storage", db},
		{"report", "--sweep", "warn", "--storage", db, "--out", filepath.Join(dir, "report.html")},
	} {
		out, stderr, code := runCLI(t, dir, view...)
		if code != 0 {
			t.Fatalf("%v exited %d: %s", view, code, stderr)
		}
		if view[0] == "report" {
			page, err := os.ReadFile(filepath.Join(dir, "report.html"))
			if err != nil {
				t.Fatal(err)
			}
			out = string(page)
		}
		if !strings.Contains(out, "warning") || !strings.Contains(out, "adafactor:") {
			t.Errorf("%v does not show the trial's warning:\n%.2000s", view, out)
		}
	}
}
