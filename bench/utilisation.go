package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/lorasweep/lorasweep/sweep/tpe"
)

// fixedSpec is a command trainer that trains for exactly %s seconds (a
// sleep), prints one epoch line and a loss that depends on the param, and is
// scored by the loss scorer. bash's $EPOCHREALTIME (a builtin: no extra
// process) stamps the start and end of its training into TrainerTimesFile.
const fixedSpec = `name: %s
output_root: ./runs-%s
trainer:
  kind: command
  command: [bash, -c, "s=$EPOCHREALTIME; echo 'epoch 1/1'; sleep %s; echo \"$s $EPOCHREALTIME\" > {trial_dir}/` + TrainerTimesFile + `; echo 'step 1 loss={x}'"]
  epoch_regex: 'epoch (\d+)/(\d+)'
  loss_regex: 'step (?P<step>\d+) loss=(?P<loss>[0-9.eE+-]+)'
search:
  x: {float: [0.0, 1.0]}
sampler: {kind: tpe, seed: 1}
objective:
  direction: minimize
  scorers:
    - {kind: loss, stat: final}
budget: {trials: %d, parallel: %d}
gpus: none
`

// UtilisationRaw is one utilisation sweep's raw output.
type UtilisationRaw struct {
	Trials       int           `json:"trials"`
	Slots        int           `json:"slots"`
	TrainSeconds float64       `json:"train_seconds"`
	WallSeconds  float64       `json:"wall_seconds"`
	Utilisation  float64       `json:"utilisation"`
	Completed    int           `json:"completed"`
	Breakdown    Breakdown     `json:"breakdown"`
	Timings      []TrialTiming `json:"timings"`
}

// Utilisation is study 5: a trainer that takes a fixed time (a sleep), a
// 200-trial sweep on 4 slots (quick: 40), everything else real (controller,
// TPE, SQLite, supervisor, log parsing, loss scoring). Utilisation = trials ×
// training time ÷ (slots × wall time): the share of slot-time spent training;
// the rest is process start, bookkeeping and idle gaps between trials, which
// the second table splits by the trials' timestamps. The pool's CPU-slot cap
// is lifted to 4: the trainer sleeps, so it needs no core of its own.
func Utilisation(ctx context.Context, c Config) (Result, error) {
	trials, slots, train := 200, 4, 0.5
	if c.Quick {
		trials = 40
	}
	var raw []UtilisationRaw
	t := Table{
		Title:  "Slot utilisation: fixed-time trainer, 4 slots",
		Note:   "Share of slot-time spent training = trials × training time ÷ (slots × sweep wall time). The trainer is `bash -c 'sleep T'` behind the command adapter; the controller, TPE, SQLite store, supervisor, log parsing and loss scoring are the real ones.",
		Header: []string{"training time per trial", "slots", "trials", "sweep wall time", "ideal wall time", "utilisation"},
	}
	bt := Table{
		Title: "Where slot-time goes (ms per trial, from the trials' timestamps)",
		Note: "suggest: claim → launch (TPE, params written); launch: → trainer's first timestamp (trial files, run row, supervisor and trainer start); " +
			"exit: trainer's last timestamp → run recorded ended (process exit, output drained, last epoch scored); tell: → value and state written; " +
			"idle: slot-time in no trial (waiting to be acquired and claimed), per trial; start/tail: sweep start → first claim, last trial told → return (whole sweep, s).",
		Header: []string{"T", "suggest", "launch", "train", "exit", "tell", "idle", "start (s)", "tail (s)"},
	}
	for _, secs := range []float64{train, 4 * train} {
		name := fmt.Sprintf("util-%g", secs)
		path := filepath.Join(c.WorkDir, name+".yaml")
		n := trials
		if secs > train {
			// The longer trainer shows the fixed cost's share shrinking;
			// fewer trials (a multiple of the slots) keep it short.
			n = trials / 4 / slots * slots
		}
		text := fmt.Sprintf(fixedSpec, name, name, fmt.Sprintf("%g", secs), n, slots)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return Result{}, fmt.Errorf("write spec: %w", err)
		}
		run, err := runSweep(ctx, c, path, tpe.NewSampler(tpe.Options{Seed: 1, ConstantLiar: true}), nil, sweepOpts{CPUs: slots})
		if err != nil {
			return Result{}, err
		}
		done := 0
		for _, tr := range run.Trials {
			if tr.HasValue {
				done++
			}
		}
		if len(run.Trials) != n {
			return Result{}, fmt.Errorf("utilisation sweep ran %d of %d trials", len(run.Trials), n)
		}
		got := run.Slots
		u := UtilisationRaw{Trials: n, Slots: got, TrainSeconds: secs, WallSeconds: run.Wall.Seconds(), Completed: done, Timings: run.Timings}
		u.Utilisation = float64(n) * secs / (float64(got) * u.WallSeconds)
		u.Breakdown = breakdown(run.Timings, run.Start, run.Wall, got)
		raw = append(raw, u)
		t.Rows = append(t.Rows, []string{fmt.Sprintf("%g s", secs), strconv.Itoa(got), fmt.Sprintf("%d (%d scored)", n, done),
			fmt.Sprintf("%.1f s", u.WallSeconds), fmt.Sprintf("%.1f s", float64((n+got-1)/got)*secs), fmt.Sprintf("%.1f %%", 100*u.Utilisation)})
		b, per := u.Breakdown, 1000/float64(n)
		bt.Rows = append(bt.Rows, []string{fmt.Sprintf("%g s", secs),
			fmt.Sprintf("%.0f", b.Suggest*per), fmt.Sprintf("%.0f", b.Launch*per), fmt.Sprintf("%.0f", b.Train*per),
			fmt.Sprintf("%.0f", b.Exit*per), fmt.Sprintf("%.0f", b.Tell*per), fmt.Sprintf("%.0f", b.Idle*per),
			fmt.Sprintf("%.2f", b.Startup), fmt.Sprintf("%.2f", b.Tail)})
	}
	return Result{Study: "utilisation", Tables: []Table{t, bt}, Raw: raw}, nil
}
