// Package handoff is what kinko's launcher passes to the extension across exec.
//
// Lambda starts the runtime once every extension has registered and ends init once every
// extension has called /event/next, so what an extension does before those calls is added to
// every cold start. The layer's entry point, /opt/extensions/kinko, is therefore a one-line
// script run by the small /opt/kinko-exec (no AWS SDK, no net/http): it checks the
// configuration, binds the port, registers, sends the first /event/next and then execs the
// extension proper, /opt/kinko/kinkod, in the same process (Lambda's signals still reach it),
// with the listening sockets, the extension's identifier and the connection that waits for the
// first event. Whatever the launcher cannot settle as kinko would (a bad setting, a port in use,
// an unusual environment) it leaves to kinkod by exec'ing it plainly, which then starts as if
// alone; so every error is still reported by kinkod, the one place that knows how.
//
// The state travels in argv, not in the environment: the function's environment is the user's,
// and argv is kinkod's own.
package handoff

import (
	"errors"
	"strconv"
	"strings"
)

// Flag is argv[1] of a kinkod started with a handoff.
const Flag = "--handoff"

// State is what the launcher settled.
type State struct {
	ID           string // Lambda-Extension-Identifier, for every later call
	FunctionName string // from /register's answer
	AccountID    string // from /register's answer (the accountId feature); may be empty
	Listeners    []int  // listening sockets: 127.0.0.1 first, then [::1] if bound
	// Next is a connection on which GET /event/next was sent and is not yet answered: its
	// answer is the first event. -1: none was sent (provisioned concurrency, which warms the
	// cache before init ends, or a send that failed), and kinkod sends it itself.
	Next int
}

// Args is kinkod's argv for s. argv0 is the extension's own path, whose base name Lambda
// knows the extension by.
func (s State) Args(argv0 string) []string {
	fds := make([]string, len(s.Listeners))
	for i, fd := range s.Listeners {
		fds[i] = strconv.Itoa(fd)
	}
	return []string{argv0, Flag, s.ID, s.FunctionName, s.AccountID, strings.Join(fds, ","), strconv.Itoa(s.Next)}
}

// Parse reads a State from kinkod's argv. ok is false without a handoff (kinkod started
// alone, as in tests and outside the layer).
func Parse(args []string) (s State, ok bool, err error) {
	if len(args) < 2 || args[1] != Flag {
		return State{}, false, nil
	}
	if len(args) != 7 || args[2] == "" || args[5] == "" {
		return State{}, true, errors.New("kinko was started with a malformed " + Flag + " (" + strconv.Itoa(len(args)) +
			" arguments): it is started by /opt/extensions/kinko; do not pass " + Flag + " yourself")
	}
	s = State{ID: args[2], FunctionName: args[3], AccountID: args[4]}
	for _, f := range strings.Split(args[5], ",") {
		fd, err := strconv.Atoi(f)
		if err != nil || fd < 3 {
			return State{}, true, errors.New("kinko was started with a bad listener descriptor " + strconv.Quote(f) + " in " + Flag)
		}
		s.Listeners = append(s.Listeners, fd)
	}
	if s.Next, err = strconv.Atoi(args[6]); err != nil || s.Next < -1 || (0 <= s.Next && s.Next < 3) {
		return State{}, true, errors.New("kinko was started with a bad connection descriptor " + strconv.Quote(args[6]) + " in " + Flag)
	}
	return s, true, nil
}

// sdkVariables are the SDK settings kinko reads (upstream.AWSConfig) whose values can be
// wrong; where one is set the launcher leaves the start to kinkod, which judges them.
var sdkVariables = []string{"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"}

// Settled says whether the AWS environment is one kinkod cannot refuse: a region, one of the
// credential sources a sandbox has, and none of the SDK settings that take a value. It is
// stricter than upstream.AWSConfig on purpose (a test holds the two together): false only
// means the launcher hands the start to kinkod, which then reports any problem with
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
