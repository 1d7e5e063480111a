package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/awsconfig"
	"github.com/kinko-dev/kinko/extension/internal/earlystart"
	"github.com/kinko-dev/kinko/internal/extensionsapitest"
)

// The early start (package earlystart) accepts an AWS environment only if kinko cannot refuse
// it: otherwise a refusal would come after its /event/next, too late for /init/error.
func TestEarlyStartSettlesOnlyWhatKinkoAccepts(t *testing.T) {
	values := map[string][]string{
		"AWS_REGION":                         {"", "us-east-1", " "},
		"AWS_DEFAULT_REGION":                 {"", "eu-west-1"},
		"AWS_ACCESS_KEY_ID":                  {"", "AKIA"},
		"AWS_SECRET_ACCESS_KEY":              {"", "s"},
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": {"", "http://127.0.0.1:1/creds"},
		"AWS_USE_FIPS_ENDPOINT":              {"", "true", "maybe", " "},
		"AWS_MAX_ATTEMPTS":                   {"", "3", "-1"},
		"AWS_RETRY_MODE":                     {"", "adaptive", "x"},
		"AWS_ENDPOINT_URL":                   {"", "http://127.0.0.1:1"},
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	settled := 0
	// Every combination: 3*2*2*2*2*4*3*3*2 = 6912 environments.
	var walk func(i int, env map[string]string)
	walk = func(i int, env map[string]string) {
		if i == len(names) {
			getenv := func(k string) string { return env[k] }
			if !earlystart.Settled(getenv) {
				return
			}
			settled++
			if _, err := awsconfig.Load(getenv); err != nil {
				t.Fatalf("the early start settles %v, which kinko refuses: %v", env, err)
			}
			return
		}
		for _, v := range values[names[i]] {
			env[names[i]] = v
			walk(i+1, env)
		}
	}
	walk(0, map[string]string{})
	if settled == 0 {
		t.Fatal("the early start settles no environment at all")
	}
	lambda := map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_SESSION_TOKEN": "t"}
	snap := map[string]string{"AWS_REGION": "us-east-1", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/c", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "t"}
	for _, env := range []map[string]string{lambda, snap} {
		if !earlystart.Settled(func(k string) string { return env[k] }) {
			t.Errorf("the early start leaves a sandbox's usual environment %v to main: every start would be the slow one", env)
		}
	}
}

// After the early start, kinko serves on the listeners it opened, registers no second time and
// takes its first event from the connection on which it sent /event/next.
func TestRunResumesTheEarlyStart(t *testing.T) {
	lambda := startLambda(t)
	env, early, port := earlyStarted(t, lambda)
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(t.Context(), []string{"/opt/extensions/kinko"}, func(k string) string { return env[k] }, nil, logs, early)
	}()

	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://127.0.0.1:" + strconv.Itoa(port) + "/ping")
	if err != nil {
		t.Fatalf("kinko does not answer on the early start's listener: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/ping: %d", resp.StatusCode)
	}

	lambda.Send(extensionsapitest.Shutdown(2 * time.Second))
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("kinko did not shut down on the SHUTDOWN sent to the early /event/next")
	}
	if n := lambda.NextCalls(); n != 1 {
		t.Errorf("Lambda saw %d /event/next calls, want the early one only", n)
	}
	if n := len(lambda.Registrations()); n != 1 {
		t.Errorf("Lambda saw %d registrations, want the early one only: kinko registered again after the early start had", n)
	}
	if !strings.Contains(logs.String(), `"early_start":true`) {
		t.Error("the ready line does not say kinko registered early")
	}
}

// An early start kinko cannot take over is reported, not ignored.
func TestRunRefusesABadHandoff(t *testing.T) {
	lambda := startLambda(t)
	env := map[string]string{"AWS_LAMBDA_RUNTIME_API": lambda.Addr, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_SESSION_TOKEN": testToken}
	f, err := os.CreateTemp(t.TempDir(), "not-a-socket")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	st := &earlystart.State{ID: extensionsapitest.Identifier, Listeners: []int{fd}, Next: -1}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = run(ctx, []string{"/opt/extensions/kinko"}, func(k string) string { return env[k] }, nil, &syncBuffer{}, st)
	if err == nil || !strings.Contains(err.Error(), "early start's listener") {
		t.Fatalf("run = %v, want an error about the early start's listener", err)
	}
	// No /event/next was sent (Next -1), so it is still init: an init error.
	initErrors, exitErrors := lambda.InitErrors(), lambda.ExitErrors()
	if len(initErrors) != 1 || !strings.Contains(initErrors[0].ErrorType, "EarlyStartFailed") || len(exitErrors) != 0 {
		t.Errorf("init errors %v, exit errors %v; want one Extension.EarlyStartFailed init error", initErrors, exitErrors)
	}
}

// earlyStarted does what the early start does, with the standard library (bind, register, send
// /event/next), and returns the environment run then sees, what earlystart.Take would give it,
// and the port it bound.
func earlyStarted(t *testing.T, lambda *extensionsapitest.Server) (map[string]string, *earlystart.State, int) {
	t.Helper()
	port := freePort(t)
	l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	lf, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	l.Close() // the duplicate in lf keeps the socket listening
	t.Cleanup(func() { lf.Close() })
	reg, err := http.Post("http://"+lambda.Addr+"/2020-01-01/extension/register", "application/json", strings.NewReader(`{"events":["SHUTDOWN"]}`))
	if err != nil {
		t.Fatal(err)
	}
	reg.Body.Close()
	id := reg.Header.Get("Lambda-Extension-Identifier")
	conn, err := net.Dial("tcp4", lambda.Addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /2020-01-01/extension/event/next HTTP/1.0\r\nHost: %s\r\nLambda-Extension-Identifier: %s\r\n\r\n", lambda.Addr, id)
	cf, err := conn.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	t.Cleanup(func() { cf.Close() })
	waitFor(t, "the early /event/next to reach Lambda", 10*time.Second, func() bool { return lambda.NextCalls() == 1 })

	// kinko takes the descriptors over and closes them: give it its own.
	lfd, err := syscall.Dup(int(lf.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	cfd, err := syscall.Dup(int(cf.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	st := &earlystart.State{ID: id, FunctionName: extensionsapitest.FunctionName, AccountID: testAccountID, Listeners: []int{lfd}, Next: cfd}
	return map[string]string{
		"AWS_LAMBDA_RUNTIME_API": lambda.Addr, "AWS_SESSION_TOKEN": testToken,
		"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
		"AWS_EC2_METADATA_DISABLED":              "true",
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": strconv.Itoa(port),
		"PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL": "DEBUG",
	}, st, port
}

// A warning that comes with registering comes after an early start too.
func TestEarlyStartKeepsTheManagedInstancesWarning(t *testing.T) {
	lambda := startLambda(t)
	env, early, _ := earlyStarted(t, lambda)
	env["AWS_LAMBDA_INITIALIZATION_TYPE"] = "lambda-managed-instances"
	env["KINKO_METRICS_INVOKES"] = "5"
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(t.Context(), []string{"/opt/extensions/kinko"}, func(k string) string { return env[k] }, nil, logs, early)
	}()
	waitFor(t, "the ready line", 10*time.Second, func() bool { return strings.Contains(logs.String(), `"msg":"ready"`) })
	lambda.Send(extensionsapitest.Shutdown(2 * time.Second))
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(logs.String(), "KINKO_METRICS_INVOKES is ignored on Lambda Managed Instances") {
		t.Error("no warning that KINKO_METRICS_INVOKES is ignored on Managed Instances after an early start")
	}
}
