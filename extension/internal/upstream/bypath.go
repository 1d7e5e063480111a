package upstream

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// MaxPathPages bounds a path read: GetParametersByPath answers at most 10 parameters a page,
// so a path is cached whole up to 500 parameters. A larger one is ErrPathTooLarge.
const MaxPathPages = 50

// ErrPathTooLarge is the cause of the error for a path with more parameters than kinko caches
// whole: the SDK endpoint then forwards the caller's own page request to AWS.
var ErrPathTooLarge = errors.New("the path holds more parameters than kinko caches whole")

type pathAPI interface {
	GetParametersByPath(context.Context, *ssm.GetParametersByPathInput, ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
}

// fetchPath reads every parameter under r's path, page after page (each within timeout), and
// renders them as one document.
func (c *Client) fetchPath(ctx context.Context, r kinko.Request, timeout time.Duration) (document.Value, error) {
	api, ok := c.parameters().(pathAPI)
	if !ok {
		return document.Value{}, errors.New("the SSM client cannot read paths")
	}
	in := &ssm.GetParametersByPathInput{Path: aws.String(r.ID), Recursive: aws.Bool(r.Path == kinko.PathRecursive),
		WithDecryption: aws.Bool(r.Decrypt), MaxResults: aws.Int32(10)}
	var all []ssmtypes.Parameter
	for range MaxPathPages {
		out, err := c.page(ctx, api, in, timeout)
		if err != nil {
			return document.Value{}, err
		}
		all = append(all, out.Parameters...)
		if aws.ToString(out.NextToken) == "" {
			return document.RenderPath(r.ID, all)
		}
		in.NextToken = out.NextToken
	}
	return document.Value{}, &kinko.Error{Code: kinko.BadRequest, Err: ErrPathTooLarge,
		Message: r.Describe() + " holds more than " + strconv.Itoa(MaxPathPages) + " pages of parameters, more than kinko caches whole; " +
			"read it page by page from SSM, or a narrower path"}
}

func (c *Client) page(ctx context.Context, api pathAPI, in *ssm.GetParametersByPathInput, timeout time.Duration) (*ssm.GetParametersByPathOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return api.GetParametersByPath(ctx, in, oneAttemptSSM)
}

// Feed is what a path read holds for other keys: each parameter under the path is the answer to
// a GetParameter of its name (with the path read's decryption), and is cached as that.
func (s Source) Feed(r kinko.Request, v document.Value) []cache.Fed[kinko.Request, document.Value] {
	if r.Path == 0 {
		return nil
	}
	parts, err := document.PathParameters(v)
	if err != nil {
		return nil // rendered by kinko itself: cannot happen; the path's own entry still answers
	}
	out := make([]cache.Fed[kinko.Request, document.Value], 0, len(parts))
	for _, p := range parts {
		if p.Name == "" {
			continue
		}
		out = append(out, cache.Fed[kinko.Request, document.Value]{Key: kinko.Request{Kind: kinko.SSM, ID: p.Name, Decrypt: r.Decrypt}, Value: p})
	}
	return out
}
