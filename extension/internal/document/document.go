// Package document renders what kinko serves: each answer from AWS once, as the JSON document
// AWS's extension writes (its key order, nulls kept, dates to the millisecond, no HTML
// escaping), so that a cache hit only writes bytes; and reads a top-level key of the answer's
// text (jsonKey) through an index built on the first such request.
package document

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/kinko-dev/kinko/extension/internal/jsonindex"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// Value is one answer, rendered. Body is the only copy of the secret kinko keeps: a cache hit
// writes it as it is, and jsonKey reads the text (SecretString, or the parameter's Value) from
// where it lies in Body, through an index of its top-level keys built on the first jsonKey
// request for this value and shared by every copy of the Value.
type Value struct {
	Body []byte // the JSON document served to callers
	ARN  string
	Name string
	// Version is the version id (secrets) or number (parameters), for logs and headers.
	Version string

	// text is where the text's JSON string literal lies in Body, quotes included; zero when the
	// answer has none (a SecretBinary, a null).
	text span
	keys *jsonindex.Index // nil when there is no text
}

type span struct{ start, end int }

// The ways a jsonKey lookup fails (Value.JSONKey).
var (
	ErrNoText    = errors.New("holds binary data, not a JSON object")
	ErrNotObject = jsonindex.ErrNotObject
	ErrNoKey     = jsonindex.ErrNoKey
	ErrNullKey   = jsonindex.ErrNullKey
)

// JSONKey returns the value of top-level key k of the text, read as a JSON object: a string
// decoded, anything else as its JSON text. The answers are encoding/json's (Unmarshal into a
// map, then the key's value), but the text is parsed once per value, on the first call (the
// index is shared by every copy of the Value), and a lookup then costs the key's value, not the
// secret's size. Errors never quote the text.
func (v Value) JSONKey(k string) (string, error) {
	if v.keys == nil {
		return "", ErrNoText
	}
	return v.keys.Get(v.Body[v.text.start:v.text.end], k)
}

// HasText reports whether the answer holds text (SecretString or a parameter's Value), not a
// SecretBinary.
func (v Value) HasText() bool { return v.keys != nil }

// Text decodes the text from the document: a new copy, for the rare caller that needs it whole.
func (v Value) Text() (string, bool) {
	if v.keys == nil {
		return "", false
	}
	t, ok := jsonindex.Unquote(v.Body[v.text.start+1 : v.text.end-1])
	return string(t), ok
}

// valueOverhead is what a Value costs beside its strings: its own fields and its index's header.
const valueOverhead = 160

// Size is the bytes v keeps alive: the document, the names beside it and, once a jsonKey
// request built it, the index of the text's keys.
func (v Value) Size() int {
	n := valueOverhead + allocated(cap(v.Body)) + len(v.ARN) + len(v.Name) + len(v.Version)
	if v.keys != nil {
		names, members := v.keys.Buffers()
		n += allocated(names) + allocated(members)
	}
	return n
}

// allocated is what the Go allocator takes for n bytes, near enough: above 32 KiB it gives
// whole 8 KiB pages (a 64 KiB secret's document takes 72 KiB); below, its size classes waste
// at most an eighth, which valueOverhead covers for a typical secret.
func allocated(n int) int {
	const page = 8 << 10
	if n <= 32<<10 {
		return n
	}
	return (n + page - 1) / page * page
}

// Indexed reports whether the jsonKey index has been built (its bytes then count in Size).
func (v Value) Indexed() bool { return v.keys != nil && v.keys.Built() }

// entryOverhead is what the cache spends on one entry beside its value and key strings: the
// entry, its list element, and the index slots of its key and two aliases.
const entryOverhead = 512

// Cost is what caching v for r costs in bytes: the cache's byte budget counts it.
func Cost(r kinko.Request, v Value) int {
	return entryOverhead + v.Size() + len(r.ID) + len(r.VersionID) + len(r.Stage)
}

// secretDocument is GetSecretValue's output as AWS's extension serves it: PascalCase, its key
// order, nulls kept, dates to the millisecond, SecretBinary in base64 (encoding/json's []byte
// rule), and an empty ResultMetadata last, which AWS's extension always writes.
type secretDocument struct {
	ARN            *string        `json:"ARN"`
	CreatedDate    *string        `json:"CreatedDate"`
	Name           *string        `json:"Name"`
	SecretBinary   []byte         `json:"SecretBinary"`
	SecretString   *string        `json:"SecretString"`
	VersionId      *string        `json:"VersionId"`
	VersionStages  []string       `json:"VersionStages"`
	ResultMetadata resultMetadata `json:"ResultMetadata"`
}

