package ui

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

var (
	formRE    = regexp.MustCompile(`(?s)<form\b([^>]*)>(.*?)</form>`)
	controlRE = regexp.MustCompile(`<(input|select|textarea)\b([^>]*)>`)
	attrRE    = func(name string) *regexp.Regexp { return regexp.MustCompile(`\b` + name + `="([^"]*)"`) }
	idAttr    = attrRE("id")
	typeAttr  = attrRE("type")
	method    = attrRE("method")
)

// checkPage asserts the rules every page keeps: each POST form carries the
// CSRF token, each control has a label, and no script or style is inline
// (the Content-Security-Policy would block it anyway).
func checkPage(t *testing.T, p *page) {
	t.Helper()
	for _, f := range formRE.FindAllStringSubmatch(p.body, -1) {
		if m := method.FindStringSubmatch(f[1]); m != nil && strings.EqualFold(m[1], "post") && !strings.Contains(f[2], `name="csrf"`) {
			t.Errorf("a POST form has no CSRF token: %s", f[0])
		}
	}
	for _, c := range controlRE.FindAllStringSubmatch(p.body, -1) {
		if ty := typeAttr.FindStringSubmatch(c[2]); ty != nil && (ty[1] == "hidden" || ty[1] == "submit") {
			continue
		}
		if strings.Contains(c[2], "aria-label=") {
			continue
		}
		id := idAttr.FindStringSubmatch(c[2])
		if id == nil || !strings.Contains(p.body, `for="`+id[1]+`"`) {
			t.Errorf("a control has no label: %s", c[0])
		}
	}
	for _, tag := range regexp.MustCompile(`<script\b[^>]*>([^<]*)</script>`).FindAllStringSubmatch(p.body, -1) {
		if !strings.Contains(tag[0], ` src="/static/`) || strings.TrimSpace(tag[1]) != "" {
			t.Errorf("an inline script: %s", tag[0])
		}
	}
	if regexp.MustCompile(`\son[a-z]+="|\sstyle="|<style`).MatchString(p.body) {
		t.Errorf("an inline event handler or style")
	}
}

func TestSignedOutVisitorsSeeTheSignInPage(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	res := b.get("/").must(http.StatusSeeOther)
	if res.location() != "/signin?next=%2F" {
		t.Fatalf("redirect to %q", res.location())
	}
	// HEAD as GET (a link checker, a monitor): the redirect, not a 401.
	head, _ := http.NewRequest(http.MethodHead, ts.srv.URL+"/users", nil)
	if hr := b.do(head).must(http.StatusSeeOther); !strings.HasPrefix(hr.location(), "/signin?next=") {
		t.Fatalf("HEAD redirect to %q", hr.location())
	}
	p := b.get("/signin").must(200).contains(`<label for="login">Login</label>`, `<label for="password">Password</label>`)
	checkPage(t, p)
	csp := p.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Fatalf("CSP %q", csp)
	}
	if p.header.Get("X-Frame-Options") != "DENY" || p.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", p.header)
	}
}

