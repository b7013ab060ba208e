package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lorasweep/lorasweep/storage"
)

// logSpec is a two-trial kohya sweep through the sd-scripts stand-in with
// one extra fixed setting (%s, indented under fixed).
const logSpec = `name: %s
storage: sqlite://sweep.db
output_root: ./runs
trainer:
  kind: kohya
  script: %s
  python: /usr/bin/python3
  base: ./base.toml
  fixed:
    max_train_epochs: 3
    save_every_n_epochs: 1
    sample_every_n_epochs: 1
%s
search:
  learning_rate: {float: [1.0e-5, 1.0e-3], log: true}
sampler: {kind: random, seed: 3}
objective: {direction: minimize, scorers: [{kind: loss, stat: final}]}
budget: {trials: 2, parallel: 1}
gpus: none
baseline: false
`

// standInDir writes a dataset, prompts and base.toml for the stand-in into
// a temp dir and returns it with the stand-in's path.
func standInDir(t *testing.T) (dir, script string) {
	t.Helper()
	return standInDataset(t, "zkx toy, on grass --d 7\na photo of a toy --d 8\n")
}

type inspectJSON struct {
	Outcome, Reason, Detail string
	OutputName              string   `json:"output_name"`
	Samples                 []string `json:"samples"`
}

func inspectLog(t *testing.T, dir string, args ...string) inspectJSON {
	t.Helper()
	stdout, stderr, code := runCLI(t, dir, append([]string{"inspect-log"}, args...)...)
	if code != 0 {
		t.Fatalf("inspect-log exited %d: %s", code, stderr)
	}
	var got inspectJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("inspect-log output is not JSON: %v\n%s", err, stdout)
	}
	return got
}

// TestKohyaHiddenINFOLines: sd-scripts' console_log_level above INFO and
// console_log_file take `model saved.` off the console. validate says what
// is lost; the trials still complete, on exit status 0 and a readable final
// model; inspect-log agrees and finds the samples by the output name the
// log's checkpoint lines carry.
func TestKohyaHiddenINFOLines(t *testing.T) {
	dir, script := standInDir(t)
	for _, tc := range []struct{ name, fixed, warn string }{
		{"level", `    console_log_level: WARNING`, "console_log_level = WARNING hides sd-scripts' logger lines below WARNING"},
		{"file", `    console_log_file: sd.log`, "console_log_file sends every sd-scripts log message to sd.log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := fmt.Sprintf(logSpec, tc.name, script, tc.fixed)
			if err := os.WriteFile(filepath.Join(dir, tc.name+".yaml"), []byte(spec), 0o644); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := runCLI(t, dir, "validate", tc.name+".yaml")
			if code != 0 || !strings.Contains(stdout+stderr, tc.warn) || !strings.Contains(stdout+stderr, "`model saved.`") {
				t.Errorf("validate exited %d without the warning %q:\n%s\n%s", code, tc.warn, stdout, stderr)
			}
			stdout, stderr, code = runCLI(t, dir, "run", tc.name+".yaml")
			if code != 0 {
				t.Fatalf("run exited %d\n%s\n%s", code, stdout, stderr)
			}
			trials := listTrialsOf(t, dir, tc.name)
			if len(trials) != 2 {
				t.Fatalf("%d trials, want 2", len(trials))
			}
			for _, tr := range trials {
				if tr.State != "complete" {
					t.Errorf("trial %d is %s, want complete: a good run whose log hides INFO lines is a success", tr.Number, tr.State)
				}
			}
			trialDir := filepath.Join(dir, "runs", tc.name, "trial-0001")
			log, err := os.ReadFile(filepath.Join(trialDir, "trial.log"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(log), "model saved.") {
				t.Fatalf("the stand-in printed `model saved.` despite %s", tc.fixed)
			}
			if tc.name == "file" {
				// relative: sd-scripts writes it in its working directory, the trial's folder
				if b, err := os.ReadFile(filepath.Join(trialDir, "sd.log")); err != nil || !strings.Contains(string(b), "model saved.") {
					t.Errorf("console_log_file in the trial folder: %v %q", err, b)
				}
			}
			got := inspectLog(t, dir, filepath.Join(trialDir, "trial.log"))
			if got.Outcome != "ok" || !strings.Contains(got.Detail, "present and readable") || len(got.Samples) != 6 {
				t.Errorf("inspect-log of the trial = %+v, want ok from the readable model, 6 samples", got)
			}

			// The log alone, away from trial.toml: the samples are still
			// found, by the output name of the checkpoint lines.
			bare := t.TempDir()
			if err := os.WriteFile(filepath.Join(bare, "console.log"), log, 0o644); err != nil {
				t.Fatal(err)
			}
			got = inspectLog(t, dir, "--sample-dir", filepath.Join(trialDir, "output", "sample"), filepath.Join(bare, "console.log"))
			if got.OutputName != "trial-0001" || len(got.Samples) != 6 {
				t.Errorf("inspect-log of a bare log: output name %q, %d samples; want trial-0001 and 6", got.OutputName, len(got.Samples))
			}
			if got.Outcome != "incomplete" || !strings.Contains(got.Detail, "no `model saved.` line") {
				t.Errorf("inspect-log of a bare log = %s %q, want incomplete naming the missing `model saved.`", got.Outcome, got.Detail)
			}
		})
	}
}

