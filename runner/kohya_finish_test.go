package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lorasweep/lorasweep/kohya"
)

// TestKohyaHiddenINFO runs the stand-in with sd-scripts' logging settings
// that take `model saved.` (an INFO line) off the console.
func TestKohyaHiddenINFO(t *testing.T) {
	needPython(t)
	dataDir, prompts := dataset(t, 2)
	for _, tc := range []struct {
		name      string
		set       map[string]any
		emptyData bool
		ok        bool
		has       string // in a warning when ok, in the detail otherwise
	}{
		{name: "level WARNING: exit 0 and a readable model are success", set: map[string]any{"console_log_level": "WARNING"}, ok: true,
			has: "no `model saved.` line (console_log_level = WARNING hides INFO lines): success taken from exit status 0 and the readable final model"},
		{name: "log file: success", set: map[string]any{"console_log_file": "sd.log"}, ok: true, has: "console_log_file = sd.log"},
		{name: "log file: no data exits 0 without a model", set: map[string]any{"console_log_file": "sd.log"}, emptyData: true,
			has: "trainer exited 0 without `model saved.`, and the model file is missing"},
		{name: "level CRITICAL: the model file is checked, not trusted", set: map[string]any{"console_log_level": "CRITICAL"}, ok: true, has: "CRITICAL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newKohyaPool(t)
			cfg := baseConfig(dataDir, prompts)
			for k, v := range tc.set {
				cfg[k] = v
			}
			if tc.emptyData {
				cfg["train_data_dir"] = t.TempDir()
			}
			job := Job{Number: 3, Dir: filepath.Join(t.TempDir(), "trial-0003"), Config: cfg}
			out, _ := runJob(t, p, context.Background(), job)
			log, _ := os.ReadFile(out.LogPath)
			if strings.Contains(string(log), "model saved.") {
				t.Fatalf("the stand-in printed `model saved.` despite %v", tc.set)
			}
			if out.OK != tc.ok {
				t.Fatalf("ok=%v reason=%q detail=%q exit=%d, want ok=%v", out.OK, out.Reason, out.Detail, out.ExitCode, tc.ok)
			}
			if tc.ok {
				if !strings.Contains(strings.Join(out.Warnings, "\n"), tc.has) || out.ModelPath == "" {
					t.Errorf("warnings %q model %q, want a warning containing %q", out.Warnings, out.ModelPath, tc.has)
				}
				return
			}
			if out.Reason != ReasonCrash || !strings.Contains(out.Detail, tc.has) || !strings.Contains(out.Detail, "console_log_file = sd.log") {
				t.Errorf("reason %q detail %q, want crash containing %q and naming the log file", out.Reason, out.Detail, tc.has)
			}
		})
	}
}

// TestCheckModelFile: the final model must exist, be non-empty and parse.
func TestCheckModelFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := kohya.WriteSafetensors(good, []kohya.NamedTensor{{Name: "a", Shape: []int{2}, Data: []float32{1, 2}}}, map[string]string{"ss_network_dim": "4"}, "F32"); err != nil {
		t.Fatal(err)
	}
	if err := CheckModelFile(good); err != nil {
		t.Errorf("CheckModelFile(good) = %v", err)
	}
	truncated := filepath.Join(dir, "cut.safetensors")
	if err := os.WriteFile(truncated, []byte("\x40\x00\x00\x00\x00\x00\x00\x00{\"a\":"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.safetensors")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "none.safetensors"), "missing"},
		{empty, "empty"},
		{truncated, "does not parse"},
	} {
		if err := CheckModelFile(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckModelFile(%s) = %v, want an error containing %q", filepath.Base(tc.path), err, tc.want)
		}
	}
}
