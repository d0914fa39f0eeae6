package state

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/secretbox"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func newSSOEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	key, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := secretbox.ParseKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	e.s.secrets = ring
	return e
}

func oidcInput(name string, jit bool) SSOConnectionInput {
	secret := "client-secret-1"
	return SSOConnectionInput{Name: name, Protocol: identity.SSOOIDC, ClientSecret: &secret, Settings: identity.SSOSettings{
		Enabled: true, Issuer: "https://idp.example.com", ClientID: "gatehouse", JIT: jit,
		Mapping: identity.SSOMapping{Login: "preferred_username", Name: "name", Email: "email", Groups: "groups"},
	}}
}

// TestSSOConnections: connections are created, updated and deleted with
// their secrets sealed (never in the audit log), validated, unique by name.
func TestSSOConnections(t *testing.T) {
	e := newSSOEnv(t)
	c, err := e.s.CreateSSOConnection(e.ctx, oidcInput("okta", true))
	if err != nil {
		t.Fatal(err)
	}
	if !secretbox.IsSealed(c.Settings.ClientSecretSealed) || strings.Contains(c.Settings.ClientSecretSealed, "client-secret-1") {
		t.Fatalf("client secret stored as %q", c.Settings.ClientSecretSealed)
	}
	if secret, _, err := e.s.SSOSecrets(c); err != nil || secret != "client-secret-1" {
		t.Fatalf("SSOSecrets = %q, %v", secret, err)
	}
	if !c.Settings.GroupsFromAssertions {
		t.Error("groups from assertions is off by default without SCIM groups")
	}
	if _, err := e.s.CreateSSOConnection(e.ctx, oidcInput("okta", true)); !errors.Is(err, identity.ErrAlreadyExists) {
		t.Errorf("second okta: %v", err)
	}
	bad := oidcInput("Bad Name", true)
	if _, err := e.s.CreateSSOConnection(e.ctx, bad); !errors.Is(err, identity.ErrInvalid) {
		t.Errorf("bad name: %v", err)
	}

	// An update without a secret keeps it.
	in := oidcInput("okta", false)
	in.ClientSecret = nil
	in.Settings.Mapping.Email = "mail"
	u, err := e.s.UpdateSSOConnection(e.ctx, "okta", in)
	if err != nil || u.Version != 2 || u.Settings.Mapping.Email != "mail" || u.Settings.JIT {
		t.Fatalf("update = %+v %v", u, err)
	}
	if secret, _, err := e.s.SSOSecrets(u); err != nil || secret != "client-secret-1" {
		t.Fatalf("secret after update = %q, %v", secret, err)
	}
	evs, _, err := e.db.ListAudit(e.ctx, auditFilter("sso:okta"))
	if err != nil || len(evs) != 2 {
		t.Fatalf("audit = %v %v", evs, err)
	}
	for _, ev := range evs {
		if strings.Contains(ev.Before+ev.After, "gh1:") || strings.Contains(ev.Before+ev.After, "client-secret") {
			t.Errorf("audit event %s holds a secret: %s %s", ev.Action, ev.Before, ev.After)
		}
	}
	if err := e.s.DeleteSSOConnection(e.ctx, "okta"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.SSOConnection(e.ctx, "okta"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}

	// Without an encryption key, secrets cannot be stored.
	e.s.secrets = nil
	if _, err := e.s.CreateSSOConnection(e.ctx, oidcInput("other", true)); !errors.Is(err, identity.ErrInvalid) || !strings.Contains(err.Error(), "GATEHOUSE_SECRET_KEY") {
		t.Errorf("without a key: %v", err)
	}
}

// TestSSOGroupsDefaultWithSCIM: once SCIM manages groups, a new
// connection leaves groups alone unless told otherwise.
func TestSSOGroupsDefaultWithSCIM(t *testing.T) {
	e := newSSOEnv(t)
	if _, err := e.s.SCIMCreateGroup(e.ctx, identity.Group{Name: "engineering"}, nil); err != nil {
		t.Fatal(err)
	}
	c, err := e.s.CreateSSOConnection(e.ctx, oidcInput("entra", true))
	if err != nil || c.Settings.GroupsFromAssertions {
		t.Fatalf("groups from assertions with SCIM groups = %v, %v", c.Settings.GroupsFromAssertions, err)
	}
	on := true
	in := oidcInput("entra2", true)
	in.GroupsFromAssertions = &on
	if c, err = e.s.CreateSSOConnection(e.ctx, in); err != nil || !c.Settings.GroupsFromAssertions {
		t.Fatalf("explicit on = %v, %v", c.Settings.GroupsFromAssertions, err)
	}
}

// TestSignInSSO: the matching rules of an SSO sign-in.
func TestSignInSSO(t *testing.T) {
	e := newSSOEnv(t)
	jit, err := e.s.CreateSSOConnection(e.ctx, oidcInput("jit", true))
	if err != nil {
		t.Fatal(err)
	}
	strict, err := e.s.CreateSSOConnection(e.ctx, oidcInput("strict", false))
	if err != nil {
		t.Fatal(err)
	}
	scimUser, err := e.s.SCIMCreateUser(e.ctx, identity.User{Login: "ada@example.com", Name: "Ada (SCIM)", Email: "ada@example.com", ExternalID: "oid-ada"})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := e.s.SCIMCreateUser(e.ctx, identity.User{Login: "gone@example.com", Name: "Gone", ExternalID: "oid-gone"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.SCIMUpdateUser(e.ctx, gone.ID, func(u identity.User) (identity.User, error) { u.Active = false; return u, nil }); err != nil {
		t.Fatal(err)
	}
	e.user("local-admin")

	acc := func(login, ext string) identity.ExternalAccount {
		return identity.ExternalAccount{Login: login, Name: "From IdP", Email: "idp@example.com", ExternalID: ext, Active: true}
	}
	cases := []struct {
		name    string
		conn    identity.SSOConnection
		acc     identity.ExternalAccount
		wantID  int64
		by      string
		create  bool
		refused string
	}{
		{name: "SCIM user by login", conn: strict, acc: acc("ada@example.com", "whatever"), wantID: scimUser.ID, by: "login"},
		{name: "SCIM user by external id", conn: strict, acc: acc("ada.renamed@example.com", "oid-ada"), wantID: scimUser.ID, by: "externalId"},
		{name: "deactivated by login", conn: jit, acc: acc("gone@example.com", ""), refused: "deactivated"},
		{name: "deactivated by external id", conn: jit, acc: acc("someone@example.com", "oid-gone"), refused: "deactivated"},
		{name: "a local user's login", conn: jit, acc: acc("local-admin", ""), refused: "source local"},
		{name: "unknown without JIT", conn: strict, acc: acc("new@example.com", "oid-new"), refused: "JIT creation is off"},
		{name: "unknown with JIT", conn: jit, acc: acc("new@example.com", "oid-new"), create: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := e.s.MatchSSO(e.ctx, tc.conn, tc.acc)
			if tc.refused != "" {
				if !errors.Is(err, identity.ErrUnauthenticated) || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("MatchSSO = %+v, %v; want a refusal saying %q", m, err, tc.refused)
				}
			} else if err != nil || m.User.ID != tc.wantID || m.By != tc.by || m.Create != tc.create {
				t.Fatalf("MatchSSO = %+v, %v", m, err)
			}
			before, _, _ := e.db.ListUsers(e.ctx, userFilterAll())
			_, u, err := e.s.SignInSSO(e.ctx, tc.conn, tc.acc, []string{"sso-devs"})
			if tc.refused != "" {
				if !errors.Is(err, identity.ErrUnauthenticated) || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("SignInSSO = %v; want a refusal saying %q", err, tc.refused)
				}
				after, _, _ := e.db.ListUsers(e.ctx, userFilterAll())
				if len(after) != len(before) {
					t.Errorf("a refused sign-in created a user")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.create:
				if u.Source != identity.SourceSSO || u.Login != tc.acc.Login || u.Email != "idp@example.com" || u.ExternalID != "oid-new" {
					t.Errorf("JIT user = %+v", u)
				}
				if got := e.groupsOf(u); !slices.Contains(got, "sso-devs") {
					t.Errorf("JIT user's groups = %v, want sso-devs from the assertion", got)
				}
			default:
				if u.ID != tc.wantID || u.Source != identity.SourceSCIM || u.Name != "Ada (SCIM)" {
					t.Errorf("signed in %+v, want the SCIM user unchanged", u)
				}
				if slices.Contains(e.groupsOf(u), "sso-devs") {
					t.Error("a SCIM user's groups followed the assertion")
				}
			}
		})
	}

	// A disabled connection signs nobody in.
	in := oidcInput("jit", true)
	in.ClientSecret = nil
	in.Settings.Enabled = false
	off, err := e.s.UpdateSSOConnection(e.ctx, "jit", in)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.SignInSSO(e.ctx, off, acc("ada@example.com", ""), nil); !errors.Is(err, identity.ErrUnauthenticated) || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("disabled connection: %v", err)
	}
}

