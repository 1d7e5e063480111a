package fnenv

import (
	"testing"
	"time"
)

func TestSimulateInit(t *testing.T) {
	env := func(v string) func(string) string { return func(string) string { return v } }
	start := time.Now()
	if err := SimulateInit(env("20")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("BENCH_INIT_DELAY_MS=20 took %s", d)
	}
	if err := SimulateInit(env("")); err != nil {
		t.Errorf("unset: %v", err)
	}
	for _, bad := range []string{"-1", "abc", "10001", "1.5"} {
		if err := SimulateInit(env(bad)); err == nil {
			t.Errorf("%s=%q accepted", InitDelayVar, bad)
		}
	}
}
