package kinko

import (
	"errors"
	"strconv"
)

// CurrentStage is the stage Secrets Manager answers when none is asked for.
const CurrentStage = "AWSCURRENT"

// Request names one value: what the server, the prefetch and the wrapper's references ask for,
// what upstream fetches, and the cache's key. Two requests that must share an answer are equal
// once normalised (Normalize). Its JSON form is how log lines show it: readable fields, never
// the value.
type Request struct {
	Kind      Kind   `json:"service"`
	ID        string `json:"id"`                // secret id or parameter name: name or ARN
	VersionID string `json:"version,omitempty"` // Secrets Manager versionId; SSM version number
	Stage     string `json:"stage,omitempty"`   // Secrets Manager versionStage; SSM label
	Decrypt   bool   `json:"decrypt,omitempty"` // SSM withDecryption
	// Path makes the request a read of every parameter under the path ID (GetParametersByPath):
	// its direct children, or the whole tree. Zero for a read of one value.
	Path PathScope `json:"path,omitempty"`
}

// Normalize returns r in the one form that names its value: a secret asked for without a
// version or stage is the one at AWSCURRENT (what Secrets Manager answers then), so both
// spellings share one cache entry; and only a parameter is decrypted or not.
func (r Request) Normalize() Request {
	if r.Kind == SSM {
		if r.Path != 0 {
			r.VersionID, r.Stage = "", "" // a path has no version or label
		}
		return r
	}
	r.Decrypt, r.Path = false, 0
	if r.VersionID == "" && r.Stage == "" {
		r.Stage = CurrentStage
	}
	return r
}

// Describe names r as a caller would: `secret "prod/db" stage "AWSPENDING"`, `parameter
// "/app/flag" version 3`. The id is the caller's own text, clipped; AWSCURRENT goes unsaid.
func (r Request) Describe() string {
	const max = 256
	id := r.ID
	if len(id) > max {
		id = id[:max] + "..."
	}
	if r.Path != 0 {
		return "parameters under " + strconv.Quote(id) + r.Path.describe()
	}
	s := r.Kind.Noun() + " " + strconv.Quote(id)
	if r.Kind == SSM {
		switch {
		case r.VersionID != "":
			s += " version " + r.VersionID
		case r.Stage != "":
			s += " label " + strconv.Quote(r.Stage)
		}
		return s
	}
	if r.VersionID != "" {
		s += " version " + strconv.Quote(r.VersionID)
	}
	if r.Stage != "" && r.Stage != CurrentStage {
		s += " stage " + strconv.Quote(r.Stage)
	}
	return s
}

// Clip keeps caller-supplied text short in a message: a message may say what the caller sent
// (a parameter's name, a path), never at any length.
func Clip(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// MaxIDBytes is the longest secret id or parameter name accepted (a full ARN fits easily), and
// the longest version, stage, label or JSON key.
const MaxIDBytes = 2048

// CheckID says what is wrong with a secret id or parameter name, or nil: it is empty, longer
// than MaxIDBytes, or holds a control character. The server applies it to requests and config
// to KINKO_PREFETCH, so a prefetch entry that passes is one a request could ask for. (References
// are held to AWS's character sets as well: Kind.AllowedInID.)
func CheckID(id string) error {
	switch {
	case id == "":
		return errors.New("is empty")
	case len(id) > MaxIDBytes:
		return errors.New("is " + strconv.Itoa(len(id)) + " bytes long, over the limit of " + strconv.Itoa(MaxIDBytes))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c == 0x7f {
			const hex = "0123456789abcdef"
			return errors.New("has a control character (byte 0x" + string([]byte{hex[c>>4], hex[c&0xf]}) + " at offset " + strconv.Itoa(i) + ")")
		}
	}
	return nil
}
