package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kinko-dev/kinko/e2e/emulator"
	"github.com/kinko-dev/kinko/e2e/stack"
	"github.com/kinko-dev/kinko/internal/moto"
)

// Config says where to work and with which tools.
type Config struct {
	Root      string    // the repository
	Dir       string    // binaries and raw results (git-ignored: build/bench)
	Quick     bool      // fewer and shorter rounds: `make bench QUICK=1`, under 2 minutes
	Wrk       string    // wrk's path; "" skips the loopback load test
	Hyperfine string    // hyperfine's path; "" skips process start times
	Benchstat string    // benchstat's path; "" leaves the Go benchmarks uncompared
	Previous  string    // the previous Go benchmark results, for benchstat
	Log       io.Writer // progress
}

// Params are the sizes of every loop: all bounded, all from Quick.
type Params struct {
	Rounds int // every figure is the median of this many rounds (at least 5)

	GoBenchCount int
	GoBenchTime  string

	WrkConns  []int
	WrkDur    time.Duration
	WrkWarmup bool

	WarmPerRound int             // invokes of each variant in a round
	WarmDelays   []time.Duration // upstream latency added by the proxy

	ColdDelays []time.Duration
	ColdInits  []time.Duration // simulated runtime init

	CallsN        int           // invokes per run
	CallsT        time.Duration // spread over this long
	ShortTTL      int           // seconds
	Concurrent    int           // cold requests at once
	ConcDelay     time.Duration // upstream latency while they race
	HyperfineRuns int

	ColdPathStarts int           // starts of kinko and of the bare extension in each round
	ColdPathBurst  time.Duration // the 64-connection wrk burst before VmHWM is read
	// ColdPathInvokes are warm invokes per variant per round for the per-invoke cost.
	ColdPathInvokes int
}

// ParamsFor returns the loop sizes of a full or a quick run.
func ParamsFor(quick bool) Params {
	p := Params{
		Rounds:       7,
		GoBenchCount: 6, GoBenchTime: "1s",
		WrkConns: []int{1, 16, 64}, WrkDur: 2 * time.Second, WrkWarmup: true,
		WarmPerRound: 40, WarmDelays: []time.Duration{0, 20 * time.Millisecond, 100 * time.Millisecond},
		ColdDelays: []time.Duration{20 * time.Millisecond, 100 * time.Millisecond},
		ColdInits:  []time.Duration{0, 150 * time.Millisecond},
		CallsN:     120, CallsT: 6 * time.Second, ShortTTL: 1,
		Concurrent: 64, ConcDelay: 100 * time.Millisecond,
		HyperfineRuns: 40,
	}
	p.ColdPathStarts, p.ColdPathBurst, p.ColdPathInvokes = 5, 2*time.Second, 150
	if quick {
		p.Rounds = 5
		p.GoBenchCount, p.GoBenchTime = 6, "100ms"
		p.WrkDur, p.WrkWarmup = time.Second, false
		p.WarmPerRound = 8
		p.ColdDelays = []time.Duration{100 * time.Millisecond}
		p.CallsN, p.CallsT = 40, 2*time.Second
		p.HyperfineRuns = 10
		p.ColdPathStarts, p.ColdPathBurst, p.ColdPathInvokes = 3, time.Second, 40
	}
	return p
}

// Variant is one benchmark function, with or without the kinko layer.
type Variant struct {
	Name       string // as reported
	Function   string // e2e/bench/functions/NAME
	Layer      bool   // kinko attached at /opt/extensions
	NoPrefetch bool   // KINKO_PREFETCH empty: kinko fetches on the first request
	BareLayer  bool   // e2e/bench/bareext attached at /opt/extensions instead of kinko
	// NoEarly: kinko with KINKO_EARLY_REGISTER=false, registering from main after every package
	// has initialised, as before the early start (sections 4 and 8 compare the two).
	NoEarly bool
}

