// Command vulncheck runs govulncheck (golang.org/x/vuln, at the version and hash pinned below)
// over the packages of the binaries kinko ships, against a local copy of Go's vulnerability
// database, and says how old that copy is. `make vulncheck` runs it, and `make test` with it.
//
//	go run ./internal/cmd/vulncheck [-db DIR | -vulndb-version latest] [-require] \
//	    -tags lambda.norpc ./extension ./extension/kinko-exec ./function
//
// The database: with -db, a copy already made (the layout govulncheck reads: index/db.json,
// index/modules.json, ID/*.json). Otherwise it is built (internal/vulndb) from the module
// golang.org/x/vulndb, which the Go module proxy serves: -vulndb-version (default latest) through
// GOPROXY, else, without network, the newest version in the local module cache.
//
// Outcomes: exit 0 when govulncheck finds no vulnerability the code can reach (a vulnerable
// module or package that is present but whose vulnerable functions are never called is listed by
// govulncheck and does not fail); exit 1 when it finds one, or on any error; exit 0 with a line
// starting "vulncheck: SKIP:" when there is no database (or no govulncheck) to be had, unless
// -require makes that a failure too.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kinko-dev/kinko/internal/gotool"
	"github.com/kinko-dev/kinko/internal/vulndb"
)

// govulncheck, pinned: the version and its module's go.sum hash (`go mod download -json
// golang.org/x/vuln@VERSION` prints it). internal/gotool refuses a module that hashes otherwise.
const (
	govulncheckModule  = "golang.org/x/vuln"
	govulncheckVersion = "v1.10.0"
	govulncheckSum     = "h1:W/Im35AGknunDiqBysVe9VoMfaeTJE7lptrD+1s//aE="
)

const (
	vulndbModule = "golang.org/x/vulndb"
	// staleAfter: Go's database gets new entries every week or two; a copy older than this
	// probably misses some, and the report says so.
	staleAfter = 30 * 24 * time.Hour
	// downloadTimeout bounds the attempt through GOPROXY before falling back to the cache.
	downloadTimeout = 5 * time.Minute
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], deps{environ: os.Environ(), now: time.Now, stdout: os.Stdout, stderr: os.Stderr}))
}

// deps are what run takes from the process: the environment the go command and govulncheck run
// with, the clock that dates the database, and where the report goes.
type deps struct {
	environ        []string
	now            func() time.Time
	stdout, stderr io.Writer
}

type options struct {
	db, vulndbVersion, out, tools, tags, dir string
	arches, pkgs                             []string
	require                                  bool
}

