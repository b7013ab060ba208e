package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"strconv"
	"time"

	"github.com/c-bata/goptuna"
	stocktpe "github.com/c-bata/goptuna/tpe"

	"github.com/lorasweep/lorasweep/sweep/prune"
	"github.com/lorasweep/lorasweep/sweep/sampling"
	"github.com/lorasweep/lorasweep/sweep/tpe"
)

var nanValue = math.NaN()

// TrainerRaw is the raw output of the trainer study: the best value after
// each trial, per sampler and seed, and the seconds each run took.
type TrainerRaw struct {
	Seeds     int                    `json:"seeds"`
	Trials    int                    `json:"trials"`
	Best      map[string][][]float64 `json:"best_so_far"`
	Seconds   map[string][]float64   `json:"seconds"`
	Reference float64                `json:"reference"`
}

// Trainer is study 1(c): sample efficiency on the built-in trainer on the
// demo data through the real runner and objective (the quickstart's space,
// maximise). There is no known optimum, so regret is taken against the best
// value any run found. Full: 30 seeds × 40 trials; quick: 2 seeds × 12.
// Optuna drives the same trainer and objective through `lorasweep eval`.
func Trainer(ctx context.Context, c Config) (Result, error) {
	seeds, trials := 30, 40
	at := []int{10, 20, 40}
	if c.Quick {
		seeds, trials, at = 2, 12, []int{6, 12}
	}
	samplers := []struct {
		name string
		new  func(seed int64) goptuna.Sampler
	}{
		{"lorasweep TPE", func(s int64) goptuna.Sampler {
			return tpe.NewSampler(tpe.Options{Seed: s, ConstantLiar: true, LogInt: map[string]bool{"network_dim": true}})
		}},
		{"lorasweep random", func(s int64) goptuna.Sampler {
			return sampling.NewRandom(sampling.RandomOptions{Seed: s, LogInt: map[string]bool{"network_dim": true}})
		}},
		{"goptuna stock TPE", func(s int64) goptuna.Sampler {
			//lint:ignore SA1019 the stock TPE reads the global source
			rand.Seed(s)
			return stocktpe.NewSampler(stocktpe.SamplerOptionSeed(s))
		}},
	}
	raw := TrainerRaw{Seeds: seeds, Trials: trials, Best: map[string][][]float64{}, Seconds: map[string][]float64{}}
	for _, smp := range samplers {
		for s := 1; s <= seeds; s++ {
			name := fmt.Sprintf("trainer-%s-%d", slug(smp.name), s)
			path, err := demoSpec(c, name, "", trials, 1)
			if err != nil {
				return Result{}, err
			}
			run, err := runSweep(ctx, c, path, smp.new(int64(s)), nil, sweepOpts{})
			if err != nil {
				return Result{}, err
			}
			raw.Best[smp.name] = append(raw.Best[smp.name], bestSoFar(run.Trials, trials))
			raw.Seconds[smp.name] = append(raw.Seconds[smp.name], run.Wall.Seconds())
		}
	}
	if !c.SkipOptuna {
		path, err := demoSpec(c, "trainer-optuna", "", trials, 1)
		if err != nil {
			return Result{}, err
		}
		var out struct {
			Runs []struct {
				Best    []*float64 `json:"best"`
				Seconds float64    `json:"seconds"`
			} `json:"runs"`
		}
		start := time.Now()
		if err := c.runOptuna(ctx, &out, "trainer", "--lorasweep", c.Lorasweep, "--spec", path, "--seeds", "1-"+strconv.Itoa(seeds), "--trials", strconv.Itoa(trials)); err != nil {
			return Result{}, err
		}
		wall := time.Since(start).Seconds() / float64(seeds)
		for _, r := range out.Runs {
			tr := make([]float64, len(r.Best))
			for i, v := range r.Best {
				tr[i] = nanValue
				if v != nil {
					tr[i] = *v
				}
			}
			raw.Best["Optuna TPE"] = append(raw.Best["Optuna TPE"], tr)
			raw.Seconds["Optuna TPE"] = append(raw.Seconds["Optuna TPE"], wall)
		}
	}
	ref := math.Inf(-1)
	for _, runs := range raw.Best {
		for _, tr := range runs {
			for _, v := range tr {
				if v > ref {
					ref = v
				}
			}
		}
	}
	raw.Reference = ref
	t := Table{
		Title: "Sample efficiency: built-in trainer on the demo data (real runner and objective)",
		Note: fmt.Sprintf("Regret = best value found by any run (%.4f) − best value so far (maximise); mean ± SE over seeds 1–%d, one trial at a time. "+
			"The trainer's seed is fixed, so a config always scores the same. Seconds: wall time of one %d-trial sweep (Optuna: per seed, including `lorasweep eval`'s start-up).", ref, seeds, trials),
		Header: []string{"sampler"},
	}
	for _, n := range at {
		t.Header = append(t.Header, "@"+strconv.Itoa(n))
	}
	t.Header = append(t.Header, "seconds per sweep")
	for _, name := range []string{"lorasweep TPE", "lorasweep random", "goptuna stock TPE", "Optuna TPE"} {
		runs, ok := raw.Best[name]
		if !ok {
			continue
		}
		row := []string{name}
		for _, n := range at {
			var xs []float64
			for _, tr := range runs {
				if len(tr) >= n && !math.IsNaN(tr[n-1]) {
					xs = append(xs, ref-tr[n-1])
				}
			}
			row = append(row, NewStat(xs).String())
		}
		row = append(row, fmt.Sprintf("%.0f", NewStat(raw.Seconds[name]).Mean))
		t.Rows = append(t.Rows, row)
	}
	return Result{Study: "trainer", Tables: []Table{t}, Raw: raw}, nil
}

