package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// SizeRow is one binary for one architecture.
type SizeRow struct {
	What     string
	Arch     string // Lambda's name: arm64, x86_64
	BinBytes int64
	ZipBytes int64
}

// layerSize is the size row of the layer: its zip, and the extension binary in it.
const layerSize = "kinko layer (the extension binary; the zip holds kinko-exec too)"

// Sizes lists the stripped binaries and their zips as deployed: the layer and each function.
func (h *Harness) Sizes() ([]SizeRow, error) {
	var rows []SizeRow
	for _, arch := range arches() {
		add := func(what, bin, zip string) error {
			b, err := os.Stat(bin)
			if err != nil {
				return err
			}
			z, err := os.Stat(zip)
			if err != nil {
				return err
			}
			rows = append(rows, SizeRow{What: what, Arch: LambdaArch(arch), BinBytes: b.Size(), ZipBytes: z.Size()})
			return nil
		}
		if err := add(layerSize, h.Bin.Kinko[arch], h.Bin.Layer[arch]); err != nil {
			return nil, err
		}
		for _, n := range append([]string{"sample"}, functionNames()...) {
			what := "function: " + n
			if n == "sample" {
				what = "function: the sample (./function)"
			}
			if err := add(what, h.Bin.Functions[arch][n], h.Bin.Zips[arch][n]); err != nil {
				return nil, err
			}
		}
	}
	return rows, nil
}

// StartRow is one binary's exec-to-exit time.
type StartRow struct {
	What string
	Time Summary // ms, over hyperfine's runs
}

// ProcessStarts times each binary for this machine from exec to exit with hyperfine, with no
// Lambda API to talk to: each gets as far as it can alone (the Go runtime's start, package
// init, and for the SDK variants LoadDefaultConfig) and exits. It is the part of a cold start
// that grows with what a binary links.
func (h *Harness) ProcessStarts(ctx context.Context, rawDir string) ([]StartRow, error) {
	names := []string{"kinko extension"}
	cmds := []string{h.Bin.Kinko[runtime.GOARCH]}
	for _, n := range functionNames() {
		names = append(names, "function: "+n)
		cmds = append(cmds, h.Bin.Functions[runtime.GOARCH][n])
	}
	out := filepath.Join(rawDir, "hyperfine.json")
	args := []string{"-N", "--ignore-failure", "--warmup", "3", "--runs", fmt.Sprint(h.P.HyperfineRuns), "--export-json", out}
	for i, c := range cmds {
		args = append(args, "--command-name", names[i], c)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.Cfg.Hyperfine, args...)
	// A clean environment: the SDK must find no profile, no credentials and no IMDS.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/nonexistent/kinko-bench/config", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent/kinko-bench/credentials"}
	if o, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("hyperfine: %w: %s", err, o)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Results []struct {
			Command string    `json:"command"`
			Times   []float64 `json:"times"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("hyperfine's JSON: %w", err)
	}
	var rows []StartRow
	for _, r := range doc.Results {
		ms := make([]float64, len(r.Times))
		for i, t := range r.Times {
			ms[i] = t * 1000
		}
		rows = append(rows, StartRow{What: r.Command, Time: Summarize(ms)})
	}
	return rows, nil
}
