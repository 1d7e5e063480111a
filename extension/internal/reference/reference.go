// Package reference is the grammar of the kinko: references that /opt/kinko-exec resolves and
// kinko prefetches (CONTRACT.md section 10):
//
//	kinko:secretsmanager:<name or ARN>[#<top-level JSON key>]
//	kinko:ssm:<parameter name or ARN>            (SecureString decrypted)
//	kinko:ssm-path:<path>                        (every parameter directly under it, decrypted:
//	                                              one variable each, named after its last segment)
//
// It imports only strings, strconv, unicode/utf8 and package kinko (as small), so the wrapper
// that links it stays small and starts fast; kinko applies the same grammar, so what one
// resolves the other prefetched.
package reference

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// Prefix marks a value as a reference. It is case-sensitive: "KINKO:..." is an ordinary value.
const Prefix = "kinko:"

// Reference is a parsed reference.
type Reference struct {
	Kind    kinko.Kind
	ID      string // secret name or ARN; parameter name or ARN (with :version or :label)
	JSONKey string // top-level key of a JSON secret; empty for the whole SecretString
	HasKey  bool   // the reference had #KEY
	ByPath  bool   // kinko:ssm-path: ID is a path, and the reference names every parameter directly under it
}

// PathService is the service name of a path reference, kinko:ssm-path:/app/prod/.
const PathService = "ssm-path"

// Request is what r reads, normalised: a secret at AWSCURRENT (its #KEY is read from the whole
// secret), a parameter decrypted.
func (r Reference) Request() kinko.Request {
	q := kinko.Request{Kind: r.Kind, ID: r.ID, Decrypt: r.Kind == kinko.SSM}
	if r.ByPath {
		q.Path = kinko.PathChildren
	}
	return q.Normalize()
}

// Error says what is wrong with a reference and how to write it. It quotes the reference,
// which is configuration, never a value.
type Error struct{ Problem string }

func (e *Error) Error() string { return "malformed reference: " + e.Problem }

const forms = "write kinko:secretsmanager:NAME-or-ARN[#JSON-KEY], kinko:ssm:NAME-or-ARN or kinko:ssm-path:/PATH/"

// Is reports whether value is meant as a reference: it starts with Prefix. Such a value
// either parses or is an error; it is never passed on as it is.
func Is(value string) bool { return strings.HasPrefix(value, Prefix) }

// Parse reads a reference. The value must start with Prefix.
func Parse(value string) (Reference, error) {
	rest, ok := strings.CutPrefix(value, Prefix)
	if !ok {
		return Reference{}, &Error{"does not start with " + strconv.Quote(Prefix) + "; " + forms}
	}
	service, id, ok := strings.Cut(rest, ":")
	if !ok {
		return Reference{}, &Error{"no service after " + strconv.Quote(Prefix) + "; " + forms}
	}
	var r Reference
	kind, _ := kinko.ParseKind(service)
	if service == PathService {
		kind, r.ByPath = kinko.SSM, true
	}
	switch kind {
	case kinko.SecretsManager:
		r.Kind = kind
		id, r.JSONKey, r.HasKey = strings.Cut(id, "#") // names and ARNs never hold '#'
	case kinko.SSM:
		r.Kind = kind
		if strings.Contains(id, "#") {
			return Reference{}, &Error{"a parameter reference takes no #KEY (JSON keys are for kinko:secretsmanager: references)"}
		}
		if r.ByPath && id != "" && (id[0] != '/' || strings.HasPrefix(id, "arn:")) {
			return Reference{}, &Error{"the path " + quote(id) + " does not start with /: a path reference names a parameter hierarchy, kinko:ssm-path:/app/prod/"}
		}
	default:
		switch strings.ToLower(service) {
		case "secretsmanager", "ssm", PathService:
			return Reference{}, &Error{"service " + quote(service) + " must be written in lower case: " + strings.ToLower(service)}
		case "ssm_path", "ssmpath", "ssm-paths", "ssm-bypath", "path":
			return Reference{}, &Error{"unknown service " + quote(service) + "; did you mean ssm-path? " + forms}
		case "secretmanager", "secrets-manager", "secretsmgr", "sm":
			return Reference{}, &Error{"unknown service " + quote(service) + "; did you mean secretsmanager? " + forms}
		case "parameterstore", "parameter-store", "systemsmanager", "param", "parameter":
			return Reference{}, &Error{"unknown service " + quote(service) + "; did you mean ssm? " + forms}
		}
		return Reference{}, &Error{"unknown service " + quote(service) + "; " + forms}
	}
	if err := checkID(r.Kind, id); err != nil {
		return Reference{}, err
	}
	r.ID = id
	if r.HasKey {
		if err := checkKey(r.JSONKey); err != nil {
			return Reference{}, err
		}
	}
	return r, nil
}

// String writes the reference back in its canonical form.
func (r Reference) String() string {
	switch r.Kind {
	case kinko.SecretsManager:
		s := Prefix + r.Kind.String() + ":" + r.ID
		if r.HasKey {
			s += "#" + r.JSONKey
		}
		return s
	case kinko.SSM:
		if r.ByPath {
			return Prefix + PathService + ":" + r.ID
		}
		return Prefix + r.Kind.String() + ":" + r.ID
	}
	return Prefix + "?"
}

// checkID holds id to AWS's character set for kind (kinko.Kind.AllowedInID): a reference is
// written by hand into configuration, and a stray character is better named here than by AWS.
func checkID(kind kinko.Kind, id string) error {
	what, set := kind.IDName(), kind.IDChars()
	switch {
	case id == "":
		return &Error{"empty " + what + "; " + forms}
	case len(id) > kinko.MaxIDBytes:
		return &Error{"the " + what + " is " + strconv.Itoa(len(id)) + " bytes long, over the limit of " + strconv.Itoa(kinko.MaxIDBytes)}
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if kind.AllowedInID(c) {
			continue
		}
		at := " at offset " + strconv.Itoa(i)
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return &Error{"whitespace" + at + " in the " + what + " (a stray space or newline from copying?); remove it"}
		case c < 0x20 || c == 0x7f:
			return &Error{"control character 0x" + strconv.FormatUint(uint64(c), 16) + at + " in the " + what}
		case c >= 0x80:
			return &Error{"a non-ASCII character" + at + " in the " + what + "; AWS names use " + set}
		}
		return &Error{"character " + strconv.QuoteRune(rune(c)) + at + " is not allowed in a " + what + " (" + set + ")"}
	}
	return nil
}

func checkKey(k string) error {
	switch {
	case k == "":
		return &Error{"empty JSON key after '#'; name a top-level key of the secret, or drop the '#' for the whole string"}
	case len(k) > kinko.MaxIDBytes:
		return &Error{"the JSON key is " + strconv.Itoa(len(k)) + " bytes long, over the limit of " + strconv.Itoa(kinko.MaxIDBytes)}
	case !utf8.ValidString(k):
		return &Error{"the JSON key is not valid UTF-8"}
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c == 0x7f {
			return &Error{"control character 0x" + strconv.FormatUint(uint64(c), 16) + " at offset " + strconv.Itoa(i) + " in the JSON key"}
		}
	}
	return nil
}

// quote keeps a caller's text short in a message.
func quote(s string) string {
	const max = 40
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}
