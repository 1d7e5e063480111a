package sdkapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// The cache holds each answer as AWS's extension serves it (package document: every key, nulls
// kept, dates as RFC 3339 strings, an empty ResultMetadata). The services' own wire format,
// which the SDKs parse, differs only in form: absent members are left out, dates are epoch
// seconds as JSON numbers, and there is no ResultMetadata. The converters below copy each
// member's JSON text as it is (values are never decoded, so never escaped anew) and rewrite the
// dates.

// extSecret is a cached GetSecretValue document, member by member.
type extSecret struct {
	ARN, CreatedDate, Name, SecretBinary, SecretString, VersionId, VersionStages json.RawMessage
}

// extParameter is a cached parameter (GetParameter's Parameter), member by member.
type extParameter struct {
	ARN, DataType, LastModifiedDate, Name, Selector, SourceResult, Type, Value, Version json.RawMessage
}

// writer writes one JSON object in the wire format: members in order, absent ones left out.
type writer struct {
	buf   *bytes.Buffer
	first bool
	err   error
}

func object(buf *bytes.Buffer) *writer {
	buf.WriteByte('{')
	return &writer{buf: buf, first: true}
}

// raw writes member name with its JSON text v, unless v is absent or null.
func (w *writer) raw(name string, v json.RawMessage) {
	if len(v) == 0 || string(v) == "null" {
		return
	}
	w.key(name)
	w.buf.Write(v)
}

// date writes member name with the date v (a cached RFC 3339 string) as epoch seconds.
func (w *writer) date(name string, v json.RawMessage) {
	if len(v) == 0 || string(v) == "null" {
		return
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		w.err = err
		return
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		w.err = err
		return
	}
	w.key(name)
	w.buf.WriteString(epochSeconds(t))
}

func (w *writer) key(name string) {
	if !w.first {
		w.buf.WriteByte(',')
	}
	w.first = false
	w.buf.WriteByte('"')
	w.buf.WriteString(name)
	w.buf.WriteString(`":`)
}

func (w *writer) close() error {
	w.buf.WriteByte('}')
	return w.err
}

// epochSeconds is t as AWS JSON writes a timestamp: seconds since the epoch, with the
// milliseconds AWS keeps.
func epochSeconds(t time.Time) string {
	s := strconv.FormatInt(t.Unix(), 10)
	if ms := t.Nanosecond() / int(time.Millisecond); ms > 0 {
		frac := strconv.Itoa(1000 + ms)[1:] // three digits
		for frac[len(frac)-1] == '0' {
			frac = frac[:len(frac)-1]
		}
		s += "." + frac
	}
	return s
}

// writeSecret writes a cached GetSecretValue document as the service's GetSecretValueOutput
// (and BatchGetSecretValue's SecretValueEntry, the same members).
func writeSecret(buf *bytes.Buffer, doc []byte) error {
	var d extSecret
	if err := json.Unmarshal(doc, &d); err != nil {
		return err
	}
	o := object(buf)
	o.raw("ARN", d.ARN)
	o.date("CreatedDate", d.CreatedDate)
	o.raw("Name", d.Name)
	o.raw("SecretBinary", d.SecretBinary)
	o.raw("SecretString", d.SecretString)
	o.raw("VersionId", d.VersionId)
	o.raw("VersionStages", d.VersionStages)
	return o.close()
}

// writeParameterObject writes one cached parameter object as the service's Parameter.
func writeParameterObject(buf *bytes.Buffer, obj []byte) error {
	var p extParameter
	if err := json.Unmarshal(obj, &p); err != nil {
		return err
	}
	o := object(buf)
	o.raw("ARN", p.ARN)
	o.raw("DataType", p.DataType)
	o.date("LastModifiedDate", p.LastModifiedDate)
	o.raw("Name", p.Name)
	o.raw("Selector", p.Selector)
	o.raw("SourceResult", p.SourceResult)
	if string(p.Type) != `""` {
		o.raw("Type", p.Type)
	}
	o.raw("Value", p.Value)
	o.raw("Version", p.Version)
	return o.close()
}

// parameterObject is the Parameter member of a cached GetParameter document.
func parameterObject(doc []byte) (json.RawMessage, error) {
	var d struct{ Parameter json.RawMessage }
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	if len(d.Parameter) == 0 {
		return nil, errors.New("no Parameter in the document")
	}
	return d.Parameter, nil
}
