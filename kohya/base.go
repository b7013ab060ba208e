package kohya

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LoadBase reads a sweep's base config: a sd-scripts --config_file TOML
// (flat or in sections, flattened as sd-scripts does) when path ends in
// .toml, a kohya_ss GUI config JSON (translated by ImportGUI) when it ends
// in .json. Warnings name the file and the key; for TOML they flag keys
// train_network.py does not define (sd-scripts ignores them silently) with
// the nearest real name, and values of a type sd-scripts mishandles
// (CheckValue). For a GUI JSON, use ReadGUIInfo for SDXL and sample prompts.
func LoadBase(path string) (Config, []string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		c, err := ReadConfigFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("load base config: %w", err)
		}
		return c, lintConfig(path, c), nil
	case ".json":
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("load base config: %w", err)
		}
		c, warnings, err := ImportGUI(path, data)
		if err != nil {
			return nil, nil, fmt.Errorf("load base config: %w", err)
		}
		return c, append(warnings, lintConfig(path, c)...), nil
	}
	return nil, nil, fmt.Errorf("load base config %s: unknown format: want a kohya TOML (.toml) or a kohya_ss GUI config (.json)", path)
}

// lintConfig checks every key against the argument table.
func lintConfig(path string, c Config) []string {
	var out []string
	names := ArgNames()
	for _, k := range c.Keys() {
		a, ok := LookupArg(k)
		switch {
		case !ok:
			msg := fmt.Sprintf("%s: %s: not a train_network.py argument; sd-scripts ignores it", path, k)
			if near, ok := Nearest(k, names); ok {
				msg += fmt.Sprintf(" (did you mean %s?)", near)
			}
			out = append(out, msg)
		case a.TrainDBOnly:
			out = append(out, fmt.Sprintf("%s: %s: train_db.py only; train_network.py ignores it in a TOML", path, k))
		default:
			if err := CheckValue(a, c[k]); err != nil {
				out = append(out, fmt.Sprintf("%s: %s: %v", path, k, err))
			}
		}
	}
	return out
}

// hubArgs are the arguments whose value is a local path or a Hugging Face
// Hub repository id: sd-scripts loads a file or folder when one is there
// and asks the Hub otherwise (model_util / from_pretrained).
var hubArgs = map[string]bool{"pretrained_model_name_or_path": true, "vae": true}

// IsHubID reports whether value, given for key in a file in folder dir,
// names a Hugging Face Hub repository ("runwayml/stable-diffusion-v1-5")
// rather than a local path. The rule: only the model and VAE arguments take
// ids (tokenizer_cache_dir is a folder sd-scripts reads and writes, never an
// id); a value naming something that exists relative to dir is a path, and
// so is one that cannot be an id: absolute, starting with ~ or ., a model
// file name (.safetensors, .ckpt, .pt, .bin), a backslash or more than one
// '/' (a Hub id is name or owner/name). Everything else is an id. dir ""
// means the current directory.
func IsHubID(key, value, dir string) bool {
	if !hubArgs[key] || value == "" {
		return false
	}
	if filepath.IsAbs(value) || strings.HasPrefix(value, ".") || strings.HasPrefix(value, "~") ||
		strings.Contains(value, `\`) || strings.Count(value, "/") > 1 {
		return false
	}
	switch strings.ToLower(filepath.Ext(value)) {
	case ".safetensors", ".ckpt", ".pt", ".bin":
		return false
	}
	if _, err := os.Stat(filepath.Join(dir, value)); err == nil {
		return false
	}
	return true
}
