//go:build race

package epoll

// raceEnabled: the race detector makes sync.Pool drop items at random, so allocation counts
// mean nothing under it. Allocation tests skip then and run in CI's pass without -race.
const raceEnabled = true
