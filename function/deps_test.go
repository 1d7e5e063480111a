package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The function reads secrets over loopback HTTP through kinko; linking the AWS SDK for Secrets
// Manager (or SSM) would add megabytes to every cold start and defeat the point.
func TestFunctionDoesNotLinkTheAWSSecretsSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "aws-sdk-go-v2/service/") {
			t.Errorf("the function links %s; read secrets through kinko (github.com/kinko-dev/kinko/client) instead", pkg)
		}
	}
}
