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
// It knows goptuna's Study, trials and distributions and the trial attributes
// of package sampling; it must not know about specs, runners or storage
// implementations.
package tpe
