package ui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/sso/oidc/oidctest"
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

// TestBrowserSSOSignIn creates an OpenID Connect connection through the SSO
// page against an in-test provider, sees its button on the sign-in page
// and signs in through it, landing signed in where the sign-in was asked.
func TestBrowserSSOSignIn(t *testing.T) {
	ts := newTestServer(t, withSSO(t))
	op := oidctest.New("gatehouse", "client-secret-1")
	t.Cleanup(op.Close)
	op.SetUser("00u-dan", map[string]any{"preferred_username": "dan", "name": "Dan", "email": "dan@example.com"})
	ctx := newTab(t)
	run(t, ctx, chromedp.EmulateViewport(1280, 900))
	browserSignIn(t, ctx, ts.srv.URL, "admin", adminPassword)
	run(t, ctx, chromedp.Navigate(ts.srv.URL+"/sso"), chromedp.WaitVisible(chromedp.CSS("#sso-name")))
	// OpenID Connect is the default choice: the SAML fields are hidden.
	if visible := value(t, ctx, chromedp.Evaluate[bool](`!document.querySelector('[data-show-when="protocol=saml"]').hidden`)); visible {
		t.Error("the SAML fields show with OpenID Connect chosen")
	}
	screenshot(t, ctx, "sso")
	run(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#sso-name"), "okta"),
		chromedp.SendKeys(chromedp.CSS("#sso-display"), "Okta"),
		chromedp.Click(chromedp.CSS("#sso-jit")),
		chromedp.SendKeys(chromedp.CSS("#sso-issuer"), op.Issuer),
		chromedp.SendKeys(chromedp.CSS("#sso-client-id"), "gatehouse"),
		chromedp.SendKeys(chromedp.CSS("#sso-client-secret"), "client-secret-1"),
		chromedp.SetValue(chromedp.CSS("#sso-preset"), "okta-oidc"),
	)
	screenshot(t, ctx, "sso-new")
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`#sso-new button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#sso-url-callback")),
	)
	if cb := value(t, ctx, chromedp.Text(chromedp.CSS("#sso-url-callback"))); cb != ts.srv.URL+"/sso/okta/callback" {
		t.Fatalf("callback URL shown: %q", cb)
	}
	if html := value(t, ctx, chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, "client-secret-1") {
		t.Fatal("the connection page shows the client secret")
	}
	run(t, ctx, chromedp.WaitVisible(chromedp.CSS(`button[data-copy="sso-url-callback"]`)), chromedp.Click(chromedp.CSS(`button[data-copy="sso-url-callback"]`)))
	screenshot(t, ctx, "sso-connection")
	for _, width := range []int64{390, 1280} {
		run(t, ctx, chromedp.EmulateViewport(width, 844))
		fitsWidth(t, ctx, fmt.Sprintf("/sso/okta at %d px", width))
		run(t, ctx, chromedp.Navigate(ts.srv.URL+"/sso"), chromedp.WaitVisible(chromedp.CSS("#sso-name")))
		fitsWidth(t, ctx, fmt.Sprintf("/sso at %d px", width))
		if width == 390 {
			screenshot(t, ctx, "narrow-sso")
		}
		run(t, ctx, chromedp.Navigate(ts.srv.URL+"/sso/okta"), chromedp.WaitVisible(chromedp.CSS("#sso-url-callback")))
	}

	// Signed out, a page asked for leads to the sign-in page, which offers
	// the connection; its button signs in at the provider and comes back.
	run(t, ctx,
		chromedp.Click(chromedp.CSS(`form.signout button`)),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.Navigate(ts.srv.URL+"/account/tokens"),
		chromedp.WaitVisible(chromedp.CSS(".sso-choices a")),
	)
	if b := value(t, ctx, chromedp.Text(chromedp.CSS(".sso-choices a"))); b != "Sign in with Okta" {
		t.Fatalf("the SSO button reads %q", b)
	}
	fitsWidth(t, ctx, "/signin with SSO at 1280 px")
	screenshot(t, ctx, "signin-sso")
	// Keyboard: the button is a link, reached and followed from the keys.
	run(t, ctx,
		chromedp.Focus(chromedp.CSS(".sso-choices a")),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS("form.signout")),
	)
	if who := value(t, ctx, chromedp.Text(chromedp.CSS(".who"))); who != "dan" {
		t.Fatalf("signed in as %q", who)
	}
	if loc := value(t, ctx, chromedp.Location()); loc != ts.srv.URL+"/account/tokens" {
		t.Fatalf("landed on %s, want the page asked for", loc)
	}
	screenshot(t, ctx, "sso-signed-in")
}
