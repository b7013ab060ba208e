package sweep

import (
	"strings"
	"testing"
)

// TestParseSpecGUIBase: a kohya_ss GUI config as trainer.base is checked
// against the script, and its paths like any base config's.
func TestParseSpecGUIBase(t *testing.T) {
	spec := func(script, fixed string) string {
		return `name: t
trainer:
  kind: kohya
  script: ` + script + `
  base: gui.json
  fixed: {` + fixed + `}
search:
  network_dim: {int: [4, 32]}
objective: {scorers: [{kind: health}]}
budget: {trials: 4}
`
	}
	lora := func(extra string) string {
		return `{"LoRA_type": "Standard", "train_data_dir": "img", "pretrained_model_name_or_path": "/m/x.safetensors"` + extra + `}`
	}
	img := map[string]string{"img/10_cat/01.png": "x"}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for a, b := range m {
			out[a] = b
		}
		return out
	}
	tests := []struct {
		name     string
		spec     string
		files    map[string]string
		wantErr  string
		wantWarn string
	}{
		{"sdxl config with train_network.py", spec("train_network.py", ""), with(img, "gui.json", lora(`, "sdxl": true`)),
			"sdxl checkbox ticked, but trainer.script is train_network.py: the GUI trains it with sdxl_train_network.py", ""},
		{"sd config with sdxl_train_network.py", spec("sdxl_train_network.py", ""), with(img, "gui.json", lora("")),
			"sdxl checkbox unticked, but trainer.script is sdxl_train_network.py", ""},
		{"matching script", spec("sdxl_train_network.py", ""), with(img, "gui.json", lora(`, "sdxl": true`)), "", "relative path \"img\""},
		{"windows path", spec("train_network.py", ""), with(img, "gui.json", `{"LoRA_type": "Standard", "train_data_dir": "D:/train/img"}`),
			`train_data_dir in gui.json is "D:/train/img", a Windows path`, ""},
		{"missing folder", spec("train_network.py", ""), map[string]string{"gui.json": lora("")},
			"train_data_dir in gui.json: $DIR/img does not exist", ""},
		{"fixed replaces the base's path", spec("train_network.py", "train_data_dir: data"),
			map[string]string{"gui.json": `{"LoRA_type": "Standard", "train_data_dir": "D:/train/img"}`, "data/10_cat/01.png": "x"}, "", ""},
		{"dreambooth config refused", spec("train_network.py", ""), with(img, "gui.json", `{"learning_rate_te": 1e-5, "train_data_dir": "img"}`),
			"DreamBooth tab", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, dir := writeSpec(t, tc.spec, tc.files)
			s, err := ParseSpecFile(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), dir, "$DIR"), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			warns := strings.Join(problemLines(s.Warnings, dir), "\n")
			if tc.wantWarn != "" && !strings.Contains(warns, tc.wantWarn) {
				t.Errorf("warnings:\n%s\nwant %q", warns, tc.wantWarn)
			}
		})
	}
}
