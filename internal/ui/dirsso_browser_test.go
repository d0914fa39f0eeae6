package ui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserLDAPTestLogin configures LDAP through the page against a real
// slapd, tests a login and sees its groups, at a desktop and a phone width.
func TestBrowserLDAPTestLogin(t *testing.T) {
	dir := startDirectory(t)
	ts := newTestServer(t, withLDAP(t))
	ctx := newTab(t)
	run(t, ctx, chromedp.EmulateViewport(1280, 900))
	browserSignIn(t, ctx, ts.srv.URL, "admin", adminPassword)
	run(t, ctx, chromedp.Navigate(ts.srv.URL+"/provisioning/ldap"), chromedp.WaitVisible(chromedp.CSS("#ldap-login")))
	screenshot(t, ctx, "ldap")

	// Not configured yet: the test says so.
	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#ldap-login"), "alice"),
		chromedp.Click(chromedp.CSS(`form[action="/provisioning/ldap/test"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#ldap-test-result")),
	)
	if got := value(t, ctx, chromedp.Text(chromedp.CSS("#ldap-test-result"))); !strings.Contains(got, "LDAP is not configured") {
		t.Fatalf("unconfigured test says %q", got)
	}
	screenshot(t, ctx, "ldap-not-configured")

	// Fill the settings by their labels' fields and save.
	kv := ldapSettings(dir)
	for i := 0; i < len(kv); i += 2 {
		sel := fmt.Sprintf(`form[action="/provisioning/ldap/settings"] [name=%q]`, kv[i])
		run(t, ctx, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), kv[i+1]))
	}
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`form[action="/provisioning/ldap/settings"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)
	if got := value(t, ctx, chromedp.Text(chromedp.CSS("p.notice"))); got != "LDAP settings saved." {
		t.Fatalf("after save: %q", got)
	}
	if html := value(t, ctx, chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, kv[5]) {
		t.Fatal("the page shows the bind password")
	}
	screenshot(t, ctx, "ldap-saved")

	// Keyboard only: focus the login field, type, Enter submits.
	run(t, ctx,
		chromedp.Focus(chromedp.CSS("#ldap-login")),
		chromedp.KeyEvent("alice"),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS("#ldap-test-groups")),
	)
	groups := value(t, ctx, chromedp.Text(chromedp.CSS("#ldap-test-groups")))
	if !strings.Contains(groups, "developers") {
		t.Fatalf("alice's groups: %q", groups)
	}
	user := value(t, ctx, chromedp.Text(chromedp.CSS("#ldap-test-user")))
	for _, want := range []string{"uid=alice,ou=people,dc=example,dc=org", "Alice Test", "alice@example.org"} {
		if !strings.Contains(user, want) {
			t.Errorf("the test answer lacks %q: %q", want, user)
		}
	}
	if srv := value(t, ctx, chromedp.Text(chromedp.CSS("#ldap-test-result table"))); !strings.Contains(srv, dir.URL) || !strings.Contains(srv, "reachable") || !strings.Contains(srv, " ms") {
		t.Errorf("servers: %q", srv)
	}
	screenshot(t, ctx, "ldap-test-login")
	for _, width := range []int64{1280, 390} {
		run(t, ctx, chromedp.EmulateViewport(width, 844))
		fitsWidth(t, ctx, fmt.Sprintf("/provisioning/ldap at %d px", width))
	}
	screenshot(t, ctx, "narrow-ldap-test-login")
}
