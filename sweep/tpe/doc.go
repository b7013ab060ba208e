// Package tpe is lorasweep's Tree-structured Parzen Estimator sampler, written
// from the algorithm (Bergstra et al. 2011; Watanabe 2023) and plugged into
// goptuna as a goptuna.Sampler.
//
// Each parameter is modelled from the trials that have it (so conditional
// parameters work): observations are ranked (complete by value, pruned by how
// far they got, param-caused failures and — with the constant liar — running
// trials last), the best gamma(n) form l(x) and the rest g(x); candidates are
// drawn from l and the one with the largest l(x)/g(x) is proposed. Numeric
// estimators are mixtures of Gaussians truncated to the domain, in log space
// for log params and integrated over each grid value's bin for ints and
// steps; categorical estimators are smoothed counts.
//
// For the small budgets of real sweeps (10–40 trials) the startup trials can
// be drawn near a centre instead of uniformly (Options.Local, Prior): the
// best finished trial so far, or the base config before any, each param
// moved by a truncated Gaussian of 1/20 of its range, with one trial in four
// uniform. Options.Multivariate replaces the per-parameter estimators of the
// params every trial has with one joint estimator (joint.go), optionally in
// LoRA coordinates: log(lr × alpha/dim) instead of log(lr). lsbench's
// ablation study (BENCHMARKS.md) measured each.
//
// It knows goptuna's Study, trials and distributions and the trial attributes
// of package sampling; it must not know about specs, runners or storage
// implementations.
package tpe
