package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/x509"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeELF is the smallest file debug/elf takes for a Linux executable of machine: a header, and
// with dynamic, a PT_INTERP program header naming a loader as a cgo build's would.
func fakeELF(t *testing.T, machine elf.Machine, dynamic bool, payload string) []byte {
	t.Helper()
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
		Ehsize: 64, Phentsize: 56, Shentsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS], h.Ident[elf.EI_DATA], h.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	var b bytes.Buffer
	interp := "/lib64/ld-linux-x86-64.so.2\x00"
	if dynamic {
		h.Phoff, h.Phnum = 64, 1
	}
	must(t, binary.Write(&b, binary.LittleEndian, h))
	if dynamic {
		must(t, binary.Write(&b, binary.LittleEndian, elf.Prog64{Type: uint32(elf.PT_INTERP), Off: 64 + 56,
			Filesz: uint64(len(interp)), Memsz: uint64(len(interp)), Align: 1}))
		b.WriteString(interp)
	}
	b.WriteString(payload)
	return b.Bytes()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// binaries writes a static fake binary per architecture and returns the platform arguments.
func binaries(t *testing.T) (args []string, content map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	content = map[string][]byte{
		"linux/amd64": fakeELF(t, elf.EM_X86_64, false, "kinko for amd64"),
		"linux/arm64": fakeELF(t, elf.EM_AARCH64, false, "kinko for arm64"),
	}
	for _, p := range []string{"linux/arm64", "linux/amd64"} { // not in the index's order
		f := filepath.Join(dir, strings.ReplaceAll(p, "/", "-"))
		must(t, os.WriteFile(f, content[p], 0o755))
		args = append(args, p+"="+f)
	}
	return args, content
}

func build(t *testing.T, out string, env map[string]string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(append([]string{"-o", out, "-version", "v1.2.3", "-revision", strings.Repeat("ab", 20)}, args...),
		func(k string) string { return env[k] }, &stdout, &stderr); err != nil {
		t.Fatalf("image: %v\n%s", err, stderr.String())
	}
	return stdout.String()
}

// files reads every file under dir, by path relative to it.
func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	got := map[string][]byte{}
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		got[rel] = b
		return err
	}))
	return got
}

// Two builds of the same binaries give the same bytes, file for file, so the same digest; the
// commit's time is in them (another SOURCE_DATE_EPOCH, another digest), and nothing else of the
// run is (the order the platforms are named in, the directory written to).
func TestImageReproducible(t *testing.T) {
	args, _ := binaries(t)
	env := map[string]string{"SOURCE_DATE_EPOCH": "1767225600"}
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "image")
	build(t, a, env, args...)
	reversed := slices.Clone(args)
	slices.Reverse(reversed)
	build(t, b, env, reversed...)
	fa, fb := files(t, a), files(t, b)
	if len(fa) == 0 || len(fa) != len(fb) {
		t.Fatalf("two builds wrote %d and %d files", len(fa), len(fb))
	}
	for name, content := range fa {
		if !bytes.Equal(content, fb[name]) {
			t.Errorf("%s differs between two builds of the same binaries", name)
		}
	}
	da, db := validate(t, a).digest, validate(t, b).digest
	if da != db {
		t.Errorf("index digests differ: %s and %s", da, db)
	}

	c := filepath.Join(t.TempDir(), "c")
	build(t, c, map[string]string{"SOURCE_DATE_EPOCH": "1767225601"}, args...)
	if dc := validate(t, c).digest; dc == da {
		t.Errorf("another SOURCE_DATE_EPOCH gave the same digest %s: the commit's time is not in the image", dc)
	}
	// Unset, the image is still reproducible (mtime 1970, no "created").
	d, e := filepath.Join(t.TempDir(), "d"), filepath.Join(t.TempDir(), "e")
	build(t, d, nil, args...)
	build(t, e, nil, args...)
	if dd, de := validate(t, d).digest, validate(t, e).digest; dd != de {
		t.Errorf("without SOURCE_DATE_EPOCH two builds differ: %s and %s", dd, de)
	}
}

