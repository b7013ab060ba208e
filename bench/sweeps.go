package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/runner"
	"github.com/lorasweep/lorasweep/runner/builtin"
	"github.com/lorasweep/lorasweep/storage"
	"github.com/lorasweep/lorasweep/sweep"
)

// builtinSpec is the quickstart's search space on the demo data (see
// examples/quickstart.yaml), with the sampler, pruner and budget the study
// sets. bench/python/optuna_bench.py's trainer mode mirrors this space.
const builtinSpec = `name: %s
output_root: ./runs-%s
demo: ./demo
trainer:
  kind: builtin
  base: ./demo/base.toml
  fixed:
    train_data_dir: ./demo/train
    sample_prompts: ./demo/prompts.txt
    max_train_epochs: 8
    save_every_n_epochs: 2
    sample_every_n_epochs: 2
    seed: 1
search:
  network_dim:     {int: [2, 16], log: true}
  network_alpha:   {ratio_of: network_dim, float: [0.25, 1.0]}
  learning_rate:   {float: [1.0e-4, 3.0e-2], log: true}
  lr_scheduler:    {choice: [constant, cosine, cosine_with_restarts]}
  lr_scheduler_num_cycles: {int: [1, 3], when: {lr_scheduler: cosine_with_restarts}}
  rank_dropout:    {float: [0.0, 0.3]}
sampler: {kind: tpe, seed: 1}
pruner: %s
objective:
  direction: maximize
  scorers:
    - {kind: reference, references: ./demo/references, weight: 1}
    - {kind: health, weight: 0.5}
budget: {trials: %d, parallel: %d, trial_timeout: 5m}
gpus: none
baseline: false
`

// demoSpec writes the demo dataset (once) and a spec over it into
// c.WorkDir, and returns the spec's path.
func demoSpec(c Config, name, pruner string, trials, parallel int) (string, error) {
	demo := filepath.Join(c.WorkDir, "demo")
	if _, err := os.Stat(demo); os.IsNotExist(err) {
		if err := builtin.InitDemo(demo, builtin.DemoOptions{}); err != nil {
			return "", fmt.Errorf("generate demo dataset: %w", err)
		}
	}
	if pruner == "" {
		pruner = "{kind: none}"
	}
	path := filepath.Join(c.WorkDir, name+".yaml")
	text := fmt.Sprintf(builtinSpec, name, name, pruner, trials, parallel)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return "", fmt.Errorf("write spec: %w", err)
	}
	return path, nil
}

// sweepOpts are the harness's departures from how `run` wires a sweep.
type sweepOpts struct {
	// CPUs is the pool's CPU-slot cap (0: the machine's cores, as `run`).
	CPUs int
}

// sweepRun is one sweep's outcome as the benchmarks need it.
type sweepRun struct {
	Trials []sweep.TrialSummary
	Wall   time.Duration
	// Slots is how many slots the pool really gave (it may cap a spec's
	// parallel at the machine's cores).
	Slots int
	// Start is when the controller was started; Timings every trial's
	// timestamps, read back from the store after the sweep.
	Start   time.Time
	Timings []TrialTiming
}

// runSweep runs the spec at path with sampler and pruner through the real
// controller, runner pool (c.Lorasweep as supervisor and trainer) and
// objective, on a fresh SQLite file, as `lorasweep run` wires them, changed
// only where opts says.
func runSweep(ctx context.Context, c Config, path string, sampler goptuna.Sampler, pruner goptuna.Pruner, opts sweepOpts) (sweepRun, error) {
	if c.Lorasweep == "" {
		return sweepRun{}, fmt.Errorf("--lorasweep BINARY is required for studies that train")
	}
	spec, err := sweep.ParseSpecFile(path)
	if err != nil {
		return sweepRun{}, err
	}
	store, err := storage.Open(ctx, "sqlite://"+filepath.Join(c.WorkDir, spec.Name+".db"))
	if err != nil {
		return sweepRun{}, err
	}
	defer store.Close()
	logger := slog.New(slog.DiscardHandler)
	pool, err := runner.NewPool(ctx, runner.PoolConfig{
		Trainer: spec.Trainer, GPUs: spec.GPUs, Parallel: spec.Budget.Parallel, CPUs: opts.CPUs,
		Self: c.Lorasweep, Logger: logger,
	})
	if err != nil {
		return sweepRun{}, err
	}
	obj, err := objective.New(spec.Objective, filepath.Dir(spec.Path))
	if err != nil {
		return sweepRun{}, err
	}
	ctl := &sweep.Controller{
		Spec: spec, Store: store, Runner: sweep.PoolRunner{Pool: pool}, Scorer: obj,
		Sampler: sampler, Pruner: pruner, Logger: logger,
		WorkerID: "lsbench", Host: "lsbench",
		// As `run` does: one goroutine more than slots, so a trial's final
		// scoring overlaps the next trial's training.
		Parallel: len(pool.Slots()) + 1,
	}
	start := time.Now()
	res, err := ctl.Run(ctx, false)
	if err != nil {
		return sweepRun{}, fmt.Errorf("sweep %s: %w", spec.Name, err)
	}
	wall := time.Since(start)
	timings, err := collectTimings(ctx, store, res.StudyID)
	if err != nil {
		return sweepRun{}, fmt.Errorf("sweep %s: %w", spec.Name, err)
	}
	return sweepRun{Trials: res.Trials, Wall: wall, Slots: len(pool.Slots()), Start: start, Timings: timings}, nil
}

// bestSoFar turns a sweep's trials (any order) into the best value after
// each trial number (maximize); trials without a value keep the previous
// best (NaN before the first value).
func bestSoFar(trials []sweep.TrialSummary, n int) []float64 {
	vals := make([]float64, n)
	has := make([]bool, n)
	for _, t := range trials {
		if t.Number < n && t.HasValue && t.State == goptuna.TrialStateComplete {
			vals[t.Number], has[t.Number] = t.Value, true
		}
	}
	out := make([]float64, n)
	best, seen := 0.0, false
	for i := 0; i < n; i++ {
		if has[i] && (!seen || vals[i] > best) {
			best, seen = vals[i], true
		}
		if seen {
			out[i] = best
		} else {
			out[i] = nanValue
		}
	}
	return out
}
