package sweep

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/runner"
)

// DoctorSteps is how many optimizer steps the doctor's smoke trial trains:
// two, so one step-to-step interval is timed after the first (warm-up) step.
const DoctorSteps = 2

// doctorDropKeys are the length, saving and resuming settings the smoke
// trial leaves out: it trains DoctorSteps steps, saves one checkpoint and
// samples once, whatever the sweep's trials do.
var doctorDropKeys = []string{
	"max_train_epochs", "save_every_n_epochs", "save_n_epoch_ratio", "save_last_n_epochs", "save_last_n_steps",
	"save_last_n_epochs_state", "save_last_n_steps_state", "save_state", "save_state_on_train_end",
	"sample_at_first", "sample_every_n_epochs", "sample_every_n_steps", "resume", "initial_epoch", "initial_step",
}

// DoctorCheck is one point lorasweep depends on, as the smoke trial showed it.
type DoctorCheck struct {
	// Point names what was checked: preflight, run, progress, epoch,
	// checkpoint, model, metadata, samples, scorer:NAME, timeout.
	Point string
	OK    bool
	// Text says what was found; for a failure, also the setting to change.
	Text string
}

// DoctorPrediction is what a trial of the spec and the whole budget take,
// extrapolated from the smoke trial's timings at the base config's values.
type DoctorPrediction struct {
	// Known is false when the timings or the step count could not be
	// measured; Why then says what was missing.
	Known bool
	Why   string
	// Steps and Images are one trial's optimizer steps and sample images.
	Steps, Images int
	Trial         time.Duration
	// Parallel trials run at once; Budget = trials × Trial ÷ Parallel.
	Parallel int
	Trials   int
	Budget   time.Duration
	// Deadline is the budget's deadline resolved from now (zero: none);
	// Fit is how many trials fit before it.
	Deadline time.Time
	Fit      int
}

// DoctorReport is the smoke trial's result: each check, the trainer's
// warnings, the timings and the prediction.
type DoctorReport struct {
	Dir      string // the scratch folder (kept for inspection)
	LogPath  string
	Outcome  runner.Outcome
	Checks   []DoctorCheck
	Warnings []string
	// StepSeconds is the time of one optimizer step after the first;
	// ImageSeconds of one sample image. Zero when not measured.
	StepSeconds  float64
	ImageSeconds float64
	Images       int
	// StartupSeconds: launch to the first progress bar; TailSeconds: the
	// last step (or sample) to exit (final save, teardown).
	StartupSeconds float64
	TailSeconds    float64
	// PeakGPUMiB is the highest memory use nvidia-smi showed on the leased
	// GPUs during the run, BaseGPUMiB the use before it; -1 when unknown
	// (a CPU slot, or nvidia-smi could not tell).
	PeakGPUMiB, BaseGPUMiB int
	GPUs                   []string
	BatchesPerEpoch        int
	Prediction             DoctorPrediction

	outDir string // the smoke trial's output_dir
}

// Failed reports whether any check failed.
func (r *DoctorReport) Failed() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return true
		}
	}
	return false
}

func (r *DoctorReport) pass(point, format string, a ...any) {
	r.Checks = append(r.Checks, DoctorCheck{Point: point, OK: true, Text: fmt.Sprintf(format, a...)})
}

func (r *DoctorReport) fail(point, format string, a ...any) {
	r.Checks = append(r.Checks, DoctorCheck{Point: point, Text: fmt.Sprintf(format, a...)})
}

