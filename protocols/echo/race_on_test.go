//go:build race

package echo

// raceEnabled: the race detector instruments allocations, so allocation counts mean nothing
// under it; the allocation test skips then and runs in a pass without -race.
const raceEnabled = true
