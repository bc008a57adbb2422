//go:build !race

package evioloop

const raceEnabled = false
