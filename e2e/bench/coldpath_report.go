package bench

import (
	"fmt"
	"strings"
)

// Goals of the cold path (issue 13), shown beside the figures.
const (
	goalStartRatio  = 1.2  // kinko ÷ bare, exec -> /register and -> first /event/next
	goalInitExtraMs = 2.0  // INIT REPORT with the layer − without
	goalInvokeMs    = 0.05 // per-invoke cost of having the layer
	goalRSSMiB      = 8.0
	goalHWMMiB      = 14.0
	goalThroughput  = 0.95 // kinko ÷ floor, wrk at 16 and 64 connections
	goalZipBytes    = 3_000_000
)

// coldPath writes section 7: the table of the cold-path goals, then how kinko gets there.
func coldPath(b *strings.Builder, res *Results) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	c := res.ColdPath
	w("## 7. The cold path: kinko's start and footprint against a bare Go extension\n\n")
	if res.Plot != "" {
		w("![Headline comparisons: warm invoke and first invoke, via kinko, the SDK on every invoke and a global cache](%s)\n\n", res.Plot)
		w("*The plot (`make bench` draws it with gonum.org/v1/plot): the headline figures above, extra latency over the empty function, " +
			"median over rounds; the whiskers are the min and max across rounds.*\n\n")
	}
	if c == nil {
		w("Not measured in this run.\n\n")
		return
	}
	w("Lambda starts the runtime once every extension has called `/register`, and ends init once every extension has called "+
		"`/event/next`: what an extension does before those two calls is added to every cold start of every function that attaches it. "+
		"The floor is `e2e/bench/bareext`, a Go extension with the standard library only that binds 127.0.0.1, registers for SHUTDOWN, "+
		"calls `/event/next` and answers kinko's bytes. Both run as real processes against the same fake Extensions API, a fresh "+
		"process per start; a round is %d starts of each, alternating (ABBA), and compares the round's medians. The machine is shared "+
		"with other work, so absolute times move; the ratios, taken within a round, are the figures to read.\n\n", c.PerRound)
	ok := func(met bool) string {
		if met {
			return "met"
		}
		return "**not met**"
	}
	w("| | kinko | bare Go extension | kinko ÷ bare (same round) | goal | |\n|---|---|---|---|---|---|\n")
	w("| exec -> `/register` | %s | %s | %s | <= %.1f× | %s |\n", fmtS(c.Register.Kinko, msf), fmtS(c.Register.Bare, msf),
		fmtS(c.Register.Ratio, ratiof), goalStartRatio, ok(c.Register.Ratio.N > 0 && c.Register.Ratio.Median <= goalStartRatio))
	w("| exec -> first `/event/next` | %s | %s | %s | <= %.1f× | %s |\n", fmtS(c.Next.Kinko, msf), fmtS(c.Next.Bare, msf),
		fmtS(c.Next.Ratio, ratiof), goalStartRatio, ok(c.Next.Ratio.N > 0 && c.Next.Ratio.Median <= goalStartRatio))
	if c.KinkoRSS.N > 0 {
		w("| VmRSS idle (after start and one answer) | %s | %s | | <= %.0f MiB | %s |\n", fmtS(c.KinkoRSS, mib), fmtS(c.BareRSS, mib),
			goalRSSMiB, ok(c.KinkoRSS.Median/1024 <= goalRSSMiB))
		w("| VmHWM after %s of wrk at %d connections | %s | %s | | <= %.0f MiB | %s |\n", durf(c.BurstDur), c.BurstConns,
			fmtS(c.KinkoHWM, mib), fmtS(c.BareHWM, mib), goalHWMMiB, ok(c.KinkoHWM.Median/1024 <= goalHWMMiB))
		w("| of VmRSS idle, anonymous (heap, stacks); the rest is the binary's own pages | %s | %s | | | |\n",
			fmtS(c.KinkoAnon, mib), fmtS(c.BareAnon, mib))
		w("| requests per second in that burst (both on this shared machine) | %s | %s | %s | | |\n",
			fmtS(c.KinkoBurstRPS, fixed(0, "")), fmtS(c.BareBurstRPS, fixed(0, "")), "")
	}
	w("\n")

	w("| with the layer against without | figure | goal | |\n|---|---|---|---|\n")
	if c.InitExtra.N > 0 {
		w("| INIT REPORT of the empty Go function (emulator): without %s, with %s; with − without, same round | %s | <= +%.0f ms | %s |\n",
			fmtS(c.InitEmpty, msf), fmtS(c.InitLayer, msf), fmtS(c.InitExtra, msf), goalInitExtraMs, ok(c.InitExtra.Median <= goalInitExtraMs))
	}
	if c.InitBareExtra.N > 0 {
		w("| the same with the bare Go extension instead of kinko: with %s; with − without, same round (what any extension costs there) | %s | | |\n",
			fmtS(c.InitBare, msf), fmtS(c.InitBareExtra, msf))
	}
	if c.InvokeKinko.N > 0 {
		w("| per-invoke cost of the layer: warm invoke of the empty function with kinko − without (%d invokes each per round, in turn) | %s | <= %.2f ms | %s |\n",
			c.InvokesPerRound, fmtS(c.InvokeKinko, msf), goalInvokeMs, ok(c.InvokeKinko.Median <= goalInvokeMs))
		w("| the same with the bare Go extension, subscribed to SHUTDOWN only | %s | | |\n", fmtS(c.InvokeBare, msf))
	}
	if res.Loopback != nil {
		for _, r := range res.Loopback.Rows {
			if r.Conns == 16 || r.Conns == 64 {
				w("| warm-read throughput, kinko ÷ floor at %d connections (section 2) | %s | >= %.2f× | %s |\n",
					r.Conns, fmtS(r.Ratio, ratiof), goalThroughput, ok(r.Ratio.N > 0 && r.Ratio.Median >= goalThroughput))
			}
		}
	}
	for _, s := range res.Sizes {
		if strings.HasPrefix(s.What, "kinko") {
			w("| layer zip, %s (binary %s) | %s | <= %s | %s |\n", s.Arch, mb(s.BinBytes), mb(s.ZipBytes), mb(goalZipBytes), ok(s.ZipBytes <= goalZipBytes))
		}
	}
	w("\n")
	coldPathExplained(b)
}

