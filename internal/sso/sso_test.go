package sso

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/secretbox"
	"github.com/gatehouse-dev/gatehouse/internal/sso/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/sso/oidc/oidctest"
	"github.com/gatehouse-dev/gatehouse/internal/sso/saml"
	"github.com/gatehouse-dev/gatehouse/internal/sso/saml/samltest"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// fakeSessions records whom a sign-in started a session for.
type fakeSessions struct {
	mu    sync.Mutex
	users []int64
}

func (f *fakeSessions) StartSession(w http.ResponseWriter, _ *http.Request, userID int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users = append(f.users, userID)
	http.SetCookie(w, &http.Cookie{Name: "GATEHOUSE-SESSION", Value: "s", Path: "/"})
	return nil
}

func (f *fakeSessions) last() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.users) == 0 {
		return 0
	}
	return f.users[len(f.users)-1]
}

type env struct {
	t        *testing.T
	ctx      context.Context
	st       *state.State
	h        *Handler
	srv      *httptest.Server
	sessions *fakeSessions
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "g.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key, _ := secretbox.GenerateKey()
	ring, err := secretbox.ParseKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.New(ctx, db, state.Options{Secrets: ring})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	e := &env{t: t, ctx: ctx, st: st, srv: srv, sessions: &fakeSessions{}}
	e.h, err = New(st, Options{PublicURL: "http://" + srv.Listener.Addr().String(), Sessions: e.sessions})
	if err != nil {
		t.Fatal(err)
	}
	e.h.Register(mux)
	srv.Start()
	t.Cleanup(srv.Close)
	return e
}

func (e *env) samlConnection(name string, idp *samltest.IdP, mod func(*state.SSOConnectionInput)) {
	e.t.Helper()
	keyPEM, certPEM, err := e.h.NewSPKeyPair(name)
	if err != nil {
		e.t.Fatal(err)
	}
	k := string(keyPEM)
	p, _ := identity.SSOPresetByKey("entra-saml")
	in := state.SSOConnectionInput{Name: name, Protocol: identity.SSOSAML, SPKeyPEM: &k, Settings: identity.SSOSettings{
		Enabled: true, IdPMetadataURL: idp.MetadataURL(), SPCertPEM: string(certPEM), Mapping: p.Mapping}}
	if mod != nil {
		mod(&in)
	}
	if _, err := e.st.CreateSSOConnection(e.ctx, in); err != nil {
		e.t.Fatal(err)
	}
	_, md, _, _ := e.h.Endpoints(name)
	if err := idp.Register(e.ctx, md); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) oidcConnection(name string, op *oidctest.Provider, mod func(*state.SSOConnectionInput)) {
	e.t.Helper()
	secret := op.ClientSecret
	p, _ := identity.SSOPresetByKey("okta-oidc")
	in := state.SSOConnectionInput{Name: name, Protocol: identity.SSOOIDC, ClientSecret: &secret, Settings: identity.SSOSettings{
		Enabled: true, Issuer: op.Issuer, ClientID: op.ClientID, Mapping: p.Mapping}}
	if mod != nil {
		mod(&in)
	}
	if _, err := e.st.CreateSSOConnection(e.ctx, in); err != nil {
		e.t.Fatal(err)
	}
}

func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func noRedirect(c *http.Client) *http.Client {
	nc := *c
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &nc
}

type answer struct {
	status   int
	location string
	body     []byte
}

func read(t *testing.T) func(resp *http.Response, err error) answer {
	return func(resp *http.Response, err error) answer {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{status: resp.StatusCode, location: resp.Header.Get("Location"), body: b}
	}
}

func (a answer) errorMsg(t *testing.T) string {
	t.Helper()
	var body struct {
		Errors []struct{ Msg string } `json:"errors"`
	}
	if err := json.Unmarshal(a.body, &body); err != nil || len(body.Errors) != 1 {
		t.Fatalf("answer %d is not a SonarQube error: %s", a.status, a.body)
	}
	return body.Errors[0].Msg
}