// The layout is what the OCI specs say and what the contract asks of the image.
func TestImageLayout(t *testing.T) {
	args, content := binaries(t)
	out := filepath.Join(t.TempDir(), "image")
	printed := build(t, out, map[string]string{"SOURCE_DATE_EPOCH": "1767225600"}, args...)
	l := validate(t, out)
	if !strings.Contains(printed, l.digest) {
		t.Errorf("the run printed %q, not the image's digest %s", printed, l.digest)
	}
	if l.tag != "v1.2.3" {
		t.Errorf("index.json's ref.name is %q, want the version v1.2.3", l.tag)
	}
	want := time.Unix(1767225600, 0).UTC()
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		img, ok := l.images[p]
		if !ok {
			t.Errorf("no image for %s in the index (have %v)", p, l.platforms)
			continue
		}
		if got := img.files[BinaryPath]; !bytes.Equal(got.data, content[p]) {
			t.Errorf("%s: %s in the layer is not the %s binary given", p, BinaryPath, p)
		}
		for name, f := range img.files {
			if !f.mtime.Equal(want) {
				t.Errorf("%s: %s dated %v, want SOURCE_DATE_EPOCH %v", p, name, f.mtime, want)
			}
		}
		if img.config.Created != "2026-01-01T00:00:00Z" {
			t.Errorf("%s: config created %q, want the commit's time 2026-01-01T00:00:00Z", p, img.config.Created)
		}
		if got := img.config.Config.Labels["org.opencontainers.image.revision"]; got != strings.Repeat("ab", 20) {
			t.Errorf("%s: revision label %q", p, got)
		}
	}
	if !slices.Equal(l.platforms, []string{"linux/amd64", "linux/arm64/v8"}) {
		t.Errorf("index platforms %v, want linux/amd64 and linux/arm64/v8 in that order", l.platforms)
	}
}

// A binary that could not run in the image is refused, saying how to build one that can.
func TestImageRefusesWhatCannotRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, b, 0o755))
		return p
	}
	amd := write("amd", fakeELF(t, elf.EM_X86_64, false, "x"))
	for _, tc := range []struct {
		name, arg, want string
	}{
		{"dynamic", "linux/amd64=" + write("dyn", fakeELF(t, elf.EM_X86_64, true, "x")), "CGO_ENABLED=0"},
		{"wrong architecture", "linux/arm64=" + amd, "GOARCH=arm64"},
		{"not ELF", "linux/amd64=" + write("script", []byte("#!/bin/sh\necho hi\n")), "GOOS=linux"},
		{"unknown platform", "linux/riscv64=" + amd, "linux/amd64 and linux/arm64 only"},
		{"no binary", "linux/amd64", "OS/ARCH=BINARY"},
		{"twice", "linux/amd64=" + amd + " linux/amd64=" + amd, "named twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "image")
			var stderr bytes.Buffer
			err := run(append([]string{"-o", out, "-version", "v1"}, strings.Fields(tc.arg)...), func(string) string { return "" }, io.Discard, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a failed run left %s behind (%v)", out, err)
			}
		})
	}
	t.Run("bad SOURCE_DATE_EPOCH", func(t *testing.T) {
		err := run([]string{"-o", filepath.Join(t.TempDir(), "i"), "-version", "v1", "linux/amd64=" + amd},
			func(string) string { return "yesterday" }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
			t.Fatalf("got %v, want an error naming SOURCE_DATE_EPOCH", err)
		}
	})
}

// A run replaces the layout whole: no blob of an older build stays behind.
func TestImageReplacesOldLayout(t *testing.T) {
	args, _ := binaries(t)
	out := filepath.Join(t.TempDir(), "image")
	build(t, out, nil, args...)
	stale := filepath.Join(out, "blobs", "sha256", strings.Repeat("0", 64))
	must(t, os.WriteFile(stale, []byte("old"), 0o644))
	build(t, out, nil, args...)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a blob of an older layout survived the rebuild (%v)", err)
	}
	validate(t, out)
}

// caProblem says what is wrong with the image's CA file: kinko reaches AWS over TLS, and AWS's
// endpoints chain to Amazon's roots (Starfield's for older clients); "" when nothing is.
func caProblem(pemData []byte) string {
	var subjects []string
	for rest := pemData; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			if len(bytes.TrimSpace(rest)) > 0 {
				return "trailing bytes that are not PEM"
			}
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return "a block that is not a certificate: " + err.Error()
		}
		if !c.IsCA {
			return c.Subject.CommonName + " is not a CA certificate"
		}
		subjects = append(subjects, c.Subject.CommonName)
	}
	if len(subjects) < 100 {
		return fmt.Sprintf("%d certificates; a system's roots are well over a hundred", len(subjects))
	}
	for _, want := range []string{"Amazon Root CA 1", "Amazon Root CA 2", "Amazon Root CA 3", "Amazon Root CA 4", "Starfield Services Root Certificate Authority - G2"} {
		if !slices.Contains(subjects, want) {
			return "no " + want + ", which AWS's endpoints chain to"
		}
	}
	return ""
}

