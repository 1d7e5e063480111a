package document

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// A path read, split, gives each parameter the very document a GetParameter of it gives: the
// entries it feeds answer the GET route exactly as a fetch of their own would.
func TestPathParametersAreGetParameterDocuments(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 250_000_000, time.UTC)
	params := []ssmtypes.Parameter{
		{ARN: aws.String("arn:aws:ssm:us-east-1:123456789012:parameter/app/a"), Name: aws.String("/app/a"), Type: ssmtypes.ParameterTypeString,
			Value: aws.String(`{"k":"<s3cr3t & \"quoted\">"}`), Version: 3, LastModifiedDate: &at, DataType: aws.String("text")},
		{Name: aws.String("/app/b"), Type: ssmtypes.ParameterTypeSecureString, Value: aws.String("b"), Version: 1},
	}
	v, err := RenderPath("/app", params)
	if err != nil || v.Name != "/app" || v.Version != "2" || v.HasText() {
		t.Fatalf("path value: %v %+v", err, v)
	}
	parts, err := PathParameters(v)
	if err != nil || len(parts) != 2 {
		t.Fatalf("split: %v, %d parts", err, len(parts))
	}
	for i := range params {
		want, _ := RenderParameter(&ssm.GetParameterOutput{Parameter: &params[i]})
		got := parts[i]
		if string(got.Body) != string(want.Body) || got.ARN != want.ARN || got.Name != want.Name || got.Version != want.Version {
			t.Fatalf("parameter %d: the split document differs from GetParameter's", i)
		}
		wt, _ := want.Text()
		if gt, ok := got.Text(); !ok || gt != wt {
			t.Fatalf("parameter %d: text differs", i)
		}
	}
	if k, err := parts[0].JSONKey("k"); err != nil || !strings.Contains(k, "quoted") {
		t.Fatalf("jsonKey on a split parameter: %v", err)
	}
	empty, _ := RenderPath("/none", nil)
	if string(empty.Body) != "[]" {
		t.Fatalf("an empty path: %s", empty.Body)
	}
	if parts, err := PathParameters(empty); err != nil || len(parts) != 0 {
		t.Fatalf("an empty path splits into %d, %v", len(parts), err)
	}
}
