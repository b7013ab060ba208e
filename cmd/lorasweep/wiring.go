package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/runner"
	"github.com/lorasweep/lorasweep/runner/builtin"
	"github.com/lorasweep/lorasweep/sweep"
)

// ensureDemo writes the builtin trainer's demo dataset when the spec uses
// one that does not exist yet, and returns the spec read again (its base
// config and prompts now exist) unless reload is false (a worker's spec
// comes from storage).
func ensureDemo(spec *sweep.Spec, logger *slog.Logger, reload bool) (*sweep.Spec, error) {
	if spec.Demo == "" {
		return spec, nil
	}
	if _, err := os.Stat(spec.Demo); !errors.Is(err, os.ErrNotExist) {
		return spec, nil
	}
	logger.Info("generating the demo dataset", "dir", spec.Demo)
	if err := builtin.InitDemo(spec.Demo, builtin.DemoOptions{}); err != nil {
		return nil, fmt.Errorf("generate demo dataset: %w", err)
	}
	if !reload {
		return spec, nil
	}
	return loadSpec(io.Discard, spec.Path)
}

// newTrialPool builds the runner pool a sweep's trials run on: the spec's
// trainer and GPUs, this binary as supervisor and builtin trainer,
// per-resolution dataset views under the output root, so parallel trials
// that cache latents never write the same cache file, and the host-wide
// lease folder, so two runs of this host never stack trials on one card.
func newTrialPool(ctx context.Context, spec *sweep.Spec, logger *slog.Logger) (*runner.Pool, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	return runner.NewPool(ctx, runner.PoolConfig{
		Trainer:  spec.Trainer,
		GPUs:     spec.GPUs,
		Parallel: spec.Budget.Parallel,
		Self:     self,
		Logger:   logger,
		CacheDir: filepath.Join(spec.OutputRoot, "dataset-views"),
		LeaseDir: runner.DefaultLeaseDir(),
	})
}

// newObjective builds the spec's objective; reference folders are relative
// to the spec's folder. Command scorers run under the same supervisor as
// trainers: one holding a GPU dies with lorasweep. Errors are the spec's
// (usage errors).
func newObjective(spec *sweep.Spec) (*objective.Objective, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	obj, err := objective.New(spec.Objective, filepath.Dir(spec.Path), objective.WithSupervisor([]string{self, "supervise"}))
	if err != nil {
		return nil, usageError{err}
	}
	return obj, nil
}
