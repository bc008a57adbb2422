//go:build !race

package netpoller

const raceEnabled = false
