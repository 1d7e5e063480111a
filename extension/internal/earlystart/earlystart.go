// Package earlystart registers kinko with Lambda during package initialisation, before the
// AWS SDK's packages initialise.
//
// Lambda starts the function's runtime only once every extension has registered, and ends init
// only once every extension has called /event/next, so what kinko does before those two calls
// is added to every cold start. Go initialises a program's packages in dependency order, and
// among those whose imports are ready, in the order of their import paths; this package imports
// only the standard library's smallest packages and kinko's own configuration, so its init runs
// before net/http, the TLS stack and the SDK's endpoint tables initialise (about half of kinko's
// package initialisation). From there it loads the configuration, binds 127.0.0.1 and [::1],
// registers and sends the first /event/next over raw sockets (package rawhttp), and keeps what it
// settled for main to Take, which serves on those sockets and reads its first event from that
// connection. Anything it cannot settle exactly as main would (a bad
// setting, a port in use, an unusual environment) it leaves alone, and main starts as if this
// package did nothing: every init error is still reported by main, with /init/error.
//
// BENCHMARKS.md section 8 measures it; KINKO_EARLY_REGISTER=false turns it off.
package earlystart

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/config"
	"github.com/kinko-dev/kinko/extension/internal/extensionsapi/wire"
	"github.com/kinko-dev/kinko/extension/internal/jsonfield"
	"github.com/kinko-dev/kinko/extension/internal/rawhttp"
)

// State is what the early start settled, as main takes it over.
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

// settled is this process's early start, until main takes it. It is the one package-level
// variable of kinko on purpose: package initialisation has no caller to return a result to.
var settled atomic.Pointer[State]

func init() {
	if st, ok := Start(os.Args, os.Getenv); ok {
		settled.Store(&st)
	}
}

// Take returns what this process's early start settled, and nil from then on, so that one
// owner takes its descriptors over. It is nil too when the early start settled nothing (kinko
// starts alone: in tests, outside Lambda, or when the early start could not settle it).
func Take() *State { return settled.Swap(nil) }

// apiTimeout bounds each exchange with the Extensions API here; Lambda answers at once, and a
// start that gives up only leaves the registration to main.
const apiTimeout = 2 * time.Second

// maxAnswer bounds /register's answer: a few hundred bytes of JSON.
const maxAnswer = 64 << 10

// Start registers the extension args[0] names and sends its first /event/next, when Lambda
// started it (AWS_LAMBDA_RUNTIME_API is set and it runs from an extensions directory) and the
// environment is one kinko accepts as is. ok is false when it did nothing, having closed
// whatever it had opened.
func Start(args []string, getenv func(string) string) (st State, ok bool) {
	runtimeAPI := getenv("AWS_LAMBDA_RUNTIME_API")
	if runtimeAPI == "" || len(args) == 0 {
		return State{}, false
	}
	dir, name := splitPath(args[0])
	if _, parent := splitPath(dir); parent != "extensions" || name == "" {
		return State{}, false // not started by Lambda as an extension (a test binary, a shell)
	}
	cfg, err := config.Load(getenv)
	if err != nil || !cfg.EarlyRegister || !Settled(getenv) {
		return State{}, false
	}
	api, ok := rawhttp.ParseIPv4(runtimeAPI)
	if !ok {
		return State{}, false
	}
	listeners, err := rawhttp.ListenLoopback(cfg.Port)
	if err != nil {
		return State{}, false // main binds again and reports the port, with /init/error
	}
	st, err = register(api, runtimeAPI, name, cfg.Subscriptions())
	if err != nil {
		rawhttp.CloseAll(listeners)
		return State{}, false
	}
	st.Listeners, st.Next = listeners, -1
	// Provisioned concurrency inits on no one's clock and is frozen after: main warms the cache
	// first and sends /event/next itself (CONTRACT.md section 2).
	if cfg.InitType != config.InitProvisionedConcurrency {
		if fd, err := sendNext(api, runtimeAPI, st.ID); err == nil {
			st.Next = fd
		}
	}
	return st, true
}

// splitPath is path.Split without the trailing slash on dir (this package links no path).
func splitPath(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// register is POST /register, as extensionsapi.Client.Register sends it.
func register(api *syscall.SockaddrInet4, host, name string, events []string) (State, error) {
	req := rawhttp.Request("POST", wire.Register, host, []string{
		wire.Name + ": " + name,
		wire.AcceptFeature + ": " + wire.FeatureAccountID,
		"Content-Type: application/json",
	}, wire.RegisterBody(events))
	fd, err := rawhttp.Dial(api, apiTimeout)
	if err != nil {
		return State{}, err
	}
	defer syscall.Close(fd)
	if err := rawhttp.Send(fd, req); err != nil {
		return State{}, err
	}
	raw, err := rawhttp.Receive(fd, maxAnswer, time.Time{})
	if err != nil {
		return State{}, err
	}
	a, err := rawhttp.Parse(raw)
	if err != nil {
		return State{}, err
	}
	id := a.Header(wire.Identifier)
	if a.Status != 200 || !printable(id) {
		return State{}, errorString("register: Lambda answered " + strconv.Itoa(a.Status))
	}
	st := State{ID: id}
	if v, isString, _, err := jsonfield.Field(a.Body, "functionName"); err == nil && isString && printable(v) {
		st.FunctionName = v
	}
	if v, isString, _, err := jsonfield.Field(a.Body, "accountId"); err == nil && isString && printable(v) {
		st.AccountID = v
	}
	return st, nil
}

// sendNext sends GET /event/next on a new connection and returns it unanswered: its answer is
// the first event, which main reads.
func sendNext(api *syscall.SockaddrInet4, host, id string) (int, error) {
	fd, err := rawhttp.Dial(api, apiTimeout)
	if err != nil {
		return -1, err
	}
	// /event/next answers only when the next event comes: no timeout on it from here on.
	rawhttp.SetTimeout(fd, 0)
	if err := rawhttp.Send(fd, rawhttp.Request("GET", wire.Next, host, []string{wire.Identifier + ": " + id}, "")); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// printable is true for a non-empty value with no control characters, safe to pass on and log.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return s != ""
}

type errorString string

func (e errorString) Error() string { return string(e) }

// sdkVariables are the SDK settings kinko reads (awsconfig.Load) whose values can be
// wrong; where one is set the early start leaves the registration to main, which judges them.
var sdkVariables = []string{"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"}

// Settled says whether the AWS environment is one kinko cannot refuse: a region, one of the
// credential sources a sandbox has, and none of the SDK settings that take a value. It is
// stricter than awsconfig.Load on purpose (a test holds the two together): false only
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
