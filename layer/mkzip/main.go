// Command mkzip writes a reproducible zip of executables: the kinko layer
// (extensions/kinko) and the function (bootstrap).
//
//	go run ./layer/mkzip -o dist/kinko-layer-arm64.zip extensions/kinko=dist/arm64/extensions/kinko
//	go run ./layer/mkzip -zopfli zopfli -o dist/kinko-layer-arm64.zip extensions/kinko=...
//
// Each argument is NAME=PATH: the file at PATH is stored as NAME. Plain `zip` records
// mtimes, uid/gid and the order it was given, so two builds of the same binary differ;
// here everything but the content is fixed: entries sorted by name, parent directories
// added, one timestamp, mode 0755 (Lambda runs /opt/extensions/* and /var/task/bootstrap
// as they are unpacked, so a lost execute bit is a broken deploy).
//
// Entries are deflated with Go's compress/flate at BestCompression, or, with -zopfli, by the
// zopfli command (raw deflate, about 6% smaller for the layer; deterministic, so the zip is
// still the same bytes for the same input and zopfli version). Either way every entry is plain
// Deflate, which every unzip (Lambda's included) reads.
package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// epoch is the timestamp of every entry: the earliest a zip (MS-DOS) date can hold,
// so no tool reads it as "before 1980" and rejects it.
var epoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultZopfliIterations is zopfli's --i for -zopfli: the knee of size against time. Measured
// on the x86_64 extension (8,261,758 bytes; Go's flate: 3,302,643), bytes and CPU seconds:
// --i1 3,116,601 in 19.0 s, --i2 3,111,091 in 19.2 s, --i3 3,109,800 in 20.0 s, --i5 3,108,658
// in 22.8 s, --i10 3,108,527 in 27.8 s, --i15 (zopfli's default) 3,108,226 in 33.9 s. The first
// pass makes nearly all the gain; --i3 takes 81% of what the next fourteen add for 5% more time
// than --i1, where --i5 would cost 14% more than --i3 for another 1.1 KB.
const DefaultZopfliIterations = 3

// Entry is one file to pack: Src on disk, Name inside the zip.
type Entry struct {
	Name string
	Src  string
}

// A Deflater compresses the file at path into a raw deflate stream (RFC 1951, no zlib or gzip
// framing). Write checks that the stream inflates back to the file before storing it.
type Deflater func(ctx context.Context, path string) ([]byte, error)

func main() {
	out := flag.String("o", "", "output zip `file` (written atomically)")
	zopfli := flag.String("zopfli", "", "deflate each entry with the zopfli `command` (a name on PATH or a path) instead of Go's compress/flate")
	iterations := flag.Int("zopfli-iterations", DefaultZopfliIterations, "zopfli's --i: more is smaller and slower")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: mkzip [-zopfli zopfli] -o OUT.zip NAME=PATH...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(context.Background(), *out, *zopfli, *iterations, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "mkzip:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out, zopfli string, iterations int, args []string) error {
	if out == "" || len(args) == 0 {
		flag.Usage()
		return errors.New("need -o and at least one NAME=PATH")
	}
	entries, err := ParseArgs(args)
	if err != nil {
		return err
	}
	var deflate Deflater // nil: Go's compress/flate
	if zopfli != "" {
		if deflate, err = Zopfli(zopfli, iterations); err != nil {
			return err
		}
	}
	// Write next to the target and rename, so an interrupted build never leaves a
	// truncated zip that a later `make` would take as up to date.
	tmp, err := os.CreateTemp(filepath.Dir(out), ".mkzip-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := Write(ctx, tmp, entries, deflate); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes 0600
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// Zopfli returns a Deflater that runs `command --i<iterations> --deflate -c FILE`. It fails
// at once, saying how to get zopfli, when command cannot be found.
func Zopfli(command string, iterations int) (Deflater, error) {
	if iterations < 1 {
		return nil, fmt.Errorf("-zopfli-iterations %d: want 1 or more", iterations)
	}
	bin, err := exec.LookPath(command)
	if err != nil {
		return nil, fmt.Errorf("zopfli: %w (install it: apt-get install zopfli, or `make deps`; or leave out -zopfli to use Go's compress/flate)", err)
	}
	return func(ctx context.Context, src string) ([]byte, error) {
		// zopfli takes any argument starting with "-" for an option: give it an absolute path.
		abs, err := filepath.Abs(src)
		if err != nil {
			return nil, err
		}
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, "--i"+strconv.Itoa(iterations), "--deflate", "-c", abs)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("%s %s: %w: %s", command, src, err, bytes.TrimSpace(stderr.Bytes()))
		}
		return stdout.Bytes(), nil
	}, nil
}

// ParseArgs turns NAME=PATH arguments into entries, refusing names that would
// unpack outside the archive root or twice.
func ParseArgs(args []string) ([]Entry, error) {
	var entries []Entry
	seen := map[string]bool{}
	for _, a := range args {
		name, src, ok := strings.Cut(a, "=")
		if !ok || name == "" || src == "" {
			return nil, fmt.Errorf("%q: want NAME=PATH", a)
		}
		if !fs.ValidPath(name) || name == "." {
			return nil, fmt.Errorf("%q: name must be a clean relative path with forward slashes", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%q given twice", name)
		}
		seen[name] = true
		entries = append(entries, Entry{Name: name, Src: src})
	}
	return entries, nil
}

// Write packs the entries into w, each deflated by deflate, or by Go's compress/flate at
// BestCompression when deflate is nil. The bytes depend only on the names and the contents (and
// on the compressor's version): not on file times, owners, umask, or argument order.
func Write(ctx context.Context, w io.Writer, entries []Entry, deflate Deflater) error {
	zw := zip.NewWriter(w)
	// Smallest output: the layer and function zips are downloaded on every cold start.
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestCompression)
	})

	files := map[string]string{}
	dirs := map[string]bool{}
	for _, e := range entries {
		files[e.Name] = e.Src
		for d := path.Dir(e.Name); d != "."; d = path.Dir(d) {
			dirs[d+"/"] = true
		}
	}
	names := make([]string, 0, len(files)+len(dirs))
	for n := range files {
		if dirs[n+"/"] {
			return fmt.Errorf("%q is both a file and a directory", n)
		}
		names = append(names, n)
	}
	for d := range dirs {
		names = append(names, d)
	}
	slices.Sort(names) // "extensions/" sorts before "extensions/kinko"

	for _, n := range names {
		h := &zip.FileHeader{Name: n, Modified: epoch}
		if dirs[n] {
			h.Method = zip.Store
			h.SetMode(fs.ModeDir | 0o755)
			if _, err := zw.CreateHeader(h); err != nil {
				return err
			}
			continue
		}
		h.Method = zip.Deflate
		h.SetMode(0o755)
		content, err := readRegular(files[n])
		if err != nil {
			return err
		}
		if deflate == nil {
			zf, err := zw.CreateHeader(h)
			if err != nil {
				return err
			}
			if _, err := zf.Write(content); err != nil {
				return err
			}
			continue
		}
		if err := addDeflated(ctx, zw, h, files[n], content, deflate); err != nil {
			return err
		}
	}
	return zw.Close()
}

