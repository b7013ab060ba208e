package kohya

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadBase(t *testing.T) {
	flat, warnings, err := LoadBase(filepath.Join("testdata", "base", "flat.toml"))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("flat: %v %q", err, warnings)
	}
	tests := []struct {
		name     string
		path     string
		want     Config // nil: compare with the flat TOML
		wantWarn []string
		wantErr  string
	}{
		{name: "sectioned equals flat", path: "testdata/base/sectioned.toml"},
		{name: "typos and type traps warned", path: "testdata/base/typos.toml",
			want: Config{"netwrok_dim": int64(16), "resolution": int64(512), "lr_warmup_steps": 100.0, "stop_text_encoder_training": int64(5)},
			wantWarn: []string{
				"typos.toml: lr_warmup_steps: lr_warmup_steps = 100.0 is a float",
				"typos.toml: netwrok_dim: not a train_network.py argument; sd-scripts ignores it (did you mean network_dim?)",
				`typos.toml: resolution: resolution must be a string "W,H"`,
				"typos.toml: stop_text_encoder_training: train_db.py only",
			}},
		{name: "gui json", path: "testdata/gui/preset_sdxl_standard.json"},
		{name: "unknown extension", path: "testdata/base/x.yaml", wantErr: "unknown format"},
		{name: "missing file", path: "testdata/base/missing.toml", wantErr: "load base config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings, err := LoadBase(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(tt.path, ".json") {
				if got["network_dim"] != int64(32) || len(warnings) != 0 {
					t.Errorf("gui import: network_dim = %#v, warnings %q", got["network_dim"], warnings)
				}
				return
			}
			want := tt.want
			if want == nil {
				want = flat
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v\nwant %#v", got, want)
			}
			if len(warnings) != len(tt.wantWarn) {
				t.Fatalf("warnings = %q", warnings)
			}
			for i, w := range tt.wantWarn {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, warnings[i], w)
				}
			}
		})
	}
}

func TestWriteTOMLRoundTrip(t *testing.T) {
	c := Config{
		"resolution": "768,512", "lr_warmup_steps": 100.0, "network_dim": int64(16), "learning_rate": 1e-4,
		"network_alpha": 1.0, "xformers": true, "network_args": []any{"conv_dim=4"}, "text_encoder_lr": []any{1e-5, 2e-5},
		"output_name": `quote " and \ backslash`,
	}
	data, err := WriteTOML(c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	back, _, err := LoadBase(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip:\n%s\ngot  %#v\nwant %#v", data, back, c)
	}
	if _, ok := back["resolution"].(string); !ok {
		t.Error("resolution is no longer a string")
	}
	if _, ok := back["lr_warmup_steps"].(float64); !ok {
		t.Error("100.0 is no longer a float")
	}
}

func TestIsHubID(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "models", "sd15"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key, value string
		id         bool
	}{
		{"pretrained_model_name_or_path", "runwayml/stable-diffusion-v1-5", true},
		{"pretrained_model_name_or_path", "models/sd15", false}, // exists next to the file
		{"pretrained_model_name_or_path", "models", false},
		{"pretrained_model_name_or_path", "gpt2", true},
		{"pretrained_model_name_or_path", "sd15.safetensors", false},
		{"pretrained_model_name_or_path", "a/b/c", false},
		{"pretrained_model_name_or_path", `C:\models\sd15`, false},
		{"pretrained_model_name_or_path", "./sd15", false},
		{"pretrained_model_name_or_path", "~/sd15", false},
		{"vae", "stabilityai/sd-vae-ft-mse", true},
		{"tokenizer_cache_dir", "tok", false}, // never an id
		{"train_data_dir", "owner/name", false},
	} {
		if got := IsHubID(tc.key, tc.value, dir); got != tc.id {
			t.Errorf("IsHubID(%s, %q) = %v, want %v", tc.key, tc.value, got, tc.id)
		}
	}
}
