//go:build race

package reactortest

// raceEnabled: the race detector slows every cycle of a churn scenario several times over, so
// those run fewer cycles under it.
const raceEnabled = true