// PruningRaw is the raw output of the pruning study.
type PruningRaw struct {
	Seeds        int                    `json:"seeds"`
	Trials       int                    `json:"trials"`
	Best         map[string][]float64   `json:"best"`
	TrialSeconds map[string][]float64   `json:"trial_seconds"`
	Pruned       map[string][]int       `json:"pruned"`
	Traces       map[string][][]float64 `json:"traces"`
}

// Pruning is study 3: lorasweep TPE on the built-in trainer with no pruner,
// the median pruner and successive halving; trial-seconds (each trial from
// launch to recorded, summed) saved and the best value lost. Full: 30 seeds
// × 40 trials; quick: 2 × 15.
func Pruning(ctx context.Context, c Config) (Result, error) {
	seeds, trials := 30, 40
	if c.Quick {
		seeds, trials = 2, 15
	}
	pruners := []struct {
		name, yaml string
		new        func() goptuna.Pruner
	}{
		{"none", "{kind: none}", func() goptuna.Pruner { return nil }},
		{"median", "{kind: median, startup_trials: 5, warmup_fraction: 0.25}", func() goptuna.Pruner {
			return prune.NewMedian(prune.MedianOptions{StartupTrials: 5, WarmupFraction: 0.25})
		}},
		{"successive halving", "{kind: successive_halving}", func() goptuna.Pruner {
			return prune.NewSuccessiveHalving(prune.HalvingOptions{})
		}},
	}
	raw := PruningRaw{Seeds: seeds, Trials: trials, Best: map[string][]float64{}, TrialSeconds: map[string][]float64{},
		Pruned: map[string][]int{}, Traces: map[string][][]float64{}}
	// Seeds outer, pruners inner: the machine's load drifts, and the
	// trial-seconds of the three pruners are compared with each other.
	for s := 1; s <= seeds; s++ {
		for _, p := range pruners {
			name := fmt.Sprintf("pruning-%s-%d", slug(p.name), s)
			path, err := demoSpec(c, name, p.yaml, trials, 1)
			if err != nil {
				return Result{}, err
			}
			smp := tpe.NewSampler(tpe.Options{Seed: int64(s), ConstantLiar: true, LogInt: map[string]bool{"network_dim": true}})
			run, err := runSweep(ctx, c, path, smp, p.new(), sweepOpts{})
			if err != nil {
				return Result{}, err
			}
			var secs float64
			pruned := 0
			for _, t := range run.Trials {
				secs += t.Duration.Seconds()
				if t.State == goptuna.TrialStatePruned {
					pruned++
				}
			}
			tr := bestSoFar(run.Trials, trials)
			raw.Traces[p.name] = append(raw.Traces[p.name], tr)
			raw.Best[p.name] = append(raw.Best[p.name], tr[len(tr)-1])
			raw.TrialSeconds[p.name] = append(raw.TrialSeconds[p.name], secs)
			raw.Pruned[p.name] = append(raw.Pruned[p.name], pruned)
		}
	}
	base := NewStat(raw.TrialSeconds["none"]).Mean
	t := Table{
		Title: "Pruning: lorasweep TPE on the built-in trainer",
		Note: fmt.Sprintf("%d trials, seeds 1–%d, one at a time. Trial-seconds: each trial from launch to recorded, summed over the sweep (training, sampling, scoring). "+
			"Best value: maximise, mean ± SE.", trials, seeds),
		Header: []string{"pruner", "trial-seconds per sweep", "saved", "trials pruned", "best value"},
	}
	for _, p := range pruners {
		secs := NewStat(raw.TrialSeconds[p.name]).Mean
		var pr []float64
		for _, n := range raw.Pruned[p.name] {
			pr = append(pr, float64(n))
		}
		t.Rows = append(t.Rows, []string{p.name, fmt.Sprintf("%.1f", secs), fmt.Sprintf("%.0f %%", 100*(1-secs/base)),
			fmt.Sprintf("%.1f", NewStat(pr).Mean), NewStat(raw.Best[p.name]).String()})
	}
	return Result{Study: "pruning", Tables: []Table{t}, Raw: raw}, nil
}

func slug(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9') {
			b[i] = '-'
		}
	}
	return string(b)
}
