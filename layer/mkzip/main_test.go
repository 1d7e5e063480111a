package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeFile creates a file with the given content, mode and mtime, so the tests can
// show that mode and mtime do not reach the zip.
func writeFile(t *testing.T, p, content string, mode fs.FileMode, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // WriteFile's mode is filtered by umask
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func zipBytes(t *testing.T, entries []Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(t.Context(), &buf, entries, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	kinko, boot := filepath.Join(dir, "kinko"), filepath.Join(dir, "bootstrap")
	writeFile(t, kinko, "extension binary", 0o700, time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
	writeFile(t, boot, "function binary", 0o644, time.Now())
	first := zipBytes(t, []Entry{{"extensions/kinko", kinko}, {"bootstrap", boot}})

	// Same contents, different modes, times and argument order: same bytes.
	writeFile(t, kinko, "extension binary", 0o755, time.Now().Add(time.Hour))
	writeFile(t, boot, "function binary", 0o600, time.Unix(0, 0))
	second := zipBytes(t, []Entry{{"bootstrap", boot}, {"extensions/kinko", kinko}})
	if !bytes.Equal(first, second) {
		t.Fatal("same contents gave different zips")
	}

	// And the content does matter.
	writeFile(t, kinko, "extension binary v2", 0o755, time.Now())
	if third := zipBytes(t, []Entry{{"bootstrap", boot}, {"extensions/kinko", kinko}}); bytes.Equal(first, third) {
		t.Fatal("changed content gave the same zip")
	}
}

func TestWriteEntries(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "kinko")
	writeFile(t, src, "#!/bin/true\n", 0o600, time.Now())
	raw := zipBytes(t, []Entry{{"extensions/kinko", src}})

	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		mode fs.FileMode
	}{
		{"extensions/", fs.ModeDir | 0o755},
		{"extensions/kinko", 0o755},
	}
	if len(zr.File) != len(want) {
		t.Fatalf("got %d entries, want %d", len(zr.File), len(want))
	}
	for i, f := range zr.File {
		w := want[i]
		if f.Name != w.name {
			t.Errorf("entry %d: name %q, want %q", i, f.Name, w.name)
		}
		if f.Mode() != w.mode {
			t.Errorf("%s: mode %v, want %v", f.Name, f.Mode(), w.mode)
		}
		// unzip and Lambda read the Unix mode only when the creator is Unix (3).
		if f.CreatorVersion>>8 != 3 {
			t.Errorf("%s: creator OS %d, want 3 (Unix)", f.Name, f.CreatorVersion>>8)
		}
		if !f.Modified.Equal(epoch) {
			t.Errorf("%s: modified %v, want %v", f.Name, f.Modified, epoch)
		}
	}
	rc, err := zr.File[1].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, _ := io.ReadAll(rc)
	if string(got) != "#!/bin/true\n" {
		t.Errorf("content %q", got)
	}
	if zr.File[1].Method != zip.Deflate {
		t.Errorf("method %d, want deflate", zr.File[1].Method)
	}
}

func TestParseArgsRejects(t *testing.T) {
	for _, arg := range []string{
		"noequals",
		"=path",
		"name=",
		"../escape=x",
		"/abs=x",
		"a//b=x",
		"dir/=x",
		".=x",
	} {
		if _, err := ParseArgs([]string{arg}); err == nil {
			t.Errorf("ParseArgs(%q) accepted", arg)
		}
	}
	if _, err := ParseArgs([]string{"a=x", "a=y"}); err == nil {
		t.Error("duplicate name accepted")
	}
	if _, err := ParseArgs([]string{"bootstrap=x", "extensions/kinko=y"}); err != nil {
		t.Errorf("valid args refused: %v", err)
	}
}

func TestWriteRefusesFileDirClash(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "f")
	writeFile(t, src, "x", 0o755, time.Now())
	var buf bytes.Buffer
	if err := Write(t.Context(), &buf, []Entry{{"a", src}, {"a/b", src}}, nil); err == nil {
		t.Fatal("file a and directory a/ both accepted")
	}
	if err := Write(t.Context(), &buf, []Entry{{"dir", dir}}, nil); err == nil {
		t.Fatal("a directory as source accepted")
	}
}

