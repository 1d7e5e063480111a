package kinko

import "strings"

// referencePrefix is how SSM reads a secret: GetParameter of /aws/reference/secretsmanager/NAME.
const referencePrefix = "/aws/reference/secretsmanager/"

// Touches reports whether a write through kind's API to id (a name, a full ARN or a partial
// ARN, as the caller spelled it) may change what r reads, whatever r's version, stage or
// spelling of the same id: the secret's name, its full or partial ARN, a parameter's name with
// or without a selector, a path above the parameter, and SSM's reference to the secret. It errs
// on the side of yes (a secret named "db-AbCdEf" also touches "db"): a needless drop costs one
// fetch, a missed one serves the old value.
func Touches(kind Kind, id string, r Request) bool {
	switch {
	case kind == SecretsManager && r.Kind == SecretsManager:
		return sameSecret(id, r.ID)
	case kind == SecretsManager && r.Kind == SSM && r.Path == 0:
		ref, ok := strings.CutPrefix(r.ID, referencePrefix)
		return ok && sameSecret(id, ref)
	case kind == SSM && r.Kind == SSM:
		w := parameterName(id)
		if r.Path != 0 {
			return strings.HasPrefix(w, strings.TrimSuffix(parameterName(r.ID), "/")+"/")
		}
		return w == parameterName(r.ID)
	}
	return false
}

// sameSecret reports whether a and b may name the same secret: by name, full ARN (the name and
// a "-" with six random characters) or partial ARN (without them).
func sameSecret(a, b string) bool {
	an, as := secretName(a)
	bn, bs := secretName(b)
	return an == bn || an == bs || as == bn || as == bs
}

// secretName is the secret name in s (s itself, or an ARN's resource without "secret:"), and
// the same without a suffix that looks like a full ARN's "-AbCdEf".
func secretName(s string) (name, trimmed string) {
	name = s
	if a, ok := parseARN(s); ok && a.service == SecretsManager.String() {
		name = strings.TrimPrefix(a.resource, "secret:")
	}
	trimmed = name
	if n := len(name); n > 7 && name[n-7] == '-' && alnum(name[n-6:]) {
		trimmed = name[:n-7]
	}
	return name, trimmed
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// parameterName is the parameter name in s (a name or an ARN), without a :version or :label
// selector, with a leading "/": an ARN cannot tell "a" from "/a", so neither does this.
func parameterName(s string) string {
	name := s
	if a, ok := parseARN(s); ok && a.service == SSM.String() {
		name = strings.TrimPrefix(a.resource, "parameter")
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		name = name[:i]
	}
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	return name
}