func readRegular(src string) ([]byte, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", src)
	}
	return io.ReadAll(f)
}

// addDeflated stores content, compressed by deflate from the file at src, as h. The stream must
// inflate back to content: a compressor that is broken, or a file that changed under it, fails
// the build here rather than the deploy. (zopfli 1.0.3 exits 0 with no output for a file it
// cannot read.)
func addDeflated(ctx context.Context, zw *zip.Writer, h *zip.FileHeader, src string, content []byte, deflate Deflater) error {
	comp, err := deflate(ctx, src)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(comp)), int64(len(content))+1))
	if err != nil {
		return fmt.Errorf("%s: the compressor's output is not a deflate stream: %w", src, err)
	}
	if !bytes.Equal(got, content) {
		return fmt.Errorf("%s: the compressor's output inflates to %d bytes that are not the file's %d (did the file change?)", src, len(got), len(content))
	}
	h.CRC32 = crc32.ChecksumIEEE(content)
	h.UncompressedSize64 = uint64(len(content))
	h.CompressedSize64 = uint64(len(comp))
	rawMetadata(h)
	zf, err := zw.CreateRaw(h)
	if err != nil {
		return err
	}
	_, err = zf.Write(comp)
	return err
}

// rawMetadata fills in what CreateHeader writes for an entry and CreateRaw takes as given, so an
// entry compressed elsewhere carries the same versions, MS-DOS time and extended timestamp as
// one compressed here. (The sizes and CRC are in the local header, so no data descriptor follows.)
func rawMetadata(h *zip.FileHeader) {
	const zipVersion20 = 20 // 2.0: Deflate, directories
	h.CreatorVersion = h.CreatorVersion&0xff00 | zipVersion20
	h.ReaderVersion = zipVersion20
	// Deprecated for callers of CreateHeader, which derives them from Modified; CreateRaw writes
	// them as they are, and a zero date reads as 1979-11-30 where no extended timestamp is read.
	//lint:ignore SA1019 CreateRaw needs the MS-DOS fields set
	h.ModifiedDate, h.ModifiedTime = msDosTime(h.Modified)
	// Info-ZIP's extended timestamp (0x5455), modification time only, as CreateHeader writes it.
	var ext [9]byte
	binary.LittleEndian.PutUint16(ext[0:], 0x5455)
	binary.LittleEndian.PutUint16(ext[2:], 5)
	ext[4] = 1
	binary.LittleEndian.PutUint32(ext[5:], uint32(h.Modified.Unix()))
	h.Extra = append(h.Extra, ext[:]...)
}

// msDosTime is t as a zip's MS-DOS date and time (two-second resolution, years from 1980).
func msDosTime(t time.Time) (date, clock uint16) {
	date = uint16(t.Day() + int(t.Month())<<5 + (t.Year()-1980)<<9)
	clock = uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
	return date, clock
}
