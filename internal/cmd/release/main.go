// Command release writes what lets a user check a kinko release, beside its files in dist/:
//
//   - SHA256SUMS: the SHA-256 of each file, in the format `sha256sum -c` reads;
//   - kinko.intoto.json: an in-toto Statement (v1) carrying SLSA Provenance (v1): the files as
//     subjects, the source commit, the build command and toolchain, the other tools the bytes
//     depend on (zopfli, which compresses the zips), the builder, and the digests of the build's
//     inputs (go.mod, go.sum, the compiler flags, the Makefile, and every Go module linked into
//     the binaries, with the go.sum hash, read from the SBOMs);
//   - RELEASE.md: the release notes: the files with their digests and SBOMs, the Go modules, and
//     how to rebuild the same bytes and compare.
//
// `make release` runs it after `make layer`:
//
//	go run ./internal/cmd/release -dist dist -version v1.2.3 -commit $(git rev-parse HEAD) \
//	    -tool zopfli=1.0.3-1 -input go.mod -input go.sum ... kinko-layer-arm64.zip kinko-layer-arm64.kinko.cdx.json ...
//
// The statement is not signed: it says how the files were made, and anyone can check it by
// rebuilding. Nothing in the output depends on the clock or the machine, so a rebuild from the
// same commit with the same toolchain writes the same bytes here too.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

type options struct {
	dist, version, commit, repo, builder, command, toolchain string
	dirty                                                    bool
	inputs, files                                            []string
	tools                                                    []tool // sorted by name
}

// tool is a program other than Go whose version the release's bytes depend on.
type tool struct{ name, version string }

type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

var (
	commitRe   = regexp.MustCompile(`^[0-9a-f]{40}$`)
	toolNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]*$`)
	versionRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.:~+_-]*$`)
)

