// Command mkzip writes a reproducible zip of executables: the kinko layer
// (extensions/kinko) and the function (bootstrap).
//
//	go run ./layer/mkzip -o dist/kinko-layer-arm64.zip extensions/kinko=dist/arm64/extensions/kinko
//
// Each argument is NAME=PATH: the file at PATH is stored as NAME. Plain `zip` records
// mtimes, uid/gid and the order it was given, so two builds of the same binary differ;
// here everything but the content is fixed: entries sorted by name, parent directories
// added, one timestamp, mode 0755 (Lambda runs /opt/extensions/* and /var/task/bootstrap
// as they are unpacked, so a lost execute bit is a broken deploy).
package main

import (
	"archive/zip"
	"compress/flate"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// epoch is the timestamp of every entry: the earliest a zip (MS-DOS) date can hold,
// so no tool reads it as "before 1980" and rejects it.
var epoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// Entry is one file to pack: Src on disk, Name inside the zip.
type Entry struct {
	Name string
	Src  string
}

func main() {
	out := flag.String("o", "", "output zip `file` (written atomically)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: mkzip -o OUT.zip NAME=PATH...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "mkzip:", err)
		os.Exit(1)
	}
}

func run(out string, args []string) error {
	if out == "" || len(args) == 0 {
		flag.Usage()
		return errors.New("need -o and at least one NAME=PATH")
	}
	entries, err := ParseArgs(args)
	if err != nil {
		return err
	}
	// Write next to the target and rename, so an interrupted build never leaves a
	// truncated zip that a later `make` would take as up to date.
	tmp, err := os.CreateTemp(filepath.Dir(out), ".mkzip-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := Write(tmp, entries); err != nil {
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

// Write packs the entries into w. The bytes depend only on the names and the
// contents (and on the Go version's deflate): not on file times, owners, umask,
// or argument order.
func Write(w io.Writer, entries []Entry) error {
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
		if err := addFile(zw, h, files[n]); err != nil {
			return err
		}
	}
	return zw.Close()
}

func addFile(zw *zip.Writer, h *zip.FileHeader, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", src)
	}
	zf, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(zf, f)
	return err
}
