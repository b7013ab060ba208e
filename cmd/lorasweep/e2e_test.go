package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lorasweep/lorasweep/kohya"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// lorasweepBinary builds the real binary once per test run: the end-to-end
// tests drive it as a user would, with real trainer subprocesses.
func lorasweepBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "lorasweep-e2e-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "lorasweep")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("go build: %s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build lorasweep: %v", buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// runCLI runs the binary in dir and returns stdout, stderr and the exit code.
func runCLI(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(lorasweepBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LORASWEEP_STORAGE=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

const e2eSpec = `name: e2e
storage: sqlite://sweep.db
output_root: ./runs
demo: ./demo
trainer:
  kind: builtin
  base: ./demo/base.toml
  fixed:
    train_data_dir: ./demo/train
    sample_prompts: ./demo/prompts.txt
    max_train_epochs: 4
    save_every_n_epochs: 2
    sample_every_n_epochs: 2
search:
  network_dim:   {int: [2, 8], log: true}
  network_alpha: {ratio_of: network_dim, float: [0.25, 1.0]}
  learning_rate: {float: [1.0e-4, 1.0e-2], log: true}
  lr_scheduler:  {choice: [constant, cosine]}
sampler: {kind: tpe, seed: 7, startup_trials: 2}
objective:
  direction: maximize
  scorers:
    - {kind: reference, references: ./demo/references, weight: 1}
    - {kind: health, weight: 0.5}
budget: {trials: 4, parallel: 2}
gpus: none
baseline: true
`

type trialJSON struct {
	Number    int            `json:"number"`
	State     string         `json:"state"`
	Value     *float64       `json:"value"`
	BestEpoch *int           `json:"best_epoch"`
	BestStep  *int           `json:"best_step"`
	Partial   string         `json:"partial"`
	Reason    string         `json:"reason"`
	Params    map[string]any `json:"params"`
	Baseline  bool           `json:"baseline"`
}

func listTrials(t *testing.T, dir string) []trialJSON {
	t.Helper()
	stdout, stderr, code := runCLI(t, dir, "trials", "--sweep", "e2e", "--storage", "sqlite://"+filepath.Join(dir, "sweep.db"), "--format", "json")
	if code != 0 {
		t.Fatalf("trials exited %d: %s", code, stderr)
	}
	return decodeTrials(t, stdout)
}

func decodeTrials(t *testing.T, stdout string) []trialJSON {
	t.Helper()
	var trials []trialJSON
	if err := json.Unmarshal([]byte(stdout), &trials); err != nil {
		t.Fatalf("trials --format json: %v\n%s", err, stdout)
	}
	return trials
}

// TestQuickSweepEndToEnd runs a 4-trial sweep of the built-in trainer on
// SQLite in a temp dir through the real binary, then runs it again: the
// second run resumes (nothing is re-trained or overwritten).
func TestQuickSweepEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(e2eSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runCLI(t, dir, "validate", "sweep.yaml"); code != 0 {
		t.Fatalf("validate exited %d: %s", code, stderr)
	}
	stdout, stderr, code := runCLI(t, dir, "run", "sweep.yaml")
	if code != 0 {
		t.Fatalf("run exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "budget reached") || !strings.Contains(stdout, "rank") {
		t.Errorf("run did not print the ranking:\n%s", stdout)
	}
	trials := listTrials(t, dir)
	if len(trials) != 4 {
		t.Fatalf("%d trials, want 4", len(trials))
	}
	seen := map[int]bool{}
	for _, tr := range trials {
		seen[tr.Number] = true
		if tr.State != "complete" && tr.State != "pruned" {
			t.Errorf("trial %d ended %s", tr.Number, tr.State)
		}
		if tr.Value == nil || tr.BestEpoch == nil {
			t.Errorf("trial %d has no value or best epoch", tr.Number)
		}
		if tr.Number == 0 != tr.Baseline {
			t.Errorf("trial %d baseline=%v: the base config must be trial 0", tr.Number, tr.Baseline)
		}
		model := filepath.Join(dir, "runs", "e2e", fmt.Sprintf("trial-%04d", tr.Number), "output")
		if _, err := os.Stat(model); err != nil {
			t.Errorf("trial %d output: %v", tr.Number, err)
		}
	}
	for n := 0; n < 4; n++ {
		if !seen[n] {
			t.Errorf("trial number %d missing", n)
		}
	}

	// The trial TOML is what sd-scripts would read: unique output per trial.
	toml, err := os.ReadFile(filepath.Join(dir, "runs", "e2e", "trial-0001", "trial.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(toml), `output_name = "trial-0001"`) {
		t.Errorf("trial-0001/trial.toml lacks its own output_name:\n%s", toml)
	}

	// The exported winner retrains to the very same best-epoch weights.
	checkExportRetrains(t, dir)

	// Running the same command again resumes: nothing new, nothing rewritten.
	before, err := os.Stat(filepath.Join(dir, "runs", "e2e", "trial-0001", "output", "trial-0001.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runCLI(t, dir, "run", "sweep.yaml")
	if code != 0 {
		t.Fatalf("second run exited %d: %s", code, stderr)
	}
	if strings.Contains(stderr, "started") {
		t.Errorf("second run started trials:\n%s", stderr)
	}
	after, err := os.Stat(filepath.Join(dir, "runs", "e2e", "trial-0001", "output", "trial-0001.safetensors"))
	if err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("a finished trial's model was rewritten by the resume (%v)", err)
	}
	again := listTrials(t, dir)
	if len(again) != 4 {
		t.Errorf("after resume: %d trials, want 4", len(again))
	}
}

// TestValidateErrors checks the exit codes and messages users meet first.
func TestValidateErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	dir := t.TempDir()
	bad := strings.Replace(e2eSpec, "  network_dim:   {int: [2, 8], log: true}", "  netwrok_dim:   {int: [2, 8], log: true}", 1)
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, dir, "validate", "bad.yaml")
	if code != 2 {
		t.Errorf("validate of a spec with a typo exited %d, want 2", code)
	}
	if !strings.Contains(stderr, "bad.yaml:15:") || !strings.Contains(stderr, "did you mean network_dim?") {
		t.Errorf("message lacks the line or the suggestion:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "sweep.db")); err == nil {
		t.Error("validate wrote a database")
	}
}

// checkExportRetrains exports the best trial as a kohya TOML, trains it
// again with the built-in trainer (as a user would with sd-scripts), and
// compares the best epoch's tensors with the sweep's own checkpoint: only
// the metadata (timestamps, output name) may differ.
func checkExportRetrains(t *testing.T, dir string) {
	t.Helper()
	retrain := filepath.Join(dir, "retrain")
	_, stderr, code := runCLI(t, dir, "export", "--sweep", "e2e", "--storage", "sqlite://"+filepath.Join(dir, "sweep.db"),
		"--format", "kohya-toml", "--output-dir", retrain, "--output-name", "again", "--out", filepath.Join(dir, "best.toml"))
	if code != 0 {
		t.Fatalf("export exited %d: %s", code, stderr)
	}
	var epoch int
	var checkpoint string
	for _, line := range strings.Split(stderr, "\n") {
		if v, ok := strings.CutPrefix(line, "best epoch: "); ok {
			fmt.Sscan(v, &epoch)
		}
		if v, ok := strings.CutPrefix(line, "checkpoint: "); ok {
			checkpoint = strings.TrimSpace(v)
		}
	}
	if epoch == 0 || checkpoint == "" {
		t.Fatalf("export did not name the best epoch and its checkpoint:\n%s", stderr)
	}
	if _, stderr, code := runCLI(t, dir, "train-builtin", "--config_file", filepath.Join(dir, "best.toml")); code != 0 {
		t.Fatalf("training the exported config exited %d: %s", code, stderr)
	}
	again := filepath.Join(retrain, "again.safetensors") // the last epoch's weights are the final model
	if strings.HasSuffix(checkpoint, fmt.Sprintf("-%06d.safetensors", epoch)) {
		again = filepath.Join(retrain, kohya.CheckpointName("again", epoch, "safetensors"))
	}
	_, want, err := kohya.ReadSafetensors(checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := kohya.ReadSafetensors(again)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("retrained %d tensors, the sweep's checkpoint has %d", len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		if len(g) != len(w) {
			t.Fatalf("tensor %s: %d values retrained, %d in the sweep", name, len(g), len(w))
		}
		for i := range w {
			if g[i] != w[i] {
				t.Fatalf("tensor %s differs at %d: retraining the exported config is not the trial", name, i)
			}
		}
	}
}

// Commands that read a sweep never create a database: a mistyped --storage
// path is an error naming it, and leaves no empty file behind.
func TestReadCommandsDoNotCreateDatabases(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo.db")
	for _, args := range [][]string{
		{"trials", "--sweep", "x"},
		{"status", "--sweep", "x"},
		{"report", "--sweep", "x", "--out", filepath.Join(dir, "r.html")},
		{"export", "--sweep", "x"},
		{"worker", "--sweep", "x"},
	} {
		_, stderr, code := runCLI(t, dir, append(args, "--storage", "sqlite://"+missing)...)
		if code == 0 || !strings.Contains(stderr, "no database there") {
			t.Errorf("%v: exit %d, stderr %q; want a failure naming the missing database", args, code, stderr)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Fatalf("%v created %s", args, missing)
		}
	}
}
