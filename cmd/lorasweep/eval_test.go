package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestEval scores configs through the real binary, trainer and objective in
// a temp dir: a good config completes with a value and its components, the
// same config scores the same twice (the trainer's seed is fixed), a
// diverging learning rate fails with exit 1 and still prints JSON, and
// unknown params are usage errors. No sweep is left in the directory.
func TestEval(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(e2eSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	good := `{"network_dim": 4, "network_alpha": 0.5, "learning_rate": 0.003, "lr_scheduler": "cosine"}`
	cases := []struct {
		name      string
		params    string
		wantCode  int
		wantState string
	}{
		{"good config completes", good, 0, "complete"},
		{"same config again", good, 0, "complete"},
		{"diverging learning rate fails", `{"network_dim": 8, "network_alpha": 1, "learning_rate": 1000}`, 1, "fail"},
		{"unknown param is a usage error", `{"netwrok_dim": 4}`, 2, ""},
		{"not an object is a usage error", `[1, 2]`, 2, ""},
	}
	var values []float64
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, dir, "eval", "sweep.yaml", "--params", c.params)
			if code != c.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.wantCode, stdout, stderr)
			}
			if c.wantState == "" {
				return
			}
			var res evalResult
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatalf("output is not the result JSON: %v\n%s", err, stdout)
			}
			if res.State != c.wantState {
				t.Fatalf("state %q, want %q (reason %q)", res.State, c.wantState, res.Reason)
			}
			if c.wantState != "complete" {
				if res.Value != nil || res.Reason == "" {
					t.Errorf("failed trial: value %v, reason %q; want no value and a reason", res.Value, res.Reason)
				}
				return
			}
			if res.Value == nil || res.BestEpoch == 0 || len(res.Components) != 2 || len(res.Epochs) != 2 {
				t.Fatalf("incomplete result: %+v", res)
			}
			values = append(values, *res.Value)
		})
	}
	if len(values) == 2 && values[0] != values[1] {
		t.Errorf("the same config scored %v then %v", values[0], values[1])
	}
	if _, err := os.Stat(filepath.Join(dir, "sweep.db")); err == nil {
		t.Errorf("eval created the spec's storage; it must use a throwaway study")
	}
}
