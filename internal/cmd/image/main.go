// Command image writes kinko's container image as an OCI image layout (OCI Image Layout
// Specification 1.0: oci-layout, index.json and blobs/sha256/...) with no container daemon and
// no registry. The layout holds one image index for every platform given; each image is one
// layer with the static kinko binary at /kinko and the CA certificates it needs to reach AWS
// over TLS, and nothing else (no shell, no libc, no package manager), run as a numeric non-root
// user, port 2773 exposed. `make image` runs it:
//
//	go run ./internal/cmd/image -o dist/image -version v1.2.3 -revision $(git rev-parse HEAD) \
//	    linux/amd64=dist/kinko-linux-amd64 linux/arm64=dist/kinko-linux-arm64
//
// then `skopeo copy --all oci:dist/image:v1.2.3 docker://REGISTRY/kinko:v1.2.3` (or `crane push
// dist/image REGISTRY/kinko:v1.2.3`) pushes it.
//
// The output is reproducible: the same binaries and flags give the same bytes, so the same
// digest. The only time in it is SOURCE_DATE_EPOCH (the Makefile sets it to the commit's time),
// as the files' mtime and the config's "created"; unset, the mtime is 1970 and "created" is left
// out. Tar entries are sorted, owned by 0:0, with no user or group names; the gzip header has no
// name and no time; the JSON field order is the structs'.
//
// The CA certificates are Mozilla's (NSS) roots as golang.org/x/crypto/x509roots/fallback pins
// them in go.mod, written as the PEM file Go reads first on Linux: the binary stays the one the
// release ships (importing the fallback package instead would cost every start 1.3 ms and 650 KB
// of heap on hosts that have their own roots). Roots that NSS distrusts after a date are left
// out: a PEM file cannot carry the date.
//
// Written with archive/tar, compress/gzip and crypto/sha256 rather than go-containerregistry: the
// layout is a handful of small JSON documents and content-addressed blobs, and here every byte
// the digest depends on (tar headers, gzip header, JSON order) is in view, where the library
// would bring a module tree into go.mod and decide those bytes itself.
package main

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// What every image is, whatever the platform.
const (
	// BinaryPath is the binary's place in the image (its entrypoint).
	BinaryPath = "/kinko"
	// User is distroless's "nonroot": numeric, so a runtime can check runAsNonRoot without an
	// /etc/passwd (the image has none).
	User = "65532:65532"
	// Port is kinko's (and AWS's agent's) default port.
	Port = "2773/tcp"
	// CAFile is where Go's crypto/x509 looks first for the system's roots on Linux.
	CAFile = "/etc/ssl/certs/ca-certificates.crt"
	// caModule is the module the roots come from; its version is in a label.
	caModule = "golang.org/x/crypto/x509roots/fallback"
)

// The OCI media types (image-spec v1.1).
const (
	MediaIndex    = "application/vnd.oci.image.index.v1+json"
	MediaManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaConfig   = "application/vnd.oci.image.config.v1+json"
	MediaLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	// RefName is the annotation on index.json's entry that tools take for the tag
	// (oci:dist/image:TAG).
	RefName = "org.opencontainers.image.ref.name"
)

type platform struct {
	OS, Arch, Variant string
	binary            string
}

func (p platform) String() string { return p.OS + "/" + p.Arch }

type options struct {
	out, version, revision, source string
	platforms                      []platform
	epoch                          *time.Time
}

// elfMachine is the ELF machine each supported architecture's binary must have.
var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

