package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Runtimes make run ships a Runtime API loop for; anything else brings its own bootstrap.
const (
	runtimePython = "python"
	runtimeNode   = "node"
)

// function is what the emulator runs.
type function struct {
	dir     string // absolute; LAMBDA_TASK_ROOT
	runtime string // runtimePython, runtimeNode, or "" for the directory's own bootstrap
	handler string // file.function (_HANDLER); for a bootstrap only when given
	file    string // the handler's file, relative to dir
}

// defaultHandlers are the handlers Lambda's console creates, tried when HANDLER is not given.
var defaultHandlers = []string{"lambda_function.lambda_handler", "index.handler"}

// resolveFunction decides how to run dir: its own bootstrap (as provided.al2023 does), or a
// Python or Node.js handler named as Lambda's managed runtimes name it (file.function).
func resolveFunction(dir, handler string) (function, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return function{}, err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return function{}, fmt.Errorf("FN=%s is not a directory: give the directory that holds your function's code", dir)
	}
	f := function{dir: abs, handler: handler}
	if fi, err := os.Stat(filepath.Join(abs, "bootstrap")); err == nil && !fi.IsDir() {
		if fi.Mode()&0o111 == 0 {
			return function{}, fmt.Errorf("%s is not executable: chmod +x it (Lambda runs it as the function's runtime)", filepath.Join(dir, "bootstrap"))
		}
		return f, nil
	}
	if handler == "" {
		for _, h := range defaultHandlers {
			if g, err := resolveHandler(abs, h); err == nil {
				return g, nil
			}
		}
		return function{}, fmt.Errorf("FN=%s has no bootstrap and no lambda_function.py or index.mjs/index.js: "+
			"name the handler as Lambda does, HANDLER=file.function (HANDLER=app.handler for def handler in app.py, "+
			"or for export const handler in app.mjs)", dir)
	}
	return resolveHandler(abs, handler)
}

func resolveHandler(dir, handler string) (function, error) {
	i := strings.LastIndexByte(handler, '.')
	if i <= 0 || i == len(handler)-1 || strings.ContainsAny(handler, " \t\n") {
		return function{}, fmt.Errorf("HANDLER=%q is not file.function: name the file without its extension and the function, e.g. app.handler for def handler in app.py", handler)
	}
	base := handler[:i]
	if !filepath.IsLocal(filepath.FromSlash(base)) {
		return function{}, fmt.Errorf("HANDLER=%q names a file outside FN", handler)
	}
	candidates := []struct{ ext, runtime string }{{".py", runtimePython}, {".mjs", runtimeNode}, {".js", runtimeNode}, {".cjs", runtimeNode}}
	for _, c := range candidates {
		if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(base)+c.ext)); err == nil && !fi.IsDir() {
			return function{dir: dir, runtime: c.runtime, handler: handler, file: base + c.ext}, nil
		}
	}
	return function{}, fmt.Errorf("HANDLER=%s: no %s.py, %s.mjs, %s.js or %s.cjs in %s (make run runs Python and Node.js handlers; "+
		"for another runtime, put an executable bootstrap in the directory)", handler, base, base, base, base, dir)
}

func (f function) describe() string {
	switch f.runtime {
	case runtimePython:
		return "Python handler " + f.handler + " (" + f.file + ")"
	case runtimeNode:
		return "Node.js handler " + f.handler + " (" + f.file + ")"
	}
	return "its own bootstrap, as provided.al2023 runs it"
}

// seed is what make run stores in moto before the first invoke.
type seed struct {
	secrets map[string]string // secret id -> SecretString
	params  map[string]string // parameter name -> value (a SecureString)
}

