package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kohyaSpec sweeps the kohya path with runner/testdata/train_network.py, the
// test double of sd-scripts' interface (argparse, toml, tqdm, rich), in the
// place of a real sd-scripts checkout.
const kohyaSpec = `name: %s
storage: sqlite://sweep.db
output_root: ./runs
trainer:
  kind: kohya
  script: %s
  python: /usr/bin/python3
  base: ./base.toml
  env: {STANDIN_MODE: %s}
  fixed:
    max_train_epochs: 3
    save_every_n_epochs: 1
    sample_every_n_epochs: 1
search:
  network_dim:   {int: [4, 32], log: true}
  network_alpha: {ratio_of: network_dim, float: [0.25, 1.0]}
  learning_rate: {float: [1.0e-5, 1.0e-3], log: true}
  rank_dropout:  {float: [0.0, 0.3]}
sampler: {kind: tpe, seed: 3}
objective: {direction: minimize, scorers: [{kind: loss, stat: final}]}
budget: {trials: 3, parallel: 1, max_failures_in_a_row: 2}
gpus: none
baseline: false
`

const kohyaBase = `pretrained_model_name_or_path = "runwayml/stable-diffusion-v1-5"
network_module = "networks.lora"
train_data_dir = "%s"
sample_prompts = "%s"
resolution = "512,512"
train_batch_size = 1
optimizer_type = "AdamW"
lr_scheduler = "cosine"
seed = 42
`

func standInAvailable() bool {
	return exec.Command("/usr/bin/python3", "-c", "import toml, tqdm, rich").Run() == nil
}

// TestKohyaSweepThroughStandIn runs `lorasweep run` on the kohya trainer
// path end to end — preflight (the script's real argparse --help), one flat
// TOML per trial, `python -u SCRIPT --config_file`, the console parsed live,
// checkpoints and samples found by sd-scripts' names, ss_* metadata read
// back — and then a sweep whose trainer runs out of memory every time.
func TestKohyaSweepThroughStandIn(t *testing.T) {
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
	dir := t.TempDir()
	data := filepath.Join(dir, "dataset", "10_zkx toy")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := os.WriteFile(filepath.Join(data, fmt.Sprintf("%02d.png", i)), []byte("\x89PNG\r\n\x1a\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	prompts := filepath.Join(dir, "prompts.txt")
	if err := os.WriteFile(prompts, []byte("zkx toy, on grass --d 7\na photo of a toy --d 8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf(kohyaBase, filepath.Join(dir, "dataset"), prompts)
	if err := os.WriteFile(filepath.Join(dir, "base.toml"), []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, mode string }{{"kohya-ok", "ok"}, {"kohya-oom", "oom"}} {
		spec := fmt.Sprintf(kohyaSpec, tc.name, script, tc.mode)
		if err := os.WriteFile(filepath.Join(dir, tc.name+".yaml"), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	stdout, stderr, code := runCLI(t, dir, "run", "kohya-ok.yaml")
	if code != 0 {
		t.Fatalf("run exited %d\n%s\n%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "mismatch") {
		t.Errorf("the saved models' ss_* metadata disagreed with the trials:\n%s", stderr)
	}
	trials := listTrialsOf(t, dir, "kohya-ok")
	if len(trials) != 3 {
		t.Fatalf("%d trials, want 3", len(trials))
	}
	for _, tr := range trials {
		if tr.State != "complete" || tr.BestEpoch == nil {
			t.Errorf("trial %d: %s, best epoch %v; want complete with a best epoch", tr.Number, tr.State, tr.BestEpoch)
		}
	}
	trialDir := filepath.Join(dir, "runs", "kohya-ok", "trial-0001")
	var argv []string
	raw, err := os.ReadFile(filepath.Join(trialDir, "argv.json"))
	if err == nil {
		err = json.Unmarshal(raw, &argv)
	}
	if err != nil || len(argv) < 4 || argv[0] != "/usr/bin/python3" || argv[1] != "-u" || argv[2] != script {
		t.Errorf("argv.json = %v (%v), want python3 -u SCRIPT --config_file …", argv, err)
	}
	toml, err := os.ReadFile(filepath.Join(trialDir, "trial.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`output_name = "trial-0001"`, `resolution = "512,512"`, `network_args = ["rank_dropout=`} {
		if !strings.Contains(string(toml), want) {
			t.Errorf("trial.toml lacks %s:\n%s", want, toml)
		}
	}
	samples, _ := filepath.Glob(filepath.Join(trialDir, "output", "sample", "trial-0001_e00000*_0*_*.png"))
	if len(samples) != 6 {
		t.Errorf("%d samples in trial-0001, want 2 prompts × 3 epochs", len(samples))
	}

	// A trainer that runs out of memory: each trial fails as oom with its
	// log tail, and two in a row stop the sweep.
	stdout, stderr, code = runCLI(t, dir, "run", "kohya-oom.yaml")
	if code != 1 {
		t.Errorf("run exited %d, want 1: it stopped on failures\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "too many failures in a row") {
		t.Errorf("the oom sweep did not stop on failures in a row:\n%s", stdout)
	}
	failed := listTrialsOf(t, dir, "kohya-oom")
	if len(failed) != 2 {
		t.Errorf("%d oom trials, want 2 (max_failures_in_a_row)", len(failed))
	}
	for _, tr := range failed {
		if tr.State != "fail" {
			t.Errorf("oom trial %d is %s", tr.Number, tr.State)
		}
	}
	csv, _, _ := runCLI(t, dir, "trials", "--sweep", "kohya-oom", "--storage", "sqlite://"+filepath.Join(dir, "sweep.db"), "--format", "csv")
	if strings.Count(csv, ",oom,") != 2 {
		t.Errorf("failure reasons are not oom:\n%s", csv)
	}
}
