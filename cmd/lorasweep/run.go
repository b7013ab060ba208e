package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/internal/proc"
	"github.com/lorasweep/lorasweep/storage"
	"github.com/lorasweep/lorasweep/sweep"
)

func newRunCmd() *cobra.Command {
	var (
		dsn              string
		allowSpaceChange bool
		allowObjective   bool
		allowTrainer     bool
		quiet            bool
		verbose          bool
		enqueue          []string
		staleAfter       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run SPEC",
		Short: "Start or resume the sweep a spec describes",
		Long: `Start the sweep SPEC describes, or resume it when a sweep of the same name
exists in the storage: finished trials are kept, trials of a crashed run are
re-run, and numbering continues.

The first Ctrl-C (or SIGTERM) drains: no new trials start, running ones
finish and are recorded. A second one aborts: running trials are stopped,
recorded as interrupted and re-enqueued for the next run. A hangup (the
terminal or SSH session closed) drains too, and never aborts. Output piped
into a pager or tee that exits is dropped; the sweep goes on.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			outliveConsole()
			spec, err := loadSpec(cmd.ErrOrStderr(), args[0])
			if err != nil {
				return err
			}
			return runSweep(cmd, spec, resolveDSN(dsn, spec), sweepOptions{
				allowSpaceChange: allowSpaceChange, allowObjectiveChange: allowObjective, allowTrainerChange: allowTrainer,
				quiet: quiet, verbose: verbose, enqueue: enqueue, staleAfter: staleAfter,
			})
		},
	}
	addStorageFlag(cmd, &dsn)
	cmd.Flags().BoolVar(&allowSpaceChange, "allow-space-change", false, "resume even though the search space differs from the stored one")
	cmd.Flags().BoolVar(&allowObjective, "allow-objective-change", false,
		"resume even though the objective (direction, scorers, weights, reference images) differs from the stored one: "+
			"a new objective version; finished trials are scored again from their stored samples where the scorers allow, the rest are listed apart")
	cmd.Flags().BoolVar(&allowTrainer, "allow-trainer-change", false,
		"resume even though the trainer (kind, script), its fixed args or the base config differ from the stored ones: "+
			"trials trained before are listed apart, never ranked with new ones")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only warnings and the final ranking")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every epoch scored and every trainer start and exit")
	cmd.Flags().StringArrayVar(&enqueue, "enqueue", nil, "YAML/JSON `FILE` of known configs (a list of param: value maps) to run first; repeatable")
	addStaleAfterFlag(cmd, &staleAfter)
	return cmd
}

// sweepOptions are run's and worker's flags that shape a sweep's run.
type sweepOptions struct {
	allowSpaceChange bool
	quiet, verbose   bool
	enqueue          []string
	// worker: the spec came from storage; do not re-read it from disk.
	worker bool
	// scorer scores finished trials again after an allowed objective change.
	scorer sweep.Scorer

	// allowObjectiveChange, allowTrainerChange: see run's flags of the
	// same names.
	allowObjectiveChange, allowTrainerChange bool
	// staleAfter: how long a trial's heartbeat may be silent before any
	// worker fails it as interrupted and re-enqueues it.
	staleAfter time.Duration
}

// defaultStaleAfter is how long a trial may go without a heartbeat before
// it is reaped; heartbeats come six times as often.
const defaultStaleAfter = 30 * time.Second

// addStaleAfterFlag registers --stale-after on run and worker.
func addStaleAfterFlag(cmd *cobra.Command, d *time.Duration) {
	cmd.Flags().DurationVar(d, "stale-after", defaultStaleAfter,
		"fail (and re-run) a trial whose worker has sent no heartbeat for this long; every worker checks periodically. "+
			"Use the same value on every worker; shorter than a storage outage you expect to ride out makes live trials look dead")
}

// loadSpec parses a spec file, printing its warnings; spec errors are usage
// errors (exit 2).
func loadSpec(stderr io.Writer, path string) (*sweep.Spec, error) {
	spec, err := sweep.ParseSpecFile(path)
	if err != nil {
		var se *sweep.SpecError
		if errors.As(err, &se) {
			return nil, usageError{err}
		}
		return nil, err
	}
	for _, w := range spec.Warnings {
		fmt.Fprintln(stderr, w.String())
	}
	return spec, nil
}

func runSweep(cmd *cobra.Command, spec *sweep.Spec, dsn string, opts sweepOptions) error {
	allowSpaceChange, quiet, verbose := opts.allowSpaceChange, opts.quiet, opts.verbose
	termOut := isTerminal(cmd.ErrOrStderr())
	stdout, stderr := newConsole(cmd.OutOrStdout()), newConsole(cmd.ErrOrStderr())
	logLevel := slog.LevelWarn
	if verbose {
		logLevel = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel}))

	spec, err := ensureDemo(spec, logger, !opts.worker)
	if err != nil {
		return err
	}

	// First signal drains, second aborts. SIGHUP (the terminal or SSH
	// session closed) only ever drains: nobody is there to mean "abort".
	ctx, abort := context.WithCancel(cmd.Context())
	defer abort()
	drain := make(chan struct{})
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		var first os.Signal
		select {
		case first = <-sigs:
		case <-ctx.Done():
			return
		}
		if first == syscall.SIGHUP {
			fmt.Fprintln(stderr, "lorasweep: hangup (terminal closed): draining: no new trials; running ones finish. SIGINT or SIGTERM aborts them.")
		} else {
			fmt.Fprintln(stderr, "lorasweep: draining: no new trials; running ones finish. Press Ctrl-C again to abort them.")
		}
		close(drain)
		for {
			select {
			case sig := <-sigs:
				if sig == syscall.SIGHUP {
					continue
				}
				fmt.Fprintln(stderr, "lorasweep: aborting: stopping running trials (they will be re-run on resume)")
				abort()
				return
			case <-ctx.Done():
				return
			}
		}
	}()

	openStore := storage.Open
	if opts.worker {
		// A worker joins a sweep that exists: never create a database.
		openStore = storage.OpenExisting
	}
	store, err := openStore(ctx, dsn)
	if err != nil {
		return err
	}
	defer store.Close()

	pool, err := newTrialPool(ctx, spec, logger)
	if err != nil {
		return err
	}
	for _, n := range pool.Notes() {
		fmt.Fprintln(stderr, "note:", n)
	}
	if err := pool.Preflight(ctx, spec.Base); err != nil {
		return usageError{err} // the error says "preflight:" itself
	}
	obj, err := newObjective(spec)
	if err != nil {
		return err
	}
	sampler, err := newSampler(spec)
	if err != nil {
		return usageError{err}
	}
	pruner, err := newPruner(spec)
	if err != nil {
		return usageError{err}
	}
	host, _ := os.Hostname()
	parallel := len(pool.Slots())
	ctl := &sweep.Controller{
		Spec:    spec,
		Store:   store,
		Runner:  sweep.PoolRunner{Pool: pool},
		Scorer:  obj,
		Sampler: sampler,
		Pruner:  pruner,
		Logger:  logger,
		// host:pid:nonce: the next start on this host reaps our trials at
		// once if this process is killed; the nonce keeps a restarted
		// container's PID 1 from taking our trials for its own.
		WorkerID: sweep.NewWorkerID(host, os.Getpid()),
		Host:     host,
		Alive:    proc.Alive,
		Join:     opts.worker,
		// One goroutine more than slots: a trial's final scoring and
		// bookkeeping overlap the next trial's training.
		Parallel: parallel + 1,
		// One slot: a seeded sweep must propose the same trials every run,
		// which needs the previous trial's value, not a liar, at each ask.
		Sequential: parallel == 1,
		Drain:      drain,

		AllowObjectiveChange: opts.allowObjectiveChange,
		AllowTrainerChange:   opts.allowTrainerChange,
		OnObjectiveChange:    reportObjectiveChange(stderr),
	}
	if opts.staleAfter > 0 {
		ctl.StaleAfter = opts.staleAfter
		ctl.HeartbeatEvery = opts.staleAfter / 6
	}
	closeLive := func() {}
	if !quiet && !verbose {
		live := newLiveView(stderr, spec, termOut)
		live.attach(ctl)
		closeLive = live.close
	}
	hintDoctor(ctl, stderr, spec.Path)
	if !opts.worker {
		opts.scorer = obj
		if err := enqueueFiles(ctx, stderr, store, spec, opts); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "lorasweep: sweep %q on %s, %d slot(s), budget %d trials\n", spec.Name, storage.Redact(dsn), parallel, spec.Budget.Trials)
	res, runErr := ctl.Run(ctx, allowSpaceChange)
	// The live block is erased by moving the cursor up over it: done after
	// the ranking is printed, that would erase the ranking's last lines.
	closeLive()
	if res.StudyID != 0 {
		trials, err := store.GetAllTrials(res.StudyID)
		if err == nil {
			// The study's direction, as every other view reads it.
			dir, err := store.GetStudyDirection(res.StudyID)
			if err != nil {
				return fmt.Errorf("read direction: %w", err)
			}
			rows := sweep.Rank(trials, dir)
			fmt.Fprintf(stdout, "\nsweep %q: %s\n", spec.Name, stopLine(res.Stop))
			if err := writeTrialsTable(stdout, rows, spec); err != nil {
				return err
			}
			writeRepeats(stdout, spec, sweep.RankRepeats(trials, dir))
		}
	}
	if res.FreedBytes > 0 {
		fmt.Fprintf(stdout, "retention (%s): %s of checkpoints deleted\n", keepString(spec.Keep), formatBytes(res.FreedBytes))
	}
	if isRefusedResume(runErr) {
		return usageError{runErr}
	}
	if runErr == nil && res.Stop.Failed() {
		// Whoever started the sweep unattended (a script, systemd, a
		// container) must see that it did not finish its budget.
		return fmt.Errorf("sweep stopped on failures: %s", res.Stop)
	}
	return runErr
}

// isRefusedResume reports a resume refused because the spec changed what
// the stored sweep is (space, objective, trainer): the user's input, exit 2.
func isRefusedResume(err error) bool {
	var sce *sweep.SpaceChangedError
	var ce *sweep.ChangedError
	return errors.As(err, &sce) || errors.As(err, &ce)
}

// reportObjectiveChange tells the user what an allowed objective or
// trainer change did to the finished trials.
func reportObjectiveChange(w io.Writer) func(int, []string, int, int) {
	return func(version int, changes []string, rescored, apart int) {
		fmt.Fprintf(w, "lorasweep: objective version %d:\n  %s\n", version, strings.Join(changes, "\n  "))
		fmt.Fprintf(w, "lorasweep: %d finished trial(s) scored again under it", rescored)
		if apart > 0 {
			fmt.Fprintf(w, "; %d could not be (trained under another trainer config, or their samples or losses are not there to score) and are listed apart, unranked", apart)
		}
		fmt.Fprintln(w)
	}
}

// trialDoneLine is the one line a finished trial gets in run's output.
func trialDoneLine(s sweep.TrialSummary) string {
	line := fmt.Sprintf("trial %d %s", s.Number, strings.ToLower(s.State.String()))
	if s.HasValue {
		line += fmt.Sprintf(": value %.4g at %s", s.Value, s.Best)
		if s.Partial != "" {
			line += " (partial " + s.Partial + ")"
		}
	}
	if s.Reason != "" {
		line += " (" + s.Reason
		if s.Detail != "" {
			line += ": " + s.Detail
		}
		line += ")"
	}
	line += fmt.Sprintf(" in %.1fs", s.Duration.Seconds())
	for _, w := range s.Warnings {
		line += "\n  warning: " + w
	}
	return line
}

func stopLine(s sweep.StopReason) string {
	if s == "" {
		return "stopped"
	}
	return "stopped: " + string(s)
}

// enqueueFiles opens (or creates) the study and enqueues the --enqueue
// files' configs before the controller starts claiming trials.
func enqueueFiles(ctx context.Context, stderr io.Writer, store *storage.Store, spec *sweep.Spec, opts sweepOptions) error {
	if len(opts.enqueue) == 0 {
		return nil
	}
	// Every file is checked before anything is enqueued: one bad value
	// leaves the sweep as it was.
	configs := make([][]map[string]any, len(opts.enqueue))
	for i, f := range opts.enqueue {
		c, err := sweep.ReadEnqueueFile(spec, f)
		if err != nil {
			return usageError{fmt.Errorf("--enqueue: nothing enqueued:\n%w", err)}
		}
		configs[i] = c
	}
	study, err := sweep.OpenStudyWith(ctx, store, spec, sweep.StudyOptions{
		AllowSpaceChange: opts.allowSpaceChange, AllowObjectiveChange: opts.allowObjectiveChange,
		AllowTrainerChange: opts.allowTrainerChange, Scorer: opts.scorer, Report: reportObjectiveChange(stderr),
	})
	if err != nil {
		if isRefusedResume(err) {
			return usageError{err}
		}
		return err
	}
	for i, f := range opts.enqueue {
		n, err := sweep.EnqueueConfigs(ctx, store, study.ID, spec, configs[i])
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "lorasweep: %d config(s) enqueued from %s\n", n, f)
	}
	return nil
}

// writeRepeats prints the repeated configs ranked by mean ± spread.
func writeRepeats(w io.Writer, spec *sweep.Spec, groups []sweep.RepeatGroup) {
	if len(groups) == 0 {
		return
	}
	fmt.Fprintf(w, "\nrepeated configs, ranked by mean over seeds:\n")
	for _, g := range groups {
		fmt.Fprintf(w, "  trial %d (+%d repeats): mean %.4g ± %.2g over %d run(s): %s\n",
			g.Number, len(g.Repeats), g.Mean, g.Std, len(g.Values), spec.FormatTrainedParams(g.Params))
	}
}

func keepString(k sweep.Retention) string {
	if k.Mode == sweep.KeepBestTrials {
		return fmt.Sprintf("%s:%d", k.Mode, k.Trials)
	}
	return k.Mode
}

// formatBytes renders a size in binary units.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// outliveConsole lets a sweep outlive its console: a pager or tee that
// exits must not end an overnight sweep. With SIGPIPE caught (never
// ignored: an ignored disposition would pass to trainers across exec),
// writes to a closed pipe fail with EPIPE instead of killing the process;
// the console writers then drop what can no longer be shown.
func outliveConsole() {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
}

// console is the sweep's terminal output. Once a write fails (the pager or
// tee reading it exited, the terminal went away) everything after is
// dropped and reported written: the sweep outlives its console, and the
// trial logs and storage keep all it would have shown.
type console struct {
	mu   sync.Mutex
	w    io.Writer
	gone bool
}

func newConsole(w io.Writer) *console { return &console{w: w} }

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.gone {
		if _, err := c.w.Write(p); err != nil {
			c.gone = true
		}
	}
	return len(p), nil
}