// The variants the sections draw from.
func varEmpty() Variant { return Variant{Name: "empty function", Function: "empty"} }
func varEmptyLayer() Variant {
	return Variant{Name: "empty + kinko layer", Function: "empty", Layer: true}
}
func varKinko() Variant { return Variant{Name: "via kinko", Function: "viakinko", Layer: true} }
func varKinkoLate() Variant {
	return Variant{Name: "via kinko, registering late (KINKO_EARLY_REGISTER=false)", Function: "viakinko", Layer: true, NoEarly: true}
}
func varKinkoNoPrefetch() Variant {
	return Variant{Name: "via kinko, no prefetch", Function: "viakinko", Layer: true, NoPrefetch: true}
}
func varKinkoClientCache() Variant {
	return Variant{Name: "via kinko, client cache", Function: "viakinkocache", Layer: true}
}
func varSDK() Variant         { return Variant{Name: "SDK every invoke", Function: "sdk"} }
func varGlobalCache() Variant { return Variant{Name: "global cache", Function: "globalcache"} }

// functionNames are the benchmark functions' packages under e2e/bench/functions.
func functionNames() []string {
	return []string{"empty", "viakinko", "sdk", "globalcache", "viakinkocache"}
}

// Harness owns what the sections share: the binaries and one moto.
type Harness struct {
	Cfg    Config
	P      Params
	Bin    Built
	RawDir string // where sections write their samples ("" writes none)

	moto    *moto.Server
	sm      *secretsmanager.Client
	secrets int // names handed out so far; each sandbox gets its own secret in the shared moto
}

// NewHarness builds everything (both architectures, for the sizes; this machine's for the
// runs) and starts moto. Close stops it.
func NewHarness(ctx context.Context, cfg Config) (*Harness, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if _, err := moto.Command(); err != nil {
		return nil, err
	}
	if err := emulator.Supported(ctx); err != nil {
		return nil, err
	}
	h := &Harness{Cfg: cfg, P: ParamsFor(cfg.Quick)}
	var err error
	if h.Bin, err = Build(ctx, cfg.Root, filepath.Join(cfg.Dir, "bin"), cfg.Log); err != nil {
		return nil, err
	}
	fmt.Fprintln(cfg.Log, "starting moto")
	if h.moto, err = moto.Start(ctx); err != nil {
		return nil, err
	}
	h.sm = secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(h.moto.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
	return h, nil
}

// Close stops moto.
func (h *Harness) Close() {
	if h.moto != nil {
		h.moto.Stop()
	}
}

// newSecretName hands out a name no sandbox has used in this moto.
func (h *Harness) newSecretName(prefix string) string {
	h.secrets++
	return fmt.Sprintf("bench-%s-%d", prefix, h.secrets)
}

// createSecret stores {"OPENAI_API_KEY": value} under name, straight in moto.
func (h *Harness) createSecret(ctx context.Context, name string) error {
	_, err := h.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(`{"OPENAI_API_KEY":"sk-bench-0123456789abcdef0123456789abcdef"}`),
	})
	return err
}

// arches are Lambda's two architectures, by GOARCH.
func arches() []string { return []string{"arm64", "amd64"} }

// LambdaArch names a GOARCH as Lambda does.
func LambdaArch(goarch string) string {
	if goarch == "amd64" {
		return "x86_64"
	}
	return goarch
}

// Built is where Build put everything.
type Built struct {
	RIE      string            // the emulator, for this machine
	Kinko    map[string]string // GOARCH -> extension binary (stripped, as `make layer` builds it)
	Layer    map[string]string // GOARCH -> layer zip
	OptKinko string            // this machine's layer, unpacked: OptKinko/extensions/kinko
	OptNone  string            // an /opt with an empty extensions/: a function without the layer
	BareExt  string            // e2e/bench/bareext for this machine: the floor of an extension's start
	OptBare  string            // an /opt with the bare extension alone in extensions/
	// Functions: GOARCH -> name -> bootstrap; names are functionNames() plus "sample" (./function).
	Functions map[string]map[string]string
	Zips      map[string]map[string]string // the same, zipped as deployed
}

// ldflags are the Makefile's: stripped, no build id.
const ldflags = "-s -w -buildid= -X main.version=bench"

