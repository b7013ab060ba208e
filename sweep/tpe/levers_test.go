package tpe_test

import (
	"math"
	"testing"

	"github.com/lorasweep/lorasweep/sweep/benchfn"
	"github.com/lorasweep/lorasweep/sweep/tpe"
)

// With a prior and local startup, most startup trials land near the centre
// (the base config, then the best trial, which on lora10 stays close to it),
// some explore the whole range, and none leaves it: a prior, never a bound.
func TestLocalStartupCentresOnTheBase(t *testing.T) {
	p := benchfn.LoRA10()
	s := tpe.NewSampler(tpe.Options{Seed: 2, LogInt: p.LogInt, Prior: p.Base, Local: true, StartupTrials: 40})
	tr, err := benchfn.Run(p, s, benchfn.RunOptions{Trials: 40, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	near, far := 0, 0
	for _, params := range tr.Params {
		lr := params["unet_lr"]
		if lr < 1e-5 || lr > 1e-2 {
			t.Fatalf("unet_lr %g outside its range", lr)
		}
		// 1/20 of the log range is 0.35 in ln: 4 spreads ≈ a factor of 4.
		if math.Abs(math.Log(lr/1e-4)) < 1.4 {
			near++
		} else {
			far++
		}
	}
	if near < 20 || far < 3 {
		t.Errorf("%d startup trials near the base, %d far: want most near and some exploring", near, far)
	}
}

// Local startup follows the best trial: on lora10 from the base config it
// finds a better config within 25 trials on every one of 5 seeds, and beats
// the random startup's regret at 25 on average.
func TestLocalStartupImprovesOnTheBaseline(t *testing.T) {
	p := benchfn.LoRA10()
	var local, random float64
	for seed := int64(1); seed <= 5; seed++ {
		a, err := benchfn.Run(p, tpe.NewSampler(tpe.Options{Seed: seed, LogInt: p.LogInt, Prior: p.Base, Local: true, StartupTrials: 25}), benchfn.RunOptions{Trials: 25, Seed: seed, Baseline: true})
		if err != nil {
			t.Fatal(err)
		}
		b, err := benchfn.Run(p, tpe.NewSampler(tpe.Options{Seed: seed, LogInt: p.LogInt}), benchfn.RunOptions{Trials: 25, Seed: seed, Baseline: true})
		if err != nil {
			t.Fatal(err)
		}
		if !(a.BestTrue[24] < a.True[0]) {
			t.Errorf("seed %d: best %g after 25, baseline %g", seed, a.BestTrue[24], a.True[0])
		}
		local += a.BestTrue[24] - 1
		random += b.BestTrue[24] - 1
	}
	if !(local < random) {
		t.Errorf("mean regret at 25: local %g, random startup %g", local/5, random/5)
	}
}

// The multivariate model proposes valid values, repeats per seed, and beats
// random search on lora6 by 60 trials (a weak check: it is not the default).
func TestMultivariate(t *testing.T) {
	p := benchfn.LoRALike()
	run := func(seed int64, eff bool) benchfn.Trace {
		o := tpe.Options{Seed: seed, LogInt: p.LogInt, Multivariate: true}
		if eff {
			o.Effective = p.Effective
		}
		tr, err := benchfn.Run(p, tpe.NewSampler(o), benchfn.RunOptions{Trials: 60, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	a, b := run(3, true), run(3, true)
	for i := range a.True {
		if a.True[i] != b.True[i] {
			t.Fatalf("trial %d differs with the same seed", i)
		}
		if lr := a.Params[i]["lr"]; lr < 1e-5 || lr > 1e-2 {
			t.Fatalf("trial %d: lr %g outside its range", i, lr)
		}
		if r := a.Params[i]["rank"]; r != math.Round(r) || r < 2 || r > 128 {
			t.Fatalf("trial %d: rank %g not a log-int in range", i, r)
		}
	}
	var mv, rnd float64
	for seed := int64(1); seed <= 5; seed++ {
		mv += run(seed, false).BestTrue[59]
		tr, err := benchfn.Run(p, newRandom(p)(seed), benchfn.RunOptions{Trials: 60, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		rnd += tr.BestTrue[59]
	}
	if !(mv < rnd) {
		t.Errorf("multivariate %g vs random %g (sum of best values over 5 seeds)", mv, rnd)
	}
}
