package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/kinko-dev/kinko/internal/moto"
)

// layerZip writes a small layer zip whose content depends on marker.
func layerZip(t *testing.T, marker string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("extensions/kinko")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte("#!/bin/sh\n# " + marker + "\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kinko-layer.zip")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runtimesFile is the repository's list, the one make publish-layer passes.
const runtimesFile = "../../../layer/compatible-runtimes.json"

func client(t *testing.T, region string) *lambda.Client {
	t.Helper()
	return lambda.NewFromConfig(awsConfig(t, region))
}

func awsConfig(t *testing.T, region string) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion(region))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func publish(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errs bytes.Buffer
	err = run(context.Background(), append([]string{"-runtimes", runtimesFile}, args...), &out, &errs)
	return out.String(), errs.String(), err
}

// Against moto, in two regions: what `make publish-layer REGIONS="us-east-1 eu-west-1"` does.
func TestPublishTwoRegionsKeepsOldVersionsAndShares(t *testing.T) {
	m := moto.ForTest(t)
	for k, v := range m.Env() {
		t.Setenv(k, v)
	}
	arns := filepath.Join(t.TempDir(), "arns.txt")
	first := layerZip(t, "v1")
	regions := []string{"us-east-1", "eu-west-1"}

	out, log, err := publish(t, "-zip", first, "-arch", "arm64", "-regions", "us-east-1 eu-west-1", "-out", arns)
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, log)
	}
	printed := strings.Fields(out)
	written, _ := os.ReadFile(arns)
	if len(printed) != 2 {
		t.Fatalf("printed %q, want two ARNs", out)
	}
	for i, r := range regions {
		want := "arn:aws:lambda:" + r + ":123456789012:layer:kinko-arm64:1"
		if printed[i] != want {
			t.Errorf("ARN %d = %s, want %s", i, printed[i], want)
		}
		if !strings.Contains(string(written), r+" "+want+"\n") {
			t.Errorf("%s lacks %q:\n%s", arns, r+" "+want, written)
		}
	}

	// The same zip again: the same version, not a copy.
	out, log, err = publish(t, "-zip", first, "-arch", "arm64", "-regions", "us-east-1,eu-west-1", "-out", arns)
	if err != nil || !strings.Contains(out, "kinko-arm64:1") || strings.Contains(out, ":2") || !strings.Contains(log, "already holds this zip") {
		t.Fatalf("republish of the same zip: %v\n%s\n%s", err, out, log)
	}

	// A new build: version 2, shared with an account and an organization; version 1 stays.
	second := layerZip(t, "v2")
	out, log, err = publish(t, "-zip", second, "-arch", "arm64", "-regions", "us-east-1 eu-west-1", "-out", arns,
		"-share-account", "111122223333", "-share-org", "o-a1b2c3d4e5")
	if err != nil || strings.Count(out, "kinko-arm64:2") != 2 {
		t.Fatalf("publish v2: %v\n%s\n%s", err, out, log)
	}
	for _, r := range regions {
		c := client(t, r)
		v1, err := c.GetLayerVersion(t.Context(), &lambda.GetLayerVersionInput{LayerName: aws.String("kinko-arm64"), VersionNumber: aws.Int64(1)})
		if err != nil {
			t.Fatalf("%s: version 1 after publishing 2: %v (old versions must be kept)", r, err)
		}
		v2, err := c.GetLayerVersion(t.Context(), &lambda.GetLayerVersionInput{LayerName: aws.String("kinko-arm64"), VersionNumber: aws.Int64(2)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(v1.Content.CodeSha256) == aws.ToString(v2.Content.CodeSha256) {
			t.Errorf("%s: versions 1 and 2 hold the same zip", r)
		}
		var runtimes []string
		for _, rt := range v2.CompatibleRuntimes {
			runtimes = append(runtimes, string(rt))
		}
		if len(runtimes) != maxRuntimes || !strings.Contains(strings.Join(runtimes, " "), "python3.13") ||
			!strings.Contains(strings.Join(runtimes, " "), "nodejs22.x") || len(v2.CompatibleArchitectures) != 1 || v2.CompatibleArchitectures[0] != "arm64" {
			t.Errorf("%s: runtimes %v, architectures %v: want the %d of the list and arm64", r, runtimes, v2.CompatibleArchitectures, maxRuntimes)
		}
		pol, err := c.GetLayerVersionPolicy(t.Context(), &lambda.GetLayerVersionPolicyInput{LayerName: aws.String("kinko-arm64"), VersionNumber: aws.Int64(2)})
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Statement []map[string]any
		}
		if err := json.Unmarshal([]byte(aws.ToString(pol.Policy)), &doc); err != nil {
			t.Fatal(err)
		}
		policy := aws.ToString(pol.Policy)
		if len(doc.Statement) != 2 || !strings.Contains(policy, "111122223333") || !strings.Contains(policy, "o-a1b2c3d4e5") ||
			!strings.Contains(policy, "lambda:GetLayerVersion") {
			t.Errorf("%s: policy %s, want one statement for the account and one for the organization", r, policy)
		}
	}

	// Sharing again adds nothing: the statement ids are already there.
	if _, log, err := publish(t, "-zip", second, "-arch", "arm64", "-regions", "us-east-1", "-out", arns,
		"-share-account", "111122223333", "-share-org", "o-a1b2c3d4e5"); err != nil || strings.Contains(log, "shared") {
		t.Fatalf("second share: %v\n%s", err, log)
	}
	pol, err := client(t, "us-east-1").GetLayerVersionPolicy(t.Context(), &lambda.GetLayerVersionPolicyInput{LayerName: aws.String("kinko-arm64"), VersionNumber: aws.Int64(2)})
	if err != nil || strings.Count(aws.ToString(pol.Policy), `"Sid"`) != 2 {
		t.Fatalf("policy after a second share: %v %s", err, aws.ToString(pol.Policy))
	}

	// x86_64 is its own layer: the console filters by architecture.
	if out, log, err := publish(t, "-zip", layerZip(t, "amd"), "-arch", "x86_64", "-regions", "eu-west-1", "-out", arns); err != nil ||
		strings.TrimSpace(out) != "arn:aws:lambda:eu-west-1:123456789012:layer:kinko-x86_64:1" {
		t.Fatalf("x86_64: %v\n%s\n%s", err, out, log)
	}
}