func newIdP(t *testing.T) *samltest.IdP {
	t.Helper()
	idp, err := samltest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	return idp
}

func newOP(t *testing.T) *oidctest.Provider {
	t.Helper()
	op := oidctest.New("gatehouse", "s3cret")
	t.Cleanup(op.Close)
	return op
}

func (e *env) loginURL(name, returnTo string) string {
	login, _, _, _ := e.h.Endpoints(name)
	if returnTo != "" {
		login += "?return_to=" + url.QueryEscape(returnTo)
	}
	return login
}

// TestSAMLSignIn: an Entra-style SAML sign-in of a SCIM-provisioned user
// signs that user in and returns to the relay path; JIT creates users of
// source sso; a deactivated user is refused; an open redirect is not
// followed.
func TestSAMLSignIn(t *testing.T) {
	e := newEnv(t)
	idp := newIdP(t)
	e.samlConnection("entra", idp, func(in *state.SSOConnectionInput) { in.Settings.JIT = true })
	ada, err := e.st.SCIMCreateUser(e.ctx, identity.User{Login: "ada@contoso.example", Name: "Ada", ExternalID: "oid-ada"})
	if err != nil {
		t.Fatal(err)
	}

	idp.SetUser("ada@contoso.example", samltest.EntraAttributes("ada@contoso.example", "ada@contoso.example", "Ada Lovelace", "oid-ada"))
	a := read(t)(samltest.SignIn(browser(t), e.loginURL("entra", "/projects?filter=mine")))
	if a.status != http.StatusSeeOther || a.location != "/projects?filter=mine" {
		t.Fatalf("sign-in answered %d %q: %s", a.status, a.location, a.body)
	}
	if e.sessions.last() != ada.ID {
		t.Errorf("session for user %d, want the SCIM user %d", e.sessions.last(), ada.ID)
	}

	// JIT: an unknown user is created with source sso, its e-mail trusted.
	idp.SetUser("bob@contoso.example", samltest.EntraAttributes("bob@contoso.example", "bob@contoso.example", "Bob", "oid-bob"))
	a = read(t)(samltest.SignIn(browser(t), e.loginURL("entra", "https://evil.example/phish")))
	if a.status != http.StatusSeeOther || a.location != "/" {
		t.Fatalf("JIT sign-in with a foreign return_to answered %d %q: %s", a.status, a.location, a.body)
	}
	bob, err := e.st.Store().GetUserByLogin(e.ctx, "bob@contoso.example")
	if err != nil || bob.Source != identity.SourceSSO || bob.Email != "bob@contoso.example" || bob.ExternalID != "oid-bob" || bob.Name != "Bob" {
		t.Fatalf("JIT user = %+v, %v", bob, err)
	}

	// Deactivated by SCIM: refused, with a clear message.
	if _, err := e.st.SCIMUpdateUser(e.ctx, ada.ID, func(u identity.User) (identity.User, error) { u.Active = false; return u, nil }); err != nil {
		t.Fatal(err)
	}
	idp.SetUser("ada@contoso.example", samltest.EntraAttributes("ada@contoso.example", "ada@contoso.example", "Ada Lovelace", "oid-ada"))
	a = read(t)(samltest.SignIn(browser(t), e.loginURL("entra", "")))
	if a.status != http.StatusUnauthorized || !strings.Contains(a.errorMsg(t), "deactivated") {
		t.Fatalf("deactivated user: %d %s", a.status, a.body)
	}
}

