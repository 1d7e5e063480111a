package core

import (
	"errors"
	"testing"

	"github.com/kinko-dev/kinko/extension/internal/upstream"
)

func TestNotFoundIsOnlyAWSSayingSo(t *testing.T) {
	for code, want := range map[string]bool{
		"ResourceNotFoundException": true, "ParameterNotFound": true, "ParameterVersionNotFound": true,
		"AccessDeniedException": false, "ThrottlingException": false, upstream.CodeTimeout: false,
	} {
		if got := isNotFound(&upstream.Error{Status: 400, Code: code}); got != want {
			t.Errorf("%s: isNotFound = %v, want %v", code, got, want)
		}
	}
	if isNotFound(errors.New("ResourceNotFoundException")) {
		t.Error("a plain error is not AWS's answer")
	}
}
