package kinko

import "testing"

// A write drops every spelling and stage of what it wrote, and nothing unrelated.
func TestTouches(t *testing.T) {
	const (
		full    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
		partial = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db"
		pARN    = "arn:aws:ssm:us-east-1:123456789012:parameter/app/flag"
	)
	sm := func(id, stage string) Request { return Request{Kind: SecretsManager, ID: id, Stage: stage} }
	ps := func(id string) Request { return Request{Kind: SSM, ID: id, Decrypt: true} }
	path := func(id string, s PathScope) Request { return Request{Kind: SSM, ID: id, Path: s} }
	for _, tc := range []struct {
		kind Kind
		id   string
		r    Request
		want bool
	}{
		{SecretsManager, "prod/db", sm("prod/db", CurrentStage), true},
		{SecretsManager, "prod/db", sm("prod/db", "AWSPENDING"), true},
		{SecretsManager, "prod/db", Request{Kind: SecretsManager, ID: "prod/db", VersionID: "v1"}, true},
		{SecretsManager, "prod/db", sm(full, CurrentStage), true},
		{SecretsManager, "prod/db", sm(partial, CurrentStage), true},
		{SecretsManager, full, sm("prod/db", CurrentStage), true},
		{SecretsManager, partial, sm(full, CurrentStage), true},
		{SecretsManager, full, sm(partial, "AWSPREVIOUS"), true},
		{SecretsManager, "prod/db", ps("/aws/reference/secretsmanager/prod/db"), true},
		{SecretsManager, "prod/db", sm("prod/db2", CurrentStage), false},
		{SecretsManager, "prod/db", sm("prod", CurrentStage), false},
		{SecretsManager, "prod/db", ps("prod/db"), false},
		{SecretsManager, "prod/db", path("/aws/reference/secretsmanager/", PathRecursive), false},
		{SSM, "/app/flag", ps("/app/flag"), true},
		{SSM, "/app/flag", ps("/app/flag:3"), true},
		{SSM, "/app/flag", ps("/app/flag:prod"), true},
		{SSM, "/app/flag", ps(pARN), true},
		{SSM, pARN, ps("/app/flag"), true},
		{SSM, "/app/flag", ps(pARN + ":2"), true},
		{SSM, "app", ps("/app"), true}, // an ARN cannot tell them apart
		{SSM, "/app/flag", path("/app", PathChildren), true},
		{SSM, "/app/flag", path("/app/", PathRecursive), true},
		{SSM, "/app/flag", path("/", PathRecursive), true},
		{SSM, "/app/flag", path("/app/flag", PathRecursive), false},
		{SSM, "/app/flag", path("/ap", PathRecursive), false},
		{SSM, "/app/flag", ps("/app/flags"), false},
		{SSM, "/app/flag", sm("/app/flag", CurrentStage), false},
	} {
		if got := Touches(tc.kind, tc.id, tc.r); got != tc.want {
			t.Errorf("a write to %s %q touches %+v: %t, want %t", tc.kind, tc.id, tc.r, got, tc.want)
		}
	}
}
