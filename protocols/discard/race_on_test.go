//go:build race

package discard

// raceEnabled: the race detector instruments allocations, so allocation counts mean nothing
// under it; the allocation test skips then and runs in a pass without -race.
const raceEnabled = true