// TestSAMLTestSignIn is seed 001: the mapping reads user.email, Entra ID
// sends the emailaddress claim URI; the test sign-in says so and changes
// nothing.
func TestSAMLTestSignIn(t *testing.T) {
	e := newEnv(t)
	idp := newIdP(t)
	e.samlConnection("entra", idp, func(in *state.SSOConnectionInput) {
		in.Settings.Mapping.Email = "user.email"
		in.Settings.JIT = true
		in.Settings.Enabled = false // tested before it is enabled
	})
	idp.SetUser("carol@contoso.example", samltest.EntraAttributes("carol@contoso.example", "carol@contoso.example", "Carol", "oid-carol", "g-1"))
	u, err := e.h.BeginTest(e.ctx, "entra")
	if err != nil {
		t.Fatal(err)
	}
	c := browser(t)
	a := read(t)(samltest.SignIn(c, u))
	if a.status != http.StatusOK {
		t.Fatalf("test sign-in answered %d: %s", a.status, a.body)
	}
	var rep Report
	if err := json.Unmarshal(a.body, &rep); err != nil {
		t.Fatalf("report: %v: %s", err, a.body)
	}
	if rep.Derived == nil || rep.Derived.Login != "carol@contoso.example" || rep.Derived.Name != "Carol" || rep.Derived.Email != "" {
		t.Fatalf("derived = %+v", rep.Derived)
	}
	want := "email: `user.email` not in the assertion; it carries `" + samltest.ClaimDisplayName
	if len(rep.Derived.Problems) == 0 || !strings.HasPrefix(rep.Derived.Problems[0], want) || !strings.Contains(rep.Derived.Problems[0], "`"+samltest.ClaimEmail+"`") {
		t.Errorf("problems = %q, want one starting %q and naming %s", rep.Derived.Problems, want, samltest.ClaimEmail)
	}
	if got := rep.Attributes[samltest.ClaimEmail]; len(got) != 1 || got[0] != "carol@contoso.example" {
		t.Errorf("raw attributes = %v", rep.Attributes)
	}
	if rep.Match == nil || rep.Match.Outcome != "create" || rep.Match.Source != "sso" || rep.OK {
		t.Errorf("match = %+v ok=%v (a disabled connection would not sign in)", rep.Match, rep.OK)
	}
	if _, err := e.st.Store().GetUserByLogin(e.ctx, "carol@contoso.example"); err == nil {
		t.Error("the test sign-in created the user")
	}
	if e.sessions.last() != 0 {
		t.Error("the test sign-in started a session")
	}
	// A disabled connection signs nobody in for real.
	a = read(t)(noRedirect(browser(t)).Get(e.loginURL("entra", "")))
	if a.status != http.StatusForbidden || !strings.Contains(a.errorMsg(t), "disabled") {
		t.Errorf("disabled connection: %d %s", a.status, a.body)
	}
}