// Doctor runs the configured trainer once, for real, as a smoke trial of
// the base config (with the spec's fixed settings) cut to DoctorSteps steps,
// and checks every point a sweep depends on. The trial runs in Dir, outside
// any sweep: nothing is stored and no trial number is used.
type Doctor struct {
	Spec   *Spec
	Runner Runner
	Scorer Scorer
	// Parallel is the number of trials the sweep would run at once (its
	// slots, capped by budget.parallel), for the budget prediction.
	Parallel int
	// Dir is the scratch folder; it must not hold a previous run.
	Dir string
	// Timeout bounds the smoke trial (zero: the spec's trial_timeout).
	Timeout time.Duration
	// GPUMemory, if set, returns the memory in use (MiB) per GPU index as
	// nvidia-smi reports it; it is polled during the run.
	GPUMemory func(ctx context.Context) (map[string]int, error)
	// PollEvery is how often GPUMemory is called (default 1s).
	PollEvery time.Duration
	Now       func() time.Time
}

func (d *Doctor) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// timedEvent is a runner event with the time the doctor saw it.
type timedEvent struct {
	runner.Event
	at time.Time
}

// Run trains the smoke trial and checks it. The error is non-nil only when
// the trial could not be set up at all (a file could not be written, ctx
// ended before a slot was free); every finding about the trainer is a check.
func (d *Doctor) Run(ctx context.Context) (*DoctorReport, error) {
	spec := d.Spec
	jobDir := filepath.Join(d.Dir, "trial")
	rep := &DoctorReport{Dir: d.Dir, PeakGPUMiB: -1, BaseGPUMiB: -1, outDir: filepath.Join(jobDir, "output")}
	params := spec.ParamsFromConfig(spec.Base)
	full, err := (&Controller{Spec: spec}).trialConfig(jobDir, params)
	if err != nil {
		return nil, fmt.Errorf("doctor: %w", err)
	}
	cfg, keep, err := d.smokeConfig(full)
	if err != nil {
		return nil, err
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = spec.Budget.TrialTimeout.D()
	}
	job := runner.Job{Number: 0, Dir: jobDir, Config: cfg, Params: params, Timeout: timeout}

	lease, err := d.Runner.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("doctor: %w", err)
	}
	defer lease.Release()
	rep.GPUs = lease.GPUs()
	stopPoll := d.pollGPU(ctx, lease.GPUs(), rep)

	var events []timedEvent
	out := d.Runner.Run(ctx, lease, job, func(ev runner.Event) {
		events = append(events, timedEvent{ev, d.now()})
	})
	stopPoll()
	rep.Outcome, rep.LogPath = out, out.LogPath
	rep.BatchesPerEpoch = readBatchesPerEpoch(out.LogPath)

	d.checkRun(rep, out, cfg, timeout)
	sawStep := d.checkLines(rep, events, out, cfg)
	d.checkModels(rep, events, out, cfg)
	samples := d.checkSamples(ctx, rep, events, out, cfg, keep)
	if sp, _ := full["sample_prompts"].(string); sp != "" && d.Scorer.NeedsSamples() &&
		!positive(full["sample_every_n_epochs"]) && !positive(full["sample_every_n_steps"]) {
		// The smoke trial samples anyway; the sweep's trials would not.
		rep.fail("samples", "the sweep's trials sample no images (neither sample_every_n_epochs nor sample_every_n_steps is set) but the objective's scorers need them: set sample_every_n_epochs in trainer.fixed")
	}
	if out.OK || len(samples) > 0 || !d.Scorer.NeedsSamples() {
		d.checkScorers(ctx, rep, events, samples, params, lease.GPUs())
	}
	d.measure(rep, events, out)
	if sawStep {
		d.predict(rep, full)
	} else {
		rep.Prediction.Why = "no training step was seen"
	}
	if p := rep.Prediction; p.Known {
		if t := spec.Budget.TrialTimeout.D(); t > 0 && p.Trial > t {
			rep.fail("timeout", "a trial is predicted to take %s but budget.trial_timeout is %s: every trial would be stopped as timeout; raise budget.trial_timeout",
				p.Trial.Round(time.Second), t)
		}
	}
	known := map[string]bool{}
	for _, c := range rep.Checks {
		known[c.Text] = true
	}
	for _, w := range out.Warnings {
		if !known[w] && !strings.HasPrefix(w, "metadata mismatch") {
			rep.Warnings = append(rep.Warnings, w)
		}
	}
	return rep, nil
}

