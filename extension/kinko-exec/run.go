package main

import (
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
	"github.com/kinko-dev/kinko/extension/internal/reference"
)

// limits bound every wait. kinko answers a request it has no value for within 5 s even while AWS
// hangs (CONTRACT.md section 4), so Total leaves room for that answer, which names the reason,
// and still ends well inside Lambda's 10 s init.
type limits struct {
	Total   time.Duration // for all references together
	Refused time.Duration // how long a refused connection is retried: kinko may still be binding
	Backoff time.Duration // first wait after a refused connection, doubling to 100 ms
}

var defaultLimits = limits{Total: 7 * time.Second, Refused: 2 * time.Second, Backoff: 2 * time.Millisecond}

// Exit codes: 1 a reference was not resolved; 2 bad usage; 126/127 as a shell's exec.
const (
	exitUnresolved = 1
	exitUsage      = 2
	exitCannotRun  = 126
	exitNotFound   = 127
)

// maxParallel bounds the requests in flight at once (kinko caps its own upstream calls too).
const maxParallel = 8

type execFunc func(path string, argv, env []string) error

// use is one variable whose value is a reference.
type use struct {
	index int // into env
	name  string
	ref   reference.Reference
}

// run resolves the references in environ and execs args[1:] with the result. It returns only
// when it did not exec: the exit code, after one line per problem on stderr.
func run(args, environ []string, stderr io.Writer, exec execFunc, lim limits) int {
	if len(args) < 2 {
		say(stderr, "no command to run: set AWS_LAMBDA_EXEC_WRAPPER=/opt/kinko-exec (managed runtimes), "+
			"or end an OS-only runtime's bootstrap with `exec /opt/kinko-exec ./real-bootstrap`")
		return exitUsage
	}
	env := append([]string(nil), environ...)
	var uses []use
	var problems []string
	for i, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if !reference.Is(value) {
			continue
		}
		r, err := reference.Parse(value)
		if err != nil {
			problems = append(problems, name+": "+err.Error())
			continue
		}
		uses = append(uses, use{i, name, r})
	}

	if len(uses) > 0 {
		c, err := newClient(environ, lim)
		// The same rule as kinko's (package lambda, snapstart.go): config names the init type.
		if lookup(environ, "AWS_LAMBDA_INITIALIZATION_TYPE") == config.InitSnapStart {
			// The environment is part of the snapshot, restored into many sandboxes, maybe days
			// later: no secret value may cross it (CONTRACT.md section 2). KINKO_SNAPSTART_INIT_READS=
			// allow does not change that: a value in the environment is never read again, so every
			// sandbox of the version would keep it until a new version is published.
			err = errorString("SnapStart would save the value in the snapshot: read it over HTTP after the restore instead of from the environment " +
				"(KINKO_SNAPSTART_INIT_READS=allow does not apply to references: the environment is never read again after the restore)")
		}
		// replace is what each resolved reference's variable becomes: one entry, or a path's
		// parameters, one variable each, in its place.
		replace := map[int][]string{}
		taken := names(env, uses)
		results := map[reference.Reference]result{}
		if err == nil {
			unique := make([]reference.Reference, 0, len(uses))
			for _, u := range uses {
				if _, ok := results[u.ref]; !ok {
					results[u.ref] = result{}
					unique = append(unique, u.ref)
				}
			}
			resolved := c.resolveAll(unique)
			for i, r := range unique {
				results[r] = resolved[i]
			}
		}
		for _, u := range uses {
			res := results[u.ref]
			switch {
			case err != nil:
				problems = append(problems, u.name+": "+err.Error())
			case res.err != nil:
				// kinko names the id at the head of an error AWS answered (kinko.Request.Describe);
				// this line names it first.
				msg := strings.Replace(res.err.Error(), u.ref.Request().Describe()+": ", "", 1)
				problems = append(problems, u.name+": "+describe(u.ref)+": "+msg)
			case u.ref.ByPath:
				entries, probs := expand(u.name, u.ref, res.vars, taken)
				replace[u.index], problems = entries, append(problems, probs...)
			case strings.IndexByte(res.value, 0) >= 0:
				problems = append(problems, u.name+": "+describe(u.ref)+": the value holds a NUL byte, which an environment variable cannot carry")
			default:
				replace[u.index] = []string{u.name + "=" + res.value}
			}
		}
		if len(problems) == 0 {
			env = replaced(env, replace)
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			say(stderr, p)
		}
		say(stderr, "not starting the runtime: "+strconv.Itoa(len(problems))+" reference(s) unresolved")
		return exitUnresolved
	}

	path, err := lookPath(args[1], env)
	if err != nil {
		say(stderr, err.Error())
		return exitNotFound
	}
	err = exec(path, args[1:], env)
	say(stderr, "cannot run "+strconv.Quote(path)+": "+err.Error())
	return exitCannotRun
}

