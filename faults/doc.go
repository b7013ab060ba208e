// Package faults is lorasweep's fault suite: it builds the real lorasweep
// binary once and drives it as a user would, injecting the faults an
// overnight sweep meets (kill -9 of the sweep at every phase, trainers that
// crash, hang, ignore SIGTERM, fork, print garbage, fill the disk; bad
// specs; secrets in the environment and in DSNs) and checks from the outside
// — storage, trial folders, the process table — that nothing is lost.
//
// It holds only tests. It must not know the product's internals beyond what
// a user or an operator sees: the CLI, the spec format, the trial folders and
// the storage's public read API (used to check what was recorded).
// RELIABILITY.md lists each promise and the test that checks it.
package faults