func parse(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var inputs, tools multi
	fs.StringVar(&o.dist, "dist", "dist", "the directory that holds the release's files; the outputs are written there")
	fs.StringVar(&o.version, "version", "", "the release's version (VERSION, stamped into the binaries)")
	fs.StringVar(&o.commit, "commit", "", "the source commit (git rev-parse HEAD), 40 hex digits")
	fs.BoolVar(&o.dirty, "dirty", false, "the work tree had changes not in the commit (refused: nobody could rebuild it)")
	fs.StringVar(&o.repo, "repo", "https://github.com/kinko-dev/kinko", "the source repository")
	fs.StringVar(&o.builder, "builder", "", "who built it (SLSA builder.id, a URI); default: a local make release")
	fs.StringVar(&o.command, "command", "", "the build command (default: make release VERSION=...)")
	fs.StringVar(&o.toolchain, "toolchain", "", "the Go toolchain the build used (GOTOOLCHAIN); default: the SBOMs' Go version")
	fs.Var(&inputs, "input", "a source file whose digest the provenance records (repeat)")
	fs.Var(&tools, "tool", "a build tool beside Go that the bytes depend on, as NAME=VERSION, e.g. zopfli=1.0.3-1 (repeat)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.inputs, o.files = inputs, fs.Args()
	var problems []string
	if o.version == "" {
		problems = append(problems, "-version is required")
	}
	if !commitRe.MatchString(o.commit) {
		problems = append(problems, fmt.Sprintf("-commit %q: want the full 40-digit commit id (git rev-parse HEAD)", o.commit))
	}
	if o.dirty {
		problems = append(problems, "the work tree has changes that are not committed: a release must be rebuildable from its commit (commit or stash them)")
	}
	if len(o.files) == 0 {
		problems = append(problems, "name the release's files (in -dist), e.g. kinko-layer-arm64.zip")
	}
	for _, t := range tools {
		name, version, ok := strings.Cut(t, "=")
		switch {
		case !ok || !toolNameRe.MatchString(name) || !versionRe.MatchString(version):
			problems = append(problems, fmt.Sprintf("-tool %q: want NAME=VERSION, e.g. zopfli=1.0.3-1 (a lower-case name, a version without spaces)", t))
		case slices.ContainsFunc(o.tools, func(x tool) bool { return x.name == name }):
			problems = append(problems, fmt.Sprintf("-tool %s given twice", name))
		default:
			o.tools = append(o.tools, tool{name, version})
		}
	}
	slices.SortFunc(o.tools, func(a, b tool) int { return strings.Compare(a.name, b.name) })
	for _, f := range o.files {
		if f != filepath.Base(f) {
			problems = append(problems, fmt.Sprintf("%q: name files by their base name in -dist", f))
		}
	}
	if o.builder == "" {
		o.builder = o.repo + "/blob/" + o.commit + "/Makefile#release"
	}
	if o.command == "" {
		o.command = "make release VERSION=" + o.version
	}
	if len(problems) > 0 {
		return o, errors.New(strings.Join(problems, "; "))
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	var subjects []file
	var sboms []sbomInfo
	for _, name := range o.files {
		b, err := os.ReadFile(filepath.Join(o.dist, name))
		if err != nil {
			return fmt.Errorf("%w (make layer writes the release's files)", err)
		}
		subjects = append(subjects, file{name: name, sha256: sha256Hex(b)})
		if strings.HasSuffix(name, ".cdx.json") {
			s, err := readSBOM(name, b)
			if err != nil {
				return err
			}
			sboms = append(sboms, s)
		}
	}
	// Sorted: the outputs must not depend on the order the files were named in.
	slices.SortFunc(subjects, func(a, b file) int { return strings.Compare(a.name, b.name) })
	slices.SortFunc(sboms, func(a, b sbomInfo) int { return strings.Compare(a.file, b.file) })
	var inputs []file
	for _, p := range o.inputs {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		inputs = append(inputs, file{name: filepath.ToSlash(p), sha256: sha256Hex(b)})
	}
	if o.toolchain == "" {
		for _, s := range sboms {
			o.toolchain = s.goVersion
		}
	}

	sums := sumsFile(subjects)
	stmt, err := statement(o, subjects, inputs, sboms)
	if err != nil {
		return err
	}
	notes := releaseNotes(o, subjects, sboms)
	for name, b := range map[string][]byte{"SHA256SUMS": sums, "kinko.intoto.json": stmt, "RELEASE.md": notes} {
		if err := os.WriteFile(filepath.Join(o.dist, name), b, 0o644); err != nil {
			return err
		}
		fmt.Fprintln(stdout, filepath.Join(o.dist, name))
	}
	return nil
}

type file struct{ name, sha256 string }

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func sumsFile(subjects []file) []byte {
	var b bytes.Buffer
	for _, s := range subjects {
		fmt.Fprintf(&b, "%s  %s\n", s.sha256, s.name)
	}
	return b.Bytes()
}

// sbomInfo is what the provenance and the notes take from an SBOM that internal/cmd/sbom wrote.
type sbomInfo struct {
	file, binary, binarySHA256, goVersion, goarch string
	modules                                       []goModule
}

type goModule struct{ path, version, sum string }

func readSBOM(name string, b []byte) (sbomInfo, error) {
	type prop struct{ Name, Value string }
	type comp struct {
		Name, Version, PURL string
		Hashes              []struct{ Alg, Content string }
		Properties          []prop
	}
	var doc struct {
		BOMFormat  string
		Metadata   struct{ Component comp }
		Components []comp
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.BOMFormat != "CycloneDX" {
		return sbomInfo{}, fmt.Errorf("%s: not a CycloneDX SBOM (%v)", name, err)
	}
	get := func(c comp, key string) string {
		for _, p := range c.Properties {
			if p.Name == key {
				return p.Value
			}
		}
		return ""
	}
	main := doc.Metadata.Component
	s := sbomInfo{file: name, binary: main.Name, goVersion: get(main, "cdx:gomod:build:env:GOVERSION"), goarch: get(main, "cdx:gomod:build:env:GOARCH")}
	for _, h := range main.Hashes {
		if h.Alg == "SHA-256" {
			s.binarySHA256 = h.Content
		}
	}
	if s.binarySHA256 == "" || s.goVersion == "" {
		return sbomInfo{}, fmt.Errorf("%s: no binary hash or Go version in metadata.component (not written by internal/cmd/sbom?)", name)
	}
	for _, c := range doc.Components {
		if !strings.HasPrefix(c.PURL, "pkg:golang/") || c.Name == "stdlib" {
			continue
		}
		s.modules = append(s.modules, goModule{path: c.Name, version: c.Version, sum: get(c, "kinko:gomod:sum")})
	}
	return s, nil
}

// The in-toto Statement v1 and SLSA Provenance v1 shapes (https://slsa.dev/spec/v1.0/provenance).
type resource struct {
	Name        string            `json:"name,omitempty"`
	URI         string            `json:"uri,omitempty"`
	Digest      map[string]string `json:"digest,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type provenance struct {
	Type          string     `json:"_type"`
	Subject       []resource `json:"subject"`
	PredicateType string     `json:"predicateType"`
	Predicate     struct {
		BuildDefinition struct {
			BuildType            string            `json:"buildType"`
			ExternalParameters   map[string]string `json:"externalParameters"`
			InternalParameters   map[string]string `json:"internalParameters"`
			ResolvedDependencies []resource        `json:"resolvedDependencies"`
		} `json:"buildDefinition"`
		RunDetails struct {
			Builder struct {
				ID string `json:"id"`
			} `json:"builder"`
		} `json:"runDetails"`
	} `json:"predicate"`
}

func statement(o options, subjects, inputs []file, sboms []sbomInfo) ([]byte, error) {
	var p provenance
	p.Type = "https://in-toto.io/Statement/v1"
	p.PredicateType = "https://slsa.dev/provenance/v1"
	for _, s := range subjects {
		p.Subject = append(p.Subject, resource{Name: s.name, Digest: map[string]string{"sha256": s.sha256}})
	}
	bd := &p.Predicate.BuildDefinition
	bd.BuildType = o.repo + "#verifying-a-release"
	bd.ExternalParameters = map[string]string{
		"repository": o.repo,
		"commit":     o.commit,
		"command":    o.command,
		"version":    o.version,
	}
	bd.InternalParameters = map[string]string{"toolchain": o.toolchain}
	bd.ResolvedDependencies = append(bd.ResolvedDependencies, resource{
		URI: "git+" + o.repo + "@" + o.commit, Digest: map[string]string{"gitCommit": o.commit},
	})
	for _, in := range inputs {
		bd.ResolvedDependencies = append(bd.ResolvedDependencies, resource{
			Name: in.name, URI: o.repo + "/blob/" + o.commit + "/" + in.name, Digest: map[string]string{"sha256": in.sha256},
		})
	}
	if o.toolchain != "" {
		bd.ResolvedDependencies = append(bd.ResolvedDependencies, resource{
			Name: "Go toolchain", URI: "pkg:golang/stdlib@" + strings.TrimPrefix(o.toolchain, "go"),
		})
	}
	for _, t := range o.tools {
		bd.ResolvedDependencies = append(bd.ResolvedDependencies, resource{
			Name: t.name, URI: "pkg:generic/" + t.name + "@" + strings.ReplaceAll(t.version, "+", "%2B"),
		})
	}
	mods, err := modulesOf(sboms)
	if err != nil {
		return nil, err
	}
	for _, m := range mods {
		r := resource{Name: m.path, URI: "pkg:golang/" + m.path + "@" + strings.ReplaceAll(m.version, "+", "%2B")}
		if m.sum != "" {
			h, err := dirHash(m.sum)
			if err != nil {
				return nil, fmt.Errorf("module %s: %w", m.path, err)
			}
			// in-toto's dirHash is go.sum's h1: in hex.
			r.Digest = map[string]string{"dirHash": h}
		}
		bd.ResolvedDependencies = append(bd.ResolvedDependencies, r)
	}
	p.Predicate.RunDetails.Builder.ID = o.builder
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// modulesOf is every module of every binary, once, sorted; two binaries that disagree on a
// module's version or hash is an error (one build cannot do that).
func modulesOf(sboms []sbomInfo) ([]goModule, error) {
	seen := map[string]goModule{}
	for _, s := range sboms {
		for _, m := range s.modules {
			key := m.path + "@" + m.version
			if prev, ok := seen[key]; ok && prev.sum != m.sum {
				return nil, fmt.Errorf("%s has hash %s in one SBOM and %s in another", key, prev.sum, m.sum)
			}
			seen[key] = m
		}
	}
	out := make([]goModule, 0, len(seen))
	for _, m := range seen {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b goModule) int {
		if c := strings.Compare(a.path, b.path); c != 0 {
			return c
		}
		return strings.Compare(a.version, b.version)
	})
	return out, nil
}

func dirHash(sum string) (string, error) {
	b64, ok := strings.CutPrefix(sum, "h1:")
	if !ok {
		return "", fmt.Errorf("%q is not an h1: hash", sum)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != sha256.Size {
		return "", fmt.Errorf("%q is not a base64 SHA-256", sum)
	}
	return hex.EncodeToString(raw), nil
}

func releaseNotes(o options, subjects []file, sboms []sbomInfo) []byte {
	var b bytes.Buffer
	short := o.commit[:12]
	fmt.Fprintf(&b, "# kinko %s\n\n", o.version)
	tools := toolNames(o.tools)
	fmt.Fprintf(&b, "Built from commit [`%s`](%s/commit/%s) with %s by `%s`.\n\n", short, o.repo, o.commit,
		strings.Join(append([]string{o.toolchain}, tools...), " and "), o.command)
	b.WriteString("## Files\n\n| file | SHA-256 |\n|---|---|\n")
	for _, s := range subjects {
		fmt.Fprintf(&b, "| `%s` | `%s` |\n", s.name, s.sha256)
	}
	b.WriteString("\n`SHA256SUMS` lists the same digests (`sha256sum -c SHA256SUMS`); `kinko.intoto.json` is the build's\n" +
		"provenance (in-toto Statement, SLSA Provenance v1): source commit, command, toolchain and the digest of every input.\n\n")
	if len(sboms) > 0 {
		b.WriteString("## SBOMs (CycloneDX 1.6)\n\n| binary | architecture | SBOM | binary SHA-256 | Go modules |\n|---|---|---|---|---|\n")
		for _, s := range sboms {
			fmt.Fprintf(&b, "| `%s` | %s | `%s` | `%s` | %d |\n", s.binary, s.goarch, s.file, s.binarySHA256, len(s.modules))
		}
		if mods, err := modulesOf(sboms); err == nil && len(mods) > 0 {
			b.WriteString("\nGo modules linked into the binaries (versions and go.sum hashes in the SBOMs):\n\n")
			for _, m := range mods {
				fmt.Fprintf(&b, "- `%s` %s\n", m.path, m.version)
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "## Rebuild and compare\n\n```sh\ngit clone %s kinko && cd kinko\ngit checkout %s\n%s\ncd dist && sha256sum -c /path/to/the/downloaded/SHA256SUMS\n```\n\n", o.repo, o.commit, o.command)
	b.WriteString("The Makefile pins the Go toolchain (`GO_TOOLCHAIN`) and builds without cgo, paths, build ids or timestamps,\n" +
		"so the same commit gives the same bytes on any machine")
	if len(tools) > 0 {
		fmt.Fprintf(&b, " with the same %s (`make deps` installs it)", strings.Join(tools, ", "))
	}
	b.WriteString(". A published layer version's description carries its zip's SHA-256.\n")
	return b.Bytes()
}

// toolNames is "zopfli 1.0.3-1" for each tool.
func toolNames(tools []tool) []string {
	var names []string
	for _, t := range tools {
		names = append(names, t.name+" "+t.version)
	}
	return names
}
