package main

import "time"

// clocks are the two clocks a SnapStart restore shows in: the monotonic clock stands still while
// the snapshot waits, the wall clock does not (the sandbox's clock is set on restore).
type clocks struct {
	wall func() time.Time     // the wall clock, without a monotonic reading
	mono func() time.Duration // the monotonic clock, from a fixed point
}

// systemClocks reads the process's own clocks.
func systemClocks() clocks {
	start := time.Now()
	return clocks{
		wall: func() time.Time { return time.Now().Round(0) }, // Round(0) drops the monotonic reading
		mono: func() time.Duration { return time.Since(start) },
	}
}
