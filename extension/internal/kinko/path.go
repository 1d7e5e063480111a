package kinko

// PathScope is how much of a path a Request reads (GetParametersByPath's Recursive).
type PathScope uint8

const (
	PathChildren  PathScope = iota + 1 // the parameters directly under the path
	PathRecursive                      // every parameter under the path, at any depth
)

// MarshalText writes the scope by name (in JSON log lines).
func (p PathScope) MarshalText() ([]byte, error) {
	switch p {
	case PathChildren:
		return []byte("children"), nil
	case PathRecursive:
		return []byte("recursive"), nil
	}
	return []byte("none"), nil
}

func (p PathScope) describe() string {
	if p == PathRecursive {
		return " (recursive)"
	}
	return ""
}
