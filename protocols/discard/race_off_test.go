//go:build !race

package discard

const raceEnabled = false