// smokeConfig cuts a trial config to the smoke trial: DoctorSteps steps, a
// checkpoint at the last step, and one sampling — per epoch or per step as
// the spec samples — of the first prompt plus the first prompt of each
// scorer limited to some prompts. keep maps the smoke prompt file's indexes
// to the original ones.
func (d *Doctor) smokeConfig(full kohya.Config) (kohya.Config, []int, error) {
	cfg := full.Clone()
	byStep := positive(cfg["sample_every_n_steps"]) && !positive(cfg["sample_every_n_epochs"])
	for _, k := range doctorDropKeys {
		delete(cfg, k)
	}
	cfg["max_train_steps"] = int64(DoctorSteps)
	cfg["save_every_n_steps"] = int64(DoctorSteps)
	sp, _ := cfg["sample_prompts"].(string)
	if sp == "" {
		return cfg, nil, nil
	}
	prompts, err := kohya.ParsePromptFile(sp)
	if err != nil || len(prompts) == 0 {
		// The runner reports the unreadable file as bad-args.
		return cfg, nil, nil
	}
	want := map[int]bool{0: true}
	for _, s := range d.Spec.Objective.Scorers {
		if len(s.Prompts) > 0 {
			first := s.Prompts[0]
			for _, p := range s.Prompts {
				first = min(first, p)
			}
			if first >= 0 && first < len(prompts) {
				want[first] = true
			}
		}
	}
	var keep []int
	for i := range prompts {
		if want[i] {
			keep = append(keep, i)
		}
	}
	var b strings.Builder
	for _, i := range keep {
		p := prompts[i]
		if p.Seed == nil {
			// The seed the sweep's trials give this prompt (its index in the
			// full file), so the smoke sample is one a trial would draw.
			s := int64(runner.DefaultPromptSeed + p.Index)
			p.Seed = &s
		}
		b.WriteString(kohya.FormatPromptLine(p) + "\n")
	}
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("doctor: %w", err)
	}
	path := filepath.Join(d.Dir, "doctor-prompts.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return nil, nil, fmt.Errorf("doctor: write prompts: %w", err)
	}
	cfg["sample_prompts"] = path
	if byStep {
		cfg["sample_every_n_steps"] = int64(DoctorSteps)
	} else {
		cfg["sample_every_n_epochs"] = int64(1)
	}
	return cfg, keep, nil
}

func positive(v any) bool {
	f, ok := toFloat(normalizeNumber(v))
	return ok && f > 0
}

// setting names the spec setting that feeds a point, by trainer kind.
func (d *Doctor) setting(point string) string {
	if d.Spec.Trainer.Kind == runner.KindCommand {
		switch point {
		case "progress":
			return "trainer.loss_regex"
		case "epoch":
			return "trainer.epoch_regex"
		case "samples":
			return "trainer.sample_glob (or trainer.sample_regex)"
		case "model":
			return "trainer.success_regex"
		}
	}
	return ""
}

// lineFix says what to change when a console line lorasweep reads was not
// seen: a setting of the base config that hides sd-scripts' lines, else
// the trainer itself.
func (d *Doctor) lineFix(point string, cfg kohya.Config) string {
	if s := d.setting(point); s != "" {
		return "set " + s + " to match the trainer's line"
	}
	var fixes []string
	if lvl, _ := cfg["console_log_level"].(string); lvl != "" && !strings.EqualFold(lvl, "INFO") && !strings.EqualFold(lvl, "DEBUG") {
		fixes = append(fixes, fmt.Sprintf("remove console_log_level (%s hides sd-scripts' INFO lines)", lvl))
	}
	if f, _ := cfg["console_log_file"].(string); f != "" {
		fixes = append(fixes, "remove console_log_file (it sends sd-scripts' log to a file lorasweep does not read)")
	}
	if len(fixes) > 0 {
		return strings.Join(fixes, "; ")
	}
	if d.Spec.Trainer.Kind == runner.KindBuiltin {
		return "report this: the builtin trainer prints it"
	}
	return "check that trainer.script is sd-scripts' train_network.py or sdxl_train_network.py (a fork that prints other lines needs trainer.kind: command)"
}

