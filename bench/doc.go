// Package bench compares lorasweep's samplers, pruners, storage and runner
// with random search, goptuna's stock TPE and Optuna on the same problems,
// and writes the results as Markdown tables plus the raw numbers (JSON).
//
// Each study is one exported function taking a Config; cmd/lsbench runs them
// by name. Optuna's side lives in bench/python and is run as a subprocess
// with Debian's python3-optuna; the Go side drives the project's own packages
// in-process (the trainer studies through the real runner and objective).
//
// It is a harness, not a library: nothing in the product imports it. It must
// not change what it measures (no private hooks into the samplers or
// storage); everything it times goes through the packages' public API.
package bench
