package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// The collector's settings, chosen with interleaved wrk runs (BENCHMARKS.md, section 8).
// kinko's live heap is small (under 2 MiB with the SDK clients and a warm cache), so under a
// burst of 64 connections the default GOGC=100 lets the heap and the goroutine stacks grow to
// a peak of about 15 MiB VmHWM. A soft memory limit of 10.5 MiB keeps that peak at 13.4-13.9
// MiB with no throughput cost that early noise let us see (but see below); 10 MiB gave 13.1 MiB but about 20%
// fewer requests per second (the collector ran all through the burst), 11 MiB about 14.2 MiB.
// A fixed limit would make the collector run over and over once the live heap nears it (a
// large cache of large secrets), so after every collection the limit is raised to what
// GOGC=100 would allow anyway, gcHeadroom times the live heap plus the memory that is not
// heap, and never below the floor.
//
// The limit is a trade, measured again in round 3: under wrk at 64 connections the collector ran
// every 5 ms and cost about a tenth of loopback throughput at saturation (0.86x the bare floor,
// against 0.985x with GOGC=100), for a VmHWM 1.5 MiB lower (14.0 against 15.5 MiB). The peak
// comes out of the function's memory; a function's few reads an invoke never saturate loopback.
const (
	gcLimitFloor = 21 << 19 // 10.5 MiB
	gcHeadroom   = 2
)

// tuneGC sets the memory limit and keeps it in step with the live heap, unless the user set
// GOMEMLIMIT or GOGC: then the runtime does as they said. It starts no goroutine: the update
// runs on the runtime's cleanup goroutine after each collection. stop ends the updates (for
// tests; the extension keeps them for its life).
func tuneGC(getenv func(string) string) (stop func()) {
	if getenv("GOMEMLIMIT") != "" || getenv("GOGC") != "" {
		return func() {}
	}
	samples := gcSamples()
	var stopped atomic.Bool
	debug.SetMemoryLimit(gcLimitFloor)
	var arm func()
	arm = func() {
		// Unreachable at once, so the next collection frees it and runs the cleanup, which
		// arms the next one.
		runtime.AddCleanup(&gcSentinel{}, func(struct{}) {
			if stopped.Load() {
				return
			}
			metrics.Read(samples)
			debug.SetMemoryLimit(gcLimit(samples))
			arm()
		}, struct{}{})
	}
	arm()
	return func() { stopped.Store(true) }
}

// gcSentinel holds a pointer so that it is not batched with other tiny objects, whose
// cleanups may never run.
type gcSentinel struct {
	_ *int
	_ [8]byte
}

func gcSamples() []metrics.Sample {
	return []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
}

// gcLimit is the memory limit for the live heap and memory classes in samples (as tuneGC reads them).
func gcLimit(samples []metrics.Sample) int64 {
	v := func(i int) int64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(samples[i].Value.Uint64())
	}
	live, total := v(0), v(1)
	heap := v(2) + v(3) + v(4) + v(5)
	return max(gcLimitFloor, gcHeadroom*live+max(total-heap, 0))
}
