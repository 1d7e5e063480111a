// Command sbom writes a CycloneDX 1.6 SBOM (JSON) of a Go binary from the build information the
// Go linker put into it: the same module list, versions and go.sum hashes that `go version -m`
// prints, the Go toolchain (the standard library is part of the binary), and the build settings.
// `make layer` runs it for each binary of the layer.
//
//	go run ./internal/cmd/sbom -name kinko -version v1.2.3 -file extensions/kinko \
//	    -o dist/kinko-layer-arm64.kinko.cdx.json dist/arm64/extensions/kinko
//
// The output is reproducible: the same binary gives the same bytes. There is no random serial
// number (it is derived from the binary's SHA-256) and the only timestamp is SOURCE_DATE_EPOCH
// (the Makefile sets it to the commit's time), left out when that is unset.
package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}

type options struct {
	out, name, version, file, binary string
	epoch                            *time.Time
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("sbom", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.out, "o", "", "output file (written atomically); - for stdout")
	fs.StringVar(&o.name, "name", "", "the binary's name in the SBOM (default: the file's base name)")
	fs.StringVar(&o.version, "version", "", "the version stamped into the binary (main.version)")
	fs.StringVar(&o.file, "file", "", "where the binary lives in what ships it (extensions/kinko in the layer zip)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() != 1 {
		return o, errors.New("usage: sbom -o OUT.cdx.json [-name N] [-version V] [-file PATH-IN-ZIP] BINARY")
	}
	o.binary = fs.Arg(0)
	if o.out == "" {
		return o, errors.New("-o is required")
	}
	if o.name == "" {
		o.name = filepath.Base(o.binary)
	}
	if o.version == "" {
		return o, errors.New("-version is required (the Makefile passes VERSION)")
	}
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil || sec < 0 {
			return o, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970 (git log -1 --format=%%ct)", s)
		}
		t := time.Unix(sec, 0).UTC()
		o.epoch = &t
	}
	return o, nil
}

func run(args []string, getenv func(string) string, stderr io.Writer) error {
	o, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return err
	}
	bi, err := buildinfo.ReadFile(o.binary)
	if err != nil {
		return fmt.Errorf("%s: no Go build information: %w", o.binary, err)
	}
	bom, err := build(o, sha256.Sum256(bin), bi)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(bom, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if o.out == "-" {
		_, err := os.Stdout.Write(b)
		return err
	}
	return writeAtomic(o.out, b)
}

func writeAtomic(out string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), ".sbom-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// The CycloneDX 1.6 JSON shapes this writes (a subset of the schema). Field order is the
// struct's, so the bytes depend only on the values.
type bom struct {
	BOMFormat    string       `json:"bomFormat"`
	SpecVersion  string       `json:"specVersion"`
	SerialNumber string       `json:"serialNumber"`
	Version      int          `json:"version"`
	Metadata     metadata     `json:"metadata"`
	Components   []component  `json:"components"`
	Dependencies []dependency `json:"dependencies"`
}

type metadata struct {
	Timestamp string    `json:"timestamp,omitempty"`
	Tools     tools     `json:"tools"`
	Component component `json:"component"`
}

type tools struct {
	Components []component `json:"components"`
}

type component struct {
	Type        string     `json:"type"`
	BOMRef      string     `json:"bom-ref,omitempty"`
	Name        string     `json:"name"`
	Version     string     `json:"version,omitempty"`
	Description string     `json:"description,omitempty"`
	Scope       string     `json:"scope,omitempty"`
	Hashes      []hash     `json:"hashes,omitempty"`
	PURL        string     `json:"purl,omitempty"`
	Properties  []property `json:"properties,omitempty"`
}

type hash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

type property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type dependency struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn"`
}

