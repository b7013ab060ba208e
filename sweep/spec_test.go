package sweep

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSpec writes files (relative name → content) into a fresh directory
// and returns the spec's path there.
func writeSpec(t *testing.T, spec string, files map[string]string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, "/") {
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// problemLines renders problems with the temp dir replaced by $DIR.
func problemLines(ps []Problem, dir string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		s := strings.ReplaceAll(p.String(), filepath.Join(dir, "spec.yaml"), "spec.yaml")
		out[i] = strings.ReplaceAll(s, dir, "$DIR")
	}
	return out
}

// minimal is a valid builtin spec; cases append or replace lines.
const minimal = `name: t
trainer: {kind: builtin}
search:
  network_dim: {int: [4, 32]}
objective: {scorers: [{kind: health}]}
budget: {trials: 4}
`

func TestParseSpecErrors(t *testing.T) {
	tests := []struct {
		name  string
		spec  string
		files map[string]string
		want  []string
	}{
		{
			name: "misspelt sd-scripts argument",
			spec: `name: t
trainer: {kind: builtin}
search:
  netwrok_dim: {int: [4, 32]}
objective: {scorers: [{kind: health}]}
budget: {trials: 4}
`,
			want: []string{`spec.yaml:4: search.netwrok_dim: unknown sd-scripts argument "netwrok_dim" (did you mean network_dim?)`},
		},
		{
			name: "unknown top-level key",
			spec: minimal + "budgte: {trials: 4}\n",
			want: []string{`spec.yaml:7: budgte: unknown key "budgte" (did you mean budget?)`},
		},
		{
			name: "unknown key in a param",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 32], lgo: true}", 1),
			want: []string{`spec.yaml:4: search.network_dim.lgo: unknown key "lgo" (did you mean log?)`},
		},
		{
			name: "wrong type",
			spec: strings.Replace(minimal, "trials: 4", "trials: forty", 1),
			want: []string{`spec.yaml:6: budget.trials: expected an integer, got the string "forty"`, `spec.yaml:6: budget.trials: set trials: N (or a deadline), or the sweep never ends`},
		},
		{
			name: "low not below high",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [8, 8]}", 1),
			want: []string{`spec.yaml:4: search.network_dim.int: low 8 must be below high 8 (to fix a value, put it in trainer.fixed)`},
		},
		{
			name: "log with low at zero",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 32]}\n  learning_rate: {float: [0, 1.0e-3], log: true}", 1),
			want: []string{`spec.yaml:5: search.learning_rate.float: a log scale needs low > 0, got 0`},
		},
		{
			name: "empty choice list",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 32]}\n  lr_scheduler: {choice: []}", 1),
			want: []string{`spec.yaml:5: search.lr_scheduler.choice: empty choice list: give at least one choice`},
		},
		{
			name: "when names a missing parameter",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 32]}\n  lr_scheduler: {choice: [cosine, cosine_with_restarts]}\n  lr_scheduler_num_cycles: {int: [1, 4], when: {lr_schedulr: cosine_with_restarts}}", 1),
			want: []string{`spec.yaml:6: search.lr_scheduler_num_cycles.when.lr_schedulr: no parameter "lr_schedulr" in search (did you mean lr_scheduler?)`},
		},
		{
			name: "when names a missing value",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 32]}\n  lr_scheduler: {choice: [cosine, cosine_with_restarts]}\n  lr_scheduler_num_cycles: {int: [1, 4], when: {lr_scheduler: cosine_with_restart}}", 1),
			want: []string{`spec.yaml:6: search.lr_scheduler_num_cycles.when.lr_scheduler: "cosine_with_restart" is not a choice of lr_scheduler (did you mean cosine_with_restarts?) (choices: cosine, cosine_with_restarts)`},
		},
		{
			name: "stop_text_encoder_training searched",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 32]}\n  stop_text_encoder_training: {int: [0, 10]}", 1),
			want: []string{`spec.yaml:5: search.stop_text_encoder_training: ` + msgStopTE},
		},
		{
			name: "stop_text_encoder_training fixed",
			spec: strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {stop_text_encoder_training: 5}}", 1),
			want: []string{`spec.yaml:2: trainer.fixed.stop_text_encoder_training: ` + msgStopTE},
		},
		{
			name: "warmup with the default constant scheduler",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 32]}\n  lr_warmup_steps: {int: [0, 100]}", 1),
			want: []string{`spec.yaml:5: search.lr_warmup_steps: lr_warmup_steps with lr_scheduler constant (sd-scripts' default when lr_scheduler is unset): sd-scripts refuses a warmup with constant (ValueError); use constant_with_warmup`},
		},
		{
			name: "warmup while constant is a choice",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 32]}\n  lr_scheduler: {choice: [constant, cosine]}\n  lr_warmup_steps: {float: [0.0, 0.1]}", 1),
			want: []string{`spec.yaml:6: search.lr_warmup_steps: lr_warmup_steps can be set while lr_scheduler is constant, which sd-scripts refuses (ValueError): add when: {lr_scheduler: [cosine]}`},
		},
		{
			name: "warmup fixed with constant",
			spec: strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {lr_scheduler: constant, lr_warmup_steps: 50}}", 1),
			want: []string{`spec.yaml:2: trainer.fixed.lr_warmup_steps: lr_warmup_steps with lr_scheduler constant: sd-scripts refuses a warmup with constant (ValueError); use constant_with_warmup`},
		},
		{
			name: "float warmup above one",
			spec: strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {lr_scheduler: cosine, lr_warmup_steps: 100.0}}", 1),
			want: []string{`spec.yaml:2: trainer.fixed.lr_warmup_steps: lr_warmup_steps = 100 is a float, which sd-scripts reads as a ratio of the total steps: write an integer for steps (100) or a value below 1 for a ratio`},
		},
		{
			name: "unknown scheduler fixed",
			spec: strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {lr_scheduler: cosin}}", 1),
			want: []string{`spec.yaml:2: trainer.fixed.lr_scheduler: unknown lr_scheduler "cosin" (did you mean cosine?)`},
		},
		{
			name: "unknown scheduler choice",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 32]}\n  lr_scheduler: {choice: [cosine, polynomal]}", 1),
			want: []string{`spec.yaml:5: search.lr_scheduler.choice[1]: "polynomal" is not a known lr_scheduler (did you mean polynomial?)`},
		},
		{
			name: "sweep name escapes the output root",
			spec: strings.Replace(minimal, "name: t", "name: ../../etc", 1),
			want: []string{`spec.yaml:1: name: "../../etc" is not a plain name: use letters, digits, '.', '_' and '-' (it names a folder under output_root, so '/', '..' and absolute paths are refused)`},
		},
		{
			name: "absolute sweep name",
			spec: strings.Replace(minimal, "name: t", "name: /tmp/x", 1),
			want: []string{`spec.yaml:1: name: "/tmp/x" is not a plain name: use letters, digits, '.', '_' and '-' (it names a folder under output_root, so '/', '..' and absolute paths are refused)`},
		},
		{
			name: "output name escapes the trial folder",
			spec: strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {output_name: ../../x}}", 1),
			want: []string{`spec.yaml:2: trainer.fixed.output_name: output_name "../../x" is not a plain name: use letters, digits, '.', '_' and '-' (no '/', '..' or absolute paths: outputs stay in the trial's folder)`},
		},
		{
			name: "output_dir is the runner's",
			spec: strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {output_dir: out}}", 1),
			want: []string{`spec.yaml:2: trainer.fixed.output_dir: output_dir is set per trial by lorasweep (under output_root): remove it`},
		},
		{
			name:  "dataset folder without N_ prefix",
			spec:  strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {train_data_dir: data}}", 1),
			files: map[string]string{"data/cat/01.png": "x"},
			want: []string{
				`spec.yaml:2: trainer.fixed.train_data_dir: warning: folder "cat" in $DIR/data has no N_ prefix with N ≥ 1 (such as 10_cat): sd-scripts skips it`,
				`spec.yaml:2: trainer.fixed.train_data_dir: $DIR/data has no image folders named N_name (such as "10_sks dog", N = repeats): sd-scripts would find no data`,
			},
		},
		{
			name: "missing dataset folder",
			spec: strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {train_data_dir: nowhere}}", 1),
			want: []string{`spec.yaml:2: trainer.fixed.train_data_dir: $DIR/nowhere does not exist`},
		},
		{
			name: "resolution as a number",
			spec: strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {resolution: 512}}", 1),
			want: []string{`spec.yaml:2: trainer.fixed.resolution: resolution must be a string such as "512,512" (sd-scripts splits it on commas; a number crashes it), got the integer 512`},
		},
		{
			name: "float range for an integer argument",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{float: [4, 32]}", 1),
			want: []string{`spec.yaml:4: search.network_dim: network_dim is an integer argument: use int: [low, high] or a choice of integers`},
		},
		{
			name: "ratio_of names nothing",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 32]}\n  network_alpha: {ratio_of: network_dims, float: [0.1, 1.0]}", 1),
			want: []string{`spec.yaml:5: search.network_alpha.ratio_of: no parameter "network_dims" in search and no value for it in the base config or trainer.fixed (did you mean network_dim?)`},
		},
		{
			name: "when on a non-categorical",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 32]}\n  rank_dropout: {float: [0.0, 0.3], when: {network_dim: 4}}", 1),
			want: []string{`spec.yaml:5: search.rank_dropout.when.network_dim: when needs a categorical parameter (choice: [...]); network_dim is int`},
		},
		{
			name: "step not dividing the range",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 30], step: 4}", 1),
			want: []string{`spec.yaml:4: search.network_dim.step: high − low (26) is not a multiple of step 4: the grid would not reach high`},
		},
		{
			name: "missing base config",
			spec: strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, base: base.toml}", 1),
			want: []string{`spec.yaml:2: trainer.base: $DIR/base.toml does not exist`},
		},
		{
			name: "three mistakes reported together",
			spec: `name: t
trainer: {kind: builtin}
search:
  netwrok_dim: {int: [4, 32]}
  learning_rate: {float: [1.0e-2, 1.0e-5], log: true}
  lr_scheduler: {choice: []}
objective: {scorers: [{kind: health}]}
budget: {trials: 4}
`,
			want: []string{
				`spec.yaml:4: search.netwrok_dim: unknown sd-scripts argument "netwrok_dim" (did you mean network_dim?)`,
				`spec.yaml:5: search.learning_rate.float: low 0.01 must be below high 1e-05`,
				`spec.yaml:6: search.lr_scheduler.choice: empty choice list: give at least one choice`,
			},
		},
		{
			name: "yaml syntax error",
			spec: "name: t\ntrainer: {kind: builtin\n",
			want: []string{`spec.yaml:1: YAML syntax: did not find expected ',' or '}'`},
		},
		{
			name: "unknown placeholder of the command trainer",
			spec: `name: t
trainer: {kind: command, command: [train, --lr, "{learning_rat}"]}
search:
  learning_rate: {float: [1.0e-5, 1.0e-3], log: true}
objective: {scorers: [{kind: health}]}
budget: {trials: 4}
`,
			want: []string{`spec.yaml:2: trainer.command[2]: unknown placeholder {learning_rat} (did you mean learning_rate?) (placeholders: search parameters and config, output_dir, trial_dir, output_name, trial)`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, dir := writeSpec(t, tc.spec, tc.files)
			_, err := ParseSpecFile(path)
			se, ok := IsSpecError(err)
			if !ok {
				t.Fatalf("got err %v, want a *SpecError", err)
			}
			got := problemLines(se.Problems, dir)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestParseSpecWarnings(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want []string
	}{
		{
			name: "alpha can exceed dim",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 32]}\n  network_alpha: {float: [1, 64]}", 1),
			want: []string{`spec.yaml:5: search.network_alpha: warning: network_alpha can exceed network_dim (alpha up to 64, dim down to 4): sd-scripts allows it, but alpha > dim scales the LoRA's updates up (alpha/dim > 1), which is usually advised against; use {ratio_of: network_dim, float: [0.125, 1.0]} to keep alpha ≤ dim`},
		},
		{
			name: "fixed alpha above fixed dim",
			spec: strings.Replace(strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {network_dim: 8, network_alpha: 16}}", 1), "network_dim: {int: [4, 32]}", "learning_rate: {float: [1.0e-5, 1.0e-3]}", 1),
			want: []string{`spec.yaml:2: trainer.fixed.network_alpha: warning: network_alpha 16 exceeds network_dim 8: sd-scripts allows it, but alpha > dim scales the LoRA's updates up (alpha/dim > 1), which is usually advised against`},
		},
		{
			name: "cycles for schedulers that ignore them",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 32]}\n  lr_scheduler: {choice: [cosine, cosine_with_restarts]}\n  lr_scheduler_num_cycles: {int: [1, 4]}", 1),
			want: []string{`spec.yaml:6: search.lr_scheduler_num_cycles: warning: lr_scheduler cosine ignores lr_scheduler_num_cycles (read only by cosine_with_restarts, cosine_with_min_lr, warmup_stable_decay): add when: {lr_scheduler: cosine_with_restarts}`},
		},
		{
			name: "power with a fixed cosine",
			spec: strings.Replace(minimal, "{kind: builtin}", "{kind: builtin, fixed: {lr_scheduler: cosine, lr_scheduler_power: 2.0}}", 1),
			want: []string{`spec.yaml:2: trainer.fixed.lr_scheduler_power: warning: lr_scheduler cosine ignores lr_scheduler_power (read only by polynomial)`},
		},
		{
			name: "seed searched",
			spec: strings.Replace(minimal, "{int: [4, 32]}", "{int: [4, 32]}\n  seed: {int: [0, 1000]}", 1),
			want: []string{`spec.yaml:5: search.seed: warning: searching seed optimises noise, not the LoRA: fix seed in trainer.fixed and compare settings instead`},
		},
		{
			name: "clean spec",
			spec: minimal,
			want: []string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, dir := writeSpec(t, tc.spec, nil)
			spec, err := ParseSpecFile(path)
			if err != nil {
				t.Fatalf("ParseSpecFile: %v", err)
			}
			got := problemLines(spec.Warnings, dir)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestParseSpecResolves(t *testing.T) {
	spec := `name: cat
storage: sqlite://db/sweep.db
trainer:
  kind: builtin
  base: base.toml
  fixed:
    train_data_dir: data
    rank_dropout: 0.1
search:
  network_dim: {int: [4, 128], log: true}
  network_alpha: {ratio_of: network_dim, float: [0.125, 1.0]}
  num_repeats: {int: [1, 20]}
objective: {scorers: [{kind: reference, references: refs}]}
budget: {trials: 40, parallel: 2, deadline: "07:00", trial_timeout: 2h}
gpus: [0, 2]
`
	files := map[string]string{
		"base.toml":              "[model]\nlearning_rate = 1e-4\nnetwork_args = [\"conv_dim=4\", \"rank_dropout=0.3\"]\n[data]\nsample_prompts = \"prompts.txt\"\n",
		"data/10_sks cat/01.png": "x",
		"refs/00.png":            "x",
		"prompts.txt":            "a cat\n", // base paths must exist
	}
	path, dir := writeSpec(t, spec, files)
	s, err := ParseSpecFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"storage", s.Storage, "sqlite://" + filepath.Join(dir, "db/sweep.db")},
		{"output root", s.OutputRoot, filepath.Join(dir, DefaultOutputRoot, "cat")},
		{"base", s.Trainer.Base, filepath.Join(dir, "base.toml")},
		{"base path values", s.Base["sample_prompts"].(string), filepath.Join(dir, "prompts.txt")},
		{"fixed path", s.Base["train_data_dir"].(string), filepath.Join(dir, "data")},
		{"references", s.Objective.Scorers[0].References, filepath.Join(dir, "refs")},
		{"network args merged", displayValue(s.Base["network_args"]), "[conv_dim=4 rank_dropout=0.1]"},
		{"gpus", s.GPUs.Mode, "list"},
		{"num_repeats target", string(s.Search[2].Target), string(TargetDataset)},
		{"alpha target", string(s.Search[1].Target), string(TargetArg)},
		{"deadline", s.Budget.Deadline, "07:00"},
		{"timeout", s.Budget.TrialTimeout.String(), "2h0m0s"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !s.Baseline {
		t.Error("baseline should default to true with a base config")
	}
}

func TestExamplesParse(t *testing.T) {
	paths, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			s, err := ParseSpecFile(p)
			if err != nil {
				t.Fatalf("%v", err)
			}
			var b strings.Builder
			if err := s.Describe(&b); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), "search space") {
				t.Errorf("Describe output lacks the search space:\n%s", b.String())
			}
		})
	}
}

func TestRefusedParamIsNotReportedTwice(t *testing.T) {
	spec := strings.Replace(minimal, "  network_dim: {int: [4, 32]}", "  netwrok_dim: {int: [4, 32]}\n  network_alpha: {ratio_of: netwrok_dim, float: [0.1, 1.0]}\n  lr_scheduler: {choice: [cosine, cosine_with_restarts], lgo: true}\n  lr_scheduler_num_cycles: {int: [1, 4], when: {lr_scheduler: cosine_with_restarts}}", 1)
	path, dir := writeSpec(t, spec, nil)
	_, err := ParseSpecFile(path)
	se, ok := IsSpecError(err)
	if !ok {
		t.Fatalf("got %v, want a *SpecError", err)
	}
	want := []string{
		`spec.yaml:4: search.netwrok_dim: unknown sd-scripts argument "netwrok_dim" (did you mean network_dim?)`,
		`spec.yaml:6: search.lr_scheduler.lgo: unknown key "lgo" (did you mean log?)`,
	}
	if got := problemLines(se.Problems, dir); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
