package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/internal/nvsmi"
	"github.com/lorasweep/lorasweep/runner"
	"github.com/lorasweep/lorasweep/sweep"
)

func newDoctorCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "doctor SPEC",
		Short: "Run the trainer once for real, briefly, and check everything a sweep depends on",
		Long: `Before a night, run SPEC's trainer once for real as a smoke trial: the base
config with the spec's fixed settings, cut to ` + strconv.Itoa(sweep.DoctorSteps) + ` optimizer steps (max_train_steps,
no max_train_epochs), one checkpoint (save_every_n_steps), and one sampling of
the first prompt (plus the first prompt of each scorer limited to prompts).

It checks every point lorasweep depends on: the preflight (argument names
against the script's --help), the real run accepting its arguments, the
console lines it reads (progress with a loss, epoch, checkpoint, model saved
or a readable final model), the sample images found by name and decoding,
the checkpoint's and final model's safetensors metadata, and every scorer of
the objective scoring the sample. It reports seconds per step and per sample
image, peak GPU memory where nvidia-smi can tell, and what one trial and the
whole budget take against the deadline.

The smoke trial runs in <output_root>/doctor-<timestamp>/, kept for
inspection; it is never part of the sweep (nothing is stored, no trial
number is used). Each failing point is one line naming the setting to
change. Exit status: 0 when every point passed, 1 when any failed, 2 for a
bad spec.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := loadSpec(cmd.ErrOrStderr(), args[0])
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return doctor(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), spec, timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "stop the smoke trial after this long (0: budget.trial_timeout)")
	return cmd
}

// errDoctorFailed is returned when a point failed: exit status 1, the
// report having said what.
var errDoctorFailed = errors.New("doctor: some checks failed (see above)")

func doctor(ctx context.Context, stdout, stderr io.Writer, spec *sweep.Spec, timeout time.Duration) error {
	rec := &warnRecorder{inner: slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})}
	logger := slog.New(rec)
	spec, err := ensureDemo(spec, logger, true)
	if err != nil {
		return err
	}
	pool, err := newTrialPool(ctx, spec, logger)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lorasweep doctor: %s trainer, %d-step smoke trial of sweep %q\n", spec.Trainer.Kind, sweep.DoctorSteps, spec.Name)
	failed := false
	printCheck := func(c sweep.DoctorCheck) {
		mark := "ok  "
		if !c.OK {
			mark, failed = "FAIL", true
		}
		fmt.Fprintf(stdout, "  %s %s: %s\n", mark, c.Point, c.Text)
	}
	if err := pool.Preflight(ctx, spec.Base); err != nil {
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "preflight: "), "preflight: ")
		for _, line := range strings.Split(msg, "\n") {
			printCheck(sweep.DoctorCheck{Point: "preflight", Text: strings.TrimSpace(line) + " (fix it in trainer.base, trainer.fixed or the trainer block)"})
		}
	} else {
		printCheck(sweep.DoctorCheck{Point: "preflight", OK: true, Text: preflightText(spec)})
	}
	obj, err := newObjective(spec)
	if err != nil {
		printCheck(sweep.DoctorCheck{Point: "objective", Text: err.Error()})
	}
	if failed {
		printWarnings(stdout, pool.Notes(), rec.take(), nil)
		return errDoctorFailed
	}

	dir, err := doctorDir(spec.OutputRoot, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  smoke trial in %s (kept; delete it when done)\n", dir)
	slots := len(pool.Slots())
	parallel := slots
	if spec.Budget.Parallel > 0 {
		parallel = min(parallel, spec.Budget.Parallel)
	}
	d := &sweep.Doctor{
		Spec: spec, Runner: sweep.PoolRunner{Pool: pool}, Scorer: obj,
		Parallel: parallel, Dir: dir, Timeout: timeout,
		GPUMemory: func(ctx context.Context) (map[string]int, error) {
			gpus, err := nvsmi.Query(ctx, "", nil)
			if err != nil {
				return nil, err
			}
			m := map[string]int{}
			for _, g := range gpus {
				m[strconv.Itoa(g.Index)] = g.MemoryUsedMiB
			}
			return m, nil
		},
	}
	rep, err := d.Run(ctx)
	if err != nil {
		return err
	}
	for _, c := range rep.Checks {
		printCheck(c)
	}
	printWarnings(stdout, pool.Notes(), rec.take(), rep.Warnings)
	printTimings(stdout, rep)
	printPrediction(stdout, spec, rep)
	if rep.LogPath != "" {
		fmt.Fprintf(stdout, "  trainer log: %s\n", rep.LogPath)
	}
	if failed {
		return errDoctorFailed
	}
	fmt.Fprintln(stdout, "doctor: every point passed")
	return nil
}

// preflightText says how the argument names were checked.
func preflightText(spec *sweep.Spec) string {
	switch spec.Trainer.Kind {
	case runner.KindKohya:
		return "interpreter, script, argument names, dataset and prompts"
	case runner.KindCommand:
		return "command and its regexes"
	}
	return "builtin trainer, dataset and prompts"
}

// doctorDir picks a new scratch folder <output_root>/doctor-<timestamp>:
// beside the sweep's trial folders (same disk, same dataset views), but
// under a name no trial uses.
func doctorDir(root string, now time.Time) (string, error) {
	base := filepath.Join(root, "doctor-"+now.Format("20060102-150405"))
	dir := base
	for i := 2; ; i++ {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			break
		}
		dir = fmt.Sprintf("%s.%d", base, i)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create doctor folder: %w", err)
	}
	return dir, nil
}

func printWarnings(w io.Writer, groups ...[]string) {
	seen := map[string]bool{}
	for _, g := range groups {
		for _, s := range g {
			if s == "" || seen[s] {
				continue
			}
			seen[s] = true
			fmt.Fprintf(w, "  warning: %s\n", s)
		}
	}
}

func printTimings(w io.Writer, rep *sweep.DoctorReport) {
	var parts []string
	if rep.StartupSeconds > 0 {
		parts = append(parts, fmt.Sprintf("startup %.1fs", rep.StartupSeconds))
	}
	if rep.StepSeconds > 0 {
		parts = append(parts, fmt.Sprintf("%.3g s/step", rep.StepSeconds))
	} else {
		parts = append(parts, "s/step not measured (fewer than two steps timed)")
	}
	if rep.ImageSeconds > 0 {
		parts = append(parts, fmt.Sprintf("%.3g s/sample image (%d image(s))", rep.ImageSeconds, rep.Images))
	} else if rep.Images > 0 {
		parts = append(parts, "s/sample image not measured (sampling was quicker than lorasweep reads the log)")
	}
	if rep.TailSeconds > 0 {
		parts = append(parts, fmt.Sprintf("final save and exit %.1fs", rep.TailSeconds))
	}
	fmt.Fprintf(w, "timings: %s\n", strings.Join(parts, ", "))
	switch {
	case rep.PeakGPUMiB >= 0:
		fmt.Fprintf(w, "peak GPU memory: %d MiB on GPU %s (%d MiB in use before the trial)\n", rep.PeakGPUMiB, strings.Join(rep.GPUs, ","), rep.BaseGPUMiB)
	case len(rep.GPUs) > 0 && strings.HasPrefix(rep.GPUs[0], "cpu"):
		fmt.Fprintln(w, "peak GPU memory: not measured (the trial ran on a CPU slot)")
	default:
		fmt.Fprintln(w, "peak GPU memory: not measured (nvidia-smi could not tell)")
	}
}

func printPrediction(w io.Writer, spec *sweep.Spec, rep *sweep.DoctorReport) {
	p := rep.Prediction
	if !p.Known {
		fmt.Fprintf(w, "prediction: unknown (%s)\n", p.Why)
		return
	}
	fmt.Fprintf(w, "prediction at the base config's values: one trial ≈ %s (%d steps, %d sample images); budget.trials %d, %d at a time ≈ %s\n",
		roundDuration(p.Trial), p.Steps, p.Images, p.Trials, p.Parallel, roundDuration(p.Budget))
	if !p.Deadline.IsZero() {
		left := time.Until(p.Deadline)
		verdict := "the budget fits"
		if p.Fit < p.Trials {
			verdict = fmt.Sprintf("about %d trials fit", p.Fit)
		}
		fmt.Fprintf(w, "deadline %s (%s from now): %s\n", spec.Budget.Deadline, roundDuration(left), verdict)
	}
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute)
	case d >= time.Minute:
		return d.Round(time.Second)
	}
	return time.Duration(math.Round(d.Seconds()*10)) * time.Second / 10
}

// warnRecorder keeps the text of warnings logged during the doctor's
// preflight and run (the script's --help could not be read, …) so the
// report lists them with the trainer's; errors still reach stderr.
type warnRecorder struct {
	inner slog.Handler
	mu    *sync.Mutex
	msgs  *[]string
}

func (h *warnRecorder) init() {
	if h.mu == nil {
		h.mu, h.msgs = &sync.Mutex{}, &[]string{}
	}
}

func (h *warnRecorder) Enabled(ctx context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *warnRecorder) Handle(ctx context.Context, r slog.Record) error {
	h.init()
	if r.Level >= slog.LevelError {
		_ = h.inner.Handle(ctx, r)
	}
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += fmt.Sprintf(" (%s: %v)", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	*h.msgs = append(*h.msgs, msg)
	h.mu.Unlock()
	return nil
}

func (h *warnRecorder) WithAttrs(as []slog.Attr) slog.Handler { return h }
func (h *warnRecorder) WithGroup(string) slog.Handler         { return h }

func (h *warnRecorder) take() []string {
	h.init()
	h.mu.Lock()
	defer h.mu.Unlock()
	out := *h.msgs
	*h.msgs = nil
	return out
}

// hintDoctor makes run print a one-line hint to run `lorasweep doctor`
// when the first trial this run finishes failed at an interface point:
// the setup, not the trial's params, is then the likely cause.
func hintDoctor(ctl *sweep.Controller, w io.Writer, specPath string) {
	var mu sync.Mutex
	stepped := map[int]bool{}
	first := true
	onEvent, onDone := ctl.OnEvent, ctl.OnTrialDone
	ctl.OnEvent = func(n int, ev runner.Event) {
		if ev.Kind == runner.EventProgress && ev.Step > 0 {
			mu.Lock()
			stepped[n] = true
			mu.Unlock()
		}
		if onEvent != nil {
			onEvent(n, ev)
		}
	}
	ctl.OnTrialDone = func(s sweep.TrialSummary) {
		if onDone != nil {
			onDone(s)
		}
		mu.Lock()
		was, saw := first, stepped[s.Number]
		first = false
		delete(stepped, s.Number)
		mu.Unlock()
		if was && s.Reason != "" && sweep.InterfaceFailure(s.Reason, s.Detail, saw) {
			if specPath == "" {
				specPath = "SPEC"
			}
			fmt.Fprintf(w, "hint: the first trial failed at the trainer interface (%s): `lorasweep doctor %s` runs a short smoke trial and names the setting to change\n", s.Reason, specPath)
		}
	}
}