func TestSignIn(t *testing.T) {
	ts := newTestServer(t)
	t.Run("wrong password", func(t *testing.T) {
		b := ts.browser()
		b.get("/signin").must(200)
		b.post("/signin", "login", "admin", "password", "nope").must(http.StatusUnauthorized).contains("Authentication failed", `value="admin"`)
	})
	t.Run("no form token", func(t *testing.T) {
		b := ts.browser()
		b.get("/signin").must(200)
		b.post("/signin", "csrf", "forged", "login", "admin", "password", adminPassword).must(http.StatusForbidden).contains("security token")
	})
	t.Run("another site's form", func(t *testing.T) {
		b := ts.browser()
		b.get("/signin").must(200)
		form := url.Values{"csrf": {b.csrf}, "login": {"admin"}, "password": {adminPassword}}
		req, _ := http.NewRequest(http.MethodPost, ts.srv.URL+"/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		b.do(req).must(http.StatusForbidden)
	})
	t.Run("signs in on the UI and the Web API at once", func(t *testing.T) {
		b := ts.browser()
		b.get("/signin?next=%2Fsignin%2F..%2F%2Fevil").must(200)
		res := b.post("/signin", "login", "admin", "password", adminPassword, "next", "//evil.example/").must(http.StatusSeeOther)
		if res.location() != "/" {
			t.Fatalf("redirect to %q: only paths of this server", res.location())
		}
		var session *http.Cookie
		for _, ck := range b.c.Jar.Cookies(mustURL(t, ts.srv.URL)) {
			if ck.Name == "GATEHOUSE-SESSION" {
				session = ck
			}
		}
		if session == nil {
			t.Fatal("no Web API session cookie")
		}
		checkPage(t, b.get("/").must(200).contains("Welcome, admin", "Sign out", `href="/users"`, `href="/templates"`))
		// The same cookie is a Web API session.
		b.get("/api/users/search").must(200).contains(`"login":"admin"`)
		// Signing out needs the form's token, then ends the API session too.
		b.post("/signout", "csrf", "stale").must(http.StatusForbidden)
		b.get("/").must(200)
		b.post("/signout").must(http.StatusSeeOther)
		b.get("/api/users/search").must(http.StatusUnauthorized)
		b.get("/").must(http.StatusSeeOther)
	})
	t.Run("an API sign-in is a UI session", func(t *testing.T) {
		b := ts.browser()
		b.postForm("/api/authentication/login", url.Values{"login": {"admin"}, "password": {adminPassword}}).must(200)
		b.get("/").must(200).contains("Welcome, admin")
	})
}

func TestSessionCookieFlags(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	b.get("/signin").must(200)
	form := url.Values{"csrf": {b.csrf}, "login": {"admin"}, "password": {adminPassword}}
	req, _ := http.NewRequest(http.MethodPost, ts.srv.URL+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	found := false
	for _, ck := range res.Cookies() {
		if ck.Name == "GATEHOUSE-SESSION" {
			found = true
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
				t.Fatalf("session cookie %+v", ck)
			}
		}
	}
	if !found {
		t.Fatal("no session cookie")
	}
}

func TestWebAPIPathsUnchanged(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	b.get("/api/server/version").must(200)
	b.get("/api/users/search").must(http.StatusUnauthorized).contains(`"errors"`)
	b.get("/api/openapi.json").must(200)
	p := b.get("/no/such/page").must(http.StatusNotFound).contains("There is no page at this address.")
	if !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		t.Fatalf("content type %q", p.header.Get("Content-Type"))
	}
	css := b.get("/static/gatehouse.css").must(200)
	if !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Fatalf("css content type %q", css.header.Get("Content-Type"))
	}
	b.get("/static/gatehouse.js").must(200).contains("use strict")
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestStatusOf checks that each domain error kind gets its status, a
// throttled request 429 and an unavailable store 503, never a 500.
func TestStatusOf(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{identity.Errorf(identity.ErrNotFound, "x"), http.StatusNotFound},
		{identity.Errorf(identity.ErrInvalid, "x"), http.StatusBadRequest},
		{identity.Errorf(identity.ErrManaged, "x"), http.StatusBadRequest},
		{identity.Errorf(identity.ErrAlreadyExists, "x"), http.StatusBadRequest},
		{identity.Errorf(identity.ErrUnauthenticated, "x"), http.StatusUnauthorized},
		{identity.Errorf(identity.ErrForbidden, "x"), http.StatusForbidden},
		{&identity.Error{Kind: identity.ErrThrottled, Msg: "x", Retry: time.Second}, http.StatusTooManyRequests},
		{identity.Errorf(identity.ErrStoreUnavailable, "x"), http.StatusServiceUnavailable},
		{errors.New("disk on fire"), http.StatusInternalServerError},
	} {
		if got := statusOf(c.err); got != c.want {
			t.Errorf("statusOf(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