func describe(r reference.Reference) string {
	if r.ByPath {
		return "the parameters under " + strconv.Quote(r.ID)
	}
	if r.Kind == kinko.SSM {
		return "parameter " + strconv.Quote(r.ID)
	}
	if r.HasKey {
		return "secret " + strconv.Quote(r.ID) + " key " + strconv.Quote(r.JSONKey)
	}
	return "secret " + strconv.Quote(r.ID)
}

// say writes one line: newlines in a message (from kinko, from AWS) would split it.
func say(w io.Writer, msg string) {
	msg = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, msg)
	_, _ = io.WriteString(w, "kinko-exec: "+msg+"\n")
}

// lookup is getenv over an environment list: the first entry wins, as in Go's os.Getenv.
func lookup(env []string, name string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// lookPath finds cmd as a shell's exec would: a path when it holds a slash, else on PATH.
func lookPath(cmd string, env []string) (string, error) {
	if cmd == "" {
		return "", errorString("the command is empty")
	}
	if strings.Contains(cmd, "/") {
		return cmd, nil
	}
	for dir := range strings.SplitSeq(lookup(env, "PATH"), ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + cmd
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errorString(strconv.Quote(cmd) + " not found on PATH; give the runtime's full path")
}

type errorString string

func (e errorString) Error() string { return string(e) }

// resolveAll resolves refs concurrently, at most maxParallel at a time, within lim.Total.
func (c *client) resolveAll(refs []reference.Reference) []result {
	out := make([]result, len(refs))
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i, r := range refs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if r.ByPath {
				vars, err := c.resolvePath(r)
				out[i] = result{vars: vars, err: err}
				return
			}
			v, err := c.resolve(r)
			out[i] = result{value: v, err: err}
		})
	}
	wg.Wait()
	return out
}

type result struct {
	value string
	vars  []variable // of a path reference
	err   error
}

// variable is one parameter of a path reference: the variable it sets.
type variable struct {
	parameter, value string
}

// names is every variable name environ sets, except those of the path references in uses: they
// give way to the parameters they expand into.
func names(environ []string, uses []use) map[string]string {
	holders := map[int]bool{}
	for _, u := range uses {
		if u.ref.ByPath {
			holders[u.index] = true
		}
	}
	out := make(map[string]string, len(environ))
	for i, kv := range environ {
		if name, _, _ := strings.Cut(kv, "="); !holders[i] {
			out[name] = "the function's environment"
		}
	}
	return out
}

// expand is the variables path reference ref (of variable holder) sets: one per parameter,
// named after its last segment, or what is wrong (a name that is not a variable name, a name
// already set, a NUL byte, no parameter at all), naming the parameter, never its value. taken
// gains the names set.
func expand(holder string, ref reference.Reference, vars []variable, taken map[string]string) ([]string, []string) {
	var entries, problems []string
	if len(vars) == 0 {
		return nil, []string{holder + ": no parameter directly under " + strconv.Quote(ref.ID) +
			" (kinko:ssm-path: reads one level, not the tree below it): check the path"}
	}
	for _, v := range vars {
		name := v.parameter[strings.LastIndexByte(v.parameter, '/')+1:]
		what := holder + ": parameter " + strconv.Quote(v.parameter) + " under " + reference.Prefix + reference.PathService + ":" + ref.ID
		switch by, set := taken[name]; {
		case !validName(name):
			problems = append(problems, what+" would set "+strconv.Quote(name)+", which is not a variable name "+
				"(letters, digits and _, not starting with a digit): rename the parameter, or read it alone with kinko:ssm:")
		case set:
			problems = append(problems, what+" would set "+name+", which "+by+" sets already: rename one, or drop one")
		case strings.IndexByte(v.value, 0) >= 0:
			problems = append(problems, what+": the value holds a NUL byte, which an environment variable cannot carry")
		default:
			taken[name] = holder + " (parameter " + strconv.Quote(v.parameter) + ")"
			entries = append(entries, name+"="+v.value)
		}
	}
	return entries, problems
}

// validName is a POSIX shell's variable name: letters, digits and _, not starting with a digit.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

// replaced is env with each entry at an index of replace replaced by its entries.
func replaced(env []string, replace map[int][]string) []string {
	out := make([]string, 0, len(env)+len(replace))
	for i, kv := range env {
		if r, ok := replace[i]; ok {
			out = append(out, r...)
			continue
		}
		out = append(out, kv)
	}
	return out
}
