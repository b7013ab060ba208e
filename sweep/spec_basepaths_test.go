package sweep

import (
	"path/filepath"
	"testing"
)

// TestBasePathsOrHubIDs: a model, VAE or tokenizer value in the base
// config that names an existing path relative to the base file's folder is
// that path, made absolute (the trial runs in its own folder); one naming
// nothing there is a Hugging Face id and stays as written; a tokenizer
// cache is always a folder.
func TestBasePathsOrHubIDs(t *testing.T) {
	spec := `name: paths
trainer:
  kind: builtin
  base: cfg/base.toml
  fixed:
    train_data_dir: data
    vae: vaes/kl-f8
search:
  network_dim: {int: [4, 32]}
objective: {scorers: [{kind: health}]}
budget: {trials: 2}
`
	for _, tc := range []struct {
		name, base string
		key, want  string // want: relative to the spec folder, or as written with a leading "="
	}{
		{"diffusers folder", `pretrained_model_name_or_path = "models/sd15"`, "pretrained_model_name_or_path", "cfg/models/sd15"},
		{"hub id", `pretrained_model_name_or_path = "runwayml/stable-diffusion-v1-5"`, "pretrained_model_name_or_path", "=runwayml/stable-diffusion-v1-5"},
		{"missing model file", `pretrained_model_name_or_path = "sd15.safetensors"`, "pretrained_model_name_or_path", "cfg/sd15.safetensors"},
		{"nested path cannot be an id", `pretrained_model_name_or_path = "models/x/y"`, "pretrained_model_name_or_path", "cfg/models/x/y"},
		{"tokenizer cache", `tokenizer_cache_dir = "tok"`, "tokenizer_cache_dir", "cfg/tok"},
		{"tokenizer cache not there yet", `tokenizer_cache_dir = "tok-new"`, "tokenizer_cache_dir", "cfg/tok-new"},
		{"fixed VAE folder, relative to the spec", `pretrained_model_name_or_path = "models/sd15"`, "vae", "vaes/kl-f8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, dir := writeSpec(t, spec, map[string]string{
				"cfg/base.toml":                                    tc.base + "\n",
				"cfg/models/sd15/":                                 "",
				"cfg/models/sd15/model_index.json":                 "{}",
				"cfg/tok/openai_clip-vit-large-patch14/vocab.json": "{}",
				"vaes/kl-f8/config.json":                           "{}",
				"data/10_sks cat/01.png":                           "x",
			})
			s, err := ParseSpecFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(dir, tc.want)
			if tc.want[0] == '=' {
				want = tc.want[1:]
			}
			if got, _ := s.Base[tc.key].(string); got != want {
				t.Errorf("%s = %q, want %q", tc.key, got, want)
			}
		})
	}
}
