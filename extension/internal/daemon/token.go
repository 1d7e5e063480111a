package daemon

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// DefaultTokenVariables are where the token is read from, first set wins: AWS Secrets Manager
// Agent's ssrf_env_variables default.
var DefaultTokenVariables = []string{"AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"}

// credentialVariables hold a token that is also an AWS credential (a role session's, a container
// credentials endpoint's): fine to check on the host, never to hand to callers elsewhere.
var credentialVariables = map[string]bool{"AWS_SESSION_TOKEN": true, "AWS_CONTAINER_AUTHORIZATION_TOKEN": true}

// minTokenBits is what a token must hold to be given to callers beyond the host: 32 random bytes.
const minTokenBits = 256

// maxTokenFile bounds a token file: a token is bytes, not a document.
const maxTokenFile = 64 << 10

// Token is the token callers must send, and where it came from.
type Token struct {
	Value    string // never logged
	Variable string // the variable it was read from; "" if none was set
	File     string // the file the variable named (file:///path), if any
}

// Dedicated reports whether the token is one of its own, not an AWS credential.
func (t Token) Dedicated() bool { return t.Value != "" && !credentialVariables[t.Variable] }

// Source says where the token came from, for logs and messages (never the value).
func (t Token) Source() string {
	switch {
	case t.Variable == "":
		return "none"
	case t.File != "":
		return t.Variable + " (file " + t.File + ")"
	}
	return t.Variable
}

// readToken reads the token from the first of variables that is set; a value file:///path is
// read from that file, at start. Either is trimmed of surrounding whitespace: a caller's header
// loses it on the way (HTTP trims a field value), so a token kept with a trailing newline would
// refuse every request.
func readToken(getenv func(string) string, variables []string) (Token, error) {
	for _, name := range variables {
		v := getenv(name)
		if v == "" {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" {
			return Token{}, fmt.Errorf("%s is set to whitespace only: set it to the token callers send, or unset it", name)
		}
		t := Token{Variable: name, Value: v}
		rest, isFile := strings.CutPrefix(v, "file://")
		if !isFile {
			return t, nil
		}
		if !filepath.IsAbs(rest) {
			return Token{}, fmt.Errorf("%s names a file with %q: want an absolute path after file://, like file:///run/kinko/token", name, clipPath(v))
		}
		t.File = filepath.Clean(rest)
		b, err := readSmall(t.File)
		if err != nil {
			return Token{}, fmt.Errorf("%s: the token file: %w", name, err)
		}
		if t.Value = strings.TrimSpace(string(b)); t.Value == "" {
			return Token{}, fmt.Errorf("%s: the token file %s is empty; write a token to it: head -c 32 /dev/urandom | base64 > %s", name, t.File, t.File)
		}
		return t, nil
	}
	return Token{}, nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxTokenFile {
		return nil, fmt.Errorf("%s is over %d bytes: it does not hold a token", path, maxTokenFile)
	}
	return b, nil
}

// tokenBits estimates how many random bits s holds: its length times the bits per character of
// the smallest alphabet it is written in (hex 4, base64 6, printable ASCII 6.5), and nothing if
// its characters are too alike for that (a repeated word, a run of one letter). A guess, not a
// proof: it catches a short or made-up token, not one that is long and predictable.
func tokenBits(s string) float64 {
	if s == "" {
		return 0
	}
	perChar := 6.5
	switch {
	case strings.Trim(s, "0123456789abcdefABCDEF") == "":
		perChar = 4
	case strings.Trim(strings.TrimRight(s, "="), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_") == "":
		perChar = 6
		s = strings.TrimRight(s, "=")
	}
	// Shannon entropy of the characters as they occur: random hex shows about 3.7 bits each,
	// random base64 about 5; "passwordpassword..." shows 2.75.
	counts := map[rune]int{}
	for _, c := range s {
		counts[c]++
	}
	var h float64
	for _, n := range counts {
		p := float64(n) / float64(len(s))
		h -= p * math.Log2(p)
	}
	if h < 3 {
		return 0
	}
	return float64(len(s)) * perChar
}

// howToMakeAToken is the message's recipe for a dedicated token.
const howToMakeAToken = "make one and point AWS_TOKEN at it:\n" +
	"    head -c 32 /dev/urandom | base64 > /run/kinko/token   # mode 0640, readable by the callers' group\n" +
	"    AWS_TOKEN=file:///run/kinko/token\n" +
	"and give the same file to the callers (they send its content in X-Aws-Parameters-Secrets-Token)"

func clipPath(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
