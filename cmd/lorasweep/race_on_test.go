//go:build race

package main

// raceEnabled builds the end-to-end binary with the race detector when the
// tests themselves run under it, so the product code is checked too.
const raceEnabled = true
