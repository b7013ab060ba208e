//go:build !race

package objective

const raceEnabled = false
