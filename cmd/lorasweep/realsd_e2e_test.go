package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lorasweep/lorasweep/kohya"
)

// Environment of the opt-in test against a real sd-scripts install.
const (
	envSDScripts   = "LORASWEEP_SD_SCRIPTS"    // a kohya-ss/sd-scripts checkout
	envSDPython    = "LORASWEEP_SD_PYTHON"     // the interpreter of its environment
	envSDModel     = "LORASWEEP_SD_MODEL"      // an SD 1.5 checkpoint (.safetensors / .ckpt)
	envSDTokenizer = "LORASWEEP_SD_TOKENIZERS" // optional: tokenizer_cache_dir for offline use
)

const realSDSpec = `name: real-sd
storage: sqlite://sweep.db
output_root: ./runs
trainer:
  kind: kohya
  script: %s
  python: %s
  base: ./base.toml
  fixed:
    max_train_epochs: 2
    save_every_n_epochs: 1
    sample_every_n_epochs: 1
search:
  learning_rate: {float: [1.0e-5, 1.0e-3], log: true}
  network_dim:   {int: [2, 8]}
sampler: {kind: random, seed: 11}
objective: {direction: maximize, scorers: [{kind: health}]}
budget: {trials: 2, parallel: 1, trial_timeout: 1h}
gpus: auto
baseline: false
`

// realSDBase trains an SD 1.5 LoRA at 64×64 on two images: fp32 (CPU has
// no fp16), no data-loader workers, captions from .txt files.
const realSDBase = `pretrained_model_name_or_path = %q
network_module = "networks.lora"
network_dim = 4
network_alpha = 4
train_data_dir = %q
caption_extension = ".txt"
resolution = "64,64"
train_batch_size = 1
optimizer_type = "AdamW"
learning_rate = 1e-4
lr_scheduler = "constant"
mixed_precision = "no"
save_precision = "float"
save_model_as = "safetensors"
max_data_loader_n_workers = 0
seed = 1
sample_prompts = %q
sample_sampler = "euler_a"
%s`