func parse(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("vulncheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var arches string
	fs.StringVar(&o.db, "db", "", "a Go vulnerability database already on disk (index/db.json, index/modules.json, ID/); default: build one from "+vulndbModule)
	fs.StringVar(&o.vulndbVersion, "vulndb-version", "latest", "the version of "+vulndbModule+" to build the database from")
	fs.StringVar(&o.out, "out", "build/vulndb", "where built databases are kept, one directory per vulndb version")
	fs.StringVar(&o.tools, "tools", "build/tools", "where govulncheck is installed")
	fs.StringVar(&o.tags, "tags", "", "build tags, as for go build")
	fs.StringVar(&arches, "goarch", "arm64,amd64", "the architectures to check (GOOS is linux: Lambda's)")
	fs.StringVar(&o.dir, "C", "", "run in this directory (the module holding the packages)")
	fs.BoolVar(&o.require, "require", false, "fail, rather than skip, when no database or no govulncheck can be had")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.pkgs = fs.Args()
	if len(o.pkgs) == 0 {
		return o, errors.New("name the packages to check, e.g. ./extension ./extension/kinko-exec")
	}
	o.arches = strings.FieldsFunc(arches, func(r rune) bool { return r == ',' || r == ' ' })
	if len(o.arches) == 0 {
		return o, errors.New("-goarch: name at least one architecture")
	}
	if o.vulndbVersion == "" {
		return o, errors.New("-vulndb-version: want latest or a version of " + vulndbModule)
	}
	return o, nil
}

func run(ctx context.Context, args []string, d deps) int {
	o, err := parse(args, d.stderr)
	if err != nil {
		fmt.Fprintln(d.stderr, "vulncheck:", err)
		return 2
	}
	say := func(format string, a ...any) { fmt.Fprintf(d.stdout, "vulncheck: "+format+"\n", a...) }
	skip := func(why string) int {
		if o.require {
			fmt.Fprintf(d.stderr, "vulncheck: FAIL: %s (-require: a release needs the check)\n", why)
			return 1
		}
		say("SKIP: %s", why)
		return 0
	}

	db, err := database(ctx, o, d, say)
	if err != nil {
		var na *notAvailable
		if errors.As(err, &na) {
			return skip("no Go vulnerability database at hand: " + na.Error() + ". With access to the Go module proxy it is built from " +
				vulndbModule + "; offline, pass VULNDB_DIR=DIR (make vulncheck) with a copy of the database (index/db.json, index/modules.json, ID/)")
		}
		fmt.Fprintln(d.stderr, "vulncheck:", err)
		return 1
	}
	age := d.now().Sub(db.modified)
	say("database %s, last changed %s (%s old)", db.source, db.modified.Format("2006-01-02"), days(age))
	if age > staleAfter {
		say("WARNING: the database is over %s old: vulnerabilities published since are not checked for", days(staleAfter))
	}

	tool, err := gotool.Parse(govulncheckModule+"/cmd/govulncheck@"+govulncheckVersion, govulncheckModule, govulncheckSum)
	if err != nil {
		fmt.Fprintln(d.stderr, "vulncheck:", err)
		return 1
	}
	bin, err := gotool.Installer{Env: d.environ, Dir: o.tools}.Install(ctx, tool)
	if errors.Is(err, gotool.ErrUnavailable) {
		return skip(fmt.Sprintf("govulncheck %s cannot be had (no module proxy, not in the module cache): %v", govulncheckVersion, err))
	}
	if err != nil {
		fmt.Fprintln(d.stderr, "vulncheck:", err)
		return 1
	}

	var found []string
	for _, arch := range o.arches {
		args := []string{"-db", "file://" + db.dir}
		if o.tags != "" {
			args = append(args, "-tags", o.tags)
		}
		cmd := exec.CommandContext(ctx, bin, append(args, o.pkgs...)...)
		cmd.Dir = o.dir
		cmd.Env = append(append([]string{}, d.environ...), "GOOS=linux", "GOARCH="+arch)
		cmd.Stdout, cmd.Stderr = d.stdout, d.stderr
		say("govulncheck %s, linux/%s: %s", govulncheckVersion, arch, strings.Join(o.pkgs, " "))
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit) && exit.ExitCode() == 3: // govulncheck: vulnerabilities that the code reaches
			found = append(found, "linux/"+arch)
		default:
			fmt.Fprintf(d.stderr, "vulncheck: govulncheck (linux/%s) failed: %v\n", arch, err)
			return 1
		}
	}
	if len(found) > 0 {
		fmt.Fprintf(d.stderr, "vulncheck: FAIL: the code reaches the vulnerabilities listed above (%s). Upgrade the module to its "+
			"\"Fixed in\" version, or for the standard library the Go toolchain (GOTOOLCHAIN in the Makefile)\n", strings.Join(found, ", "))
		return 1
	}
	say("no vulnerability reachable from %s", strings.Join(o.pkgs, " "))
	return 0
}