func parse(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.out, "o", "", "the OCI image layout directory to write (replaced whole)")
	fs.StringVar(&o.version, "version", "", "the image's version: its tag (ref.name) and the version label")
	fs.StringVar(&o.revision, "revision", "", "the source commit, for the org.opencontainers.image.revision label")
	fs.StringVar(&o.source, "source", "https://github.com/kinko-dev/kinko", "the source repository, for the org.opencontainers.image.source label")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var problems []string
	if o.out == "" {
		problems = append(problems, "-o is required (the layout's directory, e.g. dist/image)")
	}
	if o.version == "" {
		problems = append(problems, "-version is required (the Makefile passes VERSION)")
	}
	if fs.NArg() == 0 {
		problems = append(problems, "name a binary per platform: linux/amd64=dist/kinko-linux-amd64 linux/arm64=...")
	}
	seen := map[string]bool{}
	for _, a := range fs.Args() {
		name, bin, ok := strings.Cut(a, "=")
		osName, arch, ok2 := strings.Cut(name, "/")
		if !ok || !ok2 || bin == "" {
			problems = append(problems, fmt.Sprintf("%q: want OS/ARCH=BINARY, e.g. linux/arm64=dist/kinko-linux-arm64", a))
			continue
		}
		if _, known := elfMachine[arch]; osName != "linux" || !known {
			problems = append(problems, fmt.Sprintf("%q: the image is built for linux/amd64 and linux/arm64 only", name))
			continue
		}
		if seen[name] {
			problems = append(problems, fmt.Sprintf("%s is named twice", name))
		}
		seen[name] = true
		p := platform{OS: osName, Arch: arch, binary: bin}
		if arch == "arm64" {
			p.Variant = "v8" // what registries and runtimes record for arm64 (GOARM64's default is v8.0)
		}
		o.platforms = append(o.platforms, p)
	}
	// The index lists platforms in a fixed order whatever the command line's.
	slices.SortFunc(o.platforms, func(a, b platform) int { return cmp.Compare(a.String(), b.String()) })
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil || sec < 0 {
			problems = append(problems, fmt.Sprintf("SOURCE_DATE_EPOCH=%q: want seconds since 1970 (git log -1 --format=%%ct)", s))
		} else {
			t := time.Unix(sec, 0).UTC()
			o.epoch = &t
		}
	}
	if len(problems) > 0 {
		return o, errors.New(strings.Join(problems, "; "))
	}
	return o, nil
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	parent := filepath.Dir(o.out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	// Written beside the destination and renamed over it: a failed run leaves no half layout.
	tmp, err := os.MkdirTemp(parent, ".image-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // no-op after the rename
	digest, err := write(tmp, o)
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(o.out); err != nil {
		return err
	}
	if err := os.Rename(tmp, o.out); err != nil {
		return err
	}
	names := make([]string, len(o.platforms))
	for i, p := range o.platforms {
		names[i] = p.String()
	}
	fmt.Fprintf(stdout, "%s: %s, tagged %s (%s)\n", o.out, digest, o.version, strings.Join(names, ", "))
	return nil
}

// Descriptor, Index, Manifest and Config are the OCI documents this writes (a subset of
// image-spec v1.1). Field order is the structs', so the bytes depend only on the values.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
}

type Index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []Descriptor `json:"manifests"`
}

type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

type Config struct {
	Created      string `json:"created,omitempty"`
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
	Config       struct {
		User         string              `json:"User"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		Entrypoint   []string            `json:"Entrypoint"`
		WorkingDir   string              `json:"WorkingDir"`
		Labels       map[string]string   `json:"Labels"`
		StopSignal   string              `json:"StopSignal"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []History `json:"history"`
}

type History struct {
	Created   string `json:"created,omitempty"`
	CreatedBy string `json:"created_by"`
	Comment   string `json:"comment,omitempty"`
}

// write puts the layout in dir and returns the image index's digest (the image's digest).
func write(dir string, o options) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return "", err
	}
	var manifests []Descriptor
	for _, p := range o.platforms {
		d, err := image(dir, o, p)
		if err != nil {
			return "", err
		}
		manifests = append(manifests, d)
	}
	idx, err := putJSON(dir, MediaIndex, Index{SchemaVersion: 2, MediaType: MediaIndex, Manifests: manifests})
	if err != nil {
		return "", err
	}
	// index.json points at the image index, tagged with the version, so one name pushes every
	// platform (skopeo copy --all oci:dist/image:VERSION ...).
	idx.Annotations = map[string]string{RefName: o.version}
	top, err := json.Marshal(Index{SchemaVersion: 2, MediaType: MediaIndex, Manifests: []Descriptor{idx}})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), top, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return "", err
	}
	return idx.Digest, nil
}

