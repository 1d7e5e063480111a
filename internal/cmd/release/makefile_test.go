package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// dryRun prints what make would run for target (make -n) in the repository.
func dryRun(t *testing.T, target string, vars ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-n", "-C", "../../..", target}, vars...)...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MAKE") && !strings.HasPrefix(kv, "SIGNING_") && !strings.HasPrefix(kv, "VULNDB_") && !strings.HasPrefix(kv, "ZOPFLI") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n %s: %v\n%s", target, err, out)
	}
	return string(out)
}

func mustContain(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s: want %q in\n%s", what, w, out)
		}
	}
}

// lineWith is the one line of out that holds want (a make -n recipe line, its continuations joined).
func lineWith(t *testing.T, out, want string) string {
	t.Helper()
	var found []string
	for l := range strings.Lines(strings.ReplaceAll(out, "\\\n", "")) {
		if strings.Contains(l, want) {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one line with %q, got %d in\n%s", want, len(found), out)
	}
	return found[0]
}

// The Makefile wires the tools together as the README and SECURITY.md say.
func TestMakefileWiring(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	epoch, err := exec.Command("git", "log", "-1", "--format=%ct").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}

	// make layer: an SBOM of each binary beside the zips, dated by the commit.
	layer := dryRun(t, "layer")
	for _, arch := range []string{"arm64", "x86_64"} {
		mustContain(t, "make layer", layer,
			"SOURCE_DATE_EPOCH="+strings.TrimSpace(string(epoch))+" build/sbom -o dist/kinko-layer-"+arch+".kinko.cdx.json -name kinko",
			"-o dist/kinko-layer-"+arch+".kinko-exec.cdx.json -name kinko-exec",
			"dist/"+arch+"/extensions/kinko", "dist/kinko-layer-"+arch+".zip",
			// The shipped zips are zopfli's (layer/mkzip -zopfli), after a check that says how to get it.
			`command -v "zopfli" >/dev/null || { echo "dist/kinko-layer-`+arch+`.zip: zopfli (ZOPFLI=zopfli) not found`,
			`build/mkzip -zopfli "zopfli" -o dist/kinko-layer-`+arch+`.zip extensions/kinko=`)
	}
	mustContain(t, "make function", dryRun(t, "function", "ARCH=x86_64"), `build/mkzip -zopfli "zopfli" -o dist/function-x86_64.zip bootstrap=`)
	// ZOPFLI= is Go's flate, for experiments: said, and refused for a release.
	mustContain(t, "make layer ZOPFLI=", dryRun(t, "layer", "ZOPFLI="), "build/mkzip  -o dist/kinko-layer-arm64.zip", "not the release's bytes")
	// make demo's layer never leaves the machine: Go's flate, no zopfli needed, no half minute.
	if demo := dryRun(t, "demo"); !strings.Contains(demo, "build/mkzip  -o dist/kinko-layer-") || strings.Contains(demo, "-zopfli") {
		t.Errorf("make demo: want its layer zip made with Go's flate:\n%s", demo)
	}
	cmd := exec.Command("make", "-n", "-C", "../../..", "release", "ZOPFLI=")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "make release builds the zips with zopfli") {
		t.Errorf("make release ZOPFLI=: %v, want a refusal saying the zips are zopfli's:\n%s", err, out)
	}

	// make image: kinko for outside Lambda, built as the layer's is (static, no paths, no build
	// id, the same compiler flags) but without the layer's build tags, for both architectures;
	// an SBOM of each, dated by the commit; the OCI layout from both, dated by the commit too.
	image := dryRun(t, "image")
	for _, arch := range []string{"amd64", "arm64"} {
		build := lineWith(t, image, "-o dist/kinko-linux-"+arch+" ./extension")
		mustContain(t, "make image", build, "GOARCH="+arch, "CGO_ENABLED=0", "GOOS=linux", "-trimpath", `-ldflags "-s -w -buildid= -X main.version=`, "-gcflags=all=-l")
		if strings.Contains(build, "-tags") {
			t.Errorf("make image builds kinko with build tags; the image's binary is the build without the layer's tags:\n%s", build)
		}
		mustContain(t, "make image", image,
			"SOURCE_DATE_EPOCH="+strings.TrimSpace(string(epoch))+" build/sbom -o dist/kinko-linux-"+arch+".cdx.json -name kinko",
			"linux/"+arch+"=dist/kinko-linux-"+arch)
	}
	mustContain(t, "make image", lineWith(t, image, "./internal/cmd/image"), "SOURCE_DATE_EPOCH="+strings.TrimSpace(string(epoch)), "-o dist/image", "-version ")

	// make test ends with the vulnerability check, which skips rather than fails without a database,
	// against a fixed copy of the database (CI's verdict must not change with the day); make
	// vulncheck alone asks for the newest.
	test := dryRun(t, "test")
	mustContain(t, "make test", test, "go run ./internal/cmd/vulncheck -vulndb-version v0.0.0-", "./extension ./extension/kinko-exec ./function")
	if strings.Contains(test, "-vulndb-version latest") {
		t.Errorf("make test must check against a pinned database, not the newest:\n%s", test)
	}
	mustContain(t, "make vulncheck", dryRun(t, "vulncheck"), "-vulndb-version latest")
	if strings.Contains(test, "-require") {
		t.Errorf("make test must skip, not fail, without a vulnerability database:\n%s", test)
	}
	mustContain(t, "make vulncheck VULNDB_DIR=...", dryRun(t, "vulncheck", "VULNDB_DIR=/srv/vulndb"), `-db "/srv/vulndb"`)

	// make release: the check must run, then the sums, provenance and notes over all six files.
	release := dryRun(t, "release")
	mustContain(t, "make release", release, "-require ./extension", "go run ./internal/cmd/release -dist dist",
		"-input go.mod -input go.sum -input layer/kinko.gcflags -input Makefile", `-tool "zopfli=`, "release-zopfli: zopfli (ZOPFLI=zopfli) not found",
		"kinko-layer-arm64.zip kinko-layer-arm64.kinko.cdx.json kinko-layer-arm64.kinko-exec.cdx.json kinko-layer-x86_64.zip kinko-layer-x86_64.kinko.cdx.json kinko-layer-x86_64.kinko-exec.cdx.json",
		"kinko-linux-amd64 kinko-linux-amd64.cdx.json kinko-linux-arm64 kinko-linux-arm64.cdx.json")

	// benchstat: pinned, hash-checked; never @latest.
	bench := dryRun(t, "bench")
	mustContain(t, "make bench", bench, "go run ./internal/cmd/gotool -dir build/tools -module golang.org/x/perf -sum h1:", "benchstat@v0.0.0-")
	if strings.Contains(bench, "@latest") {
		t.Errorf("make bench installs something at @latest:\n%s", bench)
	}

	// publish-layer: the version into the description; signing only with a profile.
	pub := dryRun(t, "publish-layer", "REGIONS=us-east-1")
	mustContain(t, "make publish-layer", pub, "-version ")
	if strings.Contains(pub, "-signing-profile") {
		t.Errorf("publish-layer signs without SIGNING_PROFILE:\n%s", pub)
	}
	mustContain(t, "make publish-layer SIGNING_PROFILE=...", dryRun(t, "publish-layer", "REGIONS=us-east-1", "SIGNING_PROFILE=kinko_release", "SIGNING_BUCKET=kinko-{region}"),
		`-signing-profile "kinko_release" -signing-bucket "kinko-{region}"`)
}
