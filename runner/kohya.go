package runner

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/lorasweep/lorasweep/kohya"
)

// DefaultPromptSeed is the seed given to sample prompt i that has none:
// DefaultPromptSeed+i. Every trial then samples the same noise, so their
// images differ only by what training changed.
const DefaultPromptSeed = 1000

// kohyaAdapter drives sd-scripts (train_network.py / sdxl_train_network.py)
// and the built-in trainer, which speaks the same interface.
type kohyaAdapter struct{ pool *Pool }

// OutputName is the output_name a trial's files are written under.
func OutputName(number int) string { return fmt.Sprintf("trial-%04d", number) }

// IsSDXL reports whether the trial trains SDXL: the script is
// sdxl_train_network.py or the config says sdxl.
func IsSDXL(script string, cfg kohya.Config) bool {
	if strings.HasPrefix(filepath.Base(script), "sdxl_") {
		return true
	}
	b, _ := cfg["sdxl"].(bool)
	return b
}

// TrialConfig returns the flat config a trial's TOML holds: job.Config with
// output_dir, output_name and logging_dir inside job.Dir and sample_prompts
// pointing at the normalised prompt file (when the job samples).
func TrialConfig(job Job, promptsPath string) kohya.Config {
	cfg := job.Config.Clone()
	cfg["output_dir"] = filepath.Join(job.Dir, "output")
	cfg["output_name"] = OutputName(job.Number)
	cfg["logging_dir"] = filepath.Join(job.Dir, "logs")
	if promptsPath != "" {
		cfg["sample_prompts"] = promptsPath
	}
	return cfg
}

// NormalizePrompts makes every trial sample the same images: each prompt
// without --d gets DefaultPromptSeed+index, SDXL prompts without a size get
// 1024×1024 (sd-scripts defaults to 512 even for SDXL), and sampler, when
// not empty, fills prompts that name none. Warnings say what the user may
// want to change.
func NormalizePrompts(prompts []kohya.Prompt, sdxl bool, sampler string) ([]kohya.Prompt, []string) {
	var warns []string
	out := make([]kohya.Prompt, len(prompts))
	for i, pr := range prompts {
		if pr.Seed == nil {
			s := int64(DefaultPromptSeed + pr.Index)
			pr.Seed = &s
		}
		if sdxl {
			if pr.Width == 0 {
				pr.Width = 1024
			}
			if pr.Height == 0 {
				pr.Height = 1024
			}
		}
		if pr.Sampler == "" && sampler != "" {
			pr.Sampler = sampler
		}
		out[i] = pr
	}
	if sdxl && (sampler == "" || sampler == "ddim") {
		warns = append(warns, "sample_sampler is ddim (sd-scripts' default), which gives poor SDXL samples; set trainer.sample_sampler (euler_a, dpmsolver++, …)")
	}
	return out, warns
}

