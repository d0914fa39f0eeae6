package ui

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// One Chromium serves the whole package run; each test gets a tab in a
// browser context of its own (its own cookies).
var chrome struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if chrome.cancel != nil {
		chrome.cancel()
	}
	os.Exit(code)
}

// chromiumPath finds the browser: GATEHOUSE_CHROMIUM, or Debian's chromium
// (and its usual other names) on PATH.
func chromiumPath() string {
	if p := os.Getenv("GATEHOUSE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newTab opens a tab, or skips the test when no browser is installed —
// under CI=true a missing browser fails instead.
func newTab(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (apt-get install chromium); CI=true needs the browser tests")
		}
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	chrome.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.Flag("disable-gpu", true))
		if os.Geteuid() == 0 {
			opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelCtx := chromedp.NewContext(alloc)
		chrome.ctx, chrome.cancel = ctx, func() { cancelCtx(); cancelAlloc() }
		chrome.err = chromedp.Do(ctx) // starts the browser
	})
	if chrome.err != nil {
		t.Fatalf("start chromium: %v", chrome.err)
	}
	tab, cancel := chromedp.NewContext(chrome.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(tab, 60*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// run runs steps in the tab, failing the test on an error.
func run(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func value[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// screenshot saves the page under $GATEHOUSE_SCREENSHOTS (make screenshots
// writes docs/screenshots), named after the test's step.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := value(t, ctx, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fitsWidth asserts the page has no horizontal overflow at the current
// viewport width.
func fitsWidth(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	got := value(t, ctx, chromedp.Evaluate[string](`document.documentElement.scrollWidth + " " + window.innerWidth`))
	var scroll, inner int
	if _, err := fmt.Sscan(got, &scroll, &inner); err != nil {
		t.Fatal(err)
	}
	if scroll > inner {
		t.Errorf("%s overflows: %d px wide in a %d px viewport", what, scroll, inner)
	}
}

// browserSignIn signs in through the sign-in page.
func browserSignIn(t *testing.T, ctx context.Context, base, login, password string) {
	t.Helper()
	run(t, ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), login),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`.signin button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`form.signout`)),
	)
}

func TestBrowserFirstSignIn(t *testing.T) {
	ts := newTestServer(t)
	ctx := newTab(t)
	run(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(ts.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#login")))
	if loc := value(t, ctx, chromedp.Location()); !strings.Contains(loc, "/signin") {
		t.Fatalf("signed out, / shows %s", loc)
	}
	screenshot(t, ctx, "signin")
	// Keyboard only: the login field has the focus, Tab reaches the
	// password, Enter submits.
	run(t, ctx,
		chromedp.KeyEvent("admin"),
		chromedp.KeyEvent("\t"),
		chromedp.KeyEvent(adminPassword),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS(`form.signout`)),
	)
	if h := value(t, ctx, chromedp.Text(chromedp.CSS("h1"))); h != "Welcome, admin" {
		t.Fatalf("after sign-in: %q", h)
	}
	screenshot(t, ctx, "home")
}

// layoutPages are the pages checked at a desktop and a phone width.
var layoutPages = []string{"/", "/users", "/users/admin", "/users/new", "/groups", "/groups/sonar-administrators", "/projects", "/permissions", "/templates", "/account/tokens"}

func TestBrowserLayoutWidths(t *testing.T) {
	ts := newTestServer(t)
	ctx := newTab(t)
	for _, width := range []int64{1280, 390} {
		run(t, ctx, chromedp.EmulateViewport(width, 844), chromedp.Navigate(ts.srv.URL+"/signin"), chromedp.WaitVisible(chromedp.CSS("#login")))
		fitsWidth(t, ctx, fmt.Sprintf("/signin at %d px", width))
	}
	browserSignIn(t, ctx, ts.srv.URL, "admin", adminPassword)
	for _, width := range []int64{1280, 390} {
		run(t, ctx, chromedp.EmulateViewport(width, 844))
		for _, path := range layoutPages {
			run(t, ctx, chromedp.Navigate(ts.srv.URL+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
			fitsWidth(t, ctx, fmt.Sprintf("%s at %d px", path, width))
			if width == 390 {
				screenshot(t, ctx, "narrow"+strings.ReplaceAll(strings.TrimSuffix(path, "/"), "/", "-"))
			}
		}
	}
}
