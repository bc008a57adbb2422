//go:build !race

package nbioloop

const raceEnabled = false
