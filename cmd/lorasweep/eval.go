package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/c-bata/goptuna"
	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/runner"
	"github.com/lorasweep/lorasweep/runner/builtin"
	"github.com/lorasweep/lorasweep/storage"
	"github.com/lorasweep/lorasweep/sweep"
	"github.com/lorasweep/lorasweep/sweep/sampling"
)

// evalResult is what `lorasweep eval` prints: one JSON object.
type evalResult struct {
	State      string                `json:"state"` // complete | pruned | fail
	Value      *float64              `json:"value"` // null unless complete
	Direction  string                `json:"direction"`
	BestEpoch  int                   `json:"best_epoch,omitempty"`
	Components []objective.Component `json:"components"`
	Epochs     []evalEpoch           `json:"epochs"`
	Reason     string                `json:"reason,omitempty"`
	Detail     string                `json:"detail,omitempty"`
	Params     map[string]any        `json:"params"`
	Seconds    float64               `json:"seconds"`
	TrialDir   string                `json:"trial_dir,omitempty"`
}

type evalEpoch struct {
	Epoch    int      `json:"epoch"`
	Fraction float64  `json:"fraction"`
	Value    *float64 `json:"value"`
}

func newEvalCmd() *cobra.Command {
	var (
		paramsArg string
		outDir    string
		verbose   bool
	)
	cmd := &cobra.Command{
		Use:   "eval SPEC --params FILE|JSON",
		Short: "Train and score one config through the real runner and objective",
		Long: `Train one config of SPEC's search space with SPEC's trainer, score every
saved epoch with SPEC's objective, and print the result as one JSON object:
{"state", "value" (the best epoch's), "best_epoch", "components" (of the best
epoch), "epochs", "params", "seconds"}.

--params is a JSON object (or a file holding one) of search-space params as a
sweep would propose them: a ratio_of param is the ratio, not the absolute
value. Params left out keep the base config's values; values outside the
space are allowed (as for the baseline).

Use it to score the config you have today before a sweep, or to drive
lorasweep's trainer and objective from another optimiser (bench/python does
this for Optuna). No sweep is created: the trial runs in a throwaway study in
a temporary SQLite file, deleted on exit. Trial outputs go to --out when
given (kept) or to the temporary directory (deleted).

Exit status: 0 when the trial completed, 1 when it failed or could not be
scored (the JSON still says why), 2 for bad input.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if paramsArg == "" {
				return usageError{errors.New("--params FILE|JSON is required")}
			}
			spec, err := loadSpec(cmd.ErrOrStderr(), args[0])
			if err != nil {
				return err
			}
			params, err := readEvalParams(paramsArg)
			if err != nil {
				return usageError{err}
			}
			if err := checkEvalParams(spec, params); err != nil {
				return usageError{err}
			}
			res, err := evalConfig(cmd.Context(), cmd.ErrOrStderr(), spec, params, outDir, verbose)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if err := enc.Encode(res); err != nil {
				return fmt.Errorf("write result: %w", err)
			}
			if res.State != "complete" {
				return fmt.Errorf("trial %s: %s", res.State, res.Reason)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&paramsArg, "params", "", `params as a JSON object ('{"network_dim": 8}') or a file holding one`)
	cmd.Flags().StringVar(&outDir, "out", "", "keep the trial's folder under this directory (default: a temporary one, deleted)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log trainer starts, exits and scored epochs")
	return cmd
}

// readEvalParams reads a JSON object given inline or as a file name.
func readEvalParams(arg string) (map[string]any, error) {
	raw := []byte(arg)
	if !strings.HasPrefix(strings.TrimSpace(arg), "{") {
		b, err := os.ReadFile(arg)
		if err != nil {
			return nil, fmt.Errorf("read params: %w", err)
		}
		raw = b
	}
	var params map[string]any
	if err := json.Unmarshal(raw, &params); err != nil {
		return nil, fmt.Errorf("decode params (want a JSON object): %w", err)
	}
	return params, nil
}

// checkEvalParams refuses names that are not in the search space: a typo
// would otherwise silently train the base config.
func checkEvalParams(spec *sweep.Spec, params map[string]any) error {
	known := map[string]bool{}
	var names []string
	for _, p := range spec.Search {
		known[p.Name] = true
		names = append(names, p.Name)
	}
	sort.Strings(names)
	for k := range params {
		if !known[k] {
			return fmt.Errorf("param %q is not in the search space of %s (it has: %s)", k, spec.Path, strings.Join(names, ", "))
		}
	}
	return nil
}

// evalConfig runs params as the only trial of a throwaway study. It reuses
// the sweep controller (enqueued trial, budget 1, no pruner) so the trial is
// prepared, trained, scored per epoch and judged exactly as in a sweep.
func evalConfig(ctx context.Context, stderr io.Writer, spec *sweep.Spec, params map[string]any, outDir string, verbose bool) (evalResult, error) {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if spec.Demo != "" {
		if _, err := os.Stat(spec.Demo); errors.Is(err, os.ErrNotExist) {
			if err := builtin.InitDemo(spec.Demo, builtin.DemoOptions{}); err != nil {
				return evalResult{}, fmt.Errorf("generate demo dataset: %w", err)
			}
			if spec, err = loadSpec(io.Discard, spec.Path); err != nil {
				return evalResult{}, err
			}
		}
	}
	tmp, err := os.MkdirTemp("", "lorasweep-eval-")
	if err != nil {
		return evalResult{}, fmt.Errorf("create temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	one := *spec
	one.Name = "eval"
	one.Baseline = false
	one.Pruner = sweep.PrunerSpec{Kind: "none"}
	one.Budget.Trials, one.Budget.Parallel, one.Budget.Deadline, one.Budget.Retries = 1, 1, "", 0
	one.OutputRoot = filepath.Join(tmp, "runs")
	if outDir != "" {
		if one.OutputRoot, err = filepath.Abs(outDir); err != nil {
			return evalResult{}, fmt.Errorf("resolve --out: %w", err)
		}
	}

	store, err := storage.Open(ctx, "sqlite://"+filepath.Join(tmp, "eval.db"))
	if err != nil {
		return evalResult{}, err
	}
	defer store.Close()
	study, err := sweep.OpenStudy(ctx, store, &one, false)
	if err != nil {
		return evalResult{}, err
	}
	if _, err := sweep.Enqueue(ctx, store, study.ID, params, "eval"); err != nil {
		return evalResult{}, fmt.Errorf("enqueue params: %w", err)
	}

	self, err := os.Executable()
	if err != nil {
		return evalResult{}, fmt.Errorf("find own binary: %w", err)
	}
	pool, err := runner.NewPool(ctx, runner.PoolConfig{
		Trainer: one.Trainer, GPUs: one.GPUs, Parallel: 1, Self: self, Logger: logger,
		CacheDir: filepath.Join(one.OutputRoot, "dataset-views"),
		LeaseDir: runner.DefaultLeaseDir(),
	})
	if err != nil {
		return evalResult{}, err
	}
	if err := pool.Preflight(ctx, one.Base); err != nil {
		return evalResult{}, usageError{err} // the error says "preflight:" itself
	}
	obj, err := objective.New(one.Objective, filepath.Dir(one.Path), objective.WithSupervisor([]string{self, "supervise"}))
	if err != nil {
		return evalResult{}, usageError{err}
	}
	host, _ := os.Hostname()
	ctl := &sweep.Controller{
		Spec: &one, Store: store, Runner: sweep.PoolRunner{Pool: pool}, Scorer: obj,
		// Never asked: the only trial is the enqueued one.
		Sampler:  sampling.NewRandom(sampling.RandomOptions{}),
		Logger:   logger,
		WorkerID: sweep.NewWorkerID(host, os.Getpid()),
		Host:     host,
		Parallel: 1,
	}
	start := time.Now()
	res, err := ctl.Run(ctx, false)
	if err != nil {
		return evalResult{}, err
	}
	if len(res.Trials) != 1 {
		return evalResult{}, fmt.Errorf("eval ran %d trials, want 1 (stopped: %s)", len(res.Trials), res.Stop)
	}
	sum := res.Trials[0]
	out := evalResult{
		State:      strings.ToLower(sum.State.String()),
		Direction:  one.Objective.Direction,
		BestEpoch:  sum.BestEpoch,
		Reason:     sum.Reason,
		Detail:     sum.Detail,
		Params:     sum.Params,
		Seconds:    time.Since(start).Seconds(),
		Components: []objective.Component{},
		Epochs:     []evalEpoch{},
	}
	if out.Direction == "" {
		out.Direction = "maximize"
	}
	if sum.HasValue && sum.State == goptuna.TrialStateComplete && !math.IsNaN(sum.Value) {
		v := sum.Value
		out.Value = &v
	}
	trials, err := store.GetAllTrials(study.ID)
	if err != nil || len(trials) == 0 {
		return out, fmt.Errorf("read trial: %w", err)
	}
	if outDir != "" {
		if run, err := store.GetRun(ctx, trials[0].ID); err == nil {
			out.TrialDir = run.TrialDir
		}
	}
	epochs, err := store.Epochs(ctx, trials[0].ID)
	if err != nil {
		return out, fmt.Errorf("read epochs: %w", err)
	}
	for _, e := range epochs {
		out.Epochs = append(out.Epochs, evalEpoch{Epoch: e.Epoch, Fraction: e.Fraction, Value: e.Value})
		if e.Epoch == sum.BestEpoch && e.Components != "" {
			var comps []objective.Component
			if err := json.Unmarshal([]byte(e.Components), &comps); err == nil {
				for i := range comps {
					comps[i].Images = nil // per-image detail belongs in the report
				}
				out.Components = comps
			}
		}
	}
	return out, nil
}
