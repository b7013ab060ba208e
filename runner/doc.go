// Package runner turns a trial's configuration into a trainer process on the
// right GPU (or CPU slot), watches it, and reports what happened: GPU discovery
// and leases, the process lifecycle (process groups, kill escalation, a
// supervisor that outlives nothing), console-log parsing into events, and the
// trainer adapters (kohya sd-scripts, the built-in trainer, a generic command).
//
// It knows nothing of studies, samplers, scores or SQL.
package runner
