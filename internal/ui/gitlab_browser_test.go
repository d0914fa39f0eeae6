package ui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/gitlabsim"
)

// TestBrowserGitLabSynchronizeNow configures GitLab through its page (the
// simulator's URL, the token, an allowed group), selects Synchronize now
// from the keyboard and watches the status region move from pending or
// running to the result with its counts without a reload, the run appear
// in the history, and the users and groups the run created on their pages.
// The simulator answers slowly, so that a run lasts long enough for the
// running state to be seen.
func TestBrowserGitLabSynchronizeNow(t *testing.T) {
	env := newGitLabServer(t, gitlabsim.Options{Latency: 700 * time.Millisecond}, true)
	ctx := newTab(t)
	run(t, ctx, chromedp.EmulateViewport(1280, 900))
	browserSignIn(t, ctx, env.srv.URL, "admin", adminPassword)
	page := env.srv.URL + "/provisioning/gitlab"
	run(t, ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#gl-url")))
	if s := textOf(t, ctx, "#sync-status"); !strings.Contains(s, "No synchronization has finished yet") {
		t.Fatalf("status before any run: %q", s)
	}
	screenshot(t, ctx, "gitlab")
	for _, width := range []int64{390, 1280} {
		run(t, ctx, chromedp.EmulateViewport(width, 900))
		fitsWidth(t, ctx, fmt.Sprintf("/provisioning/gitlab at %d px", width))
		if width == 390 {
			screenshot(t, ctx, "narrow-provisioning-gitlab")
		}
	}

	// Configure: the simulator's URL, the token, the allowed group, on.
	run(t, ctx,
		chromedp.SetValue(chromedp.CSS("#gl-url"), env.simURL),
		chromedp.SendKeys(chromedp.CSS("#gl-token"), simToken),
		chromedp.SendKeys(chromedp.CSS("#gl-allowedGroups"), "acme"),
		chromedp.SetValue(chromedp.CSS("#gl-sync-enabled"), "true"),
		chromedp.SetValue(chromedp.CSS("#gl-timeout"), "5s"),
		chromedp.Click(chromedp.CSS(`form[action="/provisioning/gitlab/settings"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)
	if n := value(t, ctx, chromedp.Text(chromedp.CSS("p.notice"))); n != "GitLab settings saved." {
		t.Fatalf("after save: %q", n)
	}
	if html := value(t, ctx, chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, simToken) {
		t.Fatal("the page shows the token")
	}
	screenshot(t, ctx, "gitlab-configured")
	// Enabling runs a first synchronization at once; the region follows it.
	waitTrue(t, ctx, `document.querySelector("#sync-status .last").textContent.includes("run 1 (")`, 40*time.Second)

	// Map a GitLab custom role from the keyboard: its name, Tab to its
	// first box, Space ticks it (Browse), Enter in the name adds it.
	run(t, ctx,
		chromedp.Focus(chromedp.CSS("#new-role")),
		chromedp.KeyEvent("Release viewer"),
		chromedp.KeyEvent("\t"),
		chromedp.KeyEvent(" "),
	)
	enterOn(t, ctx, "#new-role", "Custom role Release viewer added")
	if !value(t, ctx, chromedp.Evaluate[bool](`document.querySelector('input[aria-label="Release viewer: Browse"]').checked && !document.querySelector('input[aria-label="Release viewer: Execute analysis"]').checked`)) {
		t.Fatal("the custom role's boxes are not what was ticked")
	}
	screenshot(t, ctx, "gitlab-role-mapping")

	// Someone joins acme in GitLab: a dry run lists what a synchronization
	// would change, and changes nothing.
	if err := env.sim.Update(func(f *gitlabsim.Fixture) {
		f.Users = append(f.Users, gitlabsim.User{ID: 11, Username: "judy", Name: "Judy Jones", Email: "judy@example.com"})
		for i := range f.Groups {
			if f.Groups[i].FullPath == "acme" {
				f.Groups[i].Members = append(f.Groups[i].Members, gitlabsim.Member{User: "judy", AccessLevel: 30})
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Click(chromedp.CSS("#dry-run-button")), chromedp.WaitVisible(chromedp.CSS("#dry-run")))
	if d := textOf(t, ctx, "#dry-run"); !strings.Contains(d, "1 users created") || !strings.Contains(d, "judy") {
		t.Fatalf("dry run: %q", d)
	}
	if _, err := env.st.Store().GetUserByLogin(env.ctx, "judy"); err == nil {
		t.Fatal("the dry run created judy")
	}
	screenshot(t, ctx, "gitlab-dry-run")

	// Synchronize now, from the keyboard.
	enterOn(t, ctx, "#sync-now", "Synchronization queued (run 2)")
	// Record every state the region shows from here on: the script must
	// change it in place (no reload: the marker stays).
	run(t, ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		window.gatehouseMarker = true;
		const el = document.getElementById("sync-status");
		window.seenStates = [el.textContent];
		new MutationObserver(() => window.seenStates.push(el.textContent)).observe(el, {childList: true, subtree: true, characterData: true});
	})()`))
	state := textOf(t, ctx, "#sync-status .state")
	if !strings.Contains(state, "Synchronization is pending") && !strings.Contains(state, "Synchronization is running") {
		t.Fatalf("status after Synchronize now: %q", state)
	}
	if live := value(t, ctx, chromedp.AttributeValue(chromedp.CSS("#sync-status"), "aria-live")); live.Value != "polite" {
		t.Fatalf("the status region is not live: %+v", live)
	}
	screenshot(t, ctx, "gitlab-sync-"+map[bool]string{true: "running", false: "pending"}[strings.Contains(state, "running")])
	waitTrue(t, ctx, `document.querySelector("#sync-status .last").textContent.includes("run 2 (manual)")`, 40*time.Second)
	if !value(t, ctx, chromedp.Evaluate[bool](`window.gatehouseMarker === true`)) {
		t.Fatal("the page was reloaded; the status should change in place")
	}
	seen := value(t, ctx, chromedp.Evaluate[[]string](`window.seenStates`))
	if !strings.Contains(strings.Join(seen, "\n"), "Synchronization is running") {
		t.Errorf("the region never showed the run running: %q", seen)
	}
	last := textOf(t, ctx, "#sync-status .last")
	if !strings.Contains(last, "success") {
		t.Fatalf("result: %q", last)
	}
	if c := textOf(t, ctx, "#sync-status .counts"); !strings.Contains(c, "users created: 1") || !strings.Contains(c, "memberships added:") {
		t.Fatalf("counts: %q", c)
	}
	// The history, refreshed by the script too, has both runs; the first
	// one's counts say what it created.
	waitTrue(t, ctx, `[...document.querySelectorAll("#runs tbody tr")].some(tr => tr.textContent.includes("manual") && tr.textContent.includes("success"))`, 10*time.Second)
	history := textOf(t, ctx, "#runs tbody")
	if !strings.Contains(history, "users created: 6") || !strings.Contains(history, "users created: 1") || !strings.Contains(history, "success") {
		t.Fatalf("history: %q", history)
	}
	screenshot(t, ctx, "gitlab-sync-done")
	run(t, ctx, chromedp.EmulateViewport(390, 844))
	fitsWidth(t, ctx, "/provisioning/gitlab with runs at 390 px")
	screenshot(t, ctx, "narrow-gitlab-sync-done")
	run(t, ctx, chromedp.EmulateViewport(1280, 900))

	// The users and groups the sync created.
	run(t, ctx, chromedp.Navigate(env.srv.URL+"/users"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if body := value(t, ctx, chromedp.Text(chromedp.CSS("main"))); !strings.Contains(body, "alice") || !strings.Contains(body, "judy") || !strings.Contains(body, "managed by GitLab") {
		t.Fatalf("users page: %q", body)
	}
	screenshot(t, ctx, "gitlab-users")
	run(t, ctx, chromedp.Navigate(env.srv.URL+"/groups?q=acme"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if body := value(t, ctx, chromedp.Text(chromedp.CSS("main"))); !strings.Contains(body, "acme/backend") || !strings.Contains(body, "managed by GitLab") {
		t.Fatalf("groups page: %q", body)
	}
	screenshot(t, ctx, "gitlab-groups")
}

// waitTrue waits until the page's expression is true, across navigations
// (an evaluation in a page being replaced fails; the next one asks the new
// page).
func waitTrue(t *testing.T, ctx context.Context, expr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last error: %v)", expr, err)
		}
		time.Sleep(100 * time.Millisecond) // poll the page, with a deadline
	}
}

// textOf is the text of the first element sel matches, read in one step:
// the script replaces the regions' nodes while it follows a run.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return value(t, ctx, chromedp.Evaluate[string](`document.querySelector(`+strconv.Quote(sel)+`)?.textContent ?? ""`))
}

// enterOn presses Enter on the control sel, waits for the page the form's
// answer leads to and checks its notice.
func enterOn(t *testing.T, ctx context.Context, sel, notice string) {
	t.Helper()
	run(t, ctx,
		chromedp.Focus(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](`window.beforeEnter = true`),
		chromedp.KeyEvent("\r"),
	)
	waitTrue(t, ctx, `window.beforeEnter === undefined && document.readyState === "complete" && !!document.querySelector("p.notice")`, 20*time.Second)
	if n := textOf(t, ctx, "p.notice"); !strings.Contains(n, notice) {
		t.Fatalf("after Enter on %s: %q, want %q", sel, n, notice)
	}
}