// TestKohyaHelpWithTrainerEnv: the preflight's `script --help` runs with
// trainer.env, as the trials do; when it fails, run says why.
func TestKohyaHelpWithTrainerEnv(t *testing.T) {
	dir, standIn := standInDir(t)
	lib := filepath.Join(dir, "lib")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lib, "sdlib_only_here.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// a train_network.py that, like sd-scripts inside kohya_ss, imports a
	// library found only on PYTHONPATH
	script := filepath.Join(dir, "train_network.py")
	body := fmt.Sprintf("import runpy\nimport sdlib_only_here\nrunpy.run_path(%q, run_name=\"__main__\")\n", standIn)
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, env string }{
		{"env", "  env: {PYTHONPATH: " + lib + "}\n  fixed:"},
		{"noenv", "  fixed:"},
	} {
		spec := strings.Replace(fmt.Sprintf(logSpec, tc.name, script, ""), "  fixed:", tc.env, 1)
		if err := os.WriteFile(filepath.Join(dir, tc.name+".yaml"), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, _ := runCLI(t, dir, "run", tc.name+".yaml")
		warned := strings.Contains(stderr, "could not read train_network.py --help")
		if tc.name == "env" {
			if warned {
				t.Errorf("--help failed although trainer.env has the PYTHONPATH:\n%s", stderr)
			}
			for _, tr := range listTrialsOf(t, dir, tc.name) {
				if tr.State != "complete" {
					t.Errorf("trial %d is %s\n%s\n%s", tr.Number, tr.State, stdout, stderr)
				}
			}
			continue
		}
		if !warned || !strings.Contains(stderr, "No module named 'sdlib_only_here'") {
			t.Errorf("run without the PYTHONPATH did not say why --help failed:\n%s", stderr)
		}
	}
}