// days formats a duration in whole days.
func days(d time.Duration) string {
	n := int(d / (24 * time.Hour))
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

type db struct {
	dir      string // absolute
	source   string
	modified time.Time
}

// notAvailable is a database that cannot be had here: a reason to skip, not to fail.
type notAvailable struct{ reason string }

func (e *notAvailable) Error() string { return e.reason }

func database(ctx context.Context, o options, d deps, say func(string, ...any)) (db, error) {
	if o.db != "" {
		abs, err := filepath.Abs(o.db)
		if err != nil {
			return db{}, err
		}
		mod, err := vulndb.Modified(abs)
		if err != nil {
			return db{}, err
		}
		return db{dir: abs, source: abs, modified: mod}, nil
	}
	m, err := downloadModule(ctx, d.environ, o.vulndbVersion, say)
	if err != nil {
		return db{}, err
	}
	dir, err := filepath.Abs(filepath.Join(o.out, m.Version))
	if err != nil {
		return db{}, err
	}
	source := fmt.Sprintf("%s@%s", vulndbModule, m.Version)
	if mod, err := vulndb.Modified(dir); err == nil { // built on an earlier run
		return db{dir: dir, source: source, modified: mod}, nil
	}
	osvDir := filepath.Join(m.Dir, "data", "osv")
	if _, err := os.Stat(osvDir); err != nil {
		return db{}, &notAvailable{fmt.Sprintf("%s has no data/osv directory to build the database from", source)}
	}
	// Built beside its final place and renamed, so an interrupted run leaves no half database.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return db{}, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".vulndb-*")
	if err != nil {
		return db{}, err
	}
	defer os.RemoveAll(tmp)
	st, err := vulndb.Build(osvDir, tmp, m.Time)
	if err != nil {
		return db{}, fmt.Errorf("build the database from %s: %w", source, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return db{}, err
	}
	say("built %s from %s: %d entries for %d modules", dir, source, st.Entries, st.Modules)
	return db{dir: dir, source: source, modified: st.Modified}, nil
}

type module struct {
	Version, Dir string
	Time         time.Time
}

// downloadModule fetches golang.org/x/vulndb@query through GOPROXY; failing that, it asks the
// local module cache alone (as a file:// proxy), which answers "latest" with the newest version
// it holds. Those files were checked against the checksum database when they were downloaded.
func downloadModule(ctx context.Context, environ []string, query string, say func(string, ...any)) (module, error) {
	online, cancel := context.WithTimeout(ctx, downloadTimeout)
	defer cancel()
	m, firstErr := goModDownload(online, environ, vulndbModule+"@"+query)
	if firstErr == nil {
		return m, nil
	}
	cache, err := goEnv(ctx, environ, "GOMODCACHE")
	if err != nil || cache == "" {
		return module{}, &notAvailable{fmt.Sprintf("%s@%s: %v (and no module cache: %v)", vulndbModule, query, firstErr, err)}
	}
	offline := append(append([]string{}, environ...), "GOPROXY=file://"+filepath.ToSlash(filepath.Join(cache, "cache", "download")), "GOSUMDB=off")
	m, err = goModDownload(ctx, offline, vulndbModule+"@"+query)
	if err != nil {
		return module{}, &notAvailable{fmt.Sprintf("%s@%s through GOPROXY: %v; not in the module cache either", vulndbModule, query, firstErr)}
	}
	say("the module proxy did not answer (%v); using the copy in the module cache", firstErr)
	return m, nil
}

func goModDownload(ctx context.Context, environ []string, spec string) (module, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", spec)
	cmd.Env, cmd.Dir = environ, os.TempDir() // outside any module: go.mod has no say
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct{ Version, Dir, Info, Error string }
	_ = json.Unmarshal(stdout.Bytes(), &info)
	if runErr != nil || info.Error != "" || info.Dir == "" {
		msg := strings.TrimSpace(info.Error + " " + stderr.String())
		if msg == "" && runErr != nil {
			msg = runErr.Error()
		}
		return module{}, errors.New(firstLine(msg))
	}
	b, err := os.ReadFile(info.Info)
	if err != nil {
		return module{}, err
	}
	var meta struct{ Time time.Time }
	if err := json.Unmarshal(b, &meta); err != nil || meta.Time.IsZero() {
		return module{}, fmt.Errorf("%s: no time in %s", spec, info.Info)
	}
	return module{Version: info.Version, Dir: info.Dir, Time: meta.Time.UTC()}, nil
}

func goEnv(ctx context.Context, environ []string, key string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "env", key)
	cmd.Env = environ
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