func TestRunWritesOutput(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "bootstrap")
	writeFile(t, src, "fn", 0o755, time.Now())
	out := filepath.Join(dir, "function.zip")
	if err := run(t.Context(), out, "", DefaultZopfliIterations, []string{"bootstrap=" + src}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("zip mode %v, want 0644", st.Mode().Perm())
	}
	// A failed run leaves neither the target nor a temporary file behind.
	bad := filepath.Join(dir, "bad.zip")
	if err := run(t.Context(), bad, "", DefaultZopfliIterations, []string{"bootstrap=" + filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("missing source accepted")
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 2 { // bootstrap and function.zip
		t.Errorf("left behind: %v", left)
	}
}

// zopfliOrSkip is the zopfli Deflater, or a skip saying how to run these tests.
func zopfliOrSkip(t *testing.T) Deflater {
	t.Helper()
	d, err := Zopfli("zopfli", DefaultZopfliIterations)
	if err != nil {
		t.Skipf("the -zopfli path is not tested here: %v", err)
	}
	return d
}

// sampleTree writes files like the layer's: a binary-ish one big enough for zopfli to work on,
// a small text one under a directory, and an empty one.
func sampleTree(t *testing.T) (map[string][]byte, []Entry) {
	t.Helper()
	dir := t.TempDir()
	var bin bytes.Buffer
	for i := range 20000 { // compressible, not trivially: numbers and a counter
		fmt.Fprintf(&bin, "%08x:%d\x00\x01", uint32(i)*2654435761, i%97)
	}
	want := map[string][]byte{
		"extensions/kinko":          bin.Bytes(),
		"python/kinko/__init__.py":  []byte("from .client import get_secret\n"),
		"python/kinko/py.typed":     {},
		"nodejs/node_modules/k.txt": []byte("x"),
	}
	var entries []Entry
	for name, content := range want {
		src := filepath.Join(dir, strings.ReplaceAll(name, "/", "_"))
		writeFile(t, src, string(content), 0o644, time.Now())
		entries = append(entries, Entry{name, src})
	}
	return want, entries
}

func zipWith(t *testing.T, entries []Entry, d Deflater) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(t.Context(), &buf, entries, d); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestZopfliIsDeterministic(t *testing.T) {
	d := zopfliOrSkip(t)
	_, entries := sampleTree(t)
	first := zipWith(t, entries, d)
	slices.Reverse(entries)
	if second := zipWith(t, entries, d); !bytes.Equal(first, second) {
		t.Fatal("two zopfli runs over the same files gave different zips")
	}
	if flateZip := zipWith(t, entries, nil); bytes.Equal(first, flateZip) {
		t.Fatal("-zopfli wrote the same bytes as Go's flate: zopfli was not used")
	}
}

// Every entry of a zopfli zip reads back (Go's archive/zip, unzip -t, Python's zipfile) as the
// input, with the right CRC, and with the metadata a Go-flate zip has.
func TestZopfliEntriesInflateToTheInput(t *testing.T) {
	d := zopfliOrSkip(t)
	want, entries := sampleTree(t)
	raw := zipWith(t, entries, d)
	ref := zipWith(t, entries, nil)
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	refr, err := zip.NewReader(bytes.NewReader(ref), int64(len(ref)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != len(refr.File) {
		t.Fatalf("%d entries, Go's flate zip has %d", len(zr.File), len(refr.File))
	}
	files := 0
	for i, f := range zr.File {
		r := refr.File[i]
		if f.Name != r.Name || f.Mode() != r.Mode() || f.CreatorVersion != r.CreatorVersion || f.ReaderVersion != r.ReaderVersion ||
			f.ModifiedDate != r.ModifiedDate || f.ModifiedTime != r.ModifiedTime || !bytes.Equal(f.Extra, r.Extra) || f.Method != r.Method {
			t.Errorf("entry %d: %s %v creator %#x reader %d date %d time %d extra %x method %d; Go's flate zip: %s %v %#x %d %d %d %x %d",
				i, f.Name, f.Mode(), f.CreatorVersion, f.ReaderVersion, f.ModifiedDate, f.ModifiedTime, f.Extra, f.Method,
				r.Name, r.Mode(), r.CreatorVersion, r.ReaderVersion, r.ModifiedDate, r.ModifiedTime, r.Extra, r.Method)
		}
		if !f.Modified.Equal(epoch) {
			t.Errorf("%s: modified %v, want %v", f.Name, f.Modified, epoch)
		}
		if f.Mode().IsDir() {
			continue
		}
		files++
		content, ok := want[f.Name]
		if !ok {
			t.Errorf("unexpected entry %s", f.Name)
			continue
		}
		if f.Mode() != 0o755 || f.Method != zip.Deflate {
			t.Errorf("%s: mode %v method %d, want 0755 and Deflate", f.Name, f.Mode(), f.Method)
		}
		if f.CRC32 != crc32.ChecksumIEEE(content) || f.UncompressedSize64 != uint64(len(content)) {
			t.Errorf("%s: CRC %08x size %d, want %08x %d", f.Name, f.CRC32, f.UncompressedSize64, crc32.ChecksumIEEE(content), len(content))
		}
		rc, err := f.Open() // the reader checks the CRC at EOF
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("%s: read %d bytes (%v), want the input's %d", f.Name, len(got), err, len(content))
		}
	}
	if files != len(want) {
		t.Errorf("%d files in the zip, want %d", files, len(want))
	}

	path := filepath.Join(t.TempDir(), "layer.zip")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("unzip -t", func(t *testing.T) {
		if _, err := exec.LookPath("unzip"); err != nil {
			t.Skip("no unzip")
		}
		if out, err := exec.Command("unzip", "-t", path).CombinedOutput(); err != nil || !strings.Contains(string(out), "No errors detected") {
			t.Errorf("unzip -t: %v\n%s", err, out)
		}
	})
	t.Run("python zipfile", func(t *testing.T) {
		if _, err := exec.LookPath("python3"); err != nil {
			t.Skip("no python3")
		}
		// testzip reads every entry and checks its CRC; None is no bad entry.
		out, err := exec.Command("python3", "-c", "import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).testzip())", path).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "None" {
			t.Errorf("python zipfile: %v\n%s", err, out)
		}
	})
}

// A compressor whose output is not the file (broken, or the file changed under it) fails the
// zip instead of shipping it.
func TestWriteRefusesADeflateThatIsNotTheFile(t *testing.T) {
	_, entries := sampleTree(t)
	deflateOf := func(b []byte) []byte {
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
		fw.Write(b)
		fw.Close()
		return buf.Bytes()
	}
	for name, d := range map[string]Deflater{
		"other content": func(context.Context, string) ([]byte, error) { return deflateOf([]byte("not the file")), nil },
		"not deflate":   func(context.Context, string) ([]byte, error) { return []byte("PK\x03\x04garbage"), nil },
		"nothing":       func(context.Context, string) ([]byte, error) { return nil, nil },
		"an error":      func(context.Context, string) ([]byte, error) { return nil, errors.New("zopfli: killed") },
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(t.Context(), &buf, entries, d); err == nil {
				t.Fatal("a deflate stream that is not the file was stored")
			}
		})
	}
	// The same check passes an honest compressor: it reads the file it is given.
	honest := func(_ context.Context, src string) ([]byte, error) {
		b, err := os.ReadFile(src)
		return deflateOf(b), err
	}
	zipWith(t, entries, honest)
}