func (d *Doctor) checkRun(rep *DoctorReport, out runner.Outcome, cfg kohya.Config, timeout time.Duration) {
	if out.OK {
		rep.pass("run", "the trainer accepted its arguments and trained %d steps (exit %d)", DoctorSteps, out.ExitCode)
		return
	}
	log := out.LogPath
	var text string
	switch out.Reason {
	case runner.ReasonBadArgs:
		text = fmt.Sprintf("the trainer rejected its arguments (%s): fix that setting in trainer.base or trainer.fixed", out.Detail)
	case runner.ReasonOOM:
		text = fmt.Sprintf("out of GPU memory (%s): lower train_batch_size or resolution, or set gradient_checkpointing: true in trainer.fixed", out.Detail)
	case runner.ReasonNaN:
		text = fmt.Sprintf("the loss became NaN within %d steps (%s): lower learning_rate (and unet_lr / text_encoder_lr)", DoctorSteps, out.Detail)
	case runner.ReasonNoData:
		text = "the trainer found no training images: train_data_dir must hold N_class folders (10_sks dog) with images, or set dataset_config"
	case runner.ReasonDiskFull:
		text = fmt.Sprintf("the disk is full (%s): free space under output_root %s", out.Detail, d.Spec.OutputRoot)
	case runner.ReasonTimeout:
		text = fmt.Sprintf("the %d-step trial ran longer than %s: raise --timeout (or budget.trial_timeout)", DoctorSteps, timeout)
	case runner.ReasonHung:
		text = fmt.Sprintf("the trainer %s: raise trainer.hang_timeout if it loads slowly, else read %s", out.Detail, log)
	case runner.ReasonInterrupted:
		text = "stopped before it finished (interrupted)"
	default:
		text = fmt.Sprintf("the trainer failed (%s: %s): read %s; check trainer.script, trainer.python and trainer.env", out.Reason, out.Detail, log)
	}
	rep.fail("run", "%s", text)
}

// checkLines checks the console lines a sweep reads: the progress bar with
// a loss, the epoch line and the checkpoint line. It reports whether a
// training step was seen.
func (d *Doctor) checkLines(rep *DoctorReport, events []timedEvent, out runner.Outcome, cfg kohya.Config) bool {
	steps, losses, epochs, ckpts := 0, 0, 0, 0
	for _, ev := range events {
		switch ev.Kind {
		case runner.EventProgress:
			steps = max(steps, ev.Step)
			if !math.IsNaN(ev.Loss) {
				losses++
			}
		case runner.EventEpoch:
			epochs++
		case runner.EventCheckpoint:
			ckpts++
		}
	}
	ran := out.OK || out.Reason == runner.ReasonNaN || out.Reason == runner.ReasonTimeout
	switch {
	case losses > 0:
		rep.pass("progress", "progress lines read with a loss (%d updates, up to step %d)", losses, steps)
	case ran:
		rep.fail("progress", "no progress line with a loss (avr_loss=) was read from %s: losses and steps are not recorded; %s", out.LogPath, d.lineFix("progress", cfg))
	}
	switch {
	case epochs > 0:
		rep.pass("epoch", "epoch lines read (%d)", epochs)
	case ran:
		rep.fail("epoch", "no `epoch N/M` line was read: epoch candidates are not scored while training; %s", d.lineFix("epoch", cfg))
	}
	if d.Spec.Trainer.Kind != runner.KindCommand && ran {
		if ckpts == 0 {
			found, _ := filepath.Glob(filepath.Join(rep.outDir, "*-step*.*"))
			if len(found) > 0 {
				rep.fail("checkpoint", "%s was saved but no `saving checkpoint:` line was read: checkpoints are not recorded; %s", filepath.Base(found[0]), d.lineFix("checkpoint", cfg))
			} else {
				rep.fail("checkpoint", "no checkpoint was saved with save_every_n_steps %d: the trainer ignores save_every_n_steps; %s", DoctorSteps, d.lineFix("checkpoint", cfg))
			}
		}
	}
	return steps > 0 || losses > 0
}

