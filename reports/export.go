package reports

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/runner"
	"github.com/lorasweep/lorasweep/sweep"
)

// Exports hand a trial back to the trainer it came from. Decisions written
// down once (docs/export.md says the same for users):
//
//   - The config is the trial's <trial dir>/trial.toml when this machine can
//     read it: that file is exactly what the trainer was given, even when the
//     stored spec was changed on a later resume. Without it (another machine,
//     a cleaned-up run folder) the config is rebuilt from the stored spec
//     (base + fixed + params, sweep.Spec.TrialConfig) plus the runner's
//     sample_sampler; a note says so. With both, keys where they disagree are
//     noted and trial.toml wins.
//   - Keys the runner set per trial are not the user's: output_dir and
//     output_name come from the export's options (default: the base
//     config's), logging_dir, sample_prompts, train_data_dir and
//     reg_data_dir from the stored spec (the runner points the last three at
//     its normalised prompt file and its cache-safe dataset views inside the
//     sweep's folders), and dataset_config when it is the trial's own
//     dataset.toml (written for num_repeats; the export names the setting).
//   - max_train_epochs and the schedule stay as trained even when the best
//     epoch is earlier: cutting the epochs would change the LR schedule and
//     train a different model. The best epoch's checkpoint is named instead.

// ExportFormat names an export's output format.
type ExportFormat string

// Export formats.
const (
	// FormatKohyaTOML is a flat TOML for train_network.py --config_file.
	FormatKohyaTOML ExportFormat = "kohya-toml"
	// FormatGUIJSON is a kohya_ss GUI LoRA config for "Load config".
	FormatGUIJSON ExportFormat = "gui-json"
	// FormatArgs is the trainer's command line with every argument inline.
	FormatArgs ExportFormat = "args"
	// FormatCSV lists every trial: params, value, state.
	FormatCSV ExportFormat = "csv"
	// FormatJSON lists every trial as a JSON array.
	FormatJSON ExportFormat = "json"
)

// ExportFormats lists the formats in the order help texts show them.
var ExportFormats = []ExportFormat{FormatKohyaTOML, FormatGUIJSON, FormatArgs, FormatCSV, FormatJSON}

// ParseExportFormat returns the format named s, or an error listing the
// valid names.
func ParseExportFormat(s string) (ExportFormat, error) {
	for _, f := range ExportFormats {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(ExportFormats))
	for i, f := range ExportFormats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unknown export format %q: use %s", s, strings.Join(names, ", "))
}

// PerTrial reports whether the format exports one trial (as opposed to the
// list of all trials).
func (f ExportFormat) PerTrial() bool {
	return f == FormatKohyaTOML || f == FormatGUIJSON || f == FormatArgs
}

// BestTrial selects the best COMPLETE trial in TrialOptions.Trial.
const BestTrial = -1

// ExportStore is what exports read of a sweep. storage.Store satisfies it.
type ExportStore interface {
	GetAllTrials(studyID int) ([]goptuna.FrozenTrial, error)
	GetStudyDirection(studyID int) (goptuna.StudyDirection, error)
	// Runs returns every run of the study's trials in trial-number order.
	Runs(ctx context.Context, studyID int) ([]sweep.RunRecord, error)
	Epochs(ctx context.Context, trialID int) ([]sweep.EpochRecord, error)
}

// TrialOptions picks the trial to export and where its retrained output
// should go.
type TrialOptions struct {
	// Trial is a trial number, or BestTrial.
	Trial int
	// OutputDir and OutputName become output_dir and output_name; empty
	// takes the base config's, else "./output" (made absolute) and
	// "<sweep>-trial-NNNN".
	OutputDir  string
	OutputName string
}

