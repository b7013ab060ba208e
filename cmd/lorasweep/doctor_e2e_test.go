package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const healthOnly = `{direction: maximize, scorers: [{kind: health}]}`

// doctorCase is one setup `lorasweep doctor` must judge: the stand-in's
// behaviour switches, extra fixed settings, the objective and budget, and
// what the report must say.
type doctorCase struct {
	name      string
	env       string
	fixed     string
	objective string
	edit      func(t *testing.T, dir, spec string) string // rewrites the spec
	wantCode  int
	want      []string // regexps the stdout must match
	// noSampling leaves sample_every_n_epochs out of the fixed settings
	// (the other cases sample every epoch, as a sweep scored on images must).
	noSampling bool
}

// TestDoctorThroughStandIn runs `lorasweep doctor` through the real binary
// on the sd-scripts stand-in for every failure mode the doctor reports, and
// on a setup that passes.
func TestDoctorThroughStandIn(t *testing.T) {
	refs := func(t *testing.T, dir, spec string) string {
		// A reference for prompt 5 only: the paired reference scorer has
		// nothing for prompt 0.
		writePNG(t, filepath.Join(dir, "refs", "0005.png"))
		return spec
	}
	for _, tc := range []doctorCase{
		{name: "passes", objective: healthOnly, fixed: "    network_dim: 8", wantCode: 0, want: []string{
			`ok   preflight: `, `ok   run: the trainer accepted its arguments and trained 2 steps`, `ok   progress: `,
			`ok   epoch: `, `ok   checkpoint: checkpoint line read and the file exists: trial-0000-step00000002.safetensors`,
			`ok   model: `, `ok   metadata: ss_\* metadata of 2 file\(s\)`, `ok   samples: 1 sample image\(s\) found by name and decoded`,
			`ok   scorer:health: `, `timings: startup [0-9.]+s, [0-9.e-]+ s/step`, `peak GPU memory: not measured \(the trial ran on a CPU slot\)`,
			// 2 images × 4 repeats = 8 steps per epoch × 3 epochs; 3 samplings of 2 prompts.
			`one trial ≈ [0-9.]+m?s \(24 steps, 6 sample images\); budget.trials 2, 1 at a time`,
			`doctor: every point passed`,
		}},
		{name: "unknown-arg", objective: healthOnly, fixed: "    noise_offset: 0.05", wantCode: 1, want: []string{
			`FAIL preflight: config key noise_offset is not an argument of train_network.py`,
		}},
		{name: "rejected-arg", objective: healthOnly, env: "STANDIN_REJECT: learning_rate", wantCode: 1, want: []string{
			`FAIL run: the trainer rejected its arguments \(.*learning_rate.*\): fix that setting in trainer.base or trainer.fixed`,
		}},
		{name: "broken-install", objective: healthOnly, edit: func(t *testing.T, dir, spec string) string {
			// An install whose script dies on import: --help cannot be read
			// (the names are then checked against the built-in table) and
			// the run crashes before its first step.
			script := filepath.Join(dir, "train_network.py")
			if err := os.WriteFile(script, []byte("import sys\nsys.exit(\"ModuleNotFoundError: No module named 'torch'\")\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return regexp.MustCompile(`(?m)^  script: .*$`).ReplaceAllString(spec, "  script: "+script)
		}, wantCode: 1, want: []string{
			`warning: could not read \S+ --help.*No module named 'torch'`,
			`FAIL run: the trainer failed \(crash: .*\): read .*trial.log; check trainer.script, trainer.python and trainer.env`,
		}},
		{name: "oom", objective: healthOnly, env: "STANDIN_MODE: oom", wantCode: 1, want: []string{
			`FAIL run: out of GPU memory .*lower train_batch_size or resolution`,
		}},
		{name: "nan", objective: healthOnly, env: "STANDIN_MODE: nan", wantCode: 1, want: []string{
			`FAIL run: the loss became NaN within 2 steps .*lower learning_rate`,
		}},
		{name: "crash", objective: healthOnly, env: "STANDIN_MODE: crash_after_last_step", wantCode: 1, want: []string{
			`FAIL run: the trainer failed \(crash: .*illegal memory access.*\): read .*trial.log; check trainer.script`,
		}},
		{name: "no-samples", objective: healthOnly, env: "STANDIN_SAMPLES: none", wantCode: 1, want: []string{
			`FAIL samples: no sample image was written to .*sample: check sample_prompts`,
			`FAIL scorers: nothing to score`,
		}},
		{name: "misnamed-samples", objective: healthOnly, env: "STANDIN_SAMPLES: misnamed", wantCode: 1, want: []string{
			`FAIL samples: .*sample holds sample_0.png, not named as sd-scripts names samples \(trial-0000_e000001_00_20260101000000.png\)`,
		}},
		{name: "broken-samples", objective: healthOnly, env: "STANDIN_SAMPLES: broken", wantCode: 1, want: []string{
			`FAIL samples: sample trial-0000_e000001_00_\d+_10.png does not decode`,
		}},
		{name: "wrong-metadata", objective: healthOnly, env: "STANDIN_WRONG_DIM: 99", fixed: "    network_dim: 8", wantCode: 1, want: []string{
			`FAIL metadata: metadata mismatch: network_dim = 8 asked, ss_network_dim = 99 in the model in trial-0000-step00000002.safetensors`,
			`FAIL metadata: .* in trial-0000.safetensors`,
		}},
		{name: "no-bar", objective: healthOnly, env: "STANDIN_HIDE: bar", wantCode: 1, want: []string{
			`FAIL progress: no progress line with a loss \(avr_loss=\) was read from .*trial.log`,
			`prediction: unknown`,
		}},
		{name: "no-epoch-line", objective: healthOnly, env: "STANDIN_HIDE: epoch", wantCode: 1, want: []string{
			`FAIL epoch: no .epoch N/M. line was read`,
		}},
		{name: "no-checkpoint-line", objective: healthOnly, env: "STANDIN_HIDE: checkpoint", wantCode: 1, want: []string{
			`FAIL checkpoint: trial-0000-step00000002.safetensors was saved but no .saving checkpoint:. line was read`,
		}},
		{name: "unscorable", objective: `{direction: maximize, scorers: [{kind: reference, references: ./refs}]}`, edit: refs, wantCode: 1, want: []string{
			`FAIL scorer:reference: scorer reference cannot score the sample: no sample of this epoch has a reference image.*references folder`,
		}},
		{name: "no-prompts", objective: healthOnly, noSampling: true, edit: func(t *testing.T, dir, spec string) string {
			base, err := os.ReadFile(filepath.Join(dir, "base.toml"))
			if err != nil {
				t.Fatal(err)
			}
			re := regexp.MustCompile(`(?m)^sample_prompts = .*\n`)
			if err := os.WriteFile(filepath.Join(dir, "base.toml"), re.ReplaceAll(base, nil), 0o644); err != nil {
				t.Fatal(err)
			}
			return spec
		}, wantCode: 1, want: []string{
			`FAIL samples: the objective's scorers need sample images but no sample_prompts is set`,
		}},
		{name: "timeout-and-deadline", objective: healthOnly, env: "STANDIN_STEP_SECONDS: \"0.3\"", edit: func(t *testing.T, dir, spec string) string {
			return strings.Replace(spec, "budget: {trials: 2, parallel: 1}", `budget: {trials: 2, parallel: 1, trial_timeout: 2s, deadline: 3s}`, 1)
		}, wantCode: 1, want: []string{
			`FAIL timeout: a trial is predicted to take \d+s but budget.trial_timeout is 2s: .*raise budget.trial_timeout`,
			`warning: about [01] of budget.trials 2 fit before the deadline 3s`,
			`deadline 3s \(.* from now\): about [01] trials fit`,
		}},
		{name: "gpu-memory", objective: healthOnly, edit: fakeGPU, wantCode: 0, want: []string{
			`peak GPU memory: (1[1-9]|[2-9]\d)\d\d MiB on GPU 0 \(\d+ MiB in use before the trial\)`,
			// 0.7 s steps and 0.6 s images, give or take a loaded machine.
			`(0\.[6-9]|1\.)\d* s/step, (0\.[3-9]|1\.)\d* s/sample image \(1 image\(s\)\)`,
			// 3 epochs sampled × 2 prompts.
			`one trial ≈ \d+(\.\d)?s \(24 steps, 6 sample images\)`,
		}},
		{name: "no-sampling", objective: healthOnly, noSampling: true, wantCode: 1, want: []string{
			`FAIL samples: the sweep's trials sample no images .*set sample_every_n_epochs in trainer.fixed`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fixed := tc.fixed
			if !tc.noSampling {
				fixed = strings.TrimRight("    sample_every_n_epochs: 1\n"+fixed, "\n")
			}
			dir := standInSweep(t, tc.name, tc.env, fixed, tc.objective, 2, 2)
			specPath := filepath.Join(dir, tc.name+".yaml")
			if tc.edit != nil {
				raw, err := os.ReadFile(specPath)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(specPath, []byte(tc.edit(t, dir, string(raw))), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			stdout, stderr, code := runCLI(t, dir, "doctor", tc.name+".yaml")
			if tc.wantCode >= 0 && code != tc.wantCode {
				t.Errorf("doctor exited %d, want %d", code, tc.wantCode)
			}
			for _, w := range tc.want {
				if !regexp.MustCompile(w).MatchString(stdout) {
					t.Errorf("doctor's report lacks %q", w)
				}
			}
			if tc.wantCode == 0 && strings.Contains(stdout, "FAIL") {
				t.Errorf("a passing setup got a FAIL line")
			}
			if t.Failed() || testing.Verbose() {
				t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
			// The smoke trial never becomes part of the sweep.
			if _, err := os.Stat(filepath.Join(dir, "sweep.db")); err == nil {
				t.Errorf("doctor created the sweep's database")
			}
			if m, _ := filepath.Glob(filepath.Join(dir, "runs", tc.name, "trial-*")); len(m) > 0 {
				t.Errorf("doctor wrote trial folders: %v", m)
			}
		})
	}
}

// fakeGPU puts a fake nvidia-smi first on PATH (through trainer.env it
// would reach only the trainer, so the spec's folder gets a bin/ and the
// test a PATH) whose memory use grows with each call, and leases GPU 0.
func fakeGPU(t *testing.T, dir, spec string) string {
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	counter := filepath.Join(dir, "smi-calls")
	script := fmt.Sprintf(`#!/bin/sh
n=$(cat %[1]q 2>/dev/null || echo 0)
n=$((n+1))
echo $n > %[1]q
echo "0, GPU-00000000-fake, Fake H200, 143771, $((100 + n * 1000))"
`, counter)
	if err := os.WriteFile(filepath.Join(bin, "nvidia-smi"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	// Slow steps and images, so the poll (every second) sees the trial
	// running and the timings are above lorasweep's read latency.
	spec = strings.Replace(spec, "env: {}", `env: {STANDIN_STEP_SECONDS: "0.7", STANDIN_IMAGE_SECONDS: "0.6"}`, 1)
	return strings.Replace(spec, "gpus: none", "gpus: [0]", 1)
}

func writePNG(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 8), uint8(y * 8), 128, 255})
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

// TestDoctorBuiltin: the builtin trainer passes every point.
func TestDoctorBuiltin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "e2e.yaml"), []byte(e2eSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, dir, "doctor", "e2e.yaml")
	if code != 0 || strings.Contains(stdout, "FAIL") || !strings.Contains(stdout, "doctor: every point passed") {
		t.Fatalf("doctor exited %d\n%s\n%s", code, stdout, stderr)
	}
	for _, w := range []string{"ok   scorer:reference: ", "ok   scorer:health: ", "ok   checkpoint: ", "prediction at the base config's values: one trial ≈ "} {
		if !strings.Contains(stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, stdout)
		}
	}
}

// TestRunHintsDoctor: a sweep whose first trial fails at the trainer
// interface (its samples cannot be found) says to run doctor.
func TestRunHintsDoctor(t *testing.T) {
	dir := standInSweep(t, "hint", "STANDIN_SAMPLES: none", "    sample_every_n_epochs: 1", healthOnly, 1, 1)
	_, stderr, _ := runCLI(t, dir, "run", "hint.yaml")
	if !strings.Contains(stderr, "hint: the first trial failed at the trainer interface (unscorable): `lorasweep doctor ") {
		t.Errorf("run did not suggest doctor:\n%s", stderr)
	}
	// A trial that fails for its params (NaN) gets no such hint.
	dir = standInSweep(t, "nohint", "STANDIN_MODE: nan", "    sample_every_n_epochs: 1", healthOnly, 1, 1)
	_, stderr, _ = runCLI(t, dir, "run", "nohint.yaml")
	if strings.Contains(stderr, "hint:") {
		t.Errorf("a NaN trial got the doctor hint:\n%s", stderr)
	}
}