// TestRealSDScripts runs `lorasweep doctor` and a 2-trial sweep against a
// real sd-scripts install on a generated 64×64 dataset (CPU or GPU), then
// trains the exported TOML for one epoch with the real train_network.py.
// It needs LORASWEEP_SD_SCRIPTS, LORASWEEP_SD_PYTHON and LORASWEEP_SD_MODEL;
// offline, LORASWEEP_SD_TOKENIZERS (else ../shared/sd-scripts-offline/
// tokenizers when present) is given as tokenizer_cache_dir. About 5–10
// minutes on 2 CPU cores, under a minute on a GPU.
func TestRealSDScripts(t *testing.T) {
	checkout, python, model := os.Getenv(envSDScripts), os.Getenv(envSDPython), os.Getenv(envSDModel)
	if checkout == "" || python == "" || model == "" {
		t.Skipf("set %s (an sd-scripts checkout), %s (its Python) and %s (an SD 1.5 checkpoint) to run doctor and a 2-trial sweep against a real install (README: \"Testing against your sd-scripts\")",
			envSDScripts, envSDPython, envSDModel)
	}
	if testing.Short() {
		t.Skip("trains with the real sd-scripts for minutes")
	}
	script := filepath.Join(checkout, "train_network.py")
	for _, p := range []string{script, python, model} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("real-install test: %v", err)
		}
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "dataset", "1_zkx toy")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, c := range []color.RGBA{{200, 40, 40, 255}, {40, 40, 200, 255}} {
		writeSquare(t, filepath.Join(data, fmt.Sprintf("%02d.png", i)), c)
		if err := os.WriteFile(filepath.Join(data, fmt.Sprintf("%02d.txt", i)), []byte("zkx toy"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	prompts := filepath.Join(dir, "prompts.txt")
	if err := os.WriteFile(prompts, []byte("zkx toy on a table --w 64 --h 64 --s 4 --d 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	extra := ""
	if tok := realSDTokenizers(); tok != "" {
		extra = fmt.Sprintf("tokenizer_cache_dir = %q\n", tok)
	}
	base := fmt.Sprintf(realSDBase, model, filepath.Join(dir, "dataset"), prompts, extra)
	if err := os.WriteFile(filepath.Join(dir, "base.toml"), []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "real-sd.yaml"), []byte(fmt.Sprintf(realSDSpec, script, python)), 0o644); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	stdout, stderr, code := runCLI(t, dir, "doctor", "real-sd.yaml")
	t.Logf("doctor (%s):\n%s", time.Since(start).Round(time.Second), stdout)
	if code != 0 || !strings.Contains(stdout, "doctor: every point passed") {
		t.Fatalf("doctor exited %d\n%s\n%s", code, stdout, stderr)
	}

	start = time.Now()
	stdout, stderr, code = runCLI(t, dir, "run", "real-sd.yaml")
	t.Logf("run (%s):\n%s", time.Since(start).Round(time.Second), stdout)
	if code != 0 {
		t.Fatalf("run exited %d\n%s\n%s", code, stdout, stderr)
	}
	trials := listTrialsOf(t, dir, "real-sd")
	if len(trials) != 2 {
		t.Fatalf("%d trials, want 2\n%s", len(trials), stderr)
	}
	for _, tr := range trials {
		if tr.State != "complete" || tr.Value == nil {
			t.Errorf("trial %d: %s (%s), want complete with a value", tr.Number, tr.State, tr.Reason)
		}
	}
	for n, recs := range storedCandidates(t, dir, "real-sd") {
		scored := 0
		for _, r := range recs {
			if r.Value != nil && !r.Unscorable && !r.Partial {
				scored++
			}
		}
		if scored != 2 {
			t.Errorf("trial %d: %d fully scored epochs, want 2: %+v", n, scored, recs)
		}
	}

	// The exported TOML is accepted by the real trainer: one epoch of it
	// trains and saves a model that reads back.
	out := filepath.Join(dir, "retrain")
	toml := filepath.Join(dir, "best.toml")
	if _, stderr, code := runCLI(t, dir, "export", "--sweep", "real-sd", "--storage", "sqlite://"+filepath.Join(dir, "sweep.db"),
		"--format", "kohya-toml", "--output-dir", out, "--output-name", "again", "--out", toml); code != 0 {
		t.Fatalf("export exited %d: %s", code, stderr)
	}
	cmd := exec.Command(python, "-u", script, "--config_file", toml, "--max_train_epochs", "1", "--sample_every_n_epochs", "1000")
	cmd.Dir = checkout
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1", "COLUMNS=250")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	start = time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("train_network.py on the exported TOML: %v\n%s", err, tail(log.String(), 4000))
	}
	t.Logf("one epoch of the exported TOML: %s", time.Since(start).Round(time.Second))
	if _, err := kohya.ReadSafetensorsHeader(filepath.Join(out, "again.safetensors")); err != nil {
		t.Errorf("the exported TOML's model does not read back: %v\n%s", err, tail(log.String(), 4000))
	}
}

// realSDTokenizers is the tokenizer_cache_dir for an offline install:
// LORASWEEP_SD_TOKENIZERS, else the shared offline folder beside the
// repository when it exists, else none (sd-scripts downloads it).
func realSDTokenizers() string {
	if v := os.Getenv(envSDTokenizer); v != "" {
		return v
	}
	shared, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "sd-scripts-offline", "tokenizers"))
	if err != nil {
		return ""
	}
	if _, err := os.Stat(filepath.Join(shared, "openai_clip-vit-large-patch14")); err != nil {
		return ""
	}
	return shared
}

// writeSquare writes a 64×64 PNG: a coloured square on a light ground.
func writeSquare(t *testing.T, path string, c color.RGBA) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			px := color.RGBA{230, 230, 220, 255}
			if x >= 16 && x < 48 && y >= 16 && y < 48 {
				px = c
			}
			img.Set(x, y, px)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
