package document

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// The documents are compared byte for byte with the shape AWS's extension writes (FACTS.md: key
// order, nulls kept, "ResultMetadata":{} last, dates UTC to the millisecond): callers that parse
// with a fixed struct, or compare answers across extensions, see no difference.
func TestDocumentsAreAWSShaped(t *testing.T) {
	// 499.9 ms in Tokyo: the date is written in UTC, cut (not rounded) to the millisecond.
	created := time.Date(2022, 11, 16, 17, 22, 40, 499_900_000, time.FixedZone("JST", 9*3600))
	v, err := RenderSecret(&secretsmanager.GetSecretValueOutput{
		ARN: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf"), Name: aws.String("app"),
		SecretString: aws.String("s3cr3t"), VersionId: aws.String("v1"), VersionStages: []string{"AWSCURRENT"}, CreatedDate: &created,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf","CreatedDate":"2022-11-16T08:22:40.499Z",` +
		`"Name":"app","SecretBinary":null,"SecretString":"s3cr3t","VersionId":"v1","VersionStages":["AWSCURRENT"],"ResultMetadata":{}}`
	if string(v.Body) != want {
		t.Errorf("secret document\n got %s\nwant %s", v.Body, want)
	}

	whole := time.Date(2022, 11, 16, 8, 22, 40, 0, time.UTC) // whole seconds still get ".000"
	p, err := RenderParameter(&ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{
		ARN: aws.String("arn:aws:ssm:us-east-1:123456789012:parameter/app/db"), DataType: aws.String("text"),
		LastModifiedDate: &whole, Name: aws.String("/app/db"), Selector: aws.String(":1"),
		Type: ssmtypes.ParameterTypeSecureString, Value: aws.String("pw"), Version: 1,
	}})
	if err != nil {
		t.Fatal(err)
	}
	want = `{"Parameter":{"ARN":"arn:aws:ssm:us-east-1:123456789012:parameter/app/db","DataType":"text",` +
		`"LastModifiedDate":"2022-11-16T08:22:40.000Z","Name":"/app/db","Selector":":1","SourceResult":null,` +
		`"Type":"SecureString","Value":"pw","Version":1},"ResultMetadata":{}}`
	if string(p.Body) != want {
		t.Errorf("parameter document\n got %s\nwant %s", p.Body, want)
	}
}