func (a *kohyaAdapter) prepare(ctx context.Context, lease *Lease, job Job) (*prepared, error) {
	ts := a.pool.cfg.Trainer
	pr := &prepared{outputName: OutputName(job.Number)}
	promptsPath := ""
	if sp, ok := job.Config["sample_prompts"].(string); ok && sp != "" {
		prompts, err := kohya.ParsePromptFile(sp)
		if err != nil {
			return nil, &reasonError{ReasonBadArgs, fmt.Errorf("read sample prompts: %w", err)}
		}
		sampler := ts.SampleSampler
		if s, ok := job.Config["sample_sampler"].(string); ok && sampler == "" {
			sampler = s
		}
		norm, warns := NormalizePrompts(prompts, IsSDXL(ts.Script, job.Config), sampler)
		pr.warnings = append(pr.warnings, warns...)
		var b strings.Builder
		for _, p := range norm {
			b.WriteString(kohya.FormatPromptLine(p))
			b.WriteByte('\n')
		}
		promptsPath = filepath.Join(job.Dir, PromptsFile)
		if err := os.WriteFile(promptsPath, []byte(b.String()), 0o644); err != nil {
			return nil, &reasonError{writeReason(err), fmt.Errorf("write prompts: %w", err)}
		}
		pr.prompts = norm
	}
	cfg := TrialConfig(job, promptsPath)
	if ts.SampleSampler != "" {
		cfg["sample_sampler"] = ts.SampleSampler
	}
	if err := a.pool.applyDatasetView(ctx, cfg, pr); err != nil {
		return nil, fmt.Errorf("dataset view: %w", err)
	}
	pr.config = cfg
	pr.outputDir = cfg["output_dir"].(string)
	data, err := kohya.WriteTOML(cfg)
	if err != nil {
		return nil, &reasonError{ReasonBadArgs, fmt.Errorf("write config: %w", err)}
	}
	tomlPath := filepath.Join(job.Dir, ConfigFile)
	if err := os.WriteFile(tomlPath, data, 0o644); err != nil {
		return nil, &reasonError{writeReason(err), fmt.Errorf("write config: %w", err)}
	}
	pr.argv = a.pool.KohyaArgv(tomlPath)
	// Unbuffered stdout keeps print() and the logger in order; a wide
	// COLUMNS keeps Rich from wrapping log lines. The spec's trainer.env
	// (PYTORCH_CUDA_ALLOC_CONF, HF_HOME, …) comes last so it can override.
	pr.env = append([]string{"PYTHONUNBUFFERED=1", "COLUMNS=250"}, specEnv(ts.Env)...)
	return pr, nil
}

// specEnv renders trainer.env as KEY=VALUE entries in key order.
func specEnv(env map[string]string) []string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

// KohyaArgv returns the command line that trains the TOML at tomlPath:
// `LAUNCHER… SCRIPT --config_file TOML` when a launcher is set (accelerate
// launch …), `PYTHON -u SCRIPT --config_file TOML` otherwise, and
// `SELF train-builtin --config_file TOML` for the builtin trainer.
// COLUMNS=250 in the environment keeps Rich from wrapping log lines at 80.
func (p *Pool) KohyaArgv(tomlPath string) []string {
	ts := p.cfg.Trainer
	if ts.Kind == KindBuiltin {
		return []string{p.cfg.Self, "train-builtin", "--config_file", tomlPath}
	}
	if len(ts.Launcher) > 0 {
		return append(append([]string(nil), ts.Launcher...), ts.Script, "--config_file", tomlPath)
	}
	py := ts.Python
	if py == "" {
		py = "python3"
	}
	return []string{py, "-u", ts.Script, "--config_file", tomlPath}
}

type kohyaParser struct{ p kohya.LogParser }

func (k *kohyaParser) summary() kohya.LogSummary { return k.p.Summary() }

func (k *kohyaParser) feed(line string) ([]Event, Reason, string) {
	var evs []Event
	var stop Reason
	detail := ""
	for _, e := range k.p.Feed(line) {
		switch e.Kind {
		case kohya.LogProgress:
			ev := Event{Kind: EventProgress, Step: e.Step, Total: e.Total, Epoch: e.Epoch}
			if e.HasLoss {
				ev.Loss = e.Loss
			} else {
				ev.Loss = math.NaN()
				// a bar without a loss is the initial 0/N draw: report it
				// anyway so the step count is known.
			}
			evs = append(evs, ev)
		case kohya.LogEpoch:
			evs = append(evs, Event{Kind: EventEpoch, Epoch: e.Epoch, Epochs: e.Epochs})
		case kohya.LogValidation:
			evs = append(evs, Event{Kind: EventValidation, Epoch: e.Epoch, Loss: e.Loss})
		case kohya.LogCheckpoint:
			ev := Event{Kind: EventCheckpoint, Epoch: e.Epoch, Path: e.Path}
			if step, ok := kohya.CheckpointStep(e.Path); ok {
				// save_every_n_steps: the checkpoint of a step, not of
				// the epoch in progress.
				ev.Epoch, ev.Step = 0, step
			}
			evs = append(evs, ev)
		case kohya.LogCheckpointRemoved:
			evs = append(evs, Event{Kind: EventCheckpointRemoved, Path: e.Path})
		case kohya.LogModelSaved:
			evs = append(evs, Event{Kind: EventModelSaved, Epoch: e.Epoch})
		case kohya.LogFailure:
			// sd-scripts trains on after the loss turns NaN; nothing good
			// comes of the remaining GPU time.
			if e.Reason == kohya.FailNaN && stop == "" {
				stop, detail = ReasonNaN, "loss became NaN: "+e.Text
			}
		}
	}
	return evs, stop, detail
}

