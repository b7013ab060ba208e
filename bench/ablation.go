package bench

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/sweep/benchfn"
	"github.com/lorasweep/lorasweep/sweep/sampling"
	"github.com/lorasweep/lorasweep/sweep/tpe"
)

// AblationCheckpoints are the small-budget trial counts the ablation reports.
var AblationCheckpoints = []int{10, 25, 50, 100}

// Variant is one sampler configuration of the ablation.
type Variant struct {
	Name string
	// Baseline runs the problem's base config as trial 0.
	Baseline bool
	New      func(p benchfn.Problem, seed int64) goptuna.Sampler
	// NaNReason, if set, is how diverged trials are told (benchfn).
	NaNReason string
}

// Levers of lorasweep's TPE that the ablation switches.
type Levers struct {
	// Prior: the base config centres the startup draws and the
	// estimators' prior component.
	Prior bool
	// Local: startup draws centre on the best trial so far.
	Local bool
	// Multivariate: one joint Parzen estimator over the shared params.
	Multivariate bool
	// Effective: log(lr × alpha/dim) as the joint model's coordinate.
	Effective bool
	// Startup trials before the model (0: the sampler's default, 10).
	Startup int
}

// TPEVariant builds lorasweep's TPE with the levers given.
func TPEVariant(l Levers) func(p benchfn.Problem, seed int64) goptuna.Sampler {
	return func(p benchfn.Problem, seed int64) goptuna.Sampler {
		o := tpe.Options{Seed: seed, LogInt: p.LogInt, ConstantLiar: true, Multivariate: l.Multivariate, Local: l.Local, StartupTrials: l.Startup}
		if l.Prior {
			o.Prior = p.Base
		}
		if l.Effective {
			o.Effective = p.Effective
		}
		return tpe.NewSampler(o)
	}
}

// DefaultLevers is what `run` uses for a new spec (samplers.go), the best
// configuration measured here.
var DefaultLevers = Levers{Prior: true, Local: true, Startup: 25}

// AblationVariants are the configurations compared, cheapest levers first.
func AblationVariants() []Variant {
	return []Variant{
		{"lorasweep random", false, func(p benchfn.Problem, seed int64) goptuna.Sampler {
			return sampling.NewRandom(sampling.RandomOptions{Seed: seed, LogInt: p.LogInt})
		}, ""},
		{"TPE (univariate, 10 random startup: the old default)", false, TPEVariant(Levers{}), ""},
		{"TPE + prior", false, TPEVariant(Levers{Prior: true}), ""},
		{"TPE + baseline trial", true, TPEVariant(Levers{}), ""},
		{"TPE + prior + baseline", true, TPEVariant(Levers{Prior: true}), ""},
		{"TPE + prior + baseline + local startup", true, TPEVariant(Levers{Prior: true, Local: true}), ""},
		{"TPE + prior + baseline + local startup, 25 startup (new default)", true, TPEVariant(DefaultLevers), ""},
		{"TPE multivariate", false, TPEVariant(Levers{Multivariate: true}), ""},
		{"TPE multivariate + effective lr", false, TPEVariant(Levers{Multivariate: true, Effective: true}), ""},
		{"new default + multivariate", true, TPEVariant(Levers{Prior: true, Local: true, Startup: 25, Multivariate: true}), ""},
		{"new default + multivariate + effective lr", true, TPEVariant(Levers{Prior: true, Local: true, Startup: 25, Multivariate: true, Effective: true}), ""},
		// Failures as information: the same sampler when a divergence is a
		// FAIL it ignores (reason crash), Optuna's convention.
		{"new default, NaN told as a FAIL it ignores", true, TPEVariant(DefaultLevers), "crash"},
		{"old default, NaN told as a FAIL it ignores", false, TPEVariant(Levers{}), "crash"},
	}
}

// AblationRaw is the ablation's raw output: best-so-far traces by problem,
// variant and seed, and diverged trials per problem and variant.
type AblationRaw struct {
	Seeds    int                               `json:"seeds"`
	Trials   int                               `json:"trials"`
	Traces   map[string]map[string][][]float64 `json:"traces"`
	Diverged map[string]map[string]int         `json:"diverged"`
	Optuna   string                            `json:"optuna_version,omitempty"`
}

