//go:build !race

package gnetloop

const raceEnabled = false
