package main

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	if err := Write(&buf, entries); err != nil {
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
	if err := Write(&buf, []Entry{{"a", src}, {"a/b", src}}); err == nil {
		t.Fatal("file a and directory a/ both accepted")
	}
	if err := Write(&buf, []Entry{{"dir", dir}}); err == nil {
		t.Fatal("a directory as source accepted")
	}
}

func TestRunWritesOutput(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "bootstrap")
	writeFile(t, src, "fn", 0o755, time.Now())
	out := filepath.Join(dir, "function.zip")
	if err := run(out, []string{"bootstrap=" + src}); err != nil {
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
	if err := run(bad, []string{"bootstrap=" + filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("missing source accepted")
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 2 { // bootstrap and function.zip
		t.Errorf("left behind: %v", left)
	}
}