// TestOIDCSignIn: an OIDC sign-in matches a SCIM user by login, a test
// sign-in shows the claims, a missing claim is named.
func TestOIDCSignIn(t *testing.T) {
	e := newEnv(t)
	op := newOP(t)
	e.oidcConnection("okta", op, nil)
	dan, err := e.st.SCIMCreateUser(e.ctx, identity.User{Login: "dan", Name: "Dan", ExternalID: "00u-dan"})
	if err != nil {
		t.Fatal(err)
	}
	op.SetUser("00u-dan", map[string]any{"preferred_username": "dan", "name": "Dan D.", "email": "dan@example.com", "groups": []any{"eng"}})
	a := read(t)(noRedirect(browser(t)).Get(e.loginURL("okta", "/account")))
	if a.status != http.StatusFound {
		t.Fatalf("login answered %d: %s", a.status, a.body)
	}
	// Follow the provider's redirects in a browser with the cookies.
	c := browser(t)
	final := stopAtReturn(c)
	a = read(t)(final.Get(e.loginURL("okta", "/account")))
	if a.status != http.StatusSeeOther || a.location != "/account" || e.sessions.last() != dan.ID {
		t.Fatalf("sign-in answered %d %q (session %d, want %d): %s", a.status, a.location, e.sessions.last(), dan.ID, a.body)
	}

	// Without JIT, an unknown user is refused and told why.
	op.SetUser("00u-eve", map[string]any{"preferred_username": "eve", "name": "Eve"})
	a = read(t)(stopAtReturn(browser(t)).Get(e.loginURL("okta", "")))
	if a.status != http.StatusUnauthorized || !strings.Contains(a.errorMsg(t), "JIT creation is off") {
		t.Fatalf("unknown user without JIT: %d %s", a.status, a.body)
	}

	u, err := e.h.BeginTest(e.ctx, "okta")
	if err != nil {
		t.Fatal(err)
	}
	a = read(t)(browser(t).Get(u))
	var rep Report
	if err := json.Unmarshal(a.body, &rep); err != nil || a.status != http.StatusOK {
		t.Fatalf("report %d: %v: %s", a.status, err, a.body)
	}
	if rep.Protocol != "oidc" || rep.Derived == nil || rep.Derived.Login != "eve" || rep.Match == nil || rep.Match.Outcome != "refused" {
		t.Fatalf("report = %+v", rep)
	}
	if len(rep.Derived.Problems) == 0 || !strings.HasPrefix(rep.Derived.Problems[0], "email: `email` not in the ID token or userinfo; it carries ") {
		t.Errorf("problems = %q", rep.Derived.Problems)
	}
	if q := op.LastAuthorization(); q.Get("prompt") != "login" {
		t.Errorf("a test sign-in does not ask the provider to authenticate again: %v", q)
	}
}

// stopAtReturn follows redirects through the provider until Gatehouse's
// answer to the callback, which it returns.
func stopAtReturn(c *http.Client) *http.Client {
	nc := *c
	nc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		prev := via[len(via)-1].URL
		if strings.HasSuffix(prev.Path, "/callback") && req.URL.Host == prev.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &nc
}

