package runner_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/runner"
)

func writeDataset(t *testing.T, root string) (train, reg string) {
	t.Helper()
	train, reg = filepath.Join(root, "train"), filepath.Join(root, "reg")
	for _, d := range []string{filepath.Join(train, "10_sks dog"), filepath.Join(train, "notrepeats"), filepath.Join(reg, "1_dog")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"a.png", "a.caption"} {
			if err := os.WriteFile(filepath.Join(d, f), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return train, reg
}

func TestApplyDatasetOptions(t *testing.T) {
	type subset struct {
		ImageDir    string `toml:"image_dir"`
		NumRepeats  int    `toml:"num_repeats"`
		ClassTokens string `toml:"class_tokens"`
		IsReg       bool   `toml:"is_reg"`
	}
	type doc struct {
		Datasets []struct {
			Subsets []subset `toml:"subsets"`
		} `toml:"datasets"`
	}
	tests := []struct {
		name string
		kind string
	}{
		{name: "kohya gets a dataset config", kind: "kohya"},
		{name: "builtin gets a folder view", kind: "builtin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			train, reg := writeDataset(t, root)
			dir := filepath.Join(root, "trial-0001")
			cfg := kohya.Config{"train_data_dir": train, "reg_data_dir": reg, "resolution": "64,64"}
			out, err := runner.ApplyDatasetOptions(dir, tc.kind, cfg, runner.DatasetOptions{NumRepeats: 3})
			if err != nil {
				t.Fatal(err)
			}
			if cfg["train_data_dir"] != train {
				t.Error("the input config was changed")
			}
			if out["resolution"] != "64,64" {
				t.Errorf("other settings lost: %v", out)
			}
			if tc.kind == "kohya" {
				if _, ok := out["train_data_dir"]; ok {
					t.Error("train_data_dir kept next to dataset_config")
				}
				data, err := os.ReadFile(out["dataset_config"].(string))
				if err != nil {
					t.Fatal(err)
				}
				var d doc
				if err := toml.Unmarshal(data, &d); err != nil {
					t.Fatalf("dataset config does not parse: %v\n%s", err, data)
				}
				want := []subset{
					{ImageDir: filepath.Join(train, "10_sks dog"), NumRepeats: 3, ClassTokens: "sks dog"},
					{ImageDir: filepath.Join(reg, "1_dog"), NumRepeats: 1, ClassTokens: "dog", IsReg: true},
				}
				if len(d.Datasets) != 1 || len(d.Datasets[0].Subsets) != len(want) {
					t.Fatalf("subsets: %+v", d)
				}
				for i, s := range d.Datasets[0].Subsets {
					if s != want[i] {
						t.Errorf("subset %d = %+v, want %+v", i, s, want[i])
					}
				}
				return
			}
			subs, _, err := kohya.ScanDreamBoothDir(out["train_data_dir"].(string), false, ".caption")
			if err != nil {
				t.Fatal(err)
			}
			if len(subs) != 1 || subs[0].Repeats != 3 || subs[0].ClassTokens != "sks dog" || len(subs[0].Images) != 1 {
				t.Fatalf("view subsets = %+v", subs)
			}
			regs, _, err := kohya.ScanDreamBoothDir(out["reg_data_dir"].(string), true, ".caption")
			if err != nil || len(regs) != 1 || regs[0].Repeats != 1 {
				t.Fatalf("reg view = %+v, %v", regs, err)
			}
		})
	}
}

func TestApplyDatasetOptionsRefuses(t *testing.T) {
	root := t.TempDir()
	train, _ := writeDataset(t, root)
	tests := []struct {
		name string
		cfg  kohya.Config
		opts runner.DatasetOptions
	}{
		{name: "dataset_config in base", cfg: kohya.Config{"train_data_dir": train, "dataset_config": "d.toml"}, opts: runner.DatasetOptions{NumRepeats: 2}},
		{name: "no train_data_dir", cfg: kohya.Config{}, opts: runner.DatasetOptions{NumRepeats: 2}},
		{name: "negative repeats", cfg: kohya.Config{"train_data_dir": train}, opts: runner.DatasetOptions{NumRepeats: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := runner.ApplyDatasetOptions(filepath.Join(t.TempDir(), "t"), "kohya", tc.cfg, tc.opts); err == nil {
				t.Error("want an error")
			}
		})
	}
}
