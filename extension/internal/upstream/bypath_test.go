package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// pagedParameters answers GetParametersByPath with n parameters, pages of at most the input's
// MaxResults, and fails page failAt (1-based; 0 never).
type pagedParameters struct {
	fakeParameters
	n, failAt int
	calls     []ssm.GetParametersByPathInput
}

func (p *pagedParameters) GetParametersByPath(_ context.Context, in *ssm.GetParametersByPathInput, _ ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error) {
	p.calls = append(p.calls, *in)
	if len(p.calls) == p.failAt {
		return nil, apiError(400, "ThrottlingException")
	}
	start := 0
	if in.NextToken != nil {
		start, _ = strconv.Atoi(*in.NextToken)
	}
	end := min(start+int(aws.ToInt32(in.MaxResults)), p.n)
	out := &ssm.GetParametersByPathOutput{}
	for i := start; i < end; i++ {
		out.Parameters = append(out.Parameters, ssmtypes.Parameter{Name: aws.String(fmt.Sprintf("%s%02d", aws.ToString(in.Path), i)),
			Value: aws.String("s3cr3t-" + strconv.Itoa(i)), Type: ssmtypes.ParameterTypeSecureString, Version: 1})
	}
	if end < p.n {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

// A path read is every page, joined in order, in one document shaped as GetParametersByPath's
// output (NextToken null), asked as the request says (path, recursive, decrypted, pages of 10).
func TestByPathJoinsEveryPage(t *testing.T) {
	for _, n := range []int{0, 1, 10, 23} {
		for _, r := range []kinko.Request{
			{Kind: kinko.SSM, ID: "/app/prod/", ByPath: true, Decrypt: true},
			{Kind: kinko.SSM, ID: "/app", ByPath: true, Recursive: true},
		} {
			f := &pagedParameters{n: n}
			c := &Client{parameters: func() parametersAPI { return f }, timeout: func(kinko.Kind) time.Duration { return 0 }}
			v, err := c.Fetch(t.Context(), r)
			if err != nil {
				t.Fatalf("%d parameters, %+v: %v", n, r, err)
			}
			if want := max(1, (n+9)/10); len(f.calls) != want {
				t.Errorf("%d parameters: %d calls, want %d", n, len(f.calls), want)
			}
			for _, in := range f.calls {
				if aws.ToString(in.Path) != r.ID || aws.ToBool(in.Recursive) != r.Recursive || aws.ToBool(in.WithDecryption) != r.Decrypt ||
					aws.ToInt32(in.MaxResults) != 10 {
					t.Errorf("asked %+v for %+v", in, r)
				}
			}
			var doc struct {
				NextToken  *string
				Parameters []struct{ Name, Value, Type, LastModifiedDate *string }
			}
			if err := json.Unmarshal(v.Body, &doc); err != nil || doc.NextToken != nil || doc.Parameters == nil || len(doc.Parameters) != n {
				t.Fatalf("%d parameters: document of %d bytes does not hold them all (%v)", n, len(v.Body), err)
			}
			for i, p := range doc.Parameters {
				if aws.ToString(p.Name) != fmt.Sprintf("%s%02d", r.ID, i) || aws.ToString(p.Value) != "s3cr3t-"+strconv.Itoa(i) || aws.ToString(p.Type) != "SecureString" {
					t.Errorf("parameter %d is %q, out of order or altered", i, aws.ToString(p.Name))
				}
			}
			if v.HasText() || v.ARN != "" || v.Name != "" {
				t.Error("a path's answer has a text or a name: it would answer jsonKey or alias another id")
			}
		}
	}
}

// A failed page fails the read (no partial list is ever cached), with AWS's code; a path of more
// than MaxPathPages pages is refused, naming the path.
func TestByPathFailsWhole(t *testing.T) {
	f := &pagedParameters{n: 25, failAt: 2}
	c := &Client{parameters: func() parametersAPI { return f }, timeout: func(kinko.Kind) time.Duration { return 0 }}
	_, err := c.Fetch(t.Context(), kinko.Request{Kind: kinko.SSM, ID: "/app/", ByPath: true})
	var e *kinko.Error
	if !errors.As(err, &e) || e.AWSCode != "ThrottlingException" || !e.Transient() || !strings.Contains(e.Message, `parameters under path "/app/"`) {
		t.Fatalf("a failed second page: %v, want AWS's throttling, naming the path", err)
	}
	f = &pagedParameters{n: MaxPathPages*10 + 1}
	_, err = c.Fetch(t.Context(), kinko.Request{Kind: kinko.SSM, ID: "/big/", ByPath: true})
	if !errors.As(err, &e) || e.Code != kinko.BadRequest || !strings.Contains(e.Message, "/big/") || !strings.Contains(e.Message, "narrower path") || len(f.calls) != MaxPathPages {
		t.Fatalf("an over-long path: %v after %d calls, want a refusal naming the path after %d", err, len(f.calls), MaxPathPages)
	}
}
