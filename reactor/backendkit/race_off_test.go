//go:build !race

package backendkit

const raceEnabled = false
