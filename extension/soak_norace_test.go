//go:build !race

package main

// raceEnabled: see soak_race_test.go.
const raceEnabled = false