// layout is what validate read: the image's digest and tag, and each platform's image.
type layout struct {
	digest, tag string
	platforms   []string // as the index lists them: os/arch[/variant]
	images      map[string]imageInfo
}

type imageInfo struct {
	config Config
	files  map[string]tarFile // by absolute path in the image
	dirs   []string
}

type tarFile struct {
	data  []byte
	mode  int64
	mtime time.Time
}

// validate checks dir against the OCI image layout and image specs and the contract's image
// (section 11), failing t on each departure, and returns what it read. Independent of write: it
// reads only the files, by the specs' rules.
func validate(t *testing.T, dir string) layout {
	t.Helper()
	var l layout
	l.images = map[string]imageInfo{}

	// blob reads a descriptor's blob and checks its digest, size and media type.
	blob := func(d Descriptor, mediaType string) []byte {
		t.Helper()
		if d.MediaType != mediaType {
			t.Errorf("descriptor %s: media type %q, want %q", d.Digest, d.MediaType, mediaType)
		}
		hexDigest, ok := strings.CutPrefix(d.Digest, "sha256:")
		if !ok || len(hexDigest) != 64 {
			t.Fatalf("descriptor digest %q is not sha256:<64 hex>", d.Digest)
		}
		b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", hexDigest))
		if err != nil {
			t.Fatalf("a descriptor names a blob the layout lacks: %v", err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != hexDigest {
			t.Errorf("blob %s: content hashes to %x", d.Digest, sum)
		}
		if int64(len(b)) != d.Size {
			t.Errorf("blob %s: %d bytes, the descriptor says %d", d.Digest, len(b), d.Size)
		}
		return b
	}
	strict := func(b []byte, v any) {
		t.Helper()
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("decoding %T: %v\n%s", v, err, b)
		}
	}

	ociLayout, err := os.ReadFile(filepath.Join(dir, "oci-layout"))
	must(t, err)
	var ol struct {
		ImageLayoutVersion string `json:"imageLayoutVersion"`
	}
	strict(ociLayout, &ol)
	if ol.ImageLayoutVersion != "1.0.0" {
		t.Errorf("oci-layout: imageLayoutVersion %q, want 1.0.0", ol.ImageLayoutVersion)
	}
	top, err := os.ReadFile(filepath.Join(dir, "index.json"))
	must(t, err)
	var topIdx Index
	strict(top, &topIdx)
	if topIdx.SchemaVersion != 2 || topIdx.MediaType != MediaIndex || len(topIdx.Manifests) != 1 {
		t.Fatalf("index.json: want schemaVersion 2, %s, one entry (the image index): %s", MediaIndex, top)
	}
	l.digest, l.tag = topIdx.Manifests[0].Digest, topIdx.Manifests[0].Annotations[RefName]

	var idx Index
	strict(blob(topIdx.Manifests[0], MediaIndex), &idx)
	if idx.SchemaVersion != 2 || idx.MediaType != MediaIndex {
		t.Errorf("image index: schemaVersion %d, mediaType %q", idx.SchemaVersion, idx.MediaType)
	}
	used := map[string]bool{strings.TrimPrefix(l.digest, "sha256:"): true}
	for _, md := range idx.Manifests {
		used[strings.TrimPrefix(md.Digest, "sha256:")] = true
		if md.Platform == nil {
			t.Fatalf("image index entry %s has no platform", md.Digest)
		}
		p := md.Platform.OS + "/" + md.Platform.Architecture
		name := p
		if md.Platform.Variant != "" {
			name += "/" + md.Platform.Variant
		}
		l.platforms = append(l.platforms, name)
		var m Manifest
		strict(blob(md, MediaManifest), &m)
		if m.SchemaVersion != 2 || m.MediaType != MediaManifest || len(m.Layers) != 1 {
			t.Errorf("%s: manifest schemaVersion %d, mediaType %q, %d layers (want 2, %s, 1)", p, m.SchemaVersion, m.MediaType, len(m.Layers), MediaManifest)
		}
		used[strings.TrimPrefix(m.Config.Digest, "sha256:")] = true
		var img imageInfo
		strict(blob(m.Config, MediaConfig), &img.config)
		c := img.config
		if c.OS != md.Platform.OS || c.Architecture != md.Platform.Architecture || c.Variant != md.Platform.Variant {
			t.Errorf("%s: the config says %s/%s/%s", name, c.OS, c.Architecture, c.Variant)
		}
		uid, _, _ := strings.Cut(c.Config.User, ":")
		if n, err := strconv.Atoi(uid); err != nil || n == 0 {
			t.Errorf("%s: config User %q: want a numeric non-root uid (runAsNonRoot cannot check a name)", p, c.Config.User)
		}
		if !slices.Equal(c.Config.Entrypoint, []string{BinaryPath}) {
			t.Errorf("%s: Entrypoint %q, want [%s]", p, c.Config.Entrypoint, BinaryPath)
		}
		if _, ok := c.Config.ExposedPorts["2773/tcp"]; !ok || len(c.Config.ExposedPorts) != 1 {
			t.Errorf("%s: ExposedPorts %v, want 2773/tcp alone", p, c.Config.ExposedPorts)
		}
		if c.RootFS.Type != "layers" || len(c.RootFS.DiffIDs) != len(m.Layers) {
			t.Errorf("%s: rootfs %+v for %d layers", p, c.RootFS, len(m.Layers))
		}
		img.files = map[string]tarFile{}
		dated := time.Unix(0, 0)
		if c.Created != "" {
			var err error
			if dated, err = time.Parse(time.RFC3339, c.Created); err != nil {
				t.Errorf("%s: created %q is not RFC 3339", p, c.Created)
			}
		}
		for i, ld := range m.Layers {
			used[strings.TrimPrefix(ld.Digest, "sha256:")] = true
			zr, err := gzip.NewReader(bytes.NewReader(blob(ld, MediaLayer)))
			must(t, err)
			raw, err := io.ReadAll(zr)
			must(t, err)
			if sum := sha256.Sum256(raw); i < len(c.RootFS.DiffIDs) && c.RootFS.DiffIDs[i] != "sha256:"+hex.EncodeToString(sum[:]) {
				t.Errorf("%s: layer %d's diff_id %s is not the digest of its tar", p, i, c.RootFS.DiffIDs[i])
			}
			var names []string
			tr := tar.NewReader(bytes.NewReader(raw))
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				must(t, err)
				data, err := io.ReadAll(tr)
				must(t, err)
				abs := "/" + strings.TrimPrefix(h.Name, "./")
				names = append(names, h.Name)
				if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
					t.Errorf("%s: %s owned by %d:%d (%q:%q), want 0:0 with no names", p, h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
				}
				switch base := filepath.Base(abs); {
				case strings.HasPrefix(abs, "/bin/") || strings.HasPrefix(abs, "/usr/bin/") || strings.HasPrefix(abs, "/sbin/"),
					base == "sh" || base == "bash" || base == "ash" || base == "dash" || base == "busybox":
					t.Errorf("%s: the layer holds %s: the image must have no shell", p, abs)
				}
				switch h.Typeflag {
				case tar.TypeReg:
					img.files[abs] = tarFile{data: data, mode: h.Mode, mtime: h.ModTime.UTC()}
				case tar.TypeDir:
					if h.Mode != 0o755 {
						t.Errorf("%s: directory %s has mode %o, want 755", p, h.Name, h.Mode)
					}
					img.dirs = append(img.dirs, abs)
				default:
					t.Errorf("%s: %s is tar type %q, want a file or a directory (no links, no devices)", p, h.Name, h.Typeflag)
				}
				if !h.ModTime.Equal(dated) {
					t.Errorf("%s: %s dated %v, want %v (the config's created, else 1970)", p, h.Name, h.ModTime.UTC(), dated)
				}
			}
			if !slices.IsSorted(names) {
				t.Errorf("%s: tar entries not sorted: %v", p, names)
			}
		}
		bin, ok := img.files[BinaryPath]
		if !ok {
			t.Errorf("%s: the entrypoint %s is not in the layer", p, BinaryPath)
		} else if bin.mode&0o111 == 0 || bin.mode&0o022 != 0 {
			t.Errorf("%s: %s has mode %o, want executable and writable by nobody but root", p, BinaryPath, bin.mode)
		}
		if missing := caProblem(img.files[CAFile].data); missing != "" {
			t.Errorf("%s: %s: %s", p, CAFile, missing)
		}
		l.images[p] = img
	}
	// Every blob is referenced: nothing stale or stray ships with the image.
	entries, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	must(t, err)
	for _, e := range entries {
		if !used[e.Name()] {
			t.Errorf("blob %s is referenced by nothing", e.Name())
		}
	}
	return l
}
