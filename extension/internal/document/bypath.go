package document

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// parametersDocument is GetParametersByPath's output as kinko serves it (GET
// /systemsmanager/parameters/getbypath): every page's parameters in one list, each as
// GetParameter's Parameter is written, so NextToken is always null.
type parametersDocument struct {
	NextToken      *string           `json:"NextToken"`
	Parameters     []parameterFields `json:"Parameters"`
	ResultMetadata resultMetadata    `json:"ResultMetadata"`
}

// RenderParametersByPath renders the parameters of every page of a GetParametersByPath read as
// one document. It has no text for jsonKey, and no ARN or name: a path's answer is no other
// id's (it aliases nothing in the cache).
func RenderParametersByPath(params []ssmtypes.Parameter) (Value, error) {
	doc := parametersDocument{Parameters: make([]parameterFields, len(params))}
	hint := 64
	for i := range params {
		doc.Parameters[i] = fieldsOf(&params[i])
		hint += 384 + len(aws.ToString(params[i].Name)) + len(aws.ToString(params[i].Value))
	}
	body, _, err := renderDocument(doc, "", hint)
	if err != nil {
		return Value{}, fmt.Errorf("render GetParametersByPath output: %w", err)
	}
	return Value{Body: body}, nil
}
