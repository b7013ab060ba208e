package bench

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"

	"github.com/c-bata/goptuna"
	stocktpe "github.com/c-bata/goptuna/tpe"

	"github.com/lorasweep/lorasweep/sweep/benchfn"
	"github.com/lorasweep/lorasweep/sweep/sampling"
	"github.com/lorasweep/lorasweep/sweep/tpe"
)

// Checkpoints are the trial counts at which regret is reported.
var Checkpoints = []int{25, 50, 100}

// SamplerFactory makes a fresh sampler for one seed of one problem.
type SamplerFactory struct {
	Name string
	New  func(p benchfn.Problem, seed int64) goptuna.Sampler
}

// GoSamplers are the Go samplers compared: lorasweep's TPE (constant liar on,
// as `run` uses it), lorasweep's random and goptuna v0.9.0's stock TPE.
// The stock TPE draws from the global math/rand; it is reseeded per run so
// sequential runs repeat (see lsbench's //go:debug randseednop=0), but runs
// are not reproducible when several run at once.
func GoSamplers() []SamplerFactory {
	return []SamplerFactory{
		{"lorasweep TPE", func(p benchfn.Problem, seed int64) goptuna.Sampler {
			return tpe.NewSampler(tpe.Options{Seed: seed, LogInt: p.LogInt, ConstantLiar: true})
		}},
		{"lorasweep random", func(p benchfn.Problem, seed int64) goptuna.Sampler {
			return sampling.NewRandom(sampling.RandomOptions{Seed: seed, LogInt: p.LogInt})
		}},
		{"goptuna stock TPE", func(p benchfn.Problem, seed int64) goptuna.Sampler {
			//lint:ignore SA1019 the stock TPE reads the global source; seeding it is the only way to repeat a run
			rand.Seed(seed)
			return stocktpe.NewSampler(stocktpe.SamplerOptionSeed(seed))
		}},
	}
}

// Problems are the benchmark functions: the 6-D LoRA-like function and two
// standard functions with mixed types.
func Problems() []benchfn.Problem {
	return []benchfn.Problem{benchfn.LoRALike(), benchfn.LoRA10(), benchfn.MixedBranin(), benchfn.MixedSphere()}
}

// Traces runs f on p for seeds 1..seeds and returns each run's best
// noise-free value so far.
func Traces(p benchfn.Problem, f SamplerFactory, seeds, trials, parallel int) ([][]float64, error) {
	var out [][]float64
	for s := 1; s <= seeds; s++ {
		tr, err := benchfn.Run(p, f.New(p, int64(s)), benchfn.RunOptions{Trials: trials, Seed: int64(s), Parallel: parallel})
		if err != nil {
			return nil, fmt.Errorf("%s on %s, seed %d: %w", f.Name, p.Name, s, err)
		}
		out = append(out, tr.BestTrue)
	}
	return out, nil
}

// EfficiencyRaw is the raw output of the efficiency study: best-so-far
// noise-free values per problem, sampler and seed.
type EfficiencyRaw struct {
	Seeds  int                               `json:"seeds"`
	Trials int                               `json:"trials"`
	Optima map[string]float64                `json:"optima"`
	Traces map[string]map[string][][]float64 `json:"traces"` // problem → sampler → seed → trace
	Optuna string                            `json:"optuna_version,omitempty"`
}

// Efficiency is study 1 (sample efficiency): regret (best noise-free value so
// far − optimum) at 25/50/100 trials, mean ± SE over seeds 1..30 (quick: 10
// seeds), for each Go sampler and Optuna's TPESampler on each problem.
func Efficiency(ctx context.Context, c Config) (Result, error) {
	seeds, trials := 30, 100
	if c.Quick {
		seeds = 10
	}
	raw := EfficiencyRaw{Seeds: seeds, Trials: trials, Optima: map[string]float64{}, Traces: map[string]map[string][][]float64{}}
	for _, p := range Problems() {
		raw.Optima[p.Name] = p.Optimum
		raw.Traces[p.Name] = map[string][][]float64{}
		for _, f := range GoSamplers() {
			tr, err := Traces(p, f, seeds, trials, 1)
			if err != nil {
				return Result{}, err
			}
			raw.Traces[p.Name][f.Name] = tr
		}
		if !c.SkipOptuna {
			var out struct {
				BestTrue [][]float64 `json:"best_true"`
				Optuna   string      `json:"optuna"`
			}
			if err := c.runOptuna(ctx, &out, "regret", "--problem", p.Name, "--seeds", "1-"+strconv.Itoa(seeds), "--trials", strconv.Itoa(trials)); err != nil {
				return Result{}, err
			}
			raw.Traces[p.Name]["Optuna TPE"] = out.BestTrue
			raw.Optuna = out.Optuna
		}
	}
	names := []string{"lorasweep TPE", "lorasweep random", "goptuna stock TPE", "Optuna TPE"}
	var tables []Table
	for _, p := range Problems() {
		t := Table{
			Title:  fmt.Sprintf("Sample efficiency: %s", p.Name),
			Note:   fmt.Sprintf("Regret = best noise-free value so far − optimum (%.4g); mean ± SE over seeds 1–%d; noise N(0, %.2g²) on what the sampler sees.", p.Optimum, seeds, p.Noise),
			Header: []string{"sampler", "@25", "@50", "@100"},
		}
		for _, n := range names {
			tr, ok := raw.Traces[p.Name][n]
			if !ok {
				continue
			}
			row := []string{n}
			for _, k := range Checkpoints {
				row = append(row, NewStat(At(tr, k, p.Optimum)).String())
			}
			t.Rows = append(t.Rows, row)
		}
		tables = append(tables, t)
	}
	return Result{Study: "efficiency", Tables: tables, Raw: raw}, nil
}