// TestBadInput: whatever arrives, a clear 4xx.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	idp := newIdP(t)
	e.samlConnection("entra", idp, nil)
	op := newOP(t)
	e.oidcConnection("okta", op, nil)
	base := e.srv.URL
	post := func(path string, form url.Values) answer {
		return read(t)(http.Post(base+path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode())))
	}
	dtd := base64.StdEncoding.EncodeToString([]byte(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&b;</samlp:Response>`))
	cases := []struct {
		name   string
		do     func() answer
		status int
		says   string
	}{
		{"unknown connection", func() answer { return read(t)(http.Get(base + "/sso/nope/login")) }, 404, "No SSO connection 'nope'"},
		{"unknown connection ACS", func() answer { return post("/sso/nope/acs", url.Values{"SAMLResponse": {"x"}}) }, 404, "nope"},
		{"not base64", func() answer { return post("/sso/entra/acs", url.Values{"SAMLResponse": {"%%%"}}) }, 400, "base64"},
		{"no SAMLResponse", func() answer { return post("/sso/entra/acs", url.Values{"x": {"y"}}) }, 400, "SAMLResponse"},
		{"not XML", func() answer {
			return post("/sso/entra/acs", url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString([]byte("hello"))}})
		}, 400, ""},
		{"DTD and entities", func() answer { return post("/sso/entra/acs", url.Values{"SAMLResponse": {dtd}}) }, 400, "DTD"},
		{"oversized", func() answer {
			return post("/sso/entra/acs", url.Values{"SAMLResponse": {strings.Repeat("A", 1<<20)}})
		}, 413, ""},
		{"OIDC callback at the SAML connection", func() answer { return read(t)(http.Get(base + "/sso/entra/callback?code=x&state=y")) }, 404, "SAML"},
		{"metadata of an OIDC connection", func() answer { return read(t)(http.Get(base + "/sso/okta/metadata")) }, 404, "OpenID Connect"},
		{"forged OIDC callback", func() answer { return read(t)(http.Get(base + "/sso/okta/callback?code=x&state=y")) }, 401, "state"},
		{"unknown test ticket", func() answer { return read(t)(http.Get(base + "/sso/entra/login?test=guess")) }, 401, "test sign-in"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.do()
			if a.status != tc.status || !strings.Contains(a.errorMsg(t), tc.says) {
				t.Errorf("answered %d %s; want %d saying %q", a.status, a.body, tc.status, tc.says)
			}
		})
	}

	t.Run("replayed response", func(t *testing.T) {
		if _, err := e.st.SCIMCreateUser(e.ctx, identity.User{Login: "x@contoso.example", Name: "X"}); err != nil {
			t.Fatal(err)
		}
		idp.SetUser("x@contoso.example", samltest.EntraAttributes("x@contoso.example", "", "X", "oid-x"))
		c := browser(t)
		action, form, err := samltest.Form(c, e.loginURL("entra", ""))
		if err != nil {
			t.Fatal(err)
		}
		if a := read(t)(samltest.Post(c, action, form)); a.status != http.StatusSeeOther {
			t.Fatalf("first post: %d %s", a.status, a.body)
		}
		a := read(t)(samltest.Post(c, action, form))
		if a.status != http.StatusUnauthorized || !strings.Contains(a.errorMsg(t), "refused") {
			t.Fatalf("replayed post: %d %s", a.status, a.body)
		}
		// Tampered: an attribute added to the signed Response.
		_, form2, err := samltest.Form(c, e.loginURL("entra", ""))
		if err != nil {
			t.Fatal(err)
		}
		raw2, _ := base64.StdEncoding.DecodeString(form2.Get("SAMLResponse"))
		form2.Set("SAMLResponse", base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw2), "<saml:Issuer", "<saml:Issuer Tampered=\"1\"", 1))))
		a = read(t)(samltest.Post(c, action, form2))
		if a.status != http.StatusUnauthorized || !strings.Contains(a.errorMsg(t), "bad_signature") {
			t.Fatalf("tampered response: %d %s", a.status, a.body)
		}
	})

	t.Run("no public URL", func(t *testing.T) {
		h, err := New(e.st, Options{Sessions: e.sessions})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		mux := http.NewServeMux()
		h.Register(mux)
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/sso/entra/login", nil))
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "--public-url") {
			t.Errorf("answered %d %s", rec.Code, rec.Body)
		}
	})
}

func TestSafeReturnPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "/",
		"/":                             "/",
		"/projects?x=1#top":             "/projects?x=1#top",
		"/a/b":                          "/a/b",
		"https://evil.example/":         "/",
		"//evil.example/":               "/",
		"/\\evil.example":               "/",
		"\\\\evil.example":              "/",
		"javascript:alert(1)":           "/",
		"projects":                      "/",
		"/a\r\nLocation: //evil":        "/",
		"/%0d%0aSet-Cookie:x=1":         "/%0d%0aSet-Cookie:x=1",
		"/x\\y":                         "/",
		"http:/evil.example":            "/",
		"/" + strings.Repeat("a", 3000): "/",
	} {
		if got := SafeReturnPath(in); got != want {
			t.Errorf("SafeReturnPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStatus: each refusal of the protocol packages and of the matching
// maps to one 4xx (503 when the IdP or a store is unavailable).
func TestStatus(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{&saml.Error{Code: saml.ErrBadSignature}, 401},
		{&saml.Error{Code: saml.ErrUnsigned}, 401},
		{&saml.Error{Code: saml.ErrExpired}, 401},
		{&saml.Error{Code: saml.ErrReplayed}, 401},
		{&saml.Error{Code: saml.ErrAudience}, 401},
		{&saml.Error{Code: saml.ErrDestination}, 401},
		{&saml.Error{Code: saml.ErrInResponseTo}, 401},
		{&saml.Error{Code: saml.ErrMalformed}, 400},
		{&saml.Error{Code: saml.ErrTooLarge}, 413},
		{&saml.Error{Code: saml.ErrUnavailable}, 503},
		{&saml.Error{Code: saml.ErrMetadata}, 503},
		{&oidc.Error{Code: oidc.ErrState}, 401},
		{&oidc.Error{Code: oidc.ErrNonce}, 401},
		{&oidc.Error{Code: oidc.ErrBadSignature}, 401},
		{&oidc.Error{Code: oidc.ErrAudience}, 401},
		{&oidc.Error{Code: oidc.ErrMalformed}, 400},
		{&oidc.Error{Code: oidc.ErrUnavailable}, 503},
		{&oidc.Error{Code: oidc.ErrDiscovery}, 503},
		{identity.Errorf(identity.ErrNotFound, "x"), 404},
		{identity.Errorf(identity.ErrUnauthenticated, "x"), 401},
		{identity.Errorf(identity.ErrForbidden, "x"), 403},
		{identity.Errorf(identity.ErrInvalid, "x"), 400},
	}
	for _, tc := range cases {
		if got, _ := status(tc.err); got != tc.want {
			t.Errorf("status(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestTickets: a test ticket is good for its connection until it expires,
// whichever replica checks it; a changed one is refused.
func TestTickets(t *testing.T) {
	now := time.Now()
	key := []byte("key of entra")
	tk := signTicket(key, now.Add(testTTL))
	if !validTicket(key, tk, now) {
		t.Fatal("a fresh ticket is refused")
	}
	if validTicket(key, tk, now.Add(testTTL+time.Second)) {
		t.Error("an expired ticket is accepted")
	}
	if validTicket([]byte("key of okta"), tk, now) {
		t.Error("a ticket of another connection is accepted")
	}
	b := []byte(tk)
	b[3] ^= 1
	if validTicket(key, string(b), now) || validTicket(key, "", now) || validTicket(key, "not base64!", now) {
		t.Error("a changed ticket is accepted")
	}
}

// TestConnectionChanges: the cached protocol half follows updates and a
// connection created again under a deleted one's name.
func TestConnectionChanges(t *testing.T) {
	e := newEnv(t)
	op1, op2 := newOP(t), newOP(t)
	e.oidcConnection("okta", op1, nil)
	start := func() string {
		a := read(t)(noRedirect(browser(t)).Get(e.loginURL("okta", "")))
		if a.status != http.StatusFound {
			t.Fatalf("login answered %d: %s", a.status, a.body)
		}
		return a.location
	}
	if got := start(); !strings.HasPrefix(got, op1.Issuer+"/authorize?") {
		t.Fatalf("redirected to %s, want %s", got, op1.Issuer)
	}
	secret := op2.ClientSecret
	if _, err := e.st.UpdateSSOConnection(e.ctx, "okta", state.SSOConnectionInput{ClientSecret: &secret, Settings: identity.SSOSettings{
		Enabled: true, Issuer: op2.Issuer, ClientID: op2.ClientID}}); err != nil {
		t.Fatal(err)
	}
	if got := start(); !strings.HasPrefix(got, op2.Issuer+"/authorize?") {
		t.Fatalf("after the update redirected to %s, want %s", got, op2.Issuer)
	}
	// Deleted and created again: version 1 both times, a new id.
	if err := e.st.DeleteSSOConnection(e.ctx, "okta"); err != nil {
		t.Fatal(err)
	}
	e.oidcConnection("okta", op1, nil)
	if got := start(); !strings.HasPrefix(got, op1.Issuer+"/authorize?") {
		t.Fatalf("after delete and create redirected to %s, want %s", got, op1.Issuer)
	}
	if err := e.st.DeleteSSOConnection(e.ctx, "okta"); err != nil {
		t.Fatal(err)
	}
	e.oidcConnection("okta", op2, nil)
	if got := start(); !strings.HasPrefix(got, op2.Issuer+"/authorize?") {
		t.Fatalf("after a second delete and create redirected to %s, want %s", got, op2.Issuer)
	}
}
