// Package fnenv is what the benchmark functions share: the simulated init and the answer.
// It stays tiny so that it adds nothing measurable to their binaries or start.
package fnenv

import (
	"fmt"
	"strconv"
	"time"
)

// InitDelayVar names the variable holding the simulated runtime init, in milliseconds.
const InitDelayVar = "BENCH_INIT_DELAY_MS"

// SimulateInit waits as long as BENCH_INIT_DELAY_MS says, standing in for a slow runtime's
// init (a Python function importing boto3 takes about 110-150 ms). It sleeps rather than
// spins: what matters is how long init lasts, which is the window a prefetch can hide behind;
// a spinning init would also take the CPU from the extension, which a real import mostly
// does not (it waits on the disk).
func SimulateInit(getenv func(string) string) error {
	raw := getenv(InitDelayVar)
	if raw == "" {
		return nil
	}
	ms, err := strconv.Atoi(raw)
	if err != nil || ms < 0 || ms > 10_000 {
		return fmt.Errorf("%s=%q is not a number of milliseconds between 0 and 10000", InitDelayVar, raw)
	}
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return nil
}

// Result is every benchmark function's answer: never the secret, only proof it was read.
type Result struct {
	OK    bool `json:"ok"`
	Bytes int  `json:"bytes"` // length of the value read; 0 for the empty function
}
