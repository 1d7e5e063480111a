package kinko

import (
	"slices"
	"testing"
)

// answer is what Aliases reads of an answer: the ARN and Name AWS gave.
type answer struct{ ARN, Name string }

const (
	localARN   = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
	foreignARN = "arn:aws:secretsmanager:us-east-1:999999999999:secret:prod/db-XyZwVu"
	otherRegn  = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-QqQqQq"
	ssmARN     = "arn:aws:ssm:us-east-1:123456789012:parameter/p"
)

func ids(rs []Request) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// #18 points 1 and 2: aliases only where the identity is certain.
func TestAliasesOnlyWhereIdentityIsCertain(t *testing.T) {
	home := NewHome("us-east-1")
	sm := func(id string) Request { return Request{Kind: SecretsManager, ID: id, Stage: CurrentStage} }
	ps := func(id string) Request { return Request{Kind: SSM, ID: id, Decrypt: true} }
	cases := []struct {
		name    string
		account string
		r       Request
		v       answer
		want    []string
	}{
		{"by name: the full ARN", "", sm("prod/db"), answer{ARN: localARN, Name: "prod/db"}, []string{localARN}},
		{"by local ARN, account unknown: nothing", "", sm(localARN), answer{ARN: localARN, Name: "prod/db"}, nil},
		{"by local ARN, account known: the name", "123456789012", sm(localARN), answer{ARN: localARN, Name: "prod/db"}, []string{"prod/db"}},
		{"by partial local ARN: the full ARN and the name", "123456789012", sm("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db"),
			answer{ARN: localARN, Name: "prod/db"}, []string{localARN, "prod/db"}},
		{"by another account's ARN: never the name", "123456789012", sm(foreignARN), answer{ARN: foreignARN, Name: "prod/db"}, nil},
		{"by another region's ARN: never the name", "123456789012", sm(otherRegn), answer{ARN: otherRegn, Name: "prod/db"}, nil},
		{"SSM by name: the ARN", "123456789012", ps("/p"), answer{ARN: ssmARN, Name: "/p"}, []string{ssmARN}},
		{"SSM by ARN: the name", "123456789012", ps(ssmARN), answer{ARN: ssmARN, Name: "/p"}, []string{"/p"}},
		{"SSM selector by version: nothing", "123456789012", ps("/p:1"), answer{ARN: ssmARN, Name: "/p"}, nil},
		{"SSM selector by label: nothing", "123456789012", ps("/p:prod"), answer{ARN: ssmARN, Name: "/p"}, nil},
		{"SSM selector in an ARN: nothing", "123456789012", ps(ssmARN + ":1"), answer{ARN: ssmARN, Name: "/p"}, nil},
		{"SSM reference to a secret: not an SSM ARN, nothing", "123456789012", ps("/aws/reference/secretsmanager/prod/db"),
			answer{ARN: localARN, Name: "/aws/reference/secretsmanager/prod/db"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.account != "" {
				home.SetAccount(tc.account)
			} else {
				home.SetAccount("")
			}
			got := home.Aliases(tc.r, tc.v.ARN, tc.v.Name)
			if !slices.Equal(ids(got), tc.want) {
				t.Fatalf("aliases %q, want %q", ids(got), tc.want)
			}
			for _, a := range got {
				if a.Kind != tc.r.Kind || a.VersionID != tc.r.VersionID || a.Stage != tc.r.Stage || a.Decrypt != tc.r.Decrypt {
					t.Fatalf("alias %+v differs from the request %+v beyond its id", a, tc.r)
				}
			}
		})
	}
}