// coldPathExplained is why kinko starts the way it does: the choices behind the table above.
func coldPathExplained(b *strings.Builder) {
	b.WriteString(`**What kinko does about its start, and why.**

- **The SDK's schema tables.** ` + "`GODEBUG=inittrace=1`" + ` showed 3.4-4.0 ms of package initialisation before ` + "`main`" + `, of which
  ` + "`aws-sdk-go-v2/service/ssm/schemas`" + ` took 1.8-2.4 ms and allocated 1.4 MB at every start, and ` + "`secretsmanager/schemas`" + ` 0.25 ms.
  Those packages are the "schema-based (de)serialisation" the SDK switched each service to (ssm v1.80.0, 2026-10-20;
  secretsmanager v1.50.0, 2026-09-15): one package-level ` + "`smithy.NewSchema`" + ` value per shape of the whole service API, built at
  init whether or not an operation is ever called, and kept alive by the client's type registry, so the linker cannot drop
  them. kinko calls one operation of each service. It therefore pins the last releases before that switch,
  **ssm v1.79.3 and secretsmanager v1.49.0**, which still use per-operation generated (de)serialisers: the same SDK clients
  (signing, retries, endpoint rules, typed errors), built against the same core (aws-sdk-go-v2 v1.48.0, smithy-go v1.28.9).
  The releases after them change only the serialisation machinery and add APIs kinko does not call (GetSecretValue and
  GetParameter are unchanged). Package init goes from about 1.9 MB allocated to 0.4 MB and the stripped amd64 binary from
  9.5 MB to 8.3 MB. ` + "`extension/deps_test.go`" + ` fails if a schemas package comes back, so an upgrade that brings it back is a
  decision, not an accident.
- **Subscribing to SHUTDOWN only.** Lambda waits after every invoke for each extension subscribed to INVOKE; kinko has no
  work per invoke, so it subscribes to INVOKE only when a feature needs it (CONTRACT.md section 2). The per-invoke row above
  is that choice, measured.
- **The peak.** The 64-connection burst allocates a connection's buffers and a goroutine per connection at once; the Go
  collector's default (GOGC=100) lets the heap double before collecting. See the VmHWM row, and the figures in the
  explanation of the GC setting in ` + "`extension/start.go`" + `.
`)
}