// TrialExport is one trial made ready for its trainer.
type TrialExport struct {
	Sweep  string
	Number int
	State  string
	// Value is the trial's stored value (nil without one).
	Value *float64
	// Params are as searched (a ratio_of param as its ratio): Config
	// holds the values trained.
	Params map[string]any
	// Config is the flat sd-scripts config exactly as trained, with output
	// paths as asked and every path absolute.
	Config kohya.Config
	// SDXL says the trainer is sdxl_train_network.py.
	SDXL bool
	// Trainer is the sweep's trainer (launcher, script, kind) for Argv.
	Trainer runner.TrainerSpec
	// BestEpoch is the best scored epoch (0: none), BestStep the best step
	// of a trial that samples by steps (0: none); Epochs the trained epoch
	// count when the config says it (0: unknown).
	BestEpoch int
	BestStep  int
	Epochs    int
	// Partial is "k/n" when the trial's value was scored on k of n sample
	// images (it has no complete candidate); Notes then warn.
	Partial string
	// Checkpoint is the best epoch's .safetensors as recorded ("" when
	// none); CheckpointOK says this machine can read it.
	Checkpoint   string
	CheckpointOK bool
	// Source is "trial.toml" (the file the trainer read) or "spec" (rebuilt
	// from the stored spec).
	Source string
	// Notes are what the user should know about this export, one line each.
	Notes []string
}

// runnerKeys are the keys the runner sets per trial inside the sweep's own
// folders; an export takes them from the spec or the options instead.
var runnerKeys = []string{"output_dir", "output_name", "logging_dir", "sample_prompts", "train_data_dir", "reg_data_dir"}

// exportPathKeys are sd-scripts arguments whose values are local paths
// (models may also be Hugging Face ids, which are left alone).
var exportPathKeys = map[string]bool{
	"train_data_dir": true, "reg_data_dir": true, "conditioning_data_dir": true, "sample_prompts": true,
	"dataset_config": true, "network_weights": true, "in_json": true, "log_tracker_config": true,
	"output_dir": true, "logging_dir": true, "tokenizer_cache_dir": true,
	"pretrained_model_name_or_path": true, "vae": true,
}

// LoadTrialExport reads the trial opt.Trial (or the best COMPLETE trial) of
// a sweep and builds its export: the config as trained, the best epoch and
// its checkpoint. spec is the sweep's stored spec (sweep.LoadStoredSpec).
// It fails when the trial does not exist, when BestTrial is asked and no
// trial is COMPLETE, and for the command trainer, whose config is not an
// sd-scripts config.
func LoadTrialExport(ctx context.Context, store ExportStore, spec *sweep.Spec, studyID int, opt TrialOptions) (*TrialExport, error) {
	if spec.Trainer.Kind == runner.KindCommand {
		return nil, errors.New("export trial: sweep uses the command trainer, whose config is not an sd-scripts config; use --format csv or json")
	}
	trials, err := store.GetAllTrials(studyID)
	if err != nil {
		return nil, fmt.Errorf("read trials: %w", err)
	}
	dir, err := store.GetStudyDirection(studyID)
	if err != nil {
		return nil, fmt.Errorf("read direction: %w", err)
	}
	rows := sweep.Rank(trials, dir)
	row, err := pickTrial(rows, opt.Trial, spec.Name)
	if err != nil {
		return nil, err
	}
	runs, err := store.Runs(ctx, studyID)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	var run *sweep.RunRecord
	for i := range runs {
		if runs[i].TrialID == row.ID {
			run = &runs[i]
		}
	}
	ex := &TrialExport{Sweep: spec.Name, Number: row.Number, State: row.State, Value: row.Value, Params: row.Params,
		Trainer: spec.Trainer, Partial: row.Partial}
	if row.State != "complete" {
		ex.note("trial %d is %s, not complete: its config is exported as it was given to the trainer", row.Number, row.State)
	}
	if row.Partial != "" {
		ex.note("trial %d's value was scored on only %s of its best candidate's sample images (none of its candidates has all of them): it ranks below every trial scored on complete evidence, and its value may not hold up", row.Number, row.Partial)
	}
	if err := ex.buildConfig(spec, row, run, opt); err != nil {
		return nil, err
	}
	if err := ex.findCheckpoint(ctx, store, row, run); err != nil {
		return nil, err
	}
	return ex, nil
}

