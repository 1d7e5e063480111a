package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// The limit starts at the floor, rises with the live heap (so a large cache never makes the
// collector run back to back) and comes down again when the heap is freed.
func TestGCLimitFollowsLiveHeap(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	stop := tuneGC(func(string) string { return "" })
	t.Cleanup(stop)
	if got := debug.SetMemoryLimit(-1); got != gcLimitFloor {
		t.Fatalf("limit at start %d, want the floor %d", got, gcLimitFloor)
	}
	const big = 64 << 20
	live := make([]byte, big)
	for i := range live {
		live[i] = byte(i)
	}
	waitLimit(t, "a 64 MiB live heap", func(l int64) bool { return l >= gcHeadroom*big })
	runtime.KeepAlive(live)
	live = nil
	waitLimit(t, "the heap freed", func(l int64) bool { return l < big })
}

func TestGCLeftAloneWhenTheUserChose(t *testing.T) {
	for _, v := range []string{"GOGC", "GOMEMLIMIT"} {
		prev := debug.SetMemoryLimit(math.MaxInt64)
		stop := tuneGC(func(name string) string {
			if name == v {
				return "100"
			}
			return ""
		})
		got := debug.SetMemoryLimit(prev)
		stop()
		if got != math.MaxInt64 {
			t.Errorf("with %s set the limit became %d", v, got)
		}
	}
}

// waitLimit collects until the memory limit satisfies ok (the update runs just after a
// collection, on the runtime's cleanup goroutine), within a deadline.
func waitLimit(t *testing.T, what string, ok func(int64) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		l := debug.SetMemoryLimit(-1)
		if ok(l) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the memory limit is still %d", what, l)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
