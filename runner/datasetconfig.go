package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/lorasweep/lorasweep/kohya"
)

// DatasetOptions are a trial's dataset settings that sd-scripts reads from
// the folder names (N_name) or a --dataset_config file, not from arguments.
type DatasetOptions struct {
	// NumRepeats replaces the N_ prefix of every training sub-folder
	// (regularisation folders keep their own); 0 leaves them as they are.
	NumRepeats int
}

// Files ApplyDatasetOptions writes into a trial directory.
const (
	DatasetConfigFile = "dataset.toml"
	DatasetViewDir    = "dataset"
)

// dreamboothSubset is one [[datasets.subsets]] entry (KOHYA.md §b: the
// schema is strict, so only keys it accepts are written).
type dreamboothSubset struct {
	ImageDir    string `toml:"image_dir"`
	NumRepeats  int    `toml:"num_repeats"`
	ClassTokens string `toml:"class_tokens,omitempty"`
	IsReg       bool   `toml:"is_reg,omitempty"`
}

type datasetBlueprint struct {
	Subsets []dreamboothSubset `toml:"subsets"`
}

type datasetConfigFile struct {
	Datasets []datasetBlueprint `toml:"datasets"`
}

// ApplyDatasetOptions prepares a trial's own dataset description under dir
// (the trial directory, before Run) and returns cfg changed to use it; the
// user's folders are never renamed or written to.
//
// For the kohya trainer it writes dir/dataset.toml, a --dataset_config
// listing every N_name sub-folder of train_data_dir (and reg_data_dir, with
// is_reg) as a subset with its repeats, and drops train_data_dir and
// reg_data_dir (sd-scripts ignores them next to a dataset config, with a
// warning). Other settings (resolution, buckets, caption extension) still
// come from the arguments, which sd-scripts uses as the fallback.
//
// The builtin and command trainers read only the folder convention, so for
// them it builds dir/dataset/{train,reg}/R_name folders of symlinks to the
// user's files and points train_data_dir (reg_data_dir) there.
func ApplyDatasetOptions(dir, trainerKind string, cfg kohya.Config, opts DatasetOptions) (kohya.Config, error) {
	if opts.NumRepeats == 0 {
		return cfg, nil
	}
	if opts.NumRepeats < 0 {
		return nil, fmt.Errorf("num_repeats must be at least 1, got %d", opts.NumRepeats)
	}
	if _, ok := cfg["dataset_config"]; ok {
		return nil, errors.New("num_repeats cannot be searched when the base config uses dataset_config: set it per subset there")
	}
	train, _ := cfg["train_data_dir"].(string)
	if train == "" {
		return nil, errors.New("num_repeats needs train_data_dir (N_name folders)")
	}
	reg, _ := cfg["reg_data_dir"].(string)
	out := cfg.Clone()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create trial dir: %w", err)
	}
	trainSubs, err := scanSubsets(train, false, opts.NumRepeats)
	if err != nil {
		return nil, err
	}
	if len(trainSubs) == 0 {
		return nil, fmt.Errorf("train_data_dir %s has no N_name sub-folders", train)
	}
	var regSubs []dreamboothSubset
	if reg != "" {
		if regSubs, err = scanSubsets(reg, true, 0); err != nil {
			return nil, err
		}
	}
	if trainerKind == "kohya" {
		doc := datasetConfigFile{Datasets: []datasetBlueprint{{Subsets: append(trainSubs, regSubs...)}}}
		data, err := toml.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("encode dataset config: %w", err)
		}
		path := filepath.Join(dir, DatasetConfigFile)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, fmt.Errorf("write dataset config: %w", err)
		}
		delete(out, "train_data_dir")
		delete(out, "reg_data_dir")
		out["dataset_config"] = path
		return out, nil
	}
	view := filepath.Join(dir, DatasetViewDir)
	tv, err := linkSubsets(filepath.Join(view, "train"), trainSubs)
	if err != nil {
		return nil, err
	}
	out["train_data_dir"] = tv
	if len(regSubs) > 0 {
		rv, err := linkSubsets(filepath.Join(view, "reg"), regSubs)
		if err != nil {
			return nil, err
		}
		out["reg_data_dir"] = rv
	}
	return out, nil
}

// scanSubsets lists root's sub-folders that sd-scripts' folder convention
// accepts (KOHYA.md §b: an integer prefix ≥ 1, then _class tokens), with
// repeats replaced by numRepeats when it is positive.
func scanSubsets(root string, isReg bool, numRepeats int) ([]dreamboothSubset, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", root, err)
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("read dataset folder: %w", err)
	}
	var out []dreamboothSubset
	for _, e := range entries {
		full := filepath.Join(abs, e.Name())
		if fi, err := os.Stat(full); err != nil || !fi.IsDir() {
			continue
		}
		prefix, class, _ := strings.Cut(e.Name(), "_")
		n, err := strconv.Atoi(prefix)
		if err != nil || n < 1 {
			continue // sd-scripts ignores such folders too
		}
		if numRepeats > 0 {
			n = numRepeats
		}
		out = append(out, dreamboothSubset{ImageDir: full, NumRepeats: n, ClassTokens: class, IsReg: isReg})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ImageDir < out[j].ImageDir })
	return out, nil
}

// linkSubsets makes dir hold one R_class folder per subset, of symlinks to
// the subset's files, and returns dir.
// Two subsets with the same class tokens get distinct names by a numeric
// suffix on the tokens only when needed (class tokens are also captions of
// last resort, so they are kept otherwise).
func linkSubsets(dir string, subs []dreamboothSubset) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create dataset view: %w", err)
	}
	used := map[string]bool{}
	for _, s := range subs {
		name := fmt.Sprintf("%d_%s", s.NumRepeats, s.ClassTokens)
		for i := 2; used[name]; i++ {
			name = fmt.Sprintf("%d_%s%d", s.NumRepeats, s.ClassTokens, i)
		}
		used[name] = true
		// A real folder of per-file links: readers that skip symlinked
		// directories (Go's DirEntry.IsDir) still see it.
		sub := filepath.Join(dir, name)
		if err := os.Mkdir(sub, 0o755); err != nil {
			return "", fmt.Errorf("create dataset view: %w", err)
		}
		files, err := os.ReadDir(s.ImageDir)
		if err != nil {
			return "", fmt.Errorf("read dataset folder: %w", err)
		}
		for _, f := range files {
			if f.IsDir() {
				continue
			}
			if err := os.Symlink(filepath.Join(s.ImageDir, f.Name()), filepath.Join(sub, f.Name())); err != nil {
				return "", fmt.Errorf("link dataset file: %w", err)
			}
		}
	}
	return dir, nil
}
