//go:build race

package nbioloop

// raceEnabled: the race detector makes sync.Pool drop items at random, so allocation counts
// mean nothing under it. Allocation tests skip then; CI runs them in a pass without -race.
const raceEnabled = true
