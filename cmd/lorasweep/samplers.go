package main

import (
	"fmt"
	"sort"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/sweep"
	"github.com/lorasweep/lorasweep/sweep/prune"
	"github.com/lorasweep/lorasweep/sweep/sampling"
	"github.com/lorasweep/lorasweep/sweep/tpe"
)

// newSampler builds the spec's sampler; all of them are the project's own
// (goptuna v0.9.0's have verified bugs).
func newSampler(spec *sweep.Spec) (goptuna.Sampler, error) {
	s := spec.Sampler
	switch s.Kind {
	case "", "tpe":
		liar := true
		if s.ConstantLiar != nil {
			liar = *s.ConstantLiar
		}
		o := tpe.Options{
			Seed:          s.Seed,
			StartupTrials: s.StartupTrials,
			ConstantLiar:  liar,
			LogInt:        spec.LogIntParams(),
			Unmodelled:    unmodelled(spec),
			Multivariate:  s.Multivariate,
			Effective:     effectiveRates(spec),
		}
		if s.LocalStartup == nil || *s.LocalStartup {
			o.Local, o.Prior = true, basePrior(spec)
		}
		return tpe.NewSampler(o), nil
	case "random":
		return sampling.NewRandom(sampling.RandomOptions{Seed: s.Seed, LogInt: spec.LogIntParams()}), nil
	case "grid":
		g, err := sampling.NewGrid(gridSpace(spec), sampling.GridOptions{Budget: spec.Budget.Trials, AllowLarge: s.AllowLargeGrid})
		if err != nil {
			return nil, fmt.Errorf("grid sampler: %w", err)
		}
		return g, nil
	}
	return nil, fmt.Errorf("unknown sampler %q: use tpe, random or grid", s.Kind)
}

// basePrior is the base config's values of the searched params (internal),
// the centre of the first proposals; nil when none lies in the space.
func basePrior(spec *sweep.Spec) map[string]float64 {
	internal, _, err := spec.InternalFromParams(spec.ParamsFromConfig(spec.Base))
	if err != nil || len(internal) == 0 {
		return nil
	}
	return internal
}

// effectiveRates pairs each searched learning rate with network_alpha when
// alpha is searched as a ratio of network_dim: a LoRA's update is scaled by
// alpha/dim, so the multivariate model searches log(lr × ratio).
func effectiveRates(spec *sweep.Spec) map[string]string {
	out := map[string]string{}
	var ratio bool
	for _, p := range spec.Search {
		if p.Name == "network_alpha" && p.RatioOf == "network_dim" {
			ratio = true
		}
	}
	if !ratio {
		return nil
	}
	for _, p := range spec.Search {
		switch p.Name {
		case "learning_rate", "unet_lr", "text_encoder_lr":
			out[p.Name] = "network_alpha"
		}
	}
	return out
}

// unmodelled is the set of searched params validation found dead.
func unmodelled(spec *sweep.Spec) map[string]bool {
	out := map[string]bool{}
	for n := range spec.Sampler.Unmodelled {
		out[n] = true
	}
	return out
}

// gridSpace lists the search space in a stable order for the grid sampler.
func gridSpace(spec *sweep.Spec) []sampling.Dim {
	dists := spec.Distributions()
	logInt := spec.LogIntParams()
	names := make([]string, 0, len(dists))
	for n := range dists {
		names = append(names, n)
	}
	sort.Strings(names)
	dims := make([]sampling.Dim, 0, len(names))
	for _, n := range names {
		dims = append(dims, sampling.Dim{Name: n, Dist: dists[n], LogInt: logInt[n]})
	}
	return dims
}

// newPruner builds the spec's pruner; nil means no pruning.
func newPruner(spec *sweep.Spec) (goptuna.Pruner, error) {
	p := spec.Pruner
	switch p.Kind {
	case "", "none":
		return nil, nil
	case "median":
		return prune.NewMedian(prune.MedianOptions{StartupTrials: p.StartupTrials, WarmupFraction: p.WarmupFraction}), nil
	case "successive_halving", "asha":
		return prune.NewSuccessiveHalving(prune.HalvingOptions{MinFraction: p.MinFraction, ReductionFactor: p.ReductionFactor}), nil
	}
	return nil, fmt.Errorf("unknown pruner %q: use none, median or successive_halving", p.Kind)
}
