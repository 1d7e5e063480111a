package e2e_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kinko-dev/kinko/e2e/stack"
)

// chromium is Debian's browser; no browser is ever downloaded.
const chromium = "/usr/bin/chromium"

// Test 5: a real browser loads the page, types a prompt, clicks Submit and sees the answer.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s not found: `make test` installs it (apt-get update && apt-get install -y chromium); "+
			"or run e2e/install-deps.sh", chromium)
	}
	st := startStack(t, stack.Options{})
	root, err := stack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // we are root in CI; the sandbox refuses root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		// Without these it calls Google's servers; this machine reaches none.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 700),
	)
	defer cancelAlloc() // waits for the browser to exit, before TempDir is removed
	browser, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	const prompt = "Hello from Chromium"
	err = chromedp.Do(browser,
		chromedp.Navigate(st.FrontURL+"/"),
		chromedp.WaitVisible(chromedp.ID("prompt")),
		chromedp.SendKeys(chromedp.ID("prompt"), prompt),
		chromedp.Click(chromedp.ID("submit")),
		// The answer or the error line, whichever the page shows first.
		chromedp.Poll[chromedp.Void](`!document.getElementById('result').hidden || !document.getElementById('error').hidden`,
			chromedp.WithPollingTimeout(40*time.Second)),
	)
	if err != nil {
		t.Fatalf("driving the page: %v", err)
	}
	type pageState struct {
		ResultShown    bool   `json:"resultShown"`
		Response       string `json:"response"`
		Error          string `json:"error"`
		Button         string `json:"button"`
		ButtonDisabled bool   `json:"buttonDisabled"`
	}
	state, err := chromedp.Run(browser, chromedp.Evaluate[pageState](`(() => {
		const $ = (id) => document.getElementById(id);
		return {resultShown: !$('result').hidden, response: $('response').textContent,
			error: $('error').hidden ? '' : $('error').textContent,
			button: $('submit').textContent, buttonDisabled: $('submit').disabled};
	})()`))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	shot, err := chromedp.Run(browser, chromedp.FullScreenshot(100)) // 100: PNG; less is JPEG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := filepath.Join(root, ".e2e", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "browser.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	if want := stack.ExpectedAnswer(prompt); !state.ResultShown || state.Response != want || state.Error != "" {
		t.Errorf("the page shows response %q (shown %v), error %q; want %q", state.Response, state.ResultShown, state.Error, want)
	}
	if state.Button != "Submit" || state.ButtonDisabled {
		t.Errorf("after the answer the button reads %q (disabled %v), want an enabled Submit", state.Button, state.ButtonDisabled)
	}
	if n := st.OpenAI.Calls(); n != 1 {
		t.Errorf("the model got %d calls from one click, want 1", n)
	}
}