// checkModels reads back the checkpoint and the final model: present, a
// safetensors header that parses, and ss_* metadata matching the config.
func (d *Doctor) checkModels(rep *DoctorReport, events []timedEvent, out runner.Outcome, cfg kohya.Config) {
	if d.Spec.Trainer.Kind == runner.KindCommand {
		return
	}
	ext := "safetensors"
	if v, ok := cfg["save_model_as"].(string); ok && v != "" {
		ext = v
	}
	var files []string
	for _, ev := range events {
		if ev.Kind == runner.EventCheckpoint && ev.Path != "" {
			if _, err := os.Stat(ev.Path); err != nil {
				rep.fail("checkpoint", "the checkpoint line names %s, which does not exist: lorasweep could not export it; read %s", ev.Path, out.LogPath)
				continue
			}
			rep.pass("checkpoint", "checkpoint line read and the file exists: %s", filepath.Base(ev.Path))
			files = append(files, ev.Path)
		}
	}
	saved := false
	for _, ev := range events {
		saved = saved || ev.Kind == runner.EventModelSaved
	}
	if out.OK {
		if saved {
			rep.pass("model", "`model saved.` read; final model %s", filepath.Base(out.ModelPath))
		} else {
			rep.pass("model", "final model %s is present and readable (exit 0); `model saved.` was not read (%s)", filepath.Base(out.ModelPath), d.lineFix("model", cfg))
		}
		files = append(files, out.ModelPath)
	}
	if ext != "safetensors" {
		if len(files) > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("save_model_as %s carries no metadata: what the trainer used cannot be checked (safetensors can)", ext))
		}
		return
	}
	bad := 0
	for _, f := range files {
		h, err := kohya.ReadSafetensorsHeader(f)
		if err != nil {
			rep.fail("metadata", "%s does not parse as safetensors (%v): a truncated file? check free disk space under output_root", filepath.Base(f), err)
			bad++
			continue
		}
		for _, m := range runner.MetadataMismatches(h.Metadata, cfg) {
			rep.fail("metadata", "%s in %s: the trainer did not use that setting as given; change it in trainer.base/trainer.fixed (or leave it out of search)", m, filepath.Base(f))
			bad++
		}
	}
	if len(files) > 0 && bad == 0 {
		rep.pass("metadata", "ss_* metadata of %d file(s) read back and matches the config", len(files))
	}
}

