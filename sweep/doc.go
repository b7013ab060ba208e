// Package sweep is lorasweep's vocabulary (the sweep spec, search space,
// trial records and states) and the controller loop that asks a sampler for a
// trial, runs it through the runner, scores it through the objective and tells
// the result to storage.
//
// It declares the small interfaces it needs of storage, runner and objective;
// it never touches SQL, processes or images itself.
package sweep
