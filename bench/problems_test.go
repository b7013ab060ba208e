package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lorasweep/lorasweep/sweep/benchfn"
	"github.com/lorasweep/lorasweep/sweep/sampling"
)

// TestPythonProblemsMatchGo feeds the params of 40 random trials of each Go
// problem to bench/python/problems.py and requires the same noise-free
// values, so Optuna is benchmarked on the very same functions. It needs
// only python3 (not optuna).
func TestPythonProblemsMatchGo(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	for _, p := range Problems() {
		t.Run(p.Name, func(t *testing.T) {
			tr, err := benchfn.Run(p, sampling.NewRandom(sampling.RandomOptions{Seed: 3, LogInt: p.LogInt}), benchfn.RunOptions{Trials: 40, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			var in bytes.Buffer
			for _, params := range tr.Params {
				line, _ := json.Marshal(map[string]any{"problem": p.Name, "params": params})
				in.Write(append(line, '\n'))
			}
			cmd := exec.Command(py, filepath.Join("python", "problems.py"), "check")
			cmd.Stdin = &in
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("problems.py check: %v", err)
			}
			lines := strings.Fields(string(out))
			if len(lines) != len(tr.True) {
				t.Fatalf("python gave %d values for %d trials", len(lines), len(tr.True))
			}
			for i, s := range lines {
				v, err := strconv.ParseFloat(s, 64)
				if err != nil {
					t.Fatalf("trial %d: %v", i, err)
				}
				if math.IsNaN(v) && math.IsNaN(tr.True[i]) {
					continue // both diverged
				}
				if math.Abs(v-tr.True[i]) > 1e-9*math.Max(1, math.Abs(v)) || math.IsNaN(v) != math.IsNaN(tr.True[i]) {
					t.Errorf("trial %d %v: python %.12g, go %.12g", i, tr.Params[i], v, tr.True[i])
				}
			}
		})
	}
}

func TestStat(t *testing.T) {
	cases := []struct {
		name     string
		xs       []float64
		mean, se float64
	}{
		{"one value has no error", []float64{2}, 2, 0},
		{"two values", []float64{1, 3}, 2, 1},
		{"four values", []float64{1, 2, 3, 4}, 2.5, math.Sqrt(5.0 / 3 / 4)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, se := MeanSE(c.xs)
			if math.Abs(m-c.mean) > 1e-12 || math.Abs(se-c.se) > 1e-12 {
				t.Errorf("MeanSE(%v) = %v, %v; want %v, %v", c.xs, m, se, c.mean, c.se)
			}
		})
	}
}