// resultMetadata is the SDK's middleware metadata, which AWS's extension serializes as {}.
type resultMetadata struct{}

// RenderSecret renders GetSecretValue's output as the document kinko serves.
func RenderSecret(out *secretsmanager.GetSecretValueOutput) (Value, error) {
	doc := secretDocument{
		ARN:           out.ARN,
		CreatedDate:   date(out.CreatedDate),
		Name:          out.Name,
		SecretBinary:  out.SecretBinary,
		SecretString:  out.SecretString,
		VersionId:     out.VersionId,
		VersionStages: out.VersionStages,
	}
	hint := 512 + len(aws.ToString(out.SecretString)) + len(out.SecretBinary)*4/3
	body, text, err := renderDocument(doc, "SecretString", hint)
	if err != nil {
		return Value{}, fmt.Errorf("render GetSecretValue output: %w", err)
	}
	return newValue(body, text, aws.ToString(out.ARN), aws.ToString(out.Name), aws.ToString(out.VersionId)), nil
}

type parameterDocument struct {
	Parameter      parameterObject `json:"Parameter"`
	ResultMetadata resultMetadata  `json:"ResultMetadata"`
}

// parameterObject is one parameter as AWS's extension writes it: GetParameter's Parameter.
type parameterObject struct {
	ARN              *string `json:"ARN"`
	DataType         *string `json:"DataType"`
	LastModifiedDate *string `json:"LastModifiedDate"`
	Name             *string `json:"Name"`
	Selector         *string `json:"Selector"`
	SourceResult     *string `json:"SourceResult"`
	Type             string  `json:"Type"`
	Value            *string `json:"Value"`
	Version          int64   `json:"Version"`
}

func parameterFields(p *ssmtypes.Parameter) parameterObject {
	return parameterObject{ARN: p.ARN, DataType: p.DataType, LastModifiedDate: date(p.LastModifiedDate), Name: p.Name,
		Selector: p.Selector, SourceResult: p.SourceResult, Type: string(p.Type), Value: p.Value, Version: p.Version}
}

// RenderParameter renders GetParameter's output as the document kinko serves.
func RenderParameter(out *ssm.GetParameterOutput) (Value, error) {
	p := out.Parameter
	doc := parameterDocument{Parameter: parameterFields(p)}
	hint := 512 + len(aws.ToString(p.Value)) + len(aws.ToString(p.SourceResult))
	body, text, err := renderDocument(doc, "Value", hint)
	if err != nil {
		return Value{}, fmt.Errorf("render GetParameter output: %w", err)
	}
	return newValue(body, text, aws.ToString(p.ARN), aws.ToString(p.Name), strconv.FormatInt(p.Version, 10)), nil
}

// dateLayout is how AWS's extension writes dates: UTC, always three fractional digits. AWS
// sends epoch seconds with milliseconds, so nothing finer is lost.
const dateLayout = "2006-01-02T15:04:05.000Z"

func date(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(dateLayout)
	return &s
}

// renderDocument encodes doc as AWS's extension writes it: encoding/json's output without its
// HTML escaping of <, > and & (six bytes each; AWS's extension does not escape them), in a
// slice of its own size. textKey names the key of the text; its literal is located in the
// document for jsonKey.
func renderDocument(doc any, textKey string, sizeHint int) ([]byte, span, error) {
	var buf bytes.Buffer
	buf.Grow(sizeHint)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, span{}, err
	}
	out := buf.Bytes()
	body := make([]byte, len(out)-1) // Encode ends with a newline
	copy(body, out)
	return body, textLiteral(body, textKey), nil
}

// textLiteral finds the string literal of key in body, an encoded document with key once.
// Inside a literal every '"' is escaped, so the sequence ,"key":" is the key itself wherever
// it appears, whatever an earlier value (a name, an ARN) holds.
func textLiteral(body []byte, key string) span {
	pattern := `,"` + key + `":"`
	i := bytes.Index(body, []byte(pattern))
	if i < 0 {
		return span{} // null
	}
	start := i + len(pattern) - 1
	return span{start: start, end: jsonindex.StringEnd(body, start)}
}

func newValue(body []byte, text span, arn, name, version string) Value {
	v := Value{Body: body, text: text, ARN: arn, Name: name, Version: version}
	if text.end > 0 {
		v.keys = &jsonindex.Index{}
	}
	return v
}
