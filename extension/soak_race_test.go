//go:build race

package main

// raceEnabled: the race detector's shadow memory and per-goroutine state count in RSS and are
// not given back, so under -race the soak bounds the live heap, not RSS growth.
const raceEnabled = true
