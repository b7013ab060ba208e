package main

import (
	"bytes"
	"encoding/json"
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