func (a *kohyaAdapter) newParser(*prepared) lineParser { return &kohyaParser{} }

// scanSamples lists sample images under output_dir/sample not reported yet
// (their names carry their epoch or step).
func (a *kohyaAdapter) scanSamples(pr *prepared, _ int) []Sample {
	return scanKohyaSamples(pr)
}

func scanKohyaSamples(pr *prepared) []Sample {
	dir := filepath.Join(pr.outputDir, "sample")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	if pr.seen == nil {
		pr.seen = map[string]bool{}
	}
	var out []Sample
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || pr.seen[name] {
			continue
		}
		sn, ok := kohya.ParseSampleName(name, pr.outputName)
		if !ok {
			continue
		}
		pr.seen[name] = true
		s := Sample{Path: filepath.Join(dir, name), Epoch: sn.Epoch, Step: sn.Step, PromptIndex: sn.PromptIndex, Seed: sn.Seed, HasSeed: sn.HasSeed}
		if sn.ByStep {
			s.Epoch = -1
		}
		for _, p := range pr.prompts {
			if p.Index == sn.PromptIndex {
				s.Prompt = p.Text
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func (a *kohyaAdapter) finish(pr *prepared, st *runState, out *Outcome) {
	sum := st.parser.summary()
	if st.stopReason != "" {
		out.Reason, out.Detail = st.stopReason, st.stopDetail
		return
	}
	ext := "safetensors"
	if v, ok := pr.config["save_model_as"].(string); ok && v != "" {
		ext = v
	}
	final := filepath.Join(pr.outputDir, pr.outputName+"."+ext)
	accept := func() {
		out.OK = true
		out.ModelPath = final
		if ext == "safetensors" {
			out.Warnings = append(out.Warnings, metadataMismatches(final, pr.config)...)
		}
	}
	if sum.ModelSaved {
		err := CheckModelFile(final)
		if err == nil {
			accept()
			if st.exitCode != 0 {
				out.Warnings = append(out.Warnings, fmt.Sprintf("trainer exited with status %d after `model saved.` (a crash at teardown); the model is kept", st.exitCode))
			}
			return
		}
		out.Reason, out.Detail = ReasonCrash, "`model saved.` was printed but "+err.Error()
		return
	}
	if st.exitCode == 0 {
		// `model saved.` is an INFO line: console_log_level above INFO and
		// console_log_file hide it. Exit status 0 and a final model that
		// parses are success too, noted as such.
		err := CheckModelFile(final)
		if err == nil {
			accept()
			w := "no `model saved.` line (" + hiddenINFO(pr.config) + "): success taken from exit status 0 and the readable final model"
			if sum.Failure != "" {
				w += "; the log also shows " + sum.FailureLine
			}
			out.Warnings = append(out.Warnings, w)
			return
		}
		if sum.Failure == "" {
			out.Reason, out.Detail = ReasonCrash, "trainer exited 0 without `model saved.`, and "+err.Error()
			if h := hiddenINFO(pr.config); !strings.HasPrefix(h, "the log") {
				out.Detail += " (" + h + ": sd-scripts' messages, an error such as `No data found.` included, are not in trial.log)"
			}
			return
		}
	}
	reason := Reason(sum.Failure)
	detail := sum.FailureLine
	switch {
	case reason == "":
		reason, detail = ReasonCrash, fmt.Sprintf("trainer exited with status %d", st.exitCode)
		if sum.Exception != "" {
			detail += ": " + sum.Exception
		}
	case reason == ReasonCrash && sum.Exception != "":
		detail = sum.Exception
	}
	if sum.ChildExitCode >= 0 && reason != ReasonBadArgs && sum.ChildExitCode == 2 {
		reason = ReasonBadArgs // argparse's exit status, seen through accelerate
	}
	out.Reason, out.Detail = reason, detail
}

// hiddenINFO says why a config's console shows no INFO lines, or that it
// should have shown them.
func hiddenINFO(cfg kohya.Config) string {
	if f, _ := cfg["console_log_file"].(string); f != "" {
		return "console_log_file = " + f + " takes sd-scripts' log lines"
	}
	if l, _ := cfg["console_log_level"].(string); l != "" && l != "INFO" && l != "DEBUG" {
		return "console_log_level = " + l + " hides INFO lines"
	}
	return "the log has none"
}

// CheckModelFile checks that a final model exists, is not empty and, for
// .safetensors, that its header and metadata parse with every tensor inside
// the file (a file truncated by a full disk does not).
func CheckModelFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("the model file is missing: %w", err)
	}
	if st.Size() == 0 {
		return fmt.Errorf("the model file %s is empty", path)
	}
	if strings.EqualFold(filepath.Ext(path), ".safetensors") {
		if _, err := kohya.ReadSafetensorsHeader(path); err != nil {
			return fmt.Errorf("the model file does not parse: %w", err)
		}
	}
	return nil
}

// metadataChecks pairs config keys with the ss_* metadata key that records
// what the trainer actually used.
var metadataChecks = []struct{ arg, meta string }{
	{"network_dim", "ss_network_dim"},
	{"network_alpha", "ss_network_alpha"},
	{"learning_rate", "ss_learning_rate"},
	{"unet_lr", "ss_unet_lr"},
	{"text_encoder_lr", "ss_text_encoder_lr"},
	{"lr_scheduler", "ss_lr_scheduler"},
	{"seed", "ss_seed"},
	{"max_train_epochs", "ss_num_epochs"},
}

// MetadataMismatches compares the ss_* metadata of a saved LoRA with the
// config the trial asked for and returns one line per difference. Keys
// absent on either side are not compared.
func MetadataMismatches(meta map[string]string, cfg kohya.Config) []string {
	var out []string
	for _, c := range metadataChecks {
		want, ok := cfg[c.arg]
		if !ok || want == nil {
			continue
		}
		got, ok := meta[c.meta]
		if !ok || got == "" || got == "None" {
			continue
		}
		if l, ok := want.([]any); ok { // text_encoder_lr list: networks.lora uses the first
			if len(l) == 0 {
				continue
			}
			want = l[0]
		}
		if !sameValue(want, got) {
			out = append(out, fmt.Sprintf("metadata mismatch: %s = %v asked, %s = %s in the model", c.arg, want, c.meta, got))
		}
	}
	return out
}

func metadataMismatches(path string, cfg kohya.Config) []string {
	h, err := kohya.ReadSafetensorsHeader(path)
	if err != nil {
		return []string{"read model metadata: " + err.Error()}
	}
	return MetadataMismatches(h.Metadata, cfg)
}

func sameValue(want any, got string) bool {
	var w float64
	switch x := want.(type) {
	case string:
		return x == got || strings.HasPrefix(got, x+":") // adafactor:lr
	case int64:
		w = float64(x)
	case int:
		w = float64(x)
	case float64:
		w = x
	case bool:
		return strconv.FormatBool(x) == strings.ToLower(got)
	default:
		return fmt.Sprint(want) == got
	}
	g, err := strconv.ParseFloat(strings.TrimSpace(got), 64)
	if err != nil {
		return false
	}
	return math.Abs(w-g) <= 1e-9*math.Max(1, math.Abs(w))
}