func TestZopfliRefusesBadSetup(t *testing.T) {
	if _, err := Zopfli(filepath.Join(t.TempDir(), "zopfli"), 1); err == nil || !strings.Contains(err.Error(), "apt-get install zopfli") {
		t.Errorf("a missing zopfli: %v, want an error saying how to install it", err)
	}
	if _, err := Zopfli("zopfli", 0); err == nil {
		t.Error("zero iterations accepted")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "bootstrap")
	writeFile(t, src, "fn", 0o755, time.Now())
	out := filepath.Join(dir, "function.zip")
	if err := run(t.Context(), out, filepath.Join(dir, "no-zopfli"), 1, []string{"bootstrap=" + src}); err == nil {
		t.Error("run with a missing -zopfli succeeded")
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("run with a missing -zopfli left %s: %v", out, err)
	}
}

// run -zopfli writes the same zip as Write with the zopfli Deflater: the flag reaches it.
func TestRunWithZopfli(t *testing.T) {
	d := zopfliOrSkip(t)
	_, entries := sampleTree(t)
	var args []string
	for _, e := range entries {
		args = append(args, e.Name+"="+e.Src)
	}
	out := filepath.Join(t.TempDir(), "layer.zip")
	if err := run(t.Context(), out, "zopfli", DefaultZopfliIterations, args); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, zipWith(t, entries, d)) {
		t.Error("mkzip -zopfli wrote other bytes than Write with zopfli")
	}
}
