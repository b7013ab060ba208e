package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/lorasweep/lorasweep/internal/proc"
	"github.com/lorasweep/lorasweep/kohya"
)

// Preflight checks, before any GPU time is spent, what would make every
// trial fail: the interpreter, launcher and script (kohya), the argument
// names of base against the installed sd-scripts (its --help, parsed once
// per script and cached; the built-in table when --help cannot be run), the
// dataset folders (N_class sub-folders holding images) and the prompt file.
// All problems are reported together, one per line.
func (p *Pool) Preflight(ctx context.Context, base kohya.Config) error {
	ts := p.cfg.Trainer
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	switch ts.Kind {
	case KindCommand:
		if len(ts.Command) == 0 {
			add("trainer.command is empty")
		} else if _, err := proc.LookPath(ts.Command[0]); err != nil {
			add("trainer.command: %s not found", ts.Command[0])
		}
		if err := CheckCommandRegexes(ts); err != nil {
			add("%v", err)
		}
		return joinProblems(problems)
	case KindBuiltin:
		if p.cfg.Self == "" {
			add("the builtin trainer needs the lorasweep binary path (PoolConfig.Self)")
		}
	case KindKohya:
		py := ts.Python
		if py == "" {
			py = "python3"
		}
		if _, err := proc.LookPath(py); err != nil {
			add("trainer.python: %s not found", py)
		}
		if len(ts.Launcher) > 0 {
			if _, err := proc.LookPath(ts.Launcher[0]); err != nil {
				add("trainer.launcher: %s not found (install accelerate in the sd-scripts venv, or drop the launcher to run python -u)", ts.Launcher[0])
			}
		}
		if ts.Script == "" {
			add("trainer.script is not set (train_network.py or sdxl_train_network.py)")
		} else if st, err := os.Stat(ts.Script); err != nil || st.IsDir() {
			add("trainer.script: %s does not exist", ts.Script)
		} else {
			known, err := p.scriptArgs(ctx, py, ts.Script)
			if err != nil {
				p.log.Warn(fmt.Sprintf("could not read %s --help (run with trainer.env), so config keys are checked against lorasweep's built-in argument table instead: %v",
					filepath.Base(ts.Script), err))
			}
			sdxl := IsSDXL(ts.Script, base)
			for _, k := range base.Keys() {
				if known != nil {
					if !known[k] {
						add("config key %s is not an argument of %s", k, filepath.Base(ts.Script))
					}
					continue
				}
				a, ok := kohya.LookupArg(k)
				switch {
				case !ok:
					add("config key %s is not a known sd-scripts argument", k)
				case a.SDXLOnly && !sdxl:
					add("config key %s exists only in sdxl_train_network.py", k)
				}
			}
		}
	}
	problems = append(problems, checkDataset(base)...)
	if sp, _ := base["sample_prompts"].(string); sp != "" && ts.Kind == KindKohya {
		sampler := ts.SampleSampler
		if s, ok := base["sample_sampler"].(string); ok && sampler == "" {
			sampler = s
		}
		if _, warns := NormalizePrompts(nil, IsSDXL(ts.Script, base), sampler); len(warns) > 0 {
			for _, w := range warns {
				p.log.Warn(w)
			}
		}
	}
	return joinProblems(problems)
}

func joinProblems(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return errors.New("preflight: " + strings.Join(problems, "\n  "))
}

// helpOptRE finds long options in argparse's --help output.
var helpOptRE = regexp.MustCompile(`(?m)(?:^|[\s,\[])--([a-zA-Z][a-zA-Z0-9_-]*)`)

// ParseHelpArgs returns the argparse dest names of the long options listed
// in a script's --help output (dashes become underscores, as argparse does).
func ParseHelpArgs(help string) map[string]bool {
	out := map[string]bool{}
	for _, m := range helpOptRE.FindAllStringSubmatch(help, -1) {
		out[strings.ReplaceAll(m[1], "-", "_")] = true
	}
	delete(out, "help")
	return out
}