// Ablation is the small-budget study: regret at 10/25/50/100 trials on the
// LoRA-like functions, seeds 1..30 (quick: 10), for each lever of
// lorasweep's TPE and for Optuna's TPE (univariate, multivariate+group, and
// with the base config enqueued) from the same run.
func Ablation(ctx context.Context, c Config) (Result, error) {
	seeds, trials := 30, 100
	if c.Quick {
		seeds = 10
	}
	raw := AblationRaw{Seeds: seeds, Trials: trials, Traces: map[string]map[string][][]float64{}, Diverged: map[string]map[string]int{}}
	var tables []Table
	for _, p := range []benchfn.Problem{benchfn.LoRALike(), benchfn.LoRA10()} {
		raw.Traces[p.Name] = map[string][][]float64{}
		raw.Diverged[p.Name] = map[string]int{}
		var names []string
		for _, v := range AblationVariants() {
			for s := 1; s <= seeds; s++ {
				tr, err := benchfn.Run(p, v.New(p, int64(s)), benchfn.RunOptions{Trials: trials, Seed: int64(s), Baseline: v.Baseline, NaNReason: v.NaNReason})
				if err != nil {
					return Result{}, fmt.Errorf("%s on %s seed %d: %w", v.Name, p.Name, s, err)
				}
				raw.Traces[p.Name][v.Name] = append(raw.Traces[p.Name][v.Name], finite(tr.BestTrue))
				for _, x := range tr.True {
					if math.IsNaN(x) {
						raw.Diverged[p.Name][v.Name]++
					}
				}
			}
			names = append(names, v.Name)
		}
		if !c.SkipOptuna {
			for _, o := range []struct {
				name string
				args []string
			}{
				{"Optuna TPE", nil},
				{"Optuna TPE multivariate+group", []string{"--variant", "multivariate"}},
				{"Optuna TPE + baseline trial", []string{"--baseline"}},
			} {
				var out struct {
					BestTrue [][]float64 `json:"best_true"`
					Diverged int         `json:"diverged"`
					Optuna   string      `json:"optuna"`
				}
				args := append([]string{"regret", "--problem", p.Name, "--seeds", "1-" + strconv.Itoa(seeds), "--trials", strconv.Itoa(trials)}, o.args...)
				if err := c.runOptuna(ctx, &out, args...); err != nil {
					return Result{}, err
				}
				raw.Traces[p.Name][o.name] = out.BestTrue
				raw.Diverged[p.Name][o.name] = out.Diverged
				raw.Optuna = out.Optuna
				names = append(names, o.name)
			}
		}
		t := Table{
			Title:  fmt.Sprintf("Small budgets: %s", p.Name),
			Note:   fmt.Sprintf("Regret = best noise-free value so far − optimum (%.4g); mean ± SE over seeds 1–%d; noise N(0, %.2g²) on what the sampler sees. Diverged: NaN trials (told as FAIL) per run, mean over the %d trials.", p.Optimum, seeds, p.Noise, trials),
			Header: []string{"sampler", "@10", "@25", "@50", "@100", "diverged / run"},
		}
		for _, n := range names {
			tr := raw.Traces[p.Name][n]
			row := []string{n}
			for _, k := range AblationCheckpoints {
				row = append(row, NewStat(At(tr, k, p.Optimum)).String())
			}
			row = append(row, fmt.Sprintf("%.1f", float64(raw.Diverged[p.Name][n])/float64(seeds)))
			t.Rows = append(t.Rows, row)
		}
		tables = append(tables, t)
	}
	return Result{Study: "ablation", Tables: tables, Raw: raw}, nil
}

// noneYet stands for "every trial so far diverged" in best-so-far traces
// (JSON has no infinity; optuna_bench.py writes the same).
const noneYet = 1e300

func finite(tr []float64) []float64 {
	out := make([]float64, len(tr))
	for i, x := range tr {
		out[i] = math.Min(x, noneYet)
	}
	return out
}
