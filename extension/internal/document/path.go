package document

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// RenderPath renders a read of every parameter under path (GetParametersByPath, its pages
// joined) as one Value: Body is a JSON array of the parameters, each the object RenderParameter
// writes as Parameter, in AWS's order; Name is the path and Version the number of parameters.
// It has no text: jsonKey does not apply to it.
func RenderPath(path string, params []ssmtypes.Parameter) (Value, error) {
	hint := 2
	for i := range params {
		hint += 256 + len(aws.ToString(params[i].Value))
	}
	var buf bytes.Buffer
	buf.Grow(hint)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('[')
	for i := range params {
		if i > 0 {
			buf.Truncate(buf.Len() - 1) // Encode's newline
			buf.WriteByte(',')
		}
		if err := enc.Encode(parameterFields(&params[i])); err != nil {
			return Value{}, fmt.Errorf("render GetParametersByPath output: %w", err)
		}
	}
	if len(params) > 0 {
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteByte(']')
	body := make([]byte, buf.Len())
	copy(body, buf.Bytes())
	return Value{Body: body, Name: path, Version: strconv.Itoa(len(params))}, nil
}

// PathItems returns the parameters of a path read (RenderPath's Body), each the JSON object of
// one parameter.
func PathItems(v Value) ([]json.RawMessage, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(v.Body, &items); err != nil {
		return nil, fmt.Errorf("read a path document: %w", err)
	}
	return items, nil
}

// PathParameters splits a path read into one Value per parameter: the document GetParameter
// would have given for it (RenderParameter's, byte for byte), with its name, ARN and version.
func PathParameters(v Value) ([]Value, error) {
	items, err := PathItems(v)
	if err != nil {
		return nil, err
	}
	out := make([]Value, 0, len(items))
	for _, it := range items {
		var id struct {
			ARN, Name *string
			Version   int64
		}
		if err := json.Unmarshal(it, &id); err != nil {
			return nil, fmt.Errorf("read a parameter of a path document: %w", err)
		}
		const head, tail = `{"Parameter":`, `,"ResultMetadata":{}}`
		body := make([]byte, 0, len(head)+len(it)+len(tail))
		body = append(append(append(body, head...), it...), tail...)
		out = append(out, newValue(body, textLiteral(body, "Value"), aws.ToString(id.ARN), aws.ToString(id.Name), strconv.FormatInt(id.Version, 10)))
	}
	return out, nil
}