func (p *Pool) scriptArgs(ctx context.Context, python, script string) (map[string]bool, error) {
	st, err := os.Stat(script)
	if err != nil {
		return nil, err
	}
	key := script + "\x00" + st.ModTime().String()
	p.helpMu.Lock()
	defer p.helpMu.Unlock()
	if m, ok := p.helpCache[key]; ok {
		return m, nil
	}
	// The trial's environment (trainer.env: PYTHONPATH, HF_HOME, …), as
	// the trainer gets it; no GPU for a help text.
	env := append(append(append([]string(nil), p.cfg.Env...), "COLUMNS=250"), specEnv(p.cfg.Trainer.Env)...)
	env = append(env, "CUDA_VISIBLE_DEVICES=")
	out, err := proc.Output(ctx, env, python, script, "--help")
	if err != nil {
		return nil, errors.New(tailLines(err.Error(), helpTailLines))
	}
	m := ParseHelpArgs(string(out))
	if len(m) < 5 {
		return nil, fmt.Errorf("%s --help lists no options", filepath.Base(script))
	}
	p.helpCache[key] = m
	return m, nil
}

// helpTailLines is how much of a failed --help's stderr a warning quotes:
// a Python traceback's last lines name the missing module or the error.
const helpTailLines = 6

// tailLines keeps the first line of s (what failed) and its last n
// non-blank lines, joined with " | " so the message stays one log line.
func tailLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimRight(l, " \r"))
		}
	}
	if len(lines) > n+1 {
		lines = append(append(lines[:1:1], "…"), lines[len(lines)-n:]...)
	}
	return strings.Join(lines, " | ")
}

// checkDataset checks train_data_dir / reg_data_dir and sample_prompts.
func checkDataset(cfg kohya.Config) []string {
	var problems []string
	if _, ok := cfg["dataset_config"]; !ok {
		dir, _ := cfg["train_data_dir"].(string)
		if dir == "" {
			problems = append(problems, "train_data_dir is not set (and no dataset_config)")
		} else {
			problems = append(problems, checkImageDir("train_data_dir", dir, false)...)
		}
		if reg, _ := cfg["reg_data_dir"].(string); reg != "" {
			problems = append(problems, checkImageDir("reg_data_dir", reg, true)...)
		}
	} else if dc, _ := cfg["dataset_config"].(string); dc != "" {
		if _, err := os.Stat(dc); err != nil {
			problems = append(problems, fmt.Sprintf("dataset_config %s does not exist", dc))
		}
	}
	if sp, _ := cfg["sample_prompts"].(string); sp != "" {
		if _, err := kohya.ParsePromptFile(sp); err != nil {
			problems = append(problems, fmt.Sprintf("sample_prompts: %v", err))
		}
	} else if n, ok := cfg["sample_every_n_epochs"]; ok && n != nil {
		problems = append(problems, "sample_every_n_epochs is set but sample_prompts is not (sd-scripts crashes)")
	}
	return problems
}

func checkImageDir(key, dir string, isReg bool) []string {
	subsets, _, err := kohya.ScanDreamBoothDir(dir, isReg, "")
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", key, err)}
	}
	var problems, empty []string
	images := 0
	for _, s := range subsets {
		images += len(s.Images)
		if len(s.Images) == 0 {
			empty = append(empty, filepath.Base(s.Dir))
		}
	}
	sort.Strings(empty)
	if len(subsets) == 0 {
		problems = append(problems, fmt.Sprintf("%s %s has no N_class sub-folder (such as 10_sks dog): sd-scripts would find no data", key, dir))
	} else if images == 0 {
		problems = append(problems, fmt.Sprintf("%s %s: its folders hold no images (.png .jpg .jpeg .webp .bmp)", key, dir))
	} else if len(empty) > 0 {
		problems = append(problems, fmt.Sprintf("%s %s: folders without images: %s", key, dir, strings.Join(empty, ", ")))
	}
	return problems
}