func auditFilter(target string) store.AuditFilter {
	return store.AuditFilter{Target: target, Page: store.Page{Number: 1, Size: 100}}
}

func userFilterAll() store.UserFilter {
	return store.UserFilter{Page: store.Page{Number: 1, Size: 500}}
}

// TestSSOSAMLKeyPairAndChoices: a SAML connection's key pair is made at
// creation only once the rest is valid; the sign-in choices are the
// enabled connections with a login URL, named by their display name.
func TestSSOSAMLKeyPairAndChoices(t *testing.T) {
	e := newSSOEnv(t)
	made := 0
	keyPair := func(name string) ([]byte, []byte, error) {
		made++
		return []byte("key of " + name), []byte("cert of " + name), nil
	}
	saml := SSOConnectionInput{Name: "entra", Protocol: identity.SSOSAML, NewKeyPair: keyPair,
		Settings: identity.SSOSettings{Enabled: true, DisplayName: "Entra ID", IdPMetadataURL: "https://login.example.com/metadata"}}
	bad := saml
	bad.Settings.IdPMetadataURL = ""
	if _, err := e.s.CreateSSOConnection(e.ctx, bad); !errors.Is(err, identity.ErrInvalid) || made != 0 {
		t.Fatalf("without metadata: %v, %d key pairs made", err, made)
	}
	c, err := e.s.CreateSSOConnection(e.ctx, saml)
	if err != nil || made != 1 || c.Settings.SPCertPEM != "cert of entra" {
		t.Fatalf("create = %+v, %v, %d key pairs made", c, err, made)
	}
	if _, key, err := e.s.SSOSecrets(c); err != nil || key != "key of entra" {
		t.Fatalf("SP key = %q, %v", key, err)
	}
	if _, err := e.s.CreateSSOConnection(e.ctx, oidcInput("okta", false)); err != nil {
		t.Fatal(err)
	}
	off := oidcInput("old", false)
	off.Settings.Enabled = false
	if _, err := e.s.CreateSSOConnection(e.ctx, off); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		login func(string) string
		want  []SSOSignInChoice
	}{
		{"public URL", func(n string) string { return "https://gh.example.com/sso/" + n + "/login" }, []SSOSignInChoice{
			{Name: "entra", DisplayName: "Entra ID", Protocol: identity.SSOSAML, LoginURL: "https://gh.example.com/sso/entra/login"},
			{Name: "okta", DisplayName: "okta", Protocol: identity.SSOOIDC, LoginURL: "https://gh.example.com/sso/okta/login"},
		}},
		{"no public URL", func(string) string { return "" }, []SSOSignInChoice{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.s.SSOSignInChoices(e.ctx, tc.login)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("choices = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