func build(o options, sum [32]byte, bi *buildinfo.BuildInfo) (bom, error) {
	hexSum := hex.EncodeToString(sum[:])
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}

	// The binary: named by its package inside the module, at the version stamped into it.
	sub := strings.TrimPrefix(strings.TrimPrefix(bi.Path, bi.Main.Path), "/")
	mainPURL := purl(bi.Main.Path, o.version)
	if sub != "" {
		mainPURL += "#" + sub
	}
	main := component{
		Type:        "application",
		BOMRef:      mainPURL,
		Name:        o.name,
		Version:     o.version,
		Description: "Go package " + bi.Path,
		Hashes:      []hash{{Alg: "SHA-256", Content: hexSum}},
		PURL:        mainPURL,
		Properties: []property{
			{"cdx:gomod:binary:name", o.name},
			{"cdx:gomod:binary:hash:SHA-256", hexSum},
			{"cdx:gomod:build:env:GOVERSION", bi.GoVersion},
		},
	}
	for _, k := range []string{"GOOS", "GOARCH", "CGO_ENABLED"} {
		if v, ok := settings[k]; ok {
			main.Properties = append(main.Properties, property{"cdx:gomod:build:env:" + k, v})
		}
	}
	if tags := settings["-tags"]; tags != "" {
		for _, t := range strings.Split(tags, ",") {
			main.Properties = append(main.Properties, property{"cdx:gomod:build:tag", t})
		}
	}
	// Everything else `go version -m` lists as "build", in its order: how to build it again.
	for _, s := range bi.Settings {
		main.Properties = append(main.Properties, property{"kinko:go:build:" + s.Key, s.Value})
	}
	if o.file != "" {
		main.Properties = append(main.Properties, property{"kinko:file", o.file})
	}

	// The Go toolchain that compiled it: the standard library is linked in, and its
	// vulnerabilities are the binary's (purl as vulnerability scanners look it up).
	std := component{
		Type:    "library",
		BOMRef:  "pkg:golang/stdlib@" + strings.TrimPrefix(bi.GoVersion, "go"),
		Name:    "stdlib",
		Version: bi.GoVersion,
		Scope:   "required",
		PURL:    "pkg:golang/stdlib@" + strings.TrimPrefix(bi.GoVersion, "go"),
	}
	comps := []component{std}
	refs := []string{std.BOMRef}
	for _, d := range bi.Deps {
		c, err := module(d)
		if err != nil {
			return bom{}, err
		}
		comps = append(comps, c)
		refs = append(refs, c.BOMRef)
	}
	deps := []dependency{{Ref: main.BOMRef, DependsOn: refs}}
	for _, r := range refs {
		// The binary's build information is a flat list: the graph between modules is not in it.
		deps = append(deps, dependency{Ref: r, DependsOn: []string{}})
	}

	b := bom{
		BOMFormat:    "CycloneDX",
		SpecVersion:  "1.6",
		SerialNumber: serial(sum, o.name, o.version),
		Version:      1,
		Metadata: metadata{
			Tools: tools{Components: []component{{
				Type: "application", Name: "kinko internal/cmd/sbom", Version: o.version,
				Description: "reads the Go build information of the binary (what go version -m prints)",
			}}},
			Component: main,
		},
		Components:   comps,
		Dependencies: deps,
	}
	if o.epoch != nil {
		b.Metadata.Timestamp = o.epoch.Format(time.RFC3339)
	}
	return b, nil
}

// module turns one `dep` line of the build information into a component. A replaced module
// is listed at the version that was built, with the replacement's hash, and says what it replaced.
func module(d *debug.Module) (component, error) {
	built := d
	if d.Replace != nil {
		built = d.Replace
	}
	c := component{
		Type:    "library",
		Name:    d.Path,
		Version: built.Version,
		Scope:   "required",
		PURL:    purl(built.Path, built.Version),
	}
	c.BOMRef = c.PURL
	if built.Sum != "" {
		h, err := h1Hex(built.Sum)
		if err != nil {
			return component{}, fmt.Errorf("module %s: %w", d.Path, err)
		}
		// The go.sum hash: SHA-256 over the module's file list and file hashes (dirhash h1).
		c.Hashes = []hash{{Alg: "SHA-256", Content: h}}
		c.Properties = append(c.Properties, property{"kinko:gomod:sum", built.Sum})
	}
	if d.Replace != nil {
		c.Properties = append(c.Properties, property{"kinko:gomod:replaces", d.Path + "@" + d.Version})
	}
	return c, nil
}

func h1Hex(sum string) (string, error) {
	b64, ok := strings.CutPrefix(sum, "h1:")
	if !ok {
		return "", fmt.Errorf("hash %q is not an h1: hash", sum)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != sha256.Size {
		return "", fmt.Errorf("hash %q: not a base64 SHA-256", sum)
	}
	return hex.EncodeToString(raw), nil
}

// purl is a package URL for a Go module (purl-spec's golang type): the path as namespace and
// name, "+" in versions escaped as the spec asks.
func purl(path, version string) string {
	p := "pkg:golang/" + path
	if version != "" {
		p += "@" + strings.ReplaceAll(version, "+", "%2B")
	}
	return p
}

// serial is a UUID (RFC 9562 version 8, for a name-derived value) computed from the binary's
// hash, its name and version: the same binary always gets the same serial number.
func serial(sum [32]byte, name, version string) string {
	h := sha256.New()
	h.Write(sum[:])
	fmt.Fprintf(h, "\x00%s\x00%s", name, version)
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	x := hex.EncodeToString(u)
	return "urn:uuid:" + x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}