// checkSamples checks that the expected sample images were found by name
// and decode, and returns the first candidate's samples with their prompt
// indexes mapped back to the full prompt file.
func (d *Doctor) checkSamples(ctx context.Context, rep *DoctorReport, events []timedEvent, out runner.Outcome, cfg kohya.Config, keep []int) []runner.Sample {
	sp, _ := cfg["sample_prompts"].(string)
	needs := d.Scorer.NeedsSamples()
	if sp == "" {
		if needs {
			rep.fail("samples", "the objective's scorers need sample images but no sample_prompts is set: set sample_prompts (and sample_every_n_epochs) in trainer.fixed")
		}
		return nil
	}
	if !out.OK && out.Reason != runner.ReasonNaN && len(out.Samples) == 0 {
		return nil // the run check already says why
	}
	expected := len(keep)
	var found []runner.Sample
	for _, s := range out.Samples {
		if s.Epoch != 0 || s.Step > 0 {
			found = append(found, s)
		}
	}
	if len(found) == 0 {
		dir := filepath.Join(rep.outDir, "sample")
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			if !e.IsDir() {
				names = append(names, e.Name())
			}
		}
		if len(names) > 0 {
			rep.fail("samples", "%s holds %s, not named as sd-scripts names samples (%s): lorasweep finds samples by that name; %s",
				dir, names[0], kohya.SampleFileName(kohya.SampleName{OutputName: runner.OutputName(0), Epoch: 1, Timestamp: "20260101000000"}), d.sampleFix())
		} else {
			rep.fail("samples", "no sample image was written to %s: check sample_prompts %s and sample_sampler, and read %s; %s", dir, sp, out.LogPath, d.sampleFix())
		}
		return nil
	}
	// The first candidate (epoch or step) is what gets scored.
	first := found[0]
	var cand []runner.Sample
	for _, s := range found {
		if s.Epoch == first.Epoch && s.Step == first.Step {
			cand = append(cand, s)
		}
	}
	var good []runner.Sample
	for _, s := range cand {
		if err := decodeErr(s.Path); err != nil {
			rep.fail("samples", "sample %s does not decode (%v): the scorers cannot read it; check the trainer's image output (disk space, sample size --w/--h)", filepath.Base(s.Path), err)
			continue
		}
		if s.PromptIndex >= 0 && s.PromptIndex < len(keep) {
			s.PromptIndex = keep[s.PromptIndex]
		}
		good = append(good, s)
	}
	if expected > 0 && len(cand) < expected {
		rep.fail("samples", "%d of %d sample images found for %s: the others were not written or not named as expected; read %s", len(cand), expected, CandidateLabel(max(first.Epoch, 0), first.Step), out.LogPath)
	}
	if len(good) == len(cand) && len(cand) >= expected {
		rep.pass("samples", "%d sample image(s) found by name and decoded (%s)", len(cand), filepath.Base(cand[0].Path))
	}
	rep.Images = len(found)
	return good
}

func (d *Doctor) sampleFix() string {
	if s := d.setting("samples"); s != "" {
		return "set " + s
	}
	return "is trainer.script sd-scripts' own?"
}

// checkScorers scores the smoke trial's candidate with every scorer of the
// objective, as a trial's epoch would be.
func (d *Doctor) checkScorers(ctx context.Context, rep *DoctorReport, events []timedEvent, samples []runner.Sample, params map[string]any, gpus []string) {
	if d.Scorer.NeedsSamples() && len(samples) == 0 {
		rep.fail("scorers", "nothing to score: no sample image decoded (see samples)")
		return
	}
	in := objective.EpochInput{TrialNumber: 0, Epoch: 1, Fraction: 1, Params: params, GPUs: gpus}
	if len(samples) > 0 && samples[0].Epoch > 0 {
		in.Epoch = samples[0].Epoch
	}
	for _, ev := range events {
		switch ev.Kind {
		case runner.EventProgress:
			if !math.IsNaN(ev.Loss) {
				in.Losses = append(in.Losses, ev.Loss)
			}
		case runner.EventValidation:
			v := ev.Loss
			in.ValidationLoss = &v
		}
	}
	for _, s := range samples {
		in.Samples = append(in.Samples, objective.Sample{Path: s.Path, Prompt: s.Prompt, PromptIndex: s.PromptIndex, Seed: s.Seed, Epoch: s.Epoch})
	}
	res, err := d.Scorer.ScoreEpoch(ctx, in)
	if err != nil {
		rep.fail("scorers", "scoring failed: %v", err)
		return
	}
	for _, c := range res.Components {
		if c.Unscorable {
			rep.fail("scorer:"+c.Name, "scorer %s cannot score the sample: %s; fix objective.scorers (%s)", c.Name, c.Error, scorerFix(c.Kind))
			continue
		}
		rep.pass("scorer:"+c.Name, "scorer %s scored the sample: %.4g (normalised %.4g)", c.Name, c.Raw, c.Normalized)
	}
	if !res.Unscorable && len(res.Components) > 0 {
		rep.pass("objective", "objective value of the smoke sample: %.4g", res.Value)
	}
}

