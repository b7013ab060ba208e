package sweep

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/objective"
)

// TestDoctorSmokeConfig: the smoke trial trains DoctorSteps steps, saves
// one step checkpoint, samples once in the spec's own mode, and samples
// the first prompt plus the first prompt of each scorer limited to
// prompts, each with the seed a sweep's trial gives it.
func TestDoctorSmokeConfig(t *testing.T) {
	dir := t.TempDir()
	prompts := filepath.Join(dir, "prompts.txt")
	if err := os.WriteFile(prompts, []byte("p0\np1\np2 --d 7\np3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		cfg       kohya.Config
		scorers   []objective.ScorerSpec
		wantKeep  []int
		wantLines []string
		byStep    bool
	}{
		{"epochs, one limited scorer", kohya.Config{"max_train_epochs": int64(10), "save_every_n_epochs": int64(2), "sample_every_n_epochs": int64(2),
			"save_last_n_epochs": int64(2), "sample_at_first": true, "sample_prompts": prompts, "learning_rate": 1e-4},
			[]objective.ScorerSpec{{Kind: "health"}, {Kind: "preservation", Prompts: []int{3, 2}}}, []int{0, 2}, []string{"p0 --d 1000", "p2 --d 7"}, false},
		{"steps", kohya.Config{"max_train_steps": int64(900), "sample_every_n_steps": int64(100), "sample_prompts": prompts},
			[]objective.ScorerSpec{{Kind: "health"}}, []int{0}, []string{"p0 --d 1000"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Doctor{Spec: &Spec{Objective: objective.Spec{Scorers: tc.scorers}}, Dir: filepath.Join(t.TempDir(), "doc")}
			cfg, keep, err := d.smokeConfig(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if cfg["max_train_steps"] != int64(DoctorSteps) || cfg["save_every_n_steps"] != int64(DoctorSteps) {
				t.Errorf("length: max_train_steps %v, save_every_n_steps %v", cfg["max_train_steps"], cfg["save_every_n_steps"])
			}
			for _, k := range []string{"max_train_epochs", "save_every_n_epochs", "save_last_n_epochs", "sample_at_first"} {
				if _, ok := cfg[k]; ok {
					t.Errorf("%s kept: %v", k, cfg[k])
				}
			}
			if tc.byStep && (cfg["sample_every_n_steps"] != int64(DoctorSteps) || cfg["sample_every_n_epochs"] != nil) {
				t.Errorf("step sampling: %v / %v", cfg["sample_every_n_steps"], cfg["sample_every_n_epochs"])
			}
			if !tc.byStep && (cfg["sample_every_n_epochs"] != int64(1) || cfg["sample_every_n_steps"] != nil) {
				t.Errorf("epoch sampling: %v / %v", cfg["sample_every_n_epochs"], cfg["sample_every_n_steps"])
			}
			if tc.cfg["learning_rate"] != nil && cfg["learning_rate"] != tc.cfg["learning_rate"] {
				t.Errorf("learning_rate changed")
			}
			if _, ok := tc.cfg["max_train_steps"]; ok && tc.cfg["max_train_steps"] != int64(900) {
				t.Errorf("the trial config was modified in place")
			}
			if len(keep) != len(tc.wantKeep) {
				t.Fatalf("keep %v, want %v", keep, tc.wantKeep)
			}
			for i := range keep {
				if keep[i] != tc.wantKeep[i] {
					t.Errorf("keep %v, want %v", keep, tc.wantKeep)
				}
			}
			raw, err := os.ReadFile(cfg["sample_prompts"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(raw)); got != strings.Join(tc.wantLines, "\n") {
				t.Errorf("smoke prompts:\n%s\nwant:\n%s", got, strings.Join(tc.wantLines, "\n"))
			}
		})
	}
}

func TestInterfaceFailure(t *testing.T) {
	for _, tc := range []struct {
		reason, detail string
		stepped, want  bool
	}{
		{"bad-args", "error: argument --foo", false, true},
		{"unscorable", "no saved epoch could be scored", true, true},
		{"crash", "ImportError: no module named torch", false, true},
		{"crash", "CUDA error", true, false},
		{"nan", "loss became NaN", true, false},
		{"oom", "CUDA out of memory", false, false},
		{"timeout", "", true, false},
	} {
		if got := InterfaceFailure(tc.reason, tc.detail, tc.stepped); got != tc.want {
			t.Errorf("InterfaceFailure(%q, %q, %v) = %v, want %v", tc.reason, tc.detail, tc.stepped, got, tc.want)
		}
	}
}
