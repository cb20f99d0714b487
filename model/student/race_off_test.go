//go:build !race

package student

const raceEnabled = false
