// Package vulndb builds a local copy of Go's vulnerability database, in the layout govulncheck
// reads with `-db file:///DIR` (https://go.dev/security/vuln/database#api):
//
//	DIR/index/db.json       {"modified": "..."}: when the copy was last changed
//	DIR/index/modules.json  [{"path": MODULE, "vulns": [{"id": ID, "modified": ...}]}]
//	DIR/ID/GO-YYYY-NNNN.json  one OSV entry each
//
// from a directory of OSV entries, such as data/osv of the golang.org/x/vulndb module, which
// the Go module proxy serves like any module. That module's entries carry no modification
// time (the public database sets it from the repository's history when it publishes), so the
// copy is dated by the module version's commit time.
package vulndb

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// entry is the part of an OSV entry the index needs.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Affected []struct {
		Package struct {
			Name      string `json:"name"`
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

type moduleIndex struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

// Stats says what Build wrote.
type Stats struct {
	Entries  int
	Modules  int
	Modified time.Time
}

var idRe = regexp.MustCompile(`^GO-\d{4}-\d{4,}$`)

// Build reads every GO-*.json OSV entry in src and writes the database into dst (which must
// not exist yet, or be empty), dated modified. Entries are copied byte for byte; the index
// leaves out each vulnerability's "fixed" version, an optimisation the client does without
// (it then reads the entry and matches the version ranges itself).
func Build(src, dst string, modified time.Time) (Stats, error) {
	files, err := filepath.Glob(filepath.Join(src, "GO-*.json"))
	if err != nil {
		return Stats{}, err
	}
	if len(files) == 0 {
		return Stats{}, fmt.Errorf("%s holds no GO-*.json OSV entries", src)
	}
	if err := os.MkdirAll(filepath.Join(dst, "ID"), 0o755); err != nil {
		return Stats{}, err
	}
	if err := os.MkdirAll(filepath.Join(dst, "index"), 0o755); err != nil {
		return Stats{}, err
	}
	modules := map[string][]moduleVuln{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return Stats{}, err
		}
		var e entry
		if err := json.Unmarshal(b, &e); err != nil {
			return Stats{}, fmt.Errorf("%s: not an OSV entry: %w", f, err)
		}
		if !idRe.MatchString(e.ID) || filepath.Base(f) != e.ID+".json" {
			return Stats{}, fmt.Errorf("%s: id %q does not match the file name", f, e.ID)
		}
		if e.Modified.IsZero() {
			e.Modified = modified
		}
		seen := map[string]bool{}
		for _, a := range e.Affected {
			m := a.Package.Name
			if a.Package.Ecosystem != "Go" || m == "" || seen[m] {
				continue
			}
			seen[m] = true
			modules[m] = append(modules[m], moduleVuln{ID: e.ID, Modified: e.Modified.UTC()})
		}
		if err := os.WriteFile(filepath.Join(dst, "ID", e.ID+".json"), b, 0o644); err != nil {
			return Stats{}, err
		}
	}
	index := make([]moduleIndex, 0, len(modules))
	for path, vulns := range modules {
		slices.SortFunc(vulns, func(a, b moduleVuln) int { return strings.Compare(a.ID, b.ID) })
		index = append(index, moduleIndex{Path: path, Vulns: vulns})
	}
	slices.SortFunc(index, func(a, b moduleIndex) int { return strings.Compare(a.Path, b.Path) })
	if err := writeJSON(filepath.Join(dst, "index", "modules.json"), index); err != nil {
		return Stats{}, err
	}
	if err := writeJSON(filepath.Join(dst, "index", "db.json"), map[string]time.Time{"modified": modified.UTC()}); err != nil {
		return Stats{}, err
	}
	return Stats{Entries: len(files), Modules: len(index), Modified: modified.UTC()}, nil
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Modified reads when the database in dir was last changed (its index/db.json), so a copy made
// elsewhere (an unpacked vuln.go.dev zip, say) can be used and its age reported.
func Modified(dir string) (time.Time, error) {
	b, err := os.ReadFile(filepath.Join(dir, "index", "db.json"))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is not a Go vulnerability database (no index/db.json): %w", dir, err)
	}
	var meta struct {
		Modified time.Time `json:"modified"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return time.Time{}, fmt.Errorf("%s/index/db.json: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index", "modules.json")); err != nil {
		return time.Time{}, fmt.Errorf("%s is not a Go vulnerability database (no index/modules.json): %w", dir, err)
	}
	return meta.Modified, nil
}
