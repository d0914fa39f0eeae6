package ui

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
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
	)
	screenshot(t, ctx, "signin-redirect") // where a signed-out visitor of / lands
	run(t, ctx,
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
var layoutPages = []string{"/", "/users", "/users/admin", "/users/new", "/groups", "/groups/sonar-administrators", "/projects", "/permissions", "/templates", "/account/tokens", "/org-tokens", "/org-tokens/new", "/explain", "/explain?permission=scan&projectKey=", "/audit", "/provisioning/scim"}

func TestBrowserLayoutWidths(t *testing.T) {
	ts := newTestServer(t)
	// A project, a template and an organization token, for their pages.
	if _, err := ts.st.CreateProject(ts.ctx, identity.Project{Key: "org.example:a-rather-long-project-key", Name: "Layout"}, ts.principal("admin").UserID); err != nil {
		t.Fatal(err)
	}
	tmpls, err := ts.st.Store().ListTemplates(ts.ctx)
	if err != nil || len(tmpls) == 0 {
		t.Fatalf("templates: %v %v", tmpls, err)
	}
	_, tok, err := ts.st.GenerateOrgToken(ts.ctx, state.OrgTokenSpec{Name: "layout", Permissions: []identity.Permission{identity.PermScan}, Set: identity.SetAll})
	if err != nil {
		t.Fatal(err)
	}
	pages := append(slices.Clone(layoutPages), "/projects/org.example:a-rather-long-project-key", "/templates/"+strconv.FormatInt(tmpls[0].ID, 10),
		"/org-tokens/"+strconv.FormatInt(tok.ID, 10), "/account/projects", "/sso")
	ctx := newTab(t)
	for _, width := range []int64{1280, 390} {
		run(t, ctx, chromedp.EmulateViewport(width, 844), chromedp.Navigate(ts.srv.URL+"/signin"), chromedp.WaitVisible(chromedp.CSS("#login")))
		fitsWidth(t, ctx, fmt.Sprintf("/signin at %d px", width))
	}
	browserSignIn(t, ctx, ts.srv.URL, "admin", adminPassword)
	for _, width := range []int64{1280, 390} {
		run(t, ctx, chromedp.EmulateViewport(width, 844))
		for _, path := range pages {
			run(t, ctx, chromedp.Navigate(ts.srv.URL+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
			fitsWidth(t, ctx, fmt.Sprintf("%s at %d px", path, width))
			if width == 390 {
				screenshot(t, ctx, "narrow"+shotName(path))
			} else {
				screenshot(t, ctx, "wide"+shotName(path))
			}
		}
	}
}

// TestBrowserOrgTokenOverAllProjects creates an organization token over
// all projects, sees its secret once (with a working copy button) and
// never again, sees a project created afterwards covered, and explains a
// denied check of that token.
func TestBrowserOrgTokenOverAllProjects(t *testing.T) {
	ts := newTestServer(t)
	if _, err := ts.st.CreateProject(ts.ctx, identity.Project{Key: "first", Name: "first"}, 0); err != nil {
		t.Fatal(err)
	}
	ctx := newTab(t)
	run(t, ctx, chromedp.EmulateViewport(1280, 900))
	browserSignIn(t, ctx, ts.srv.URL, "admin", adminPassword)
	run(t, ctx,
		chromedp.Navigate(ts.srv.URL+"/org-tokens/new"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "pipelines"),
		chromedp.Click(chromedp.CSS("#set-all")),
		chromedp.Click(chromedp.CSS("#exp-365")),
	)
	// The date field shows only for "On a date" (the script's doing).
	if visible := value(t, ctx, chromedp.Evaluate[bool](`!document.querySelector('[data-show-when="expiry=date"]').hidden`)); visible {
		t.Error("the date field shows with a preset chosen")
	}
	screenshot(t, ctx, "org-token-new")
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`form[action="/org-tokens/new"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#new-token")),
	)
	secret := strings.TrimSpace(value(t, ctx, chromedp.Text(chromedp.CSS("#new-token"))))
	if _, err := ts.st.Authenticate(secret); err != nil {
		t.Fatalf("the secret shown does not authenticate: %v", err)
	}
	screenshot(t, ctx, "org-token-created")
	// The copy button is shown by the script and copies (or selects) it.
	run(t, ctx, chromedp.WaitVisible(chromedp.CSS(`button[data-copy="new-token"]`)), chromedp.Click(chromedp.CSS(`button[data-copy="new-token"]`)))
	// The clipboard answers asynchronously (and headless Chromium may refuse
	// it, when the script selects the text instead): wait for either.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		copied := value(t, ctx, chromedp.Evaluate[bool](`document.querySelector('button[data-copy="new-token"]').textContent === "Copied" ||
			window.getSelection().toString().trim() === document.getElementById("new-token").textContent.trim()`))
		if copied {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the copy button neither copied nor selected the secret")
		}
	}
	tokenURL := value(t, ctx, chromedp.Location())
	if !strings.Contains(tokenURL, "/org-tokens/new") {
		t.Fatalf("the secret came on %s, want the answer to the form", tokenURL)
	}
	// Never again: the list and the token's page do not have it; nor does
	// going back (the answer was no-store).
	run(t, ctx, chromedp.Navigate(ts.srv.URL+"/org-tokens"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if html := value(t, ctx, chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, secret) {
		t.Fatal("the token list shows the secret")
	}
	screenshot(t, ctx, "org-tokens")
	// Back to the answer to the form: the browser has no copy of it
	// (no-store) and will not post the form again unasked.
	if err := chromedp.Do(ctx, chromedp.NavigateBack()); err != nil && !strings.Contains(err.Error(), "ERR_CACHE_MISS") {
		t.Fatalf("back: %v", err)
	}
	if html := value(t, ctx, chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, secret) {
		t.Fatal("going back shows the secret again")
	}
	run(t, ctx, chromedp.Navigate(ts.srv.URL+"/org-tokens"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	run(t, ctx, chromedp.Click(chromedp.CSS(`td a[href^="/org-tokens/"]`)), chromedp.WaitVisible(chromedp.CSS("#covered")))
	if html := value(t, ctx, chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, secret) {
		t.Fatal("the token page shows the secret")
	}
	screenshot(t, ctx, "org-token-page-before")
	page := value(t, ctx, chromedp.Location())

	// A project created afterwards is covered.
	run(t, ctx,
		chromedp.Navigate(ts.srv.URL+"/projects"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
	)
	screenshot(t, ctx, "projects")
	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#key"), "created-later"),
		chromedp.Click(chromedp.CSS(`form[action="/projects/new"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/projects/created-later/grant"]`)),
	)
	screenshot(t, ctx, "project-created-later")
	run(t, ctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(`#covered`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/projects/created-later"]`)),
	)
	screenshot(t, ctx, "org-token-page")

	// Explain a denied check: the token carries scan only.
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`a[href^="/explain?tokenId="]`)),
		chromedp.WaitVisible(chromedp.CSS("#permission")),
	)
	screenshot(t, ctx, "explain-form")
	run(t, ctx,
		chromedp.SetValue(chromedp.CSS("#permission"), "issueadmin"),
		chromedp.SendKeys(chromedp.CSS("#projectKey"), "created-later"),
		chromedp.Click(chromedp.CSS(`form[action="/explain"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#reason")),
	)
	if h := value(t, ctx, chromedp.Text(chromedp.CSS("section h2"))); !strings.Contains(h, "denied") {
		t.Fatalf("explain says %q", h)
	}
	if m := value(t, ctx, chromedp.Text(chromedp.CSS("#missing"))); m == "" {
		t.Fatal("no missing link named")
	}
	screenshot(t, ctx, "explain-denied")
}

// shotName turns a page's path into a file name: "/users/new" → "-users-new".
func shotName(path string) string {
	return strings.TrimRight(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, path), "-")
}
