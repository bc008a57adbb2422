//go:build race

package evioloop

// raceEnabled: the race detector makes sync.Pool drop items and adds allocations of its own,
// so allocation counts mean nothing under it; allocation tests skip then.
const raceEnabled = true
