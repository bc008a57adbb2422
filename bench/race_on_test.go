//go:build race

package bench

// raceEnabled: the race detector changes allocation behaviour, so allocation counts mean
// nothing under it. Allocation tests skip then; CI runs them in a pass without -race.
const raceEnabled = true
