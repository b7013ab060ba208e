package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestInspectLog(t *testing.T) {
	for _, tc := range []struct {
		file, outcome, reason string
		step                  int
	}{
		{"success.log", "ok", "", 12},
		{"nan.log", "failed", "nan", 4},
		{"oom_old_style.log", "failed", "oom", 0},
		{"crash_after_last_step.log", "failed", "crash", 12},
		{"crash_after_model_saved.log", "ok", "", 12},
		{"no_data_rich_wrapped.log", "failed", "no-data", 0},
		// layouts of users' consoles: a log that ends in an exception is a crash
		{"plain_traceback_chained.log", "failed", "crash", 4},
		{"rich_traceback.log", "failed", "crash", 8},
		{"glued_traceback.log", "failed", "crash", 5},
		{"accelerate_called_process_error.log", "failed", "crash", 1},
		{"accelerate_child_killed.log", "failed", "crash", 4},
		{"excerpt_ends_in_exception.log", "failed", "crash", 4},
		{"saved_then_upload_crash.log", "ok", "", 12},
		// no `model saved.` and the model is not here to check
		{"log_level_warning.log", "incomplete", "", 12},
	} {
		t.Run(tc.file, func(t *testing.T) {
			cmd := newInspectLogCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetArgs([]string{"--trainer", "kohya", filepath.Join("..", "..", "kohya", "testdata", "logs", tc.file)})
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			var got struct {
				Outcome, Reason string
				Step            int
			}
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out.String())
			}
			if got.Outcome != tc.outcome || got.Reason != tc.reason || got.Step != tc.step {
				t.Errorf("got %+v, want %s %s step %d", got, tc.outcome, tc.reason, tc.step)
			}
		})
	}
}

// TestInspectLogSamplesWithoutNames: a log that names no checkpoint (a
// crash in epoch 1), away from its trial.toml: the samples' shared prefix
// is the output name.
func TestInspectLogSamplesWithoutNames(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"my_lora_e000001_00_20240101120000_7.png", "my_lora_e000001_01_20240101120000_8.png", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := newInspectLogCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--sample-dir", dir, filepath.Join("..", "..", "kohya", "testdata", "logs", "oom_old_style.log")})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var got struct{ Samples []string }
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Samples) != 2 {
		t.Errorf("samples %v, want the two my_lora_ images", got.Samples)
	}
}
