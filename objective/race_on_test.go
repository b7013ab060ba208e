//go:build race

package objective

// raceEnabled: the race detector slows the health corpus tenfold, so its
// large images (256² and 1024²) are left to the plain `go test` run.
const raceEnabled = true
