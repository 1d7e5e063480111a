package main

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Issue 18, points 1-3: a request is never answered with another value's bytes, against moto.

// Point 1: `name=/p:1` answers version 1 with Name "/p"; that must not make "/p" a hit on it,
// at request time or through the prefetch.
func TestSSMSelectorIsNotAliasedToTheBaseName(t *testing.T) {
	a := startAWS(t)
	a.putParameter(t, "/sel/p", dbPassword, ssmtypes.ParameterTypeSecureString)
	a.putParameter(t, "/sel/p", dbPassword2, ssmtypes.ParameterTypeSecureString) // version 2, the latest
	for _, prefetch := range []string{"", "ssm:/sel/p:1"} {
		t.Run("prefetch="+prefetch, func(t *testing.T) {
			x := startExtension(t, a, map[string]string{"KINKO_PREFETCH": prefetch})
			x.waitLog(`"msg":"ready"`, `"prefetch_failed":0`)
			r, p := x.parameter("withDecryption=true&name=" + url.QueryEscape("/sel/p:1"))
			if r.status != 200 || p.Parameter.Version != 1 || p.Parameter.Value != dbPassword {
				t.Fatalf("/sel/p:1: %d, version %d", r.status, p.Parameter.Version)
			}
			r, p = x.parameter("withDecryption=true&name=" + url.QueryEscape("/sel/p"))
			if r.status != 200 || p.Parameter.Version != 2 || p.Parameter.Value != dbPassword2 {
				t.Fatalf("/sel/p after /sel/p:1: %d %q, version %d, want the latest (2)", r.status, r.cacheStatus, p.Parameter.Version)
			}
			x.assertNoSecrets(a, dbPassword, dbPassword2)
		})
	}
}

// Point 2: a secret read by ARN is aliased to its bare name only when the ARN is this
// sandbox's account and region. The account comes from /register (the accountId feature; the
// fake Lambda gives moto's account, 123456789012); where Lambda does not give it, never.
func TestSecretByARNIsAliasedToItsNameOnlyInTheKnownAccount(t *testing.T) {
	a := startAWS(t)
	created := a.createSecret(t, "ident/db", "ident-value-3c9e1f")
	for _, tc := range []struct {
		name      string
		noAccount bool
		byName    string // Cache-Status of the request by name after the one by ARN
		calls     int
	}{
		{"account known: the local ARN's name is the same secret", false, "kinko; hit; ttl=", 1},
		{"account unknown: no alias", true, "kinko; fwd=miss; stored", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := a.withOwnProxy(t)
			lambda := startLambda(t)
			if tc.noAccount {
				lambda.OmitAccountID()
			}
			x := startExtensionOn(t, lambda, a, nil, &syncBuffer{})
			x.waitLog(`"msg":"ready"`)
			if r := x.get("/secretsmanager/get?secretId=" + url.QueryEscape(aws.ToString(created.ARN))); r.status != 200 {
				t.Fatalf("by ARN: %d", r.status)
			}
			if r := x.get("/secretsmanager/get?secretId=ident/db"); r.status != 200 || !strings.HasPrefix(r.cacheStatus, tc.byName) {
				t.Fatalf("by name after the ARN: %d %q, want %q", r.status, r.cacheStatus, tc.byName)
			}
			// By name first, the answer's full ARN is certain: one entry.
			if r := x.get("/secretsmanager/get?secretId=" + url.QueryEscape(aws.ToString(created.ARN))); !strings.HasPrefix(r.cacheStatus, "kinko; hit; ttl=") {
				t.Fatalf("by ARN after the name: %q, want a hit", r.cacheStatus)
			}
			if got := a.proxy.Calls("GetSecretValue"); got != tc.calls {
				t.Fatalf("%d calls, want %d", got, tc.calls)
			}
			x.assertNoSecrets(a, "ident-value-3c9e1f")
		})
	}
}

// Point 3: after a secret is deleted and recreated under its name, its old ARN leaves the
// name's entry: a request by the old ARN gets ResourceNotFound, not the new secret.
func TestOldARNLeavesTheEntryWhenTheSecretIsRecreated(t *testing.T) {
	a := startAWS(t)
	const before, after = "recreated-before-8a1f", "recreated-after-2d7c"
	old := a.createSecret(t, "recreated/db", before)
	x := startExtension(t, a, map[string]string{"SECRETS_MANAGER_TTL": "1", "KINKO_REFRESH_AHEAD": "1"})
	x.waitLog(`"msg":"ready"`)
	oldPath := "/secretsmanager/get?secretId=" + url.QueryEscape(aws.ToString(old.ARN))
	x.get("/secretsmanager/get?secretId=recreated/db")
	if r := x.get(oldPath); !strings.HasPrefix(r.cacheStatus, "kinko; hit") {
		t.Fatalf("old ARN while it is current: %q, want a hit on the name's entry", r.cacheStatus)
	}
	if _, err := a.sm.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: old.ARN, ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	recreated := a.createSecret(t, "recreated/db", after)
	if aws.ToString(recreated.ARN) == aws.ToString(old.ARN) {
		t.Fatal("moto gave the recreated secret the same ARN; the case cannot show anything")
	}
	time.Sleep(time.Second) // the TTL: the name's entry is refetched and stored with the new ARN
	if r := x.get("/secretsmanager/get?secretId=recreated/db"); r.status != 200 || !strings.Contains(r.body, after) {
		t.Fatalf("by name after the recreation: %d, want the new secret", r.status)
	}
	r := x.get(oldPath)
	if !notFoundStatus(r.status) || !strings.Contains(r.body, "ResourceNotFoundException") || strings.Contains(r.body, after) {
		t.Fatalf("old ARN after the recreation: %d %q, want ResourceNotFound from AWS, not the new secret", r.status, r.cacheStatus)
	}
	x.assertNoSecrets(a, before, after)
}
