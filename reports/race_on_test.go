//go:build race

package reports

// raceEnabled: the race detector slows SQLite writes about tenfold, and the
// bulk sweeps would take minutes to write under it.
const raceEnabled = true