func scorerFix(kind string) string {
	switch kind {
	case objective.KindReference, objective.KindPreservation:
		return "its references folder needs an image per scored prompt index, or mode: set"
	case objective.KindValidation:
		return "it needs validation_split > 0 in trainer.fixed"
	case objective.KindLoss:
		return "it needs progress lines with a loss"
	case objective.KindCommand:
		return "run the scorer's command by hand on the sample"
	case objective.KindDiversity:
		return "it needs several seeds per prompt"
	}
	return kind
}

// measure derives the timings from the events' arrival times and the
// sample files' modification times.
func (d *Doctor) measure(rep *DoctorReport, events []timedEvent, out runner.Outcome) {
	stepAt := map[int]time.Time{}
	var firstBar, lastStepAt time.Time
	for _, ev := range events {
		if ev.Kind != runner.EventProgress {
			continue
		}
		if firstBar.IsZero() {
			firstBar = ev.at
		}
		if _, ok := stepAt[ev.Step]; !ok && ev.Step > 0 {
			// The first draw of the bar at a step: tqdm re-draws it on
			// close, after the sampling that followed the step.
			stepAt[ev.Step] = ev.at
			lastStepAt = ev.at
		}
	}
	var steps []int
	for s := range stepAt {
		steps = append(steps, s)
	}
	sort.Ints(steps)
	if len(steps) >= 2 {
		a, b := steps[0], steps[len(steps)-1]
		rep.StepSeconds = stepAt[b].Sub(stepAt[a]).Seconds() / float64(b-a)
	}
	if !firstBar.IsZero() {
		rep.StartupSeconds = firstBar.Sub(out.Started).Seconds()
	}
	end := lastStepAt
	if len(out.Samples) > 0 && !lastStepAt.IsZero() {
		var mtimes []time.Time
		for _, s := range out.Samples {
			if st, err := os.Stat(s.Path); err == nil {
				mtimes = append(mtimes, st.ModTime())
			}
		}
		sort.Slice(mtimes, func(i, j int) bool { return mtimes[i].Before(mtimes[j]) })
		if n := len(mtimes); n > 0 && mtimes[n-1].After(lastStepAt) {
			rep.ImageSeconds = mtimes[n-1].Sub(lastStepAt).Seconds() / float64(n)
			end = mtimes[n-1]
		}
	}
	if !end.IsZero() && out.Ended.After(end) {
		rep.TailSeconds = out.Ended.Sub(end).Seconds()
	}
}

