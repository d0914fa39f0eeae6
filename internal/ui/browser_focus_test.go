package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// focused is what the page says of the element that has the focus.
type focused struct {
	Path    string `json:"path"` // tag#id.class or tag "text"
	Outline string `json:"outline"`
	Shadow  string `json:"shadow"`
	Visible bool   `json:"visible"` // a non-empty, non-zero outline or box-shadow
	Body    bool   `json:"body"`    // nothing in the page has the focus
}

// focusJS describes document.activeElement from its computed style.
const focusJS = `(() => {
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return JSON.stringify({body: true});
  const s = getComputedStyle(e);
  const outline = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0;
  const shadow = s.boxShadow !== "" && s.boxShadow !== "none";
  const text = (e.getAttribute("aria-label") || e.textContent || e.getAttribute("name") || "").trim().replace(/\s+/g, " ").slice(0, 40);
  return JSON.stringify({
    path: e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + String(e.className).trim().replace(/\s+/g, ".") : "") + (text ? " \"" + text + "\"" : ""),
    outline: s.outlineStyle + " " + s.outlineWidth + " " + s.outlineColor,
    shadow: s.boxShadow, visible: outline || shadow});
})()`

func activeElement(t *testing.T, ctx context.Context) focused {
	t.Helper()
	var f focused
	if err := json.Unmarshal([]byte(value(t, ctx, chromedp.Evaluate[string](focusJS))), &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// tabThrough presses Tab until the focus comes back to a control it has
// already reached (past the end of the page it wraps to the start),
// asserting that every control it reaches, the one focused at the start
// included, shows a focus indicator; it returns them in tab order.
func tabThrough(t *testing.T, ctx context.Context, page string) []string {
	t.Helper()
	var order []string
	seen := map[string]bool{}
	outside := 0 // Tabs in a row that left the page
	for i := range 200 {
		if i > 0 {
			run(t, ctx, chromedp.KeyEvent("\t"))
		}
		f := activeElement(t, ctx)
		if f.Body {
			if outside++; outside > 3 {
				break
			}
			continue
		}
		outside = 0
		if seen[f.Path] {
			break
		}
		seen[f.Path] = true
		order = append(order, f.Path)
		if !f.Visible {
			t.Errorf("%s: %s has the focus without a visible indicator (outline %q, box-shadow %q)", page, f.Path, f.Outline, f.Shadow)
		}
	}
	if len(order) == 0 {
		t.Fatalf("%s: Tab reaches no control", page)
	}
	t.Logf("%s: %d controls in tab order, each with a visible focus", page, len(order))
	return order
}

// tabTo presses Tab until the element matching the JS condition on e has
// the focus.
func tabTo(t *testing.T, ctx context.Context, cond, what string) {
	t.Helper()
	for range 200 {
		run(t, ctx, chromedp.KeyEvent("\t"))
		if value(t, ctx, chromedp.Evaluate[bool](`((e) => !!e && (`+cond+`))(document.activeElement)`)) {
			return
		}
	}
	t.Fatalf("Tab never reaches %s", what)
}

// TestBrowserKeyboardFocus tabs through the sign-in page and a list page:
// every control that takes the focus shows it, and signing in, searching
// and opening a row are done with the keyboard alone.
func TestBrowserKeyboardFocus(t *testing.T) {
	ts := newTestServer(t)
	for i := range 60 {
		if _, err := ts.st.CreateUser(ts.ctx, state.NewUser{Login: fmt.Sprintf("user%02d", i), Name: fmt.Sprintf("User %02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := newTab(t)
	run(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(ts.srv.URL+"/signin"), chromedp.WaitVisible(chromedp.CSS("#login")))
	order := tabThrough(t, ctx, "/signin")
	for _, want := range []string{"input#login", "input#password", `button "Sign in"`} {
		if !strings.Contains(strings.Join(order, "\n"), want) {
			t.Errorf("/signin: Tab does not reach %s; it reaches %q", want, order)
		}
	}
	screenshot(t, ctx, "focus-signin")

	// Sign in with the keyboard alone: Tab to the login, type, Tab, type,
	// Enter.
	run(t, ctx, chromedp.Navigate(ts.srv.URL+"/users"), chromedp.WaitVisible(chromedp.CSS("#login")))
	value(t, ctx, chromedp.Evaluate[bool](`document.activeElement.blur(), true`))
	tabTo(t, ctx, `e.id === "login"`, "the login field")
	run(t, ctx,
		chromedp.KeyEvent("admin"), chromedp.KeyEvent("\t"), chromedp.KeyEvent(adminPassword), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS(`form.signout`)),
	)
	if loc := value(t, ctx, chromedp.Location()); !strings.HasSuffix(loc, "/users") {
		t.Fatalf("after a keyboard sign-in: %s, want the page asked for (/users)", loc)
	}
	screenshot(t, ctx, "focus-users")

	// The list page: the skip link, the navigation, sign-out, the search,
	// every row's link and the pager all show their focus.
	order = tabThrough(t, ctx, "/users")
	all := strings.Join(order, "\n")
	for _, want := range []string{`a.skip "Skip to content"`, `a.brand "Gatehouse"`, `a "Users"`, `button.link "Sign out"`, "input#q", `a "user00"`, `a "Next`} {
		if !strings.Contains(all, want) {
			t.Errorf("/users: Tab does not reach %s; it reaches:\n%s", want, all)
		}
	}

	// Search and open a user with the keyboard alone.
	run(t, ctx, chromedp.Navigate(ts.srv.URL+"/users"), chromedp.WaitVisible(chromedp.CSS("#q")))
	tabTo(t, ctx, `e.id === "q"`, "the search field")
	// The answer's search field carries the query (typing sets no attribute).
	run(t, ctx, chromedp.KeyEvent("user07"), chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.CSS(`#q[value="user07"]`)))
	if h := value(t, ctx, chromedp.Evaluate[bool](`!document.querySelector('a[href="/users/user08"]')`)); !h {
		t.Fatal("the keyboard search did not filter")
	}
	screenshot(t, ctx, "focus-users-search")
	tabTo(t, ctx, `e.getAttribute("href") === "/users/user07"`, "the user07 link")
	if f := activeElement(t, ctx); !f.Visible {
		t.Errorf("the row link shows no focus: %+v", f)
	}
	run(t, ctx, chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.CSS(`form[action="/users/user07/update"]`)))
	screenshot(t, ctx, "focus-user")
	tabThrough(t, ctx, "/users/user07")

	// The skip link's Enter moves the focus to the main content.
	value(t, ctx, chromedp.Evaluate[bool](`document.activeElement.blur(), true`))
	tabTo(t, ctx, `e.classList.contains("skip")`, "the skip link")
	run(t, ctx, chromedp.KeyEvent("\r"))
	if id := value(t, ctx, chromedp.Evaluate[string](`document.activeElement.id`)); id != "main" {
		t.Errorf("after the skip link the focus is on %q, want main", id)
	}
}
