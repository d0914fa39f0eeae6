package webapi

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// fakeSSO stands for the SSO adapter.
type fakeSSO struct{ tests []string }

func (f *fakeSSO) Endpoints(name string) (string, string, string, string) {
	b := "https://gatehouse.test/sso/" + name
	return b + "/login", b + "/metadata", b + "/acs", b + "/callback"
}

func (f *fakeSSO) NewSPKeyPair(string) ([]byte, []byte, error) {
	return []byte("-----BEGIN PRIVATE KEY-----\nSP-KEY-MATERIAL\n-----END PRIVATE KEY-----\n"), []byte("-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----\n"), nil
}

func (f *fakeSSO) BeginTest(ctx context.Context, name string) (string, error) {
	f.tests = append(f.tests, name)
	return "https://gatehouse.test/sso/" + name + "/login?test=t1", nil
}

// TestSSOConnectionActions: an admin creates a SAML connection for Entra
// ID (preset) and an OIDC one for Okta, reads, changes, tests and deletes
// them; secrets never come back; the public listing shows enabled ones.
func TestSSOConnectionActions(t *testing.T) {
	sso := &fakeSSO{}
	s := newTestServerWith(t, nil, func(_ *state.State, o *Options) { o.SSO = sso })

	var c ssoConnectionJSON
	s.post("api/sso/connections/create", asAdmin, "name", "entra", "protocol", "saml", "preset", "entra-saml", "displayName", "Contoso",
		"idpMetadataUrl", "https://login.microsoftonline.com/tenant/federationmetadata/2007-06/federationmetadata.xml?appid=1",
		"jit", "true").must(t, 200).json(t, &c)
	if c.Name != "entra" || c.Protocol != "saml" || !c.Enabled || !c.JIT || c.Mapping.Email != "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress" ||
		!strings.Contains(c.SPCertificate, "CERTIFICATE") || c.URLs.ACS != "https://gatehouse.test/sso/entra/acs" || c.URLs.Metadata == "" || c.URLs.Callback != "" {
		t.Fatalf("created = %+v", c)
	}
	s.post("api/sso/connections/create", asAdmin, "name", "okta", "protocol", "oidc", "preset", "okta-oidc", "issuer", "https://contoso.okta.com",
		"clientId", "0oa1", "clientSecret", "TOP-SECRET-VALUE", "scopes", "groups", "emailAttribute", "mail", "enabled", "false").must(t, 200).json(t, &c)
	if !c.ClientSecretSet || c.Mapping.Email != "mail" || c.Mapping.Login != "preferred_username" || c.Enabled || c.URLs.Callback != "https://gatehouse.test/sso/okta/callback" ||
		len(c.Scopes) != 1 || c.Scopes[0] != "groups" {
		t.Fatalf("created = %+v", c)
	}

	var list struct{ Connections []ssoConnectionJSON }
	r := s.get("api/sso/connections/list", asAdmin).must(t, 200)
	r.json(t, &list)
	if len(list.Connections) != 2 || list.Connections[0].Name != "entra" {
		t.Fatalf("list = %+v", list)
	}
	if strings.Contains(string(r.body), "TOP-SECRET") || strings.Contains(string(r.body), "SP-KEY-MATERIAL") || strings.Contains(string(r.body), "gh1:") {
		t.Errorf("a secret is in the list: %s", r.body)
	}

	// Update keeps what is not sent, the client secret too.
	s.post("api/sso/connections/update", asAdmin, "name", "okta", "emailAttribute", "email", "enabled", "true", "jit", "false").must(t, 200).json(t, &c)
	if c.Mapping.Email != "email" || !c.Enabled || !c.ClientSecretSet || c.Issuer != "https://contoso.okta.com" || c.Version != 2 {
		t.Fatalf("updated = %+v", c)
	}
	s.get("api/sso/connections/show", asAdmin, "name", "okta").must(t, 200).json(t, &c)
	if c.Version != 2 {
		t.Errorf("show = %+v", c)
	}

	var presets struct{ Presets []identity.SSOPreset }
	s.get("api/sso/connections/presets", asAdmin).must(t, 200).json(t, &presets)
	if len(presets.Presets) < 5 || presets.Presets[0].Key != "entra-saml" {
		t.Errorf("presets = %+v", presets)
	}

	var test struct{ URL string }
	s.post("api/sso/connections/test", asAdmin, "name", "entra").must(t, 200).json(t, &test)
	if test.URL == "" || len(sso.tests) != 1 {
		t.Errorf("test = %+v", test)
	}

	var pub struct{ Connections []ssoPublicJSON }
	s.get("api/sso/connections/public", cred{}).must(t, 200).json(t, &pub)
	if len(pub.Connections) != 2 || pub.Connections[0].DisplayName != "Contoso" || pub.Connections[1].LoginURL != "https://gatehouse.test/sso/okta/login" {
		t.Errorf("public = %+v", pub)
	}

	s.post("api/sso/connections/delete", asAdmin, "name", "okta").must(t, 204)
	s.get("api/sso/connections/show", asAdmin, "name", "okta").must(t, 404)
}

func TestSSOConnectionRefusals(t *testing.T) {
	s := newTestServerWith(t, nil, func(_ *state.State, o *Options) { o.SSO = &fakeSSO{} })
	s.createUser("bob")
	bob := cred{login: "bob", pw: "bob-password-1"}
	for _, tc := range []struct {
		name   string
		cred   cred
		path   string
		kv     []string
		status int
		says   string
	}{
		{"not an admin", bob, "api/sso/connections/create", []string{"name", "x", "protocol", "oidc"}, 403, ""},
		{"anonymous", cred{}, "api/sso/connections/list", nil, 401, ""},
		{"unknown protocol", asAdmin, "api/sso/connections/create", []string{"name", "x", "protocol", "ldap"}, 400, "protocol"},
		{"bad name", asAdmin, "api/sso/connections/create", []string{"name", "Has Space", "protocol", "oidc", "issuer", "https://i.example", "clientId", "c"}, 400, "lower-case"},
		{"OIDC without issuer", asAdmin, "api/sso/connections/create", []string{"name", "x", "protocol", "oidc", "clientId", "c"}, 400, "issuer"},
		{"SAML without metadata", asAdmin, "api/sso/connections/create", []string{"name", "x", "protocol", "saml"}, 400, "metadata"},
		{"unknown preset", asAdmin, "api/sso/connections/create", []string{"name", "x", "protocol", "oidc", "preset", "nope"}, 400, "preset"},
		{"unknown connection", asAdmin, "api/sso/connections/update", []string{"name", "ghost"}, 404, "ghost"},
		{"unknown connection test", asAdmin, "api/sso/connections/test", []string{"name", "ghost"}, 404, "ghost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := s.post
			if strings.HasSuffix(tc.path, "/list") {
				method = s.get
			}
			r := method(tc.path, tc.cred, tc.kv...)
			if r.status != tc.status || tc.says != "" && !strings.Contains(r.errMsg(t), tc.says) {
				t.Errorf("answered %d %s; want %d saying %q", r.status, r.body, tc.status, tc.says)
			}
		})
	}
}