// Build compiles the extension and every function for both architectures, exactly as the
// Makefile builds the layer and the function (static, -trimpath, stripped), zips them with the
// repository's mkzip, and builds the emulator for this machine.
func Build(ctx context.Context, root, dir string, log io.Writer) (Built, error) {
	b := Built{
		RIE: filepath.Join(dir, "aws-lambda-rie"), BareExt: filepath.Join(dir, "bareext", "bareext"), OptBare: filepath.Join(dir, "opt-bare"), Kinko: map[string]string{}, Layer: map[string]string{},
		OptNone: filepath.Join(dir, "opt-none"), Functions: map[string]map[string]string{}, Zips: map[string]map[string]string{},
	}
	mkzip := filepath.Join(dir, "mkzip")
	layer, err := stack.LayerBuilds(root)
	if err != nil {
		return b, err
	}
	type job struct {
		what, out, pkg string
		env            []string
		args           []string
	}
	jobs := []job{
		{"mkzip", mkzip, "./layer/mkzip", nil, nil},
		{"the Lambda emulator", b.RIE, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie", nil, nil},
		{"the bare extension", b.BareExt, "./e2e/bench/bareext", []string{"CGO_ENABLED=0"}, []string{"-trimpath", "-ldflags", ldflags}},
	}
	pkgs := map[string]string{"sample": "./function"}
	for _, n := range functionNames() {
		pkgs[n] = "./e2e/bench/functions/" + n
	}
	for _, arch := range arches() {
		env := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + arch}
		opt := filepath.Join(dir, arch, "layer")
		b.Kinko[arch] = filepath.Join(opt, "extensions", "kinko")
		b.Layer[arch] = filepath.Join(dir, arch, "kinko-layer-"+LambdaArch(arch)+".zip")
		for _, lb := range layer {
			jobs = append(jobs, job{lb.What + " for " + arch, filepath.Join(opt, filepath.FromSlash(lb.Path)), lb.Pkg, env,
				append([]string{"-trimpath", "-ldflags", ldflags}, lb.Flags...)})
		}
		b.Functions[arch], b.Zips[arch] = map[string]string{}, map[string]string{}
		for _, n := range append([]string{"sample"}, functionNames()...) {
			out := filepath.Join(dir, arch, "functions", n, "bootstrap")
			b.Functions[arch][n] = out
			b.Zips[arch][n] = filepath.Join(dir, arch, "functions", n+".zip")
			jobs = append(jobs, job{n + " for " + arch, out, pkgs[n], env, []string{"-trimpath", "-tags", "lambda.norpc", "-ldflags", ldflags}})
		}
	}
	fmt.Fprintf(log, "building %d binaries into %s\n", len(jobs), dir)
	for _, j := range jobs {
		args := append([]string{"build"}, j.args...)
		args = append(args, "-o", j.out, j.pkg)
		// go build refuses to replace what is not an object file (a layer laid out otherwise before).
		if err := os.RemoveAll(j.out); err != nil {
			return b, err
		}
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), j.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("building %s (go %s): %w\n%s", j.what, strings.Join(args, " "), err, out)
		}
	}
	clients, err := stack.LayerFiles(root)
	if err != nil {
		return b, err
	}
	for _, arch := range arches() {
		// The layer as make builds it: the binaries and the Python and Node.js clients.
		pairs := []string{"extensions/kinko", b.Kinko[arch], "kinko-exec", filepath.Join(dir, arch, "layer", "kinko-exec")}
		for _, f := range clients {
			pairs = append(pairs, f.Path, filepath.Join(root, filepath.FromSlash(f.Src)))
		}
		if err := runMkzip(ctx, mkzip, b.Layer[arch], pairs...); err != nil {
			return b, err
		}
		if err := stack.CopyLayerFiles(root, filepath.Join(dir, arch, "layer")); err != nil {
			return b, err
		}
		for n, bin := range b.Functions[arch] {
			if err := runMkzip(ctx, mkzip, b.Zips[arch][n], "bootstrap", bin); err != nil {
				return b, err
			}
		}
	}
	b.OptKinko = filepath.Dir(filepath.Dir(b.Kinko[runtime.GOARCH]))
	if err := os.MkdirAll(filepath.Join(b.OptNone, "extensions"), 0o755); err != nil {
		return b, err
	}
	if err := installExtension(b.BareExt, b.OptBare, "bareext"); err != nil {
		return b, err
	}
	if b.Kinko[runtime.GOARCH] == "" {
		return b, errors.New("this machine is neither arm64 nor amd64: the emulator cannot run Lambda's binaries here")
	}
	return b, nil
}

// runMkzip zips name/src pairs into out.
func runMkzip(ctx context.Context, mkzip, out string, pairs ...string) error {
	args := []string{"-o", out}
	for i := 0; i+1 < len(pairs); i += 2 {
		args = append(args, pairs[i]+"="+pairs[i+1])
	}
	if o, err := exec.CommandContext(ctx, mkzip, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("mkzip %s: %w: %s", out, err, o)
	}
	return nil
}
