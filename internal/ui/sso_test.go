package ui

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/sso"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// withSSO gives the test server the SSO adapter at its own address (its
// routes beside the UI's, its sign-ins ending in the Web API's session) and
// a secret key for the connections' secrets, as the server wires them.
func withSSO(t *testing.T) serverOption {
	return serverOption{
		state: func(o *state.Options) { o.Secrets = testKeyring(t) },
		ui: func(ts *testServer, mux *http.ServeMux, o *Options) {
			h, err := sso.New(ts.st, sso.Options{PublicURL: "http://" + ts.srv.Listener.Addr().String(), Sessions: sso.SessionFunc(ts.api.StartSession)})
			if err != nil {
				t.Fatal(err)
			}
			h.Register(mux)
			o.SSO = h
		},
	}
}

func TestSSOPageAccess(t *testing.T) {
	ts := newTestServer(t, withSSO(t))
	ts.user("bob", "bob-password-123")
	b := ts.browser()
	b.signIn("bob", "bob-password-123")
	for _, path := range []string{"/sso", "/sso/okta", "/sso/okta/test"} {
		b.get(path).must(http.StatusForbidden)
	}
	b.post("/sso", "name", "okta", "protocol", "oidc", "issuer", "https://idp.example.com", "clientId", "x").must(http.StatusForbidden)
	b.post("/sso/okta/delete").must(http.StatusForbidden)

	admin := ts.browser()
	admin.signIn("admin", adminPassword)
	checkPage(t, admin.get("/sso").must(200).contains("No SSO connection yet.", "New connection", "Microsoft Entra ID (SAML)"))
	admin.post("/sso", "csrf", "forged", "name", "okta", "protocol", "oidc", "issuer", "https://idp.example.com", "clientId", "x").must(http.StatusForbidden)
	if cs, _ := ts.st.SSOConnections(ts.ctx); len(cs) != 0 {
		t.Fatalf("a forged form created %v", cs)
	}
	admin.get("/sso/nothing").must(http.StatusNotFound)
}

// TestSSOConnectionRoundTrip creates, edits, disables and deletes
// connections through the pages: secrets are never shown after they are
// sent, a refused form keeps its values, the sign-in page offers only the
// enabled connections.
func TestSSOConnectionRoundTrip(t *testing.T) {
	ts := newTestServer(t, withSSO(t))
	b := ts.browser()
	b.signIn("admin", adminPassword)
	b.get("/sso").must(200)

	// Refused: no issuer. The values typed stay, the secret does not.
	refused := b.post("/sso", "name", "okta", "protocol", "oidc", "displayName", "Okta", "clientId", "gatehouse", "clientSecret", "very-secret-1", "enabled", "true").
		must(http.StatusBadRequest).contains("issuer URL", `value="okta"`, `value="Okta"`).lacks("very-secret-1")
	checkPage(t, refused)

	b.post("/sso", "name", "okta", "protocol", "oidc", "displayName", "Okta", "issuer", "https://idp.example.com", "clientId", "gatehouse",
		"clientSecret", "very-secret-1", "scopes", "groups", "preset", "okta-oidc", "enabled", "true", "jit", "true").must(http.StatusSeeOther)
	host := "http://" + ts.srv.Listener.Addr().String()
	page := b.get("/sso/okta").must(200).contains("SSO connection okta created", host+"/sso/okta/callback", host+"/sso/okta/login",
		`data-copy="sso-url-callback"`, `<span class="badge ok">set</span>`, `value="groups"`, `href="/sso/okta/test"`).lacks("very-secret-1", "sso-url-acs")
	checkPage(t, page)
	c, err := ts.st.SSOConnection(ts.ctx, "okta")
	preset, _ := identity.SSOPresetByKey("okta-oidc")
	if err != nil || !c.Settings.JIT || c.Settings.Mapping != preset.Mapping || c.Settings.Scopes[0] != "groups" {
		t.Fatalf("okta = %+v, %v", c, err)
	}
	if secret, _, err := ts.st.SSOSecrets(c); err != nil || secret != "very-secret-1" {
		t.Fatalf("client secret = %q, %v", secret, err)
	}

	// Edit with the secret left empty: kept. JIT off, a new display name.
	b.post("/sso/okta/update", "displayName", "Okta Workforce", "issuer", "https://idp.example.com", "clientId", "gatehouse", "clientSecret", "",
		"enabled", "true", "loginAttribute", "preferred_username").must(http.StatusSeeOther)
	b.get("/sso/okta").must(200).contains("SSO connection okta saved.", `value="Okta Workforce"`).lacks("very-secret-1")
	c, _ = ts.st.SSOConnection(ts.ctx, "okta")
	if secret, _, _ := ts.st.SSOSecrets(c); secret != "very-secret-1" || c.Settings.JIT || c.Settings.DisplayName != "Okta Workforce" {
		t.Fatalf("after edit: %+v, secret %q", c.Settings, secret)
	}

	// SAML: the metadata XML is write-only; the SP's URLs and certificate
	// are shown.
	// (Creation stores the metadata; it is read at the first sign-in.)
	md := `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sts.example.com/written-only">...</EntityDescriptor>`
	b.post("/sso", "name", "entra", "protocol", "saml", "displayName", "Entra ID", "idpMetadataXml", md, "preset", "entra-saml").must(http.StatusSeeOther)
	saml := b.get("/sso/entra").must(200).contains(host+"/sso/entra/metadata", host+"/sso/entra/acs", "XML set", "BEGIN CERTIFICATE", "disabled").lacks("written-only", "sso-url-callback", `name="issuer"`)
	checkPage(t, saml)

	// The sign-in page offers the enabled connection only (entra was
	// created without "enabled"), with the return path.
	out := ts.browser()
	signin := out.get("/signin?next=%2Fprojects").must(200).contains("Sign in with Okta Workforce", `href="`+host+`/sso/okta/login?return_to=%2Fprojects"`).lacks("Entra ID")
	checkPage(t, signin)
	b.post("/sso/entra/enable", "enabled", "true").must(http.StatusSeeOther)
	b.post("/sso/okta/enable", "enabled", "false", "from", "connection").must(http.StatusSeeOther)
	b.get("/sso").must(200).contains("SSO connection okta disabled")
	out.get("/signin").must(200).contains("Sign in with Entra ID").lacks("Okta Workforce")

	b.post("/sso/entra/delete").must(http.StatusSeeOther)
	b.post("/sso/okta/delete").must(http.StatusSeeOther)
	b.get("/sso").must(200).contains("SSO connection okta deleted", "No SSO connection yet.")
	out.get("/signin").must(200).lacks("Sign in with")
}

func TestSignInWithoutSSO(t *testing.T) {
	ts := newTestServer(t)
	ts.browser().get("/signin").must(200).contains(`id="password"`).lacks("Sign in with", "sso-choices")
}

func TestSSOTestSignInStarts(t *testing.T) {
	ts := newTestServer(t, withSSO(t))
	b := ts.browser()
	b.signIn("admin", adminPassword)
	b.get("/sso").must(200)
	b.post("/sso", "name", "okta", "protocol", "oidc", "issuer", "https://idp.example.com", "clientId", "gatehouse", "clientSecret", "s-1").must(http.StatusSeeOther)
	to := b.get("/sso/okta/test").must(http.StatusSeeOther).location()
	if !strings.HasPrefix(to, "http://"+ts.srv.Listener.Addr().String()+"/sso/okta/login?test=") {
		t.Fatalf("test sign-in goes to %q", to)
	}
}