// loadSeed reads SECRETS: a JSON object mapping a secret's name to its string, or to a JSON
// object (stored as its JSON text, for jsonKey and #KEY references); a key "ssm:NAME" makes
// the parameter NAME instead. Errors name the key, never a value.
func loadSeed(path string) (seed, error) {
	s := seed{secrets: map[string]string{}, params: map[string]string{}}
	if path == "" {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("SECRETS=%s: %w", path, err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil || doc == nil {
		return s, fmt.Errorf("SECRETS=%s is not a JSON object like {\"prod/db\": {\"password\": \"...\"}, \"OPENAI_API_KEY\": \"sk-...\", \"ssm:/app/flag\": \"on\"}", path)
	}
	var problems []string
	for key, raw := range doc {
		raw = bytes.TrimSpace(raw)
		var str string
		isString := json.Unmarshal(raw, &str) == nil
		isObject := len(raw) > 0 && raw[0] == '{'
		if name, ok := strings.CutPrefix(key, "ssm:"); ok {
			switch {
			case name == "":
				problems = append(problems, fmt.Sprintf("%q: name the parameter after ssm:", key))
			case !isString:
				problems = append(problems, fmt.Sprintf("%q: a parameter's value is a string", key))
			default:
				s.params[name] = str
			}
			continue
		}
		switch {
		case key == "":
			problems = append(problems, "an empty secret name")
		case isString:
			s.secrets[key] = str
		case isObject:
			var compact bytes.Buffer
			if err := json.Compact(&compact, raw); err != nil {
				return s, err
			}
			s.secrets[key] = compact.String()
		default:
			problems = append(problems, fmt.Sprintf("%q: a secret's value is a string or a JSON object", key))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return s, fmt.Errorf("SECRETS=%s: %s", path, strings.Join(problems, "; "))
	}
	return s, nil
}

// parseEnv reads ENV='K=V K2="a value with spaces"': whitespace separates assignments, single
// or double quotes keep spaces in a value. Errors name the variable, never a value.
func parseEnv(s string) (map[string]string, error) {
	env := map[string]string{}
	words, err := splitWords(s)
	if err != nil {
		return nil, fmt.Errorf("ENV: %w", err)
	}
	for _, w := range words {
		name, value, ok := strings.Cut(w, "=")
		if !ok || !validName(name) {
			n := name
			if !ok {
				n = "a word without ="
			}
			return nil, fmt.Errorf("ENV: %q is not NAME=VALUE (write ENV='NAME=VALUE NAME2=VALUE2', quoting values that hold spaces)", n)
		}
		env[name] = value
	}
	return env, nil
}

func validName(n string) bool {
	if n == "" || n[0] >= '0' && n[0] <= '9' {
		return false
	}
	for _, c := range n {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// splitWords splits on unquoted whitespace; '...' keeps everything, "..." keeps everything but
// a backslash before " or \.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("a ' is not closed")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New(`a " is not closed`)
			}
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// warnings are the configurations under which a kinko: reference would silently stay text.
func warnings(f function, env map[string]string) []string {
	var refs []string
	for k, v := range env {
		if strings.HasPrefix(v, "kinko:") {
			refs = append(refs, k)
		}
	}
	sort.Strings(refs)
	if len(refs) == 0 {
		return nil
	}
	if f.runtime == "" {
		b, _ := os.ReadFile(filepath.Join(f.dir, "bootstrap"))
		switch {
		case bytes.Contains(b, []byte("kinko-exec")):
			return nil // it execs the wrapper itself
		case !bytes.Contains(b, []byte("AWS_LAMBDA_EXEC_WRAPPER")):
			return []string{fmt.Sprintf("%s hold(s) a kinko: reference, but FN has its own bootstrap, which does not start kinko-exec: "+
				"OS-only runtimes (provided.al2023) do not apply AWS_LAMBDA_EXEC_WRAPPER, so the function will see the reference's text. "+
				"End the bootstrap with: exec /opt/kinko-exec ./real-bootstrap", strings.Join(refs, ", "))}
		}
	}
	if env["AWS_LAMBDA_EXEC_WRAPPER"] == "" {
		return []string{fmt.Sprintf("%s hold(s) a kinko: reference but AWS_LAMBDA_EXEC_WRAPPER is not set: the function will see the reference's text, "+
			"not the value. Add AWS_LAMBDA_EXEC_WRAPPER=/opt/kinko-exec to ENV (and to the function's configuration on Lambda)", strings.Join(refs, ", "))}
	}
	return nil
}