// TestKohyaRelativeTokenizerCache: a relative tokenizer_cache_dir in the
// base config is a folder next to the base file, made absolute: trials run
// in their own folders, where sd-scripts would not find it (and, offline,
// would fail to load the tokenizer — as the stand-in does).
func TestKohyaRelativeTokenizerCache(t *testing.T) {
	dir, script := standInDir(t)
	if err := os.MkdirAll(filepath.Join(dir, "tok", "openai_clip-vit-large-patch14"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "base.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("tokenizer_cache_dir = \"tok\"\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(dir, "tok.yaml"), []byte(fmt.Sprintf(logSpec, "tok", script, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, dir, "run", "tok.yaml")
	if code != 0 {
		t.Fatalf("run exited %d\n%s\n%s", code, stdout, stderr)
	}
	for _, tr := range listTrialsOf(t, dir, "tok") {
		if tr.State != "complete" {
			t.Errorf("trial %d is %s: the tokenizer cache was not found\n%s", tr.Number, tr.State, stderr)
		}
	}
	toml, err := os.ReadFile(filepath.Join(dir, "runs", "tok", "trial-0001", "trial.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("tokenizer_cache_dir = %q", filepath.Join(dir, "tok")); !strings.Contains(string(toml), want) {
		t.Errorf("trial.toml lacks %s:\n%s", want, toml)
	}
}

// TestKohyaExportNumRepeats: a trial that searched num_repeats trained on
// the runner's own dataset_config; exporting it names the dataset setting
// and does not claim the spec changed after the trial ran.
func TestKohyaExportNumRepeats(t *testing.T) {
	dir, script := standInDir(t)
	spec := strings.Replace(fmt.Sprintf(logSpec, "rep", script, ""), "search:\n", "search:\n  num_repeats: {int: [1, 3]}\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "rep.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := runCLI(t, dir, "run", "rep.yaml"); code != 0 {
		t.Fatalf("run exited %d\n%s\n%s", code, stdout, stderr)
	}
	toml, err := os.ReadFile(filepath.Join(dir, "runs", "rep", "trial-0001", "trial.toml"))
	if err != nil || !strings.Contains(string(toml), "dataset_config") {
		t.Fatalf("trial.toml does not use the runner's dataset_config (%v):\n%s", err, toml)
	}
	out := filepath.Join(dir, "best.toml")
	_, stderr, code := runCLI(t, dir, "export", "--sweep", "rep", "--storage", "sqlite://"+filepath.Join(dir, "sweep.db"),
		"--format", "kohya-toml", "--trial", "1", "--out", out)
	if code != 0 {
		t.Fatalf("export exited %d: %s", code, stderr)
	}
	if strings.Contains(stderr, "spec changed") || !strings.Contains(stderr, "num_repeats = ") {
		t.Errorf("export notes, want num_repeats named and no spec change:\n%s", stderr)
	}
	exported, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(exported), "dataset_config") || !strings.Contains(string(exported), fmt.Sprintf("train_data_dir = %q", filepath.Join(dir, "dataset"))) {
		t.Errorf("the export should train on the user's folders, not the run's dataset.toml:\n%s", exported)
	}
}

// TestKohyaRunRecordsPID: each run records the pid and process group of
// the process lorasweep started for the trainer (the group's leader), not 0.
func TestKohyaRunRecordsPID(t *testing.T) {
	dir, script := standInDir(t)
	pgidFile := filepath.Join(dir, "pgid")
	spec := strings.Replace(fmt.Sprintf(logSpec, "pid", script, ""), "  fixed:", "  env: {STANDIN_PGIDFILE: "+pgidFile+"}\n  fixed:", 1)
	spec = strings.Replace(spec, "trials: 2", "trials: 1", 1)
	if err := os.WriteFile(filepath.Join(dir, "pid.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := runCLI(t, dir, "run", "pid.yaml"); code != 0 {
		t.Fatalf("run exited %d\n%s\n%s", code, stdout, stderr)
	}
	raw, err := os.ReadFile(pgidFile)
	if err != nil {
		t.Fatal(err)
	}
	pgid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := storage.Open(ctx, "sqlite://"+filepath.Join(dir, "sweep.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sid, err := st.GetStudyIDFromName("pid")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := st.Runs(ctx, sid)
	if err != nil || len(runs) != 1 {
		t.Fatalf("%d runs (%v), want 1", len(runs), err)
	}
	if runs[0].PGID != pgid || runs[0].PID != pgid {
		t.Errorf("stored pid %d pgid %d, want the trainer's process group %d (led by the process lorasweep started)", runs[0].PID, runs[0].PGID, pgid)
	}
}
