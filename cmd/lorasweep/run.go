package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/internal/proc"
	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/runner"
	"github.com/lorasweep/lorasweep/runner/builtin"
	"github.com/lorasweep/lorasweep/storage"
	"github.com/lorasweep/lorasweep/sweep"
)

func newRunCmd() *cobra.Command {
	var (
		dsn              string
		allowSpaceChange bool
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
recorded as interrupted and re-enqueued for the next run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := loadSpec(cmd.ErrOrStderr(), args[0])
			if err != nil {
				return err
			}
			return runSweep(cmd, spec, resolveDSN(dsn, spec), sweepOptions{
				allowSpaceChange: allowSpaceChange, quiet: quiet, verbose: verbose, enqueue: enqueue, staleAfter: staleAfter,
			})
		},
	}
	addStorageFlag(cmd, &dsn)
	cmd.Flags().BoolVar(&allowSpaceChange, "allow-space-change", false, "resume even though the search space differs from the stored one")
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
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	logLevel := slog.LevelWarn
	if verbose {
		logLevel = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel}))

	if spec.Demo != "" {
		if _, err := os.Stat(spec.Demo); errors.Is(err, os.ErrNotExist) {
			logger.Info("generating the demo dataset", "dir", spec.Demo)
			if err := builtin.InitDemo(spec.Demo, builtin.DemoOptions{}); err != nil {
				return fmt.Errorf("generate demo dataset: %w", err)
			}
			// The base config and prompts now exist: read the spec again so
			// trials start from them.
			if !opts.worker {
				if spec, err = loadSpec(io.Discard, spec.Path); err != nil {
					return err
				}
			}
		}
	}

	// First signal drains, second aborts.
	ctx, abort := context.WithCancel(cmd.Context())
	defer abort()
	drain := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		fmt.Fprintln(stderr, "lorasweep: draining: no new trials; running ones finish. Press Ctrl-C again to abort them.")
		close(drain)
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "lorasweep: aborting: stopping running trials (they will be re-run on resume)")
			abort()
		case <-ctx.Done():
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

	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	pool, err := runner.NewPool(ctx, runner.PoolConfig{
		Trainer:  spec.Trainer,
		GPUs:     spec.GPUs,
		Parallel: spec.Budget.Parallel,
		Self:     self,
		Logger:   logger,
		// Trials that cache latents get their own view of the dataset here,
		// so parallel trials never write the same cache file.
		CacheDir: filepath.Join(spec.OutputRoot, "dataset-views"),
	})
	if err != nil {
		return err
	}
	for _, n := range pool.Notes() {
		fmt.Fprintln(stderr, "note:", n)
	}
	if err := pool.Preflight(ctx, spec.Base); err != nil {
		return usageError{fmt.Errorf("preflight: %w", err)}
	}
	obj, err := objective.New(spec.Objective, filepath.Dir(spec.Path))
	if err != nil {
		return usageError{err}
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
		// host:pid lets the next start on this host reap our trials at once
		// if this process is killed.
		WorkerID: fmt.Sprintf("%s:%d", host, os.Getpid()),
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
	}
	if opts.staleAfter > 0 {
		ctl.StaleAfter = opts.staleAfter
		ctl.HeartbeatEvery = opts.staleAfter / 6
	}
	closeLive := func() {}
	if !quiet && !verbose {
		live := newLiveView(stderr, spec, isTerminal(stderr))
		live.attach(ctl)
		closeLive = live.close
	}
	if !opts.worker {
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
			rows := sweep.Rank(trials, sweep.Direction(spec.Objective.Direction))
			fmt.Fprintf(stdout, "\nsweep %q: %s\n", spec.Name, stopLine(res.Stop))
			if err := writeTrialsTable(stdout, rows, spec); err != nil {
				return err
			}
			writeRepeats(stdout, sweep.RankRepeats(trials, sweep.Direction(spec.Objective.Direction)))
		}
	}
	if res.FreedBytes > 0 {
		fmt.Fprintf(stdout, "retention (%s): %s of checkpoints deleted\n", keepString(spec.Keep), formatBytes(res.FreedBytes))
	}
	var sce *sweep.SpaceChangedError
	if errors.As(runErr, &sce) {
		return usageError{runErr}
	}
	return runErr
}

// trialDoneLine is the one line a finished trial gets in run's output.
func trialDoneLine(s sweep.TrialSummary) string {
	line := fmt.Sprintf("trial %d %s", s.Number, strings.ToLower(s.State.String()))
	if s.HasValue {
		line += fmt.Sprintf(": value %.4g at epoch %d", s.Value, s.BestEpoch)
	}
	if s.Reason != "" {
		line += " (" + s.Reason
		if s.Detail != "" {
			line += ": " + s.Detail
		}
		line += ")"
	}
	return line + fmt.Sprintf(" in %.1fs", s.Duration.Seconds())
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
	study, err := sweep.OpenStudy(ctx, store, spec, opts.allowSpaceChange)
	if err != nil {
		var sce *sweep.SpaceChangedError
		if errors.As(err, &sce) {
			return usageError{err}
		}
		return err
	}
	for _, f := range opts.enqueue {
		n, err := sweep.EnqueueFile(ctx, store, study.ID, spec, f)
		if err != nil {
			return usageError{err}
		}
		fmt.Fprintf(stderr, "lorasweep: %d config(s) enqueued from %s\n", n, f)
	}
	return nil
}

// writeRepeats prints the repeated configs ranked by mean ± spread.
func writeRepeats(w io.Writer, groups []sweep.RepeatGroup) {
	if len(groups) == 0 {
		return
	}
	fmt.Fprintf(w, "\nrepeated configs, ranked by mean over seeds:\n")
	for _, g := range groups {
		fmt.Fprintf(w, "  trial %d (+%d repeats): mean %.4g ± %.2g over %d run(s): %s\n",
			g.Number, len(g.Repeats), g.Mean, g.Std, len(g.Values), sweep.FormatParams(g.Params))
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
