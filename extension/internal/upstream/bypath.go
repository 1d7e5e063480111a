package upstream

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// MaxPathPages bounds one path read (kinko.Request.ByPath): SSM answers at most 10 parameters
// a page, so 50 pages is 500 parameters. A path holding more is refused rather than read for
// minutes into one cache entry: read a narrower path.
const MaxPathPages = 50

// pathPageSize is SSM's largest page of GetParametersByPath.
const pathPageSize = 10

type byPathAPI interface {
	GetParametersByPath(context.Context, *ssm.GetParametersByPathInput, ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
}

// fetchByPath reads every parameter under r.ID, every page, one call a page, within the one
// timeout of Fetch, and renders them as one document.
func (c *Client) fetchByPath(ctx context.Context, r kinko.Request) (document.Value, error) {
	api, ok := c.parameters().(byPathAPI)
	if !ok {
		return document.Value{}, fmt.Errorf("the SSM client %T cannot read by path", c.parameters())
	}
	in := &ssm.GetParametersByPathInput{Path: aws.String(r.ID), Recursive: aws.Bool(r.Recursive),
		WithDecryption: aws.Bool(r.Decrypt), MaxResults: aws.Int32(pathPageSize)}
	var params []ssmtypes.Parameter
	for range MaxPathPages {
		out, err := api.GetParametersByPath(ctx, in, oneAttemptSSM)
		if err != nil {
			return document.Value{}, err
		}
		params = append(params, out.Parameters...)
		if aws.ToString(out.NextToken) == "" {
			return document.RenderParametersByPath(params)
		}
		in.NextToken = out.NextToken
	}
	return document.Value{}, &kinko.Error{Code: kinko.BadRequest,
		Message: fmt.Sprintf("%s: more than %d parameters (%d pages of GetParametersByPath); read a narrower path",
			r.Describe(), MaxPathPages*pathPageSize, MaxPathPages)}
}
