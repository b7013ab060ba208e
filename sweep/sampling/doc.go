// Package sampling holds lorasweep's non-model samplers (seeded random and
// grid) and the pieces every sampler shares: the search-space domain of a
// goptuna distribution (with log-int), per-trial seeded random streams, and
// the trial history a model-based sampler learns from (which trials count,
// which count as the worst observations, how they rank).
//
// It speaks only goptuna's vocabulary (Study, FrozenTrial, distributions); it
// must not know about specs, runners, objectives or SQL.
package sampling