// predict extrapolates one trial of the spec (at the base config's values)
// and the budget from the smoke trial's timings.
func (d *Doctor) predict(rep *DoctorReport, full kohya.Config) {
	p := &rep.Prediction
	spec := d.Spec
	p.Parallel = max(d.Parallel, 1)
	p.Trials = spec.Budget.Trials
	if rep.StepSeconds <= 0 {
		p.Why = "fewer than two steps were timed"
		return
	}
	ga := 1
	if v, ok := toFloat(normalizeNumber(full["gradient_accumulation_steps"])); ok && v >= 1 {
		ga = int(v)
	}
	perEpoch := 0
	if rep.BatchesPerEpoch > 0 {
		perEpoch = (rep.BatchesPerEpoch + ga - 1) / ga
	}
	epochs := 0
	if v, ok := toFloat(normalizeNumber(full["max_train_epochs"])); ok && v > 0 {
		if perEpoch == 0 {
			p.Why = "the trainer did not print its batches per epoch"
			return
		}
		epochs = int(v)
		p.Steps = epochs * perEpoch
	} else {
		p.Steps = 1600 // sd-scripts' default max_train_steps
		if v, ok := toFloat(normalizeNumber(full["max_train_steps"])); ok && v > 0 {
			p.Steps = int(v)
		}
		if perEpoch > 0 {
			epochs = (p.Steps + perEpoch - 1) / perEpoch
		}
	}
	prompts := 0
	if sp, _ := full["sample_prompts"].(string); sp != "" {
		if pr, err := kohya.ParsePromptFile(sp); err == nil {
			prompts = len(pr)
		}
	}
	samplings := 0
	if n, ok := toFloat(normalizeNumber(full["sample_every_n_epochs"])); ok && n > 0 {
		samplings = epochs / int(n)
	} else if n, ok := toFloat(normalizeNumber(full["sample_every_n_steps"])); ok && n > 0 {
		samplings = p.Steps / int(n)
	}
	if b, _ := full["sample_at_first"].(bool); b {
		samplings++
	}
	p.Images = samplings * prompts
	secs := rep.StartupSeconds + float64(p.Steps)*rep.StepSeconds + float64(p.Images)*rep.ImageSeconds + rep.TailSeconds
	p.Trial = time.Duration(secs * float64(time.Second))
	p.Known = true
	rounds := (p.Trials + p.Parallel - 1) / p.Parallel
	p.Budget = time.Duration(rounds) * p.Trial
	if spec.Budget.Deadline != "" {
		now := d.now()
		dl, err := ParseDeadline(spec.Budget.Deadline, now)
		if err == nil && !dl.IsZero() {
			p.Deadline = dl
			p.Fit = int(dl.Sub(now)/p.Trial) * p.Parallel
			if p.Fit < 0 {
				p.Fit = 0
			}
			if p.Fit < p.Trials {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("about %d of budget.trials %d fit before the deadline %s (%s per trial, %d at a time): lower budget.trials, shorten trials (max_train_epochs, fewer prompts), or move budget.deadline",
					min(p.Fit, p.Trials), p.Trials, spec.Budget.Deadline, p.Trial.Round(time.Second), p.Parallel))
			}
		}
	}
}

// pollGPU samples the leased GPUs' memory use until the returned func is
// called; nothing is polled on a CPU slot or without GPUMemory.
func (d *Doctor) pollGPU(ctx context.Context, gpus []string, rep *DoctorReport) func() {
	if d.GPUMemory == nil || len(gpus) == 0 || strings.HasPrefix(gpus[0], "cpu") {
		return func() {}
	}
	read := func() (int, bool) {
		m, err := d.GPUMemory(ctx)
		if err != nil {
			return 0, false
		}
		total, seen := 0, false
		for _, g := range gpus {
			if v, ok := m[g]; ok && v >= 0 {
				total += v
				seen = true
			}
		}
		return total, seen
	}
	var mu sync.Mutex
	if v, ok := read(); ok {
		rep.BaseGPUMiB, rep.PeakGPUMiB = v, v
	}
	every := d.PollEvery
	if every <= 0 {
		every = time.Second
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if v, ok := read(); ok {
					mu.Lock()
					rep.PeakGPUMiB = max(rep.PeakGPUMiB, v)
					mu.Unlock()
				}
			}
		}
	}()
	return func() { close(stop); <-done }
}

// readBatchesPerEpoch finds sd-scripts' "num batches per epoch" line in a
// trial log; 0 when absent.
func readBatchesPerEpoch(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), kohya.MaxLogLine+1)
	sc.Split(kohya.ScanLogLines)
	for sc.Scan() {
		if n, ok := kohya.BatchesPerEpoch(sc.Text()); ok {
			return n
		}
	}
	return 0
}

// InterfaceFailure reports whether a trial's failure points at the setup
// rather than at its params — bad arguments, no samples found, nothing
// scorable, a crash before the first step — so `lorasweep doctor` is the
// next thing to run.
func InterfaceFailure(reason, detail string, sawStep bool) bool {
	switch reason {
	case string(runner.ReasonBadArgs), reasonUnscorable:
		return true
	case string(runner.ReasonCrash):
		return !sawStep
	}
	return strings.Contains(detail, "no samples")
}
