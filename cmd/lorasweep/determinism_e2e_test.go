package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// detSpec is a 10-parameter conditional space (cycles only for
// cosine_with_restarts, power only for polynomial) on the builtin trainer,
// sequential and seeded: 10 startup trials (near the best so far), then TPE.
const detSpec = `name: e2e
storage: sqlite://sweep.db
output_root: ./runs
demo: ./demo
trainer:
  kind: builtin
  base: ./demo/base.toml
  fixed:
    train_data_dir: ./demo/train
    sample_prompts: ./demo/prompts.txt
    max_train_epochs: 2
    save_every_n_epochs: 1
    sample_every_n_epochs: 1
    seed: 1
search:
  network_dim:     {int: [2, 16], log: true}
  network_alpha:   {ratio_of: network_dim, float: [0.25, 1.0]}
  unet_lr:         {float: [1.0e-4, 1.0e-2], log: true}
  text_encoder_lr: {float: [1.0e-5, 1.0e-3], log: true}
  lr_scheduler:    {choice: [constant, cosine, cosine_with_restarts, polynomial]}
  lr_scheduler_num_cycles: {int: [1, 4], when: {lr_scheduler: cosine_with_restarts}}
  lr_scheduler_power:      {float: [0.5, 2.0], when: {lr_scheduler: polynomial}}
  rank_dropout:    {float: [0.0, 0.3]}
  module_dropout:  {float: [0.0, 0.3]}
  network_dropout: {float: [0.0, 0.3]}
sampler: {kind: tpe, seed: 3, startup_trials: 10}
objective:
  direction: maximize
  scorers:
    - {kind: reference, references: ./demo/references, weight: 1}
budget: {trials: 15, parallel: 1}
gpus: none
baseline: false
`

// TestSeededSequentialSweepIsReproducible runs the same seeded sequential
// spec twice in fresh folders through the binary and compares every trial's
// proposal and value. The next trial used to be proposed while the previous
// one was still being scored, so the TPE proposals (trial 10 on) depended on
// the scorer's speed.
func TestSeededSequentialSweepIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	var runs [2][]trialJSON
	for i := range runs {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(detSpec), 0o644); err != nil {
			t.Fatal(err)
		}
		if stdout, stderr, code := runCLI(t, dir, "run", "sweep.yaml"); code != 0 {
			t.Fatalf("run %d exited %d\nstdout:\n%s\nstderr:\n%s", i, code, stdout, stderr)
		}
		runs[i] = listTrials(t, dir)
		if len(runs[i]) != 15 {
			t.Fatalf("run %d: %d trials, want 15", i, len(runs[i]))
		}
		checkNoOverlap(t, dir)
	}
	distinct := map[float64]bool{}
	for k := range runs[0] {
		a, b := runs[0][k], runs[1][k]
		if a.Number != b.Number || !reflect.DeepEqual(a.Params, b.Params) {
			t.Errorf("trial %d proposed differently:\n run 1: %v\n run 2: %v", a.Number, a.Params, b.Params)
		}
		if a.Value == nil || b.Value == nil || *a.Value != *b.Value {
			t.Errorf("trial %d: values differ (%v, %v)", a.Number, a.Value, b.Value)
		} else {
			distinct[*a.Value] = true
		}
	}
	// Ties everywhere would make the model-based proposals trivially equal.
	if len(distinct) < 5 {
		t.Errorf("only %d distinct values: the scorer does not tell the trials apart", len(distinct))
	}
}

// checkNoOverlap asserts what makes a sequential sweep reproducible whatever
// the scorer's speed: each trial starts after the previous one was recorded,
// so no proposal ever sees a trial still being scored. (Comparing two runs
// alone passes whenever both happen to race the same way.)
func checkNoOverlap(t *testing.T, dir string) {
	t.Helper()
	stdout, stderr, code := runCLI(t, dir, "trials", "--sweep", "e2e", "--storage", "sqlite://"+filepath.Join(dir, "sweep.db"), "--format", "json")
	if code != 0 {
		t.Fatalf("trials exited %d: %s", code, stderr)
	}
	var trials []struct {
		Number   int       `json:"number"`
		Started  time.Time `json:"started"`
		Duration float64   `json:"duration_s"`
	}
	if err := json.Unmarshal([]byte(stdout), &trials); err != nil {
		t.Fatal(err)
	}
	ends := map[int]time.Time{}
	starts := map[int]time.Time{}
	for _, tr := range trials {
		starts[tr.Number] = tr.Started
		ends[tr.Number] = tr.Started.Add(time.Duration(tr.Duration * float64(time.Second)))
	}
	for n := 1; n < len(trials); n++ {
		if starts[n].Before(ends[n-1]) {
			t.Errorf("trial %d started %v before trial %d was recorded: it was proposed while its predecessor was being scored", n, ends[n-1].Sub(starts[n]), n-1)
		}
	}
}
