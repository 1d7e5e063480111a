package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makeImage runs the repository's `make image` with dist and build in dir.
func makeImage(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "make", "-C", "../../..", "image",
		"DIST="+filepath.Join(dir, "dist"), "BUILD="+filepath.Join(dir, "build"))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MAKE") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	return filepath.Join(dir, "dist")
}

// What the Makefile builds is what the contract asks for, and two builds from scratch (their
// own dist/ and build/) write the same layout, byte for byte: the same digest. The binaries in
// the image are the ones `make image` built beside it (the release's kinko-linux-*), static.
func TestMakeImageReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kinko for two architectures, twice")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	if err := exec.Command("git", "-C", "../../..", "rev-parse", "HEAD").Run(); err != nil {
		t.Skipf("not a git checkout (the image is dated by the commit): %v", err)
	}
	a, b := makeImage(t, t.TempDir()), makeImage(t, t.TempDir())
	fa, fb := files(t, filepath.Join(a, "image")), files(t, filepath.Join(b, "image"))
	for name, content := range fa {
		if !bytes.Equal(content, fb[name]) {
			t.Errorf("%s differs between two runs of make image", name)
		}
	}
	if len(fa) != len(fb) {
		t.Errorf("two runs of make image wrote %d and %d files", len(fa), len(fb))
	}
	la, lb := validate(t, filepath.Join(a, "image")), validate(t, filepath.Join(b, "image"))
	if la.digest != lb.digest {
		t.Errorf("two runs of make image: digests %s and %s", la.digest, lb.digest)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		img, ok := la.images["linux/"+arch]
		if !ok {
			t.Errorf("no linux/%s image", arch)
			continue
		}
		built, err := os.ReadFile(filepath.Join(a, "kinko-linux-"+arch))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(img.files[BinaryPath].data, built) {
			t.Errorf("linux/%s: %s in the image is not dist/kinko-linux-%s", arch, BinaryPath, arch)
		}
		if err := checkStatic(platform{OS: "linux", Arch: arch, binary: "kinko-linux-" + arch}, built); err != nil {
			t.Errorf("linux/%s: %v", arch, err)
		}
		if _, err := os.Stat(filepath.Join(a, "kinko-linux-"+arch+".cdx.json")); err != nil {
			t.Errorf("no SBOM beside the linux/%s binary: %v", arch, err)
		}
	}
}