// image writes one platform's layer, config and manifest, and returns the manifest's descriptor.
func image(dir string, o options, p platform) (Descriptor, error) {
	bin, err := os.ReadFile(p.binary)
	if err != nil {
		return Descriptor{}, err
	}
	if err := checkStatic(p, bin); err != nil {
		return Descriptor{}, err
	}
	mtime := time.Unix(0, 0).UTC()
	created := ""
	if o.epoch != nil {
		mtime = *o.epoch
		created = o.epoch.Format(time.RFC3339)
	}
	tarball, err := layerTar([]file{
		{name: strings.TrimPrefix(BinaryPath, "/"), mode: 0o555, data: bin},
		{name: strings.TrimPrefix(CAFile, "/"), mode: 0o444, data: caBundle()},
	}, mtime)
	if err != nil {
		return Descriptor{}, err
	}
	gz, err := gzipped(tarball)
	if err != nil {
		return Descriptor{}, err
	}
	layer, err := putBlob(dir, MediaLayer, gz)
	if err != nil {
		return Descriptor{}, err
	}

	var c Config
	c.Created, c.Architecture, c.OS, c.Variant = created, p.Arch, p.OS, p.Variant
	c.Config.User = User
	c.Config.ExposedPorts = map[string]struct{}{Port: {}}
	c.Config.Entrypoint = []string{BinaryPath}
	c.Config.WorkingDir = "/"
	c.Config.StopSignal = "SIGTERM" // kinko drains on it, as on Lambda's SHUTDOWN
	c.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   "kinko",
		"org.opencontainers.image.version": o.version,
		"org.opencontainers.image.source":  o.source,
		"dev.kinko.ca-certificates":        caVersion() + " (Mozilla NSS roots, less those distrusted after a date)",
	}
	if o.revision != "" {
		c.Config.Labels["org.opencontainers.image.revision"] = o.revision
	}
	c.RootFS.Type = "layers"
	c.RootFS.DiffIDs = []string{digestOf(tarball)}
	c.History = []History{{Created: created, CreatedBy: "make image", Comment: "kinko " + o.version + " alone, at " + BinaryPath}}
	config, err := putJSON(dir, MediaConfig, c)
	if err != nil {
		return Descriptor{}, err
	}
	m, err := putJSON(dir, MediaManifest, Manifest{SchemaVersion: 2, MediaType: MediaManifest, Config: config, Layers: []Descriptor{layer}})
	if err != nil {
		return Descriptor{}, err
	}
	m.Platform = &Platform{Architecture: p.Arch, OS: p.OS, Variant: p.Variant}
	return m, nil
}

// checkStatic refuses a binary that would not run in the image: not ELF, another architecture's,
// or dynamically linked (the image has no loader and no libc).
func checkStatic(p platform, bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("%s=%s: not an ELF binary (%v): build it with GOOS=linux", p, p.binary, err)
	}
	defer f.Close()
	if f.Machine != elfMachine[p.Arch] {
		return fmt.Errorf("%s=%s: the binary is for %s, not %s: build it with GOARCH=%s", p, p.binary, f.Machine, p.Arch, p.Arch)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
			return fmt.Errorf("%s=%s: the binary is dynamically linked; the image has no loader or libc: build it with CGO_ENABLED=0", p, p.binary)
		}
	}
	return nil
}

type file struct {
	name string
	mode int64
	data []byte
}

// layerTar is a tar of files and their parent directories (0755), sorted by name, owned by
// 0:0 with no names, all dated mtime.
func layerTar(files []file, mtime time.Time) ([]byte, error) {
	type entry struct {
		file
		dir bool
	}
	var entries []entry
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.name); d != "."; d = path.Dir(d) {
			if !dirs[d] {
				dirs[d] = true
				entries = append(entries, entry{file: file{name: d + "/", mode: 0o755}, dir: true})
			}
		}
		entries = append(entries, entry{file: f})
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.name, b.name) })
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range entries {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime, Format: tar.FormatUSTAR}
		if f.dir {
			h.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// gzipped compresses b with a header that carries no name and no time (compress/gzip leaves
// both empty unless told), so the bytes depend on b and the toolchain only.
func gzipped(b []byte) ([]byte, error) {
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// caBundle is the PEM of the pinned NSS roots that carry no constraint.
func caBundle() []byte {
	var b bytes.Buffer
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate}) // a bytes.Buffer does not fail
	}
	return b.Bytes()
}

// caVersion is the roots' module and version, as this program was built with them.
func caVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == caModule {
				return m.Path + "@" + m.Version
			}
		}
	}
	return caModule + " (version unknown)"
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func putJSON(dir, mediaType string, v any) (Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Descriptor{}, err
	}
	return putBlob(dir, mediaType, b)
}

// putBlob stores b under its digest and describes it.
func putBlob(dir, mediaType string, b []byte) (Descriptor, error) {
	d := Descriptor{MediaType: mediaType, Digest: digestOf(b), Size: int64(len(b))}
	hexDigest := strings.TrimPrefix(d.Digest, "sha256:")
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", hexDigest), b, 0o644); err != nil {
		return Descriptor{}, err
	}
	return d, nil
}
