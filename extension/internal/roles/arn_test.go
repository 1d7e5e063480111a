package roles

import (
	"errors"
	"strings"
	"testing"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

func TestParseReadsRoleARNs(t *testing.T) {
	for arn, want := range map[string]Role{
		"arn:aws:iam::210987654321:role/reader":                     {Partition: "aws", Account: "210987654321", Name: "reader"},
		"arn:aws-cn:iam::210987654321:role/a/b/reader":              {Partition: "aws-cn", Account: "210987654321", Name: "reader"},
		"arn:aws-us-gov:iam::000000000000:role/x+=,.@_-Y9":          {Partition: "aws-us-gov", Account: "000000000000", Name: "x+=,.@_-Y9"},
		"arn:aws-iso-b:iam::123456789012:role/service-role/r":       {Partition: "aws-iso-b", Account: "123456789012", Name: "r"},
		"arn:aws:iam::123456789012:role/" + strings.Repeat("n", 64): {Partition: "aws", Account: "123456789012", Name: strings.Repeat("n", 64)},
	} {
		got, err := Parse(arn)
		want.ARN = arn
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", arn, got, err, want)
		}
	}
}

// A malformed ARN is a 400 (BadRequest) naming the ARN and what is wrong with it.
func TestParseSaysWhatIsWrong(t *testing.T) {
	for arn, says := range map[string]string{
		"":       "0 characters long",
		"reader": "6 characters long",
		"arn:aws:iam::210987654321:role/" + strings.Repeat("r", 2048): "characters long",
		"arn:aws:iam::210987654321:user/reader":                       "is not role/NAME",
		"arn:aws:sts::210987654321:role/reader":                       `the service is "sts"`,
		"arn:aws:iam:us-east-1:210987654321:role/reader":              `the region field holds "us-east-1"`,
		"arn:aws:iam::21098765432:role/reader":                        `the account "21098765432" is not 12 digits`,
		"arn:aws:iam::21098765432x:role/reader":                       "not 12 digits",
		"arn:amazon:iam::210987654321:role/reader":                    `the partition "amazon"`,
		"arn:AWS:iam::210987654321:role/reader":                       `the partition "AWS"`,
		"arn:aws-:iam::210987654321:role/reader":                      `the partition "aws-"`,
		"arn:aws:iam::210987654321:role/":                             "the role name is empty",
		"arn:aws:iam::210987654321:role/a/":                           "the role name is empty",
		"arn:aws:iam::210987654321:role/a//b":                         "empty segment",
		"arn:aws:iam::210987654321:role/a b":                          `the character ' '`,
		"arn:aws:iam::210987654321:role/p q/b":                        "path has the character ' '",
		"arn:aws:iam::210987654321:role/r:x":                          `the character ':'`,
		"arn:aws:iam::210987654321:role/" + strings.Repeat("r", 65):   "65 characters long, over IAM's 64",
		"arn:aws:iam::210987654321":                                   "six fields",
		"urn:aws:iam::210987654321:role/reader":                       "six fields",
	} {
		_, err := Parse(arn)
		var e *kinko.Error
		if !errors.As(err, &e) || e.Code != kinko.BadRequest || !strings.Contains(e.Message, says) || !strings.Contains(e.Message, "roleArn "+`"`+kinko.Clip(arn)) {
			t.Errorf("Parse(%q): %v; want BadRequest naming the ARN and saying %q", kinko.Clip(arn), err, says)
		}
	}
}

// The session name says kinko and the function, within STS's 2 to 64 characters of [\w+=,.@-].
func TestSessionNameKeepsToSTSRules(t *testing.T) {
	for fn, want := range map[string]string{
		"":                          "kinko",
		"orders-api":                "kinko-orders-api",
		"my_fn.v2":                  "kinko-my_fn.v2",
		"fn with spaces/and:colons": "kinko-fn-with-spaces-and-colons",
		"ünï":                       "kinko---n--", // each byte of a non-ASCII letter
		strings.Repeat("f", 100):    "kinko-" + strings.Repeat("f", 58),
	} {
		got := SessionName(fn)
		if got != want || len(got) < 2 || len(got) > 64 {
			t.Errorf("SessionName(%q) = %q, want %q", fn, got, want)
		}
		for i := 0; i < len(got); i++ {
			if !nameChar(got[i]) {
				t.Errorf("SessionName(%q) has %q, outside STS's set", fn, got[i])
			}
		}
	}
}