func TestBadFlagsSayWhatIsWrong(t *testing.T) {
	zipPath := layerZip(t, "x")
	cases := map[string]struct {
		args []string
		want []string
	}{
		"nothing":      {nil, []string{"-zip is required", "-arch", "-regions is required"}},
		"bad arch":     {[]string{"-zip", zipPath, "-arch", "amd64", "-regions", "us-east-1"}, []string{`-arch "amd64": want arm64 or x86_64`}},
		"bad region":   {[]string{"-zip", zipPath, "-arch", "arm64", "-regions", "us-east-1 Frankfurt"}, []string{`"Frankfurt" is not a region`}},
		"bad account":  {[]string{"-zip", zipPath, "-arch", "arm64", "-regions", "us-east-1", "-share-account", "1234"}, []string{`"1234" is not a 12-digit account id`}},
		"bad org":      {[]string{"-zip", zipPath, "-arch", "arm64", "-regions", "us-east-1", "-share-org", "myorg"}, []string{`-share-org "myorg"`}},
		"missing zip":  {[]string{"-zip", "/nonexistent.zip", "-arch", "arm64", "-regions", "us-east-1"}, []string{"read the layer zip", "make layer"}},
		"extra word":   {[]string{"-zip", zipPath, "-arch", "arm64", "-regions", "us-east-1", "now"}, []string{`unexpected argument "now"`}},
		"long runtime": {[]string{"-zip", zipPath, "-arch", "arm64", "-regions", "us-east-1", "-runtimes", tooMany(t)}, []string{"lists 16 runtimes; Lambda takes 1 to 15"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var out, errs bytes.Buffer
			args := c.args
			if name != "long runtime" {
				args = append([]string{"-runtimes", runtimesFile}, args...)
			}
			err := run(context.Background(), args, &out, &errs)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func tooMany(t *testing.T) string {
	t.Helper()
	var names []string
	for range 16 {
		names = append(names, "python3.13")
	}
	b, _ := json.Marshal(names)
	path := filepath.Join(t.TempDir(), "runtimes.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
