package runner

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lorasweep/lorasweep/kohya"
)

// TestPreflightHelpUsesTrainerEnv: a script that imports a module found
// only on trainer.env's PYTHONPATH (as sd-scripts inside kohya_ss needs)
// gives its --help when run with that environment, so its own argument
// names are checked; without it, the warning says why --help failed.
func TestPreflightHelpUsesTrainerEnv(t *testing.T) {
	needPython(t)
	dataDir, prompts := dataset(t, 1)
	standIn, _ := filepath.Abs(filepath.Join("testdata", "train_network.py"))
	dir := t.TempDir()
	lib := filepath.Join(dir, "lib")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lib, "sdlib_only_here.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "train_network.py")
	body := fmt.Sprintf("import runpy\nimport sdlib_only_here\nrunpy.run_path(%q, run_name=\"__main__\")\n", standIn)
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr string // from the script's own --help
		wantLog string
	}{
		{name: "with trainer.env", env: map[string]string{"PYTHONPATH": lib}, wantErr: "gradient_checkpointing is not an argument of train_network.py"},
		{name: "without", wantLog: "No module named 'sdlib_only_here'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			p, err := NewPool(context.Background(), PoolConfig{
				Trainer: TrainerSpec{Kind: KindKohya, Script: script, Python: python, Env: tc.env},
				GPUs:    GPUSpec{Mode: GPUsNone}, Self: "/x/lorasweep",
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			// gradient_checkpointing is a real sd-scripts argument the stand-in lacks
			cfg := kohya.Config{"train_data_dir": dataDir, "sample_prompts": prompts, "network_dim": int64(4), "gradient_checkpointing": true}
			err = p.Preflight(context.Background(), cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("Preflight = %v, want %q (names checked against the script's --help)", err, tc.wantErr)
				}
				if strings.Contains(logs.String(), "could not read") {
					t.Errorf("--help failed with trainer.env: %s", logs.String())
				}
				return
			}
			if err != nil {
				t.Errorf("Preflight = %v, want the built-in table to accept gradient_checkpointing", err)
			}
			if !strings.Contains(logs.String(), "could not read train_network.py --help") || !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("warning %q, want it to quote the stderr tail %q", logs.String(), tc.wantLog)
			}
		})
	}
}
