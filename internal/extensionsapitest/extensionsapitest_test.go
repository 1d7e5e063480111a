package extensionsapitest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func call(t *testing.T, ctx context.Context, method, url, id, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		req.Header.Set("Lambda-Extension-Identifier", id)
	}
	req.Header.Set("Lambda-Extension-Accept-Feature", "accountId")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// The lab's use (formerly e2e/bench's own fake, TestExtensionsAPI there): the first /event/next
// is noted, and ShutdownAll answers the waiting one.
func TestFirstNextAndShutdownAll(t *testing.T) {
	api := NewServer()
	defer api.Close()
	base := "http://" + api.Addr + "/2020-01-01/extension"
	resp, _ := call(t, t.Context(), http.MethodPost, base+"/register", "", `{"events":["INVOKE","SHUTDOWN"]}`)
	if resp.Header.Get("Lambda-Extension-Identifier") != Identifier || api.RegisterAt().IsZero() {
		t.Fatalf("register: %v, at %v", resp.Header, api.RegisterAt())
	}
	got := make(chan string, 1)
	go func() { // no t.Fatal off the test's goroutine
		req, _ := http.NewRequest(http.MethodGet, base+"/event/next", nil)
		req.Header.Set("Lambda-Extension-Identifier", Identifier)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	select {
	case <-api.FirstNext():
	case <-ctx.Done():
		t.Fatal("no /event/next noted")
	}
	if api.FirstNextAt().IsZero() {
		t.Error("FirstNextAt is zero after the first /event/next")
	}
	api.ShutdownAll()
	select {
	case b := <-got:
		if !strings.Contains(b, `"eventType":"SHUTDOWN"`) {
			t.Errorf("/event/next after ShutdownAll answered %s", b)
		}
	case <-ctx.Done():
		t.Fatal("/event/next did not return after ShutdownAll")
	}
}

// Events are answered in order; one the extension did not register for is dropped, as Lambda
// does; a wrong identifier is refused and not counted; the account id goes only to an extension
// that asks for it, and not at all once omitted.
func TestScriptedEvents(t *testing.T) {
	api := NewServer()
	defer api.Close()
	base := "http://" + api.Addr + "/2020-01-01/extension"
	_, answer := call(t, t.Context(), http.MethodPost, base+"/register", "", `{"events":["SHUTDOWN"]}`)
	var reg struct{ FunctionName, AccountID string }
	if err := json.Unmarshal([]byte(answer), &reg); err != nil || reg.FunctionName != FunctionName || reg.AccountID != AccountID {
		t.Fatalf("register answered %s", answer)
	}
	if r := api.LastRegistration(); strings.Join(r.Events, ",") != "SHUTDOWN" || r.Body != `{"events":["SHUTDOWN"]}` {
		t.Fatalf("registration recorded as %+v", r)
	}
	if resp, _ := call(t, t.Context(), http.MethodGet, base+"/event/next", "someone-else", ""); resp.StatusCode != http.StatusForbidden || api.NextCalls() != 0 {
		t.Fatalf("a wrong identifier: %d, %d calls counted", resp.StatusCode, api.NextCalls())
	}
	api.Send(Invoke())
	api.Send(Shutdown(time.Second))
	_, b := call(t, t.Context(), http.MethodGet, base+"/event/next", Identifier, "")
	var ev Event
	if err := json.Unmarshal([]byte(b), &ev); err != nil || ev.EventType != "SHUTDOWN" || ev.ShutdownReason != "spindown" || ev.DeadlineMs == 0 {
		t.Fatalf("/event/next answered %s, want the SHUTDOWN (the INVOKE dropped)", b)
	}
	if api.Dropped() != 1 || api.NextCalls() != 1 || len(api.NextIdentifiers()) != 2 {
		t.Fatalf("dropped %d, next calls %d, identifiers %v", api.Dropped(), api.NextCalls(), api.NextIdentifiers())
	}

	api.OmitAccountID()
	if _, answer := call(t, t.Context(), http.MethodPost, base+"/register", "", `{"events":["SHUTDOWN"]}`); strings.Contains(answer, "accountId") {
		t.Errorf("register answered %s after OmitAccountID", answer)
	}
	api.RefuseRegister(http.StatusForbidden)
	if resp, _ := call(t, t.Context(), http.MethodPost, base+"/register", "", `{"events":["SHUTDOWN"]}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("register answered %d after RefuseRegister", resp.StatusCode)
	}
	if n := len(api.Registrations()); n != 3 {
		t.Errorf("%d registrations recorded, want 3", n)
	}
}

// Reports are recorded with their error type; FailNext fails /event/next; StallReports leaves
// reports unanswered until Close.
func TestReportsAndFailures(t *testing.T) {
	api := NewServer()
	base := "http://" + api.Addr + "/2020-01-01/extension"
	call(t, t.Context(), http.MethodPost, base+"/register", "", `{"events":["SHUTDOWN"]}`)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/init/error", strings.NewReader(`{"errorMessage":"m"}`))
	req.Header.Set("Lambda-Extension-Function-Error-Type", "Extension.ConfigInvalid")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := api.InitErrors(); len(r) != 1 || r[0].ErrorType != "Extension.ConfigInvalid" || r[0].Body != `{"errorMessage":"m"}` || len(api.ExitErrors()) != 0 {
		t.Fatalf("init errors %v, exit errors %v", r, api.ExitErrors())
	}
	api.FailNext()
	if resp, _ := call(t, t.Context(), http.MethodGet, base+"/event/next", Identifier, ""); resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("/event/next after FailNext: %d", resp.StatusCode)
	}

	api.StallReports()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/exit/error", strings.NewReader(`{}`))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a stalled report was answered")
	}
	if len(api.ExitErrors()) != 1 {
		t.Errorf("the stalled report was not recorded")
	}
	want := []string{"POST /2020-01-01/extension/register", "POST /2020-01-01/extension/init/error",
		"GET /2020-01-01/extension/event/next", "POST /2020-01-01/extension/exit/error"}
	if got := api.Requests(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("requests %q, want %q", got, want)
	}
	api.Close() // returns: nothing is left waiting
}