// pickTrial finds trial number n among ranked rows, or the best COMPLETE one.
func pickTrial(rows []sweep.TrialRow, n int, name string) (sweep.TrialRow, error) {
	if n == BestTrial {
		for _, r := range rows {
			if r.State == "complete" && r.Value != nil {
				return r, nil
			}
		}
		return sweep.TrialRow{}, fmt.Errorf("sweep %q has no complete trial yet", name)
	}
	for _, r := range rows {
		if r.Number == n {
			return r, nil
		}
	}
	return sweep.TrialRow{}, fmt.Errorf("sweep %q has no trial %d", name, n)
}

func (ex *TrialExport) note(format string, args ...any) {
	ex.Notes = append(ex.Notes, fmt.Sprintf(format, args...))
}

// buildConfig decides the trial's config (see the decisions above).
func (ex *TrialExport) buildConfig(spec *sweep.Spec, row sweep.TrialRow, run *sweep.RunRecord, opt TrialOptions) error {
	rebuilt := spec.TrialConfig(row.Params)
	if spec.Trainer.SampleSampler != "" {
		rebuilt["sample_sampler"] = spec.Trainer.SampleSampler
	}
	cfg := rebuilt
	ex.Source = "spec"
	trained, tomlPath, err := readTrialTOML(run)
	switch {
	case err == nil:
		ex.Source = "trial.toml"
		cfg = trained.Clone()
		keys := runnerKeys
		if dc, _ := trained["dataset_config"].(string); dc != "" && run != nil && exportWithin(run.TrialDir, dc) {
			// The runner's own dataset description for a dataset param
			// (num_repeats), written in the trial's folder: not the user's.
			keys = append(append([]string(nil), runnerKeys...), "dataset_config")
		}
		for _, k := range keys {
			if v, ok := rebuilt[k]; ok {
				cfg[k] = v
			} else {
				delete(cfg, k)
			}
		}
		for _, k := range unionKeys(trained, rebuilt) {
			if slices.Contains(keys, k) {
				continue
			}
			a, b := trained[k], rebuilt[k]
			if !sameConfigValue(a, b) {
				ex.note("%s: trial.toml has %s, the stored spec gives %s (the spec changed after this trial ran); the export follows trial.toml", k, showValue(a), showValue(b))
			}
		}
	case run == nil || run.TrialDir == "":
		ex.note("trial %d never ran: config rebuilt from the stored spec", row.Number)
	default:
		ex.note("%s is not readable here (%v): config rebuilt from the stored spec", tomlPath, errors.Unwrap(err))
	}
	if dp := spec.DatasetParams(row.Params); len(dp) > 0 {
		for _, k := range sortedAnyKeys(dp) {
			ex.note("%s = %s is a dataset setting, not an sd-scripts argument: name the dataset folders for it (N_<class> for num_repeats)", k, showValue(dp[k]))
		}
	}
	if err := ex.setOutput(spec, cfg, opt); err != nil {
		return err
	}
	for _, k := range cfg.Keys() {
		s, ok := cfg[k].(string)
		if !ok || !exportPathKeys[k] || s == "" || filepath.IsAbs(s) || kohya.IsHubID(k, s, "") {
			continue
		}
		abs, err := filepath.Abs(s)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", k, err)
		}
		cfg[k] = abs
		ex.note("%s was relative (%s); made absolute against the current directory", k, s)
	}
	for _, k := range cfg.Keys() {
		s, ok := cfg[k].(string)
		if ok && s != "" && (exportWithin(spec.OutputRoot, s) || run != nil && exportWithin(run.TrialDir, s)) {
			ex.note("%s points inside the sweep's run folder (%s): it exists only while that folder is kept", k, s)
		}
	}
	ex.Config = cfg
	ex.SDXL = runner.IsSDXL(spec.Trainer.Script, cfg)
	if n, ok := cfg["max_train_epochs"].(int64); ok {
		ex.Epochs = int(n)
	}
	return nil
}