// ParallelRaw is the raw output of the parallel study.
type ParallelRaw struct {
	Seeds  int                    `json:"seeds"`
	Regret map[string][]float64   `json:"regret_at_100"` // mode → per seed
	Dups   map[string]int         `json:"near_duplicates"`
	Traces map[string][][]float64 `json:"traces"`
}

// Parallel is study 2: lorasweep TPE on the LoRA-like functions with 4
// simulated workers (benchfn's deterministic parallel harness) against
// sequential, for the new default (local startup from the baseline, 25
// startup trials) and the old one (10 random startup trials), with and
// without the constant liar; regret at 25, 50 and 100 trials.
func Parallel(ctx context.Context, c Config) (Result, error) {
	seeds := 30
	if c.Quick {
		seeds = 10
	}
	modes := []struct {
		name     string
		levers   Levers
		baseline bool
		liar     bool
		parallel int
	}{
		{"new default, sequential", DefaultLevers, true, true, 1},
		{"new default, 4 workers, constant liar", DefaultLevers, true, true, 4},
		{"new default, 4 workers, no liar", DefaultLevers, true, false, 4},
		{"old default, sequential", Levers{}, false, true, 1},
		{"old default, 4 workers, constant liar", Levers{}, false, true, 4},
		{"old default, 4 workers, no liar", Levers{}, false, false, 4},
	}
	raw := ParallelRaw{Seeds: seeds, Regret: map[string][]float64{}, Dups: map[string]int{}, Traces: map[string][][]float64{}}
	var tables []Table
	for _, p := range []benchfn.Problem{benchfn.LoRALike(), benchfn.LoRA10()} {
		t := Table{
			Title:  "Parallel efficiency: lorasweep TPE, 4 workers, " + p.Name,
			Note:   fmt.Sprintf("Regret, mean ± SE over seeds 1–%d. Near-duplicates: proposals within 0.05 (max-norm, scaled) of a trial still running, of %d.", seeds, seeds*100),
			Header: []string{"mode", "regret @25", "regret @50", "regret @100", "near-duplicates"},
		}
		for _, m := range modes {
			var traces [][]float64
			dups := 0
			for s := 1; s <= seeds; s++ {
				l := m.levers
				o := tpe.Options{Seed: int64(s), LogInt: p.LogInt, ConstantLiar: m.liar, Local: l.Local, StartupTrials: l.Startup}
				if l.Prior {
					o.Prior = p.Base
				}
				tr, err := benchfn.Run(p, tpe.NewSampler(o), benchfn.RunOptions{Trials: 100, Seed: int64(s), Parallel: m.parallel, Baseline: m.baseline})
				if err != nil {
					return Result{}, fmt.Errorf("parallel %s seed %d: %w", m.name, s, err)
				}
				traces = append(traces, finite(tr.BestTrue))
				dups += tr.NearDuplicates
			}
			key := p.Name + ": " + m.name
			raw.Traces[key] = traces
			raw.Regret[key] = At(traces, 100, p.Optimum)
			raw.Dups[key] = dups
			t.Rows = append(t.Rows, []string{m.name, NewStat(At(traces, 25, p.Optimum)).String(), NewStat(At(traces, 50, p.Optimum)).String(), NewStat(raw.Regret[key]).String(), strconv.Itoa(dups)})
		}
		tables = append(tables, t)
	}
	return Result{Study: "parallel", Tables: tables, Raw: raw}, nil
}
