// Package handoff is what kinko's registration during package initialisation (package
// earlystart) settled, as main takes it over: the listening sockets, the registration and the
// connection waiting for the first event. It travels in the process's own environment, set by
// earlystart's init and read by main through its getenv, so no package holds it in a variable.
package handoff

import (
	"errors"
	"strconv"
	"strings"
)

// EnvVar holds an encoded State. earlystart clears it before it starts, so a value from the
// function's environment is never taken for kinko's own.
const EnvVar = "_KINKO_EARLY_START"

// State is what the early start settled.
type State struct {
	ID           string // Lambda-Extension-Identifier, for every later call
	FunctionName string // from /register's answer
	AccountID    string // from /register's answer (the accountId feature); may be empty
	Listeners    []int  // listening sockets: 127.0.0.1 first, then [::1] if bound
	// Next is a connection on which GET /event/next was sent and is not yet answered: its
	// answer is the first event. -1: none was sent (provisioned concurrency, which warms the
	// cache before init ends, or a send that failed), and main sends it itself.
	Next int
}

// Encode is s as EnvVar's value. The fields hold no control characters (earlystart keeps
// only printable ones), so a newline separates them.
func (s State) Encode() string {
	fds := make([]string, len(s.Listeners))
	for i, fd := range s.Listeners {
		fds[i] = strconv.Itoa(fd)
	}
	return strings.Join([]string{s.ID, s.FunctionName, s.AccountID, strings.Join(fds, ","), strconv.Itoa(s.Next)}, "\n")
}

// FromEnv reads the State earlystart left in EnvVar. ok is false when there is none (kinko
// starts alone: in tests, outside Lambda, or when the early start could not settle it).
func FromEnv(getenv func(string) string) (s State, ok bool, err error) {
	v := getenv(EnvVar)
	if v == "" {
		return State{}, false, nil
	}
	f := strings.Split(v, "\n")
	if len(f) != 5 || f[0] == "" || f[3] == "" {
		return State{}, true, errors.New("kinko's early start left a malformed " + EnvVar + " (" + strconv.Itoa(len(f)) +
			" fields): it is kinko's own; do not set it")
	}
	s = State{ID: f[0], FunctionName: f[1], AccountID: f[2]}
	for _, d := range strings.Split(f[3], ",") {
		fd, err := strconv.Atoi(d)
		if err != nil || fd < 3 {
			return State{}, true, errors.New("kinko's early start left a bad listener descriptor " + strconv.Quote(d) + " in " + EnvVar)
		}
		s.Listeners = append(s.Listeners, fd)
	}
	if s.Next, err = strconv.Atoi(f[4]); err != nil || s.Next < -1 || (0 <= s.Next && s.Next < 3) {
		return State{}, true, errors.New("kinko's early start left a bad connection descriptor " + strconv.Quote(f[4]) + " in " + EnvVar)
	}
	return s, true, nil
}

// sdkVariables are the SDK settings kinko reads (upstream.AWSConfig) whose values can be
// wrong; where one is set the early start leaves the registration to main, which judges them.
var sdkVariables = []string{"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"}

// Settled says whether the AWS environment is one kinko cannot refuse: a region, one of the
// credential sources a sandbox has, and none of the SDK settings that take a value. It is
// stricter than upstream.AWSConfig on purpose (a test holds the two together): false only
// means the early start leaves the registration to main, which then reports any problem with
// /init/error before its first /event/next, as the contract asks.
func Settled(getenv func(string) string) bool {
	set := func(k string) bool { return strings.TrimSpace(getenv(k)) != "" }
	if getenv("AWS_REGION") == "" && getenv("AWS_DEFAULT_REGION") == "" {
		return false
	}
	if !(getenv("AWS_ACCESS_KEY_ID") != "" && getenv("AWS_SECRET_ACCESS_KEY") != "") &&
		getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") == "" && getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") == "" {
		return false
	}
	for _, k := range sdkVariables {
		if set(k) {
			return false
		}
	}
	return true
}