// setOutput sets output_dir and output_name from the options or the base.
func (ex *TrialExport) setOutput(spec *sweep.Spec, cfg kohya.Config, opt TrialOptions) error {
	outDir := opt.OutputDir
	if outDir == "" {
		outDir, _ = spec.Base["output_dir"].(string)
	}
	if outDir == "" {
		outDir = "output"
		ex.note("the base config sets no output_dir: using ./output; choose one with --output-dir")
	}
	abs, err := filepath.Abs(outDir)
	if err != nil {
		return fmt.Errorf("resolve output dir: %w", err)
	}
	cfg["output_dir"] = abs
	name := opt.OutputName
	if name == "" {
		name, _ = spec.Base["output_name"].(string)
	}
	if name == "" {
		name = fmt.Sprintf("%s-trial-%04d", safeName(spec.Name), ex.Number)
	}
	cfg["output_name"] = name
	return nil
}

// safeName keeps a sweep name usable as a file name.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "sweep"
	}
	return b.String()
}

// exportWithin reports whether path lies inside dir (both absolute).
func exportWithin(dir, path string) bool {
	if dir == "" || !filepath.IsAbs(path) {
		return false
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// readTrialTOML reads the config the runner wrote for the trial.
func readTrialTOML(run *sweep.RunRecord) (kohya.Config, string, error) {
	if run == nil || run.TrialDir == "" {
		return nil, "", errors.New("no trial dir")
	}
	path := filepath.Join(run.TrialDir, runner.ConfigFile)
	c, err := kohya.ReadConfigFile(path)
	if err != nil {
		return nil, path, fmt.Errorf("read %s: %w", path, err)
	}
	return c, path, nil
}

// findCheckpoint records the best candidate (epoch or step) and its
// checkpoint, noting when the file is gone (retention) or not on this
// machine.
func (ex *TrialExport) findCheckpoint(ctx context.Context, store ExportStore, row sweep.TrialRow, run *sweep.RunRecord) error {
	switch {
	case row.BestStep != nil:
		ex.BestStep = *row.BestStep
	case run != nil && run.BestEpoch != nil:
		ex.BestEpoch = *run.BestEpoch
		ex.Checkpoint = run.Checkpoint
		row.BestEpoch = run.BestEpoch
	case row.BestEpoch != nil:
		ex.BestEpoch = *row.BestEpoch
	}
	if ex.BestEpoch == 0 && ex.BestStep == 0 {
		ex.note("trial %d has no scored epoch or step: there is no checkpoint to hand over", ex.Number)
		return nil
	}
	best := row.BestCandidate()
	eps, err := store.Epochs(ctx, row.ID)
	if err != nil {
		return fmt.Errorf("read epochs of trial %d: %w", row.Number, err)
	}
	for _, e := range eps {
		if !row.IsBest(e) {
			continue
		}
		if ex.Checkpoint == "" {
			ex.Checkpoint = e.Checkpoint
		}
		if e.Deleted {
			ex.note("the best %s's checkpoint was deleted by the retention policy", best)
		}
	}
	if ex.Checkpoint == "" {
		save := "save_every_n_epochs"
		if ex.BestStep > 0 {
			save = "save_every_n_steps"
		}
		ex.note("no checkpoint was recorded for %s (%s did not save it)", best, save)
		return nil
	}
	if st, err := os.Stat(ex.Checkpoint); err == nil && st.Mode().IsRegular() {
		ex.CheckpointOK = true
	} else {
		ex.note("the checkpoint %s is not readable from this machine", ex.Checkpoint)
	}
	if ex.BestStep > 0 {
		ex.note("the best candidate is step %d: use its checkpoint, not the final model (retraining this config saves step %d again; do not cut max_train_steps or the epochs, that changes the schedule)", ex.BestStep, ex.BestStep)
	} else if ex.Epochs > 0 && ex.BestEpoch < ex.Epochs {
		ex.note("the best epoch is %d of %d: use its checkpoint, not the final model (retraining this config saves epoch %d again; do not cut max_train_epochs, that changes the schedule)", ex.BestEpoch, ex.Epochs, ex.BestEpoch)
	}
	return nil
}

func unionKeys(a, b kohya.Config) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range []kohya.Config{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

func sortedAnyKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sameConfigValue compares two TOML values the way sd-scripts sees them:
// 1 and 1.0 differ (a float warmup is a ratio), lists element-wise.
func sameConfigValue(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	la, okA := a.([]any)
	lb, okB := b.([]any)
	if okA || okB {
		if !okA || !okB || len(la) != len(lb) {
			return false
		}
		for i := range la {
			if !sameConfigValue(la[i], lb[i]) {
				return false
			}
		}
		return true
	}
	sa, err1 := kohya.WriteTOML(kohya.Config{"v": a})
	sb, err2 := kohya.WriteTOML(kohya.Config{"v": b})
	return err1 == nil && err2 == nil && string(sa) == string(sb)
}

// showValue renders a config value for a note.
func showValue(v any) string {
	if v == nil {
		return "nothing"
	}
	data, err := kohya.WriteTOML(kohya.Config{"v": v})
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(strings.TrimPrefix(string(data), "v = "), "\n")
}

// commentSafe keeps a TOML comment on one line.
func commentSafe(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ").Replace(s)
}

// KohyaTOML renders the export as a flat TOML that train_network.py (or
// sdxl_train_network.py) --config_file accepts as it is: the config's keys
// sorted, after comment lines naming the sweep, the trial, its best epoch
// and that epoch's checkpoint (sd-scripts' TOML reader skips comments).
func (ex *TrialExport) KohyaTOML() ([]byte, error) {
	body, err := kohya.WriteTOML(ex.Config)
	if err != nil {
		return nil, fmt.Errorf("write kohya TOML: %w", err)
	}
	var b strings.Builder
	for _, line := range ex.Header() {
		b.WriteString("# ")
		b.WriteString(commentSafe(line))
		b.WriteByte('\n')
	}
	b.Write(body)
	return []byte(b.String()), nil
}

// Header describes the export in a few lines: sweep, trial, value, the best
// epoch and its checkpoint, and how to train the config.
func (ex *TrialExport) Header() []string {
	value := "no value"
	if ex.Value != nil {
		value = "value " + strconv.FormatFloat(*ex.Value, 'g', 6, 64)
	}
	script := "train_network.py"
	switch {
	case ex.Trainer.Kind == runner.KindBuiltin:
		script = "lorasweep train-builtin"
	case ex.SDXL:
		script = "sdxl_train_network.py"
	}
	lines := []string{
		fmt.Sprintf("lorasweep export of sweep %q, trial %d (%s, %s); config from %s", ex.Sweep, ex.Number, ex.State, value, ex.Source),
		fmt.Sprintf("train it with: %s --config_file <this file> (same epochs and LR schedule as the trial)", script),
	}
	switch {
	case ex.BestStep > 0 && ex.Checkpoint != "":
		lines = append(lines, fmt.Sprintf("best step: %d; its checkpoint: %s", ex.BestStep, ex.Checkpoint))
	case ex.BestStep > 0:
		lines = append(lines, fmt.Sprintf("best step: %d (no checkpoint recorded)", ex.BestStep))
	case ex.BestEpoch > 0 && ex.Checkpoint != "":
		of := ""
		if ex.Epochs > 0 {
			of = fmt.Sprintf(" of %d", ex.Epochs)
		}
		lines = append(lines, fmt.Sprintf("best epoch: %d%s; its checkpoint: %s", ex.BestEpoch, of, ex.Checkpoint))
	case ex.BestEpoch > 0:
		lines = append(lines, fmt.Sprintf("best epoch: %d (no checkpoint recorded)", ex.BestEpoch))
	}
	if ex.Partial != "" {
		lines = append(lines, fmt.Sprintf("warning: scored on %s of its sample images only (partial evidence)", ex.Partial))
	}
	return lines
}

// GUIJSON renders the export as a kohya_ss GUI LoRA config ("Load config"):
// kohya.ExportGUI's key set and types. A sample_prompts file this machine
// cannot read is left out (the GUI stores the prompts' text) with a note.
func (ex *TrialExport) GUIJSON() ([]byte, error) {
	cfg := ex.Config.Clone()
	if p, ok := cfg["sample_prompts"].(string); ok && p != "" {
		if _, err := os.Stat(p); err != nil {
			delete(cfg, "sample_prompts")
			ex.note("sample_prompts %s is not readable here: the GUI config has no sample prompts", p)
		}
	}
	data, notes, err := kohya.ExportGUI(cfg, ex.SDXL)
	if err != nil {
		return nil, fmt.Errorf("export trial %d: %w", ex.Number, err)
	}
	for _, n := range notes {
		ex.note("%s", n)
	}
	return data, nil
}

// Argv returns the command line that trains the export with every argument
// inline: `LAUNCHER… SCRIPT --arg value…` (accelerate launch …) when the
// sweep has a launcher, `PYTHON -u SCRIPT …` otherwise, and `SELF
// train-builtin …` for the builtin trainer (self is the lorasweep binary).
// Booleans are flags (false ones are left out), lists are repeated values.
// It fails on values a command line cannot carry (nested tables).
func (ex *TrialExport) Argv(self string) ([]string, error) {
	var argv []string
	ts := ex.Trainer
	switch {
	case ts.Kind == runner.KindBuiltin:
		if self == "" {
			self = "lorasweep"
		}
		argv = []string{self, "train-builtin"}
	case len(ts.Launcher) > 0:
		argv = append(append(argv, ts.Launcher...), ts.Script)
	default:
		py := ts.Python
		if py == "" {
			py = "python3"
		}
		argv = []string{py, "-u", ts.Script}
	}
	for _, k := range ex.Config.Keys() {
		v := ex.Config[k]
		switch x := v.(type) {
		case nil:
			continue
		case bool:
			if x {
				argv = append(argv, "--"+k)
			}
			continue
		case map[string]any:
			return nil, fmt.Errorf("export trial %d as args: %s is a table, which a command line cannot carry; use --format kohya-toml", ex.Number, k)
		case []any:
			argv = append(argv, "--"+k)
			for _, e := range x {
				s, err := cliValue(e)
				if err != nil {
					return nil, fmt.Errorf("export trial %d as args: %s: %w", ex.Number, k, err)
				}
				argv = append(argv, s)
			}
			continue
		}
		s, err := cliValue(v)
		if err != nil {
			return nil, fmt.Errorf("export trial %d as args: %s: %w", ex.Number, k, err)
		}
		argv = append(argv, "--"+k, s)
	}
	return argv, nil
}

// cliValue formats a scalar as argparse reads it: floats keep their decimal
// point, so a float warmup stays a ratio.
func cliValue(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case int:
		return strconv.Itoa(x), nil
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEn") {
			s += ".0"
		}
		return s, nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("unsupported value %T", v)
}

// ShellJoin quotes argv for a POSIX shell: words of safe characters stay as
// they are, others are single-quoted.
func ShellJoin(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		parts[i] = shellQuote(a)
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// CopyCheckpoint copies the best epoch's checkpoint to dest (a file path,
// or an existing directory to copy into under output_name.safetensors) and
// returns the path written. It never overwrites a file: the copy is written
// beside the destination and linked into place only if nothing is there.
func (ex *TrialExport) CopyCheckpoint(dest string) (string, error) {
	if ex.Checkpoint == "" {
		return "", fmt.Errorf("copy checkpoint: trial %d has no best-epoch checkpoint", ex.Number)
	}
	if st, err := os.Stat(dest); err == nil && st.IsDir() {
		name, _ := ex.Config["output_name"].(string)
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(ex.Checkpoint), filepath.Ext(ex.Checkpoint))
		}
		dest = filepath.Join(dest, name+filepath.Ext(ex.Checkpoint))
	}
	src, err := os.Open(ex.Checkpoint)
	if err != nil {
		return "", fmt.Errorf("copy checkpoint: %w", err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".lorasweep-export-*")
	if err != nil {
		return "", fmt.Errorf("copy checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.ReadFrom(src); err != nil {
		tmp.Close()
		return "", fmt.Errorf("copy checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("copy checkpoint: %w", err)
	}
	// A hard link fails when dest exists, where a rename would replace it.
	if err := os.Link(tmp.Name(), dest); err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("copy checkpoint: %s exists; not overwriting it", dest)
		}
		return "", fmt.Errorf("copy checkpoint: %w", err)
	}
	if err := os.Chmod(dest, 0o644); err != nil {
		return "", fmt.Errorf("copy checkpoint: %w", err)
	}
	return dest, nil
}
