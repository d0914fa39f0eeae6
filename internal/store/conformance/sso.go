package conformance

import (
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var ssoTests = []test{
	{"CreateGetList", testSSOCreateGetList},
	{"UniqueName", testSSOUniqueName},
	{"UpdateBumpsVersion", testSSOUpdate},
	{"Delete", testSSODelete},
	{"NotFound", testSSONotFound},
}

func samlConnection(name string) identity.SSOConnection {
	return identity.SSOConnection{Name: name, Protocol: identity.SSOSAML, Settings: identity.SSOSettings{
		DisplayName: "Entra ID", Enabled: true, IdPMetadataXML: "<EntityDescriptor/>", SPKeySealed: "gh1:00000000:sealed",
		SPCertPEM: "-----BEGIN CERTIFICATE-----\n…", AllowIdPInitiated: true,
		Mapping: identity.SSOMapping{Login: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", Email: "user.mail", Groups: "groups"},
		JIT:     true,
	}}
}

func oidcConnection(name string) identity.SSOConnection {
	return identity.SSOConnection{Name: name, Protocol: identity.SSOOIDC, Settings: identity.SSOSettings{
		DisplayName: "Okta", Issuer: "https://example.okta.com", ClientID: "0oa1", ClientSecretSealed: "gh1:00000000:x",
		Scopes: []string{"groups"}, Mapping: identity.SSOMapping{Login: "preferred_username"}, GroupsFromAssertions: true,
	}}
}

func checkSSO(t *testing.T, what string, want, got identity.SSOConnection) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Protocol != want.Protocol || got.Version != want.Version ||
		!reflect.DeepEqual(got.Settings, want.Settings) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

func testSSOCreateGetList(t *testing.T, s store.Store) {
	start := time.Now()
	a := mustCreate(t, s, samlConnection("entra"), store.Tx.CreateSSOConnection)
	b := mustCreate(t, s, oidcConnection("okta"), store.Tx.CreateSSOConnection)
	if a.ID <= 0 || b.ID <= 0 || a.ID == b.ID || a.Version != 1 {
		t.Fatalf("created ids %d, %d, version %d", a.ID, b.ID, a.Version)
	}
	checkFilled(t, "CreateSSOConnection CreatedAt", a.CreatedAt, start)
	got, err := s.GetSSOConnection(t.Context(), "entra")
	noErr(t, "GetSSOConnection", err)
	want := samlConnection("entra")
	want.ID, want.Version = a.ID, 1
	checkSSO(t, "GetSSOConnection", want, got)
	all, err := s.ListSSOConnections(t.Context())
	noErr(t, "ListSSOConnections", err)
	if len(all) != 2 || all[0].Name != "entra" || all[1].Name != "okta" {
		t.Fatalf("ListSSOConnections = %+v, want entra, okta", all)
	}
	want = oidcConnection("okta")
	want.ID, want.Version = b.ID, 1
	checkSSO(t, "ListSSOConnections[1]", want, all[1])
}

func testSSOUniqueName(t *testing.T, s store.Store) {
	mustCreate(t, s, samlConnection("entra"), store.Tx.CreateSSOConnection)
	err := tryCreate(t, s, oidcConnection("entra"), store.Tx.CreateSSOConnection)
	wantErrIs(t, "CreateSSOConnection of a taken name", err, identity.ErrAlreadyExists)
	other := mustCreate(t, s, oidcConnection("okta"), store.Tx.CreateSSOConnection)
	other.Name = "entra"
	err = tryUpdate(t, s, other, store.Tx.UpdateSSOConnection)
	wantErrIs(t, "UpdateSSOConnection to a taken name", err, identity.ErrAlreadyExists)
}

func testSSOUpdate(t *testing.T, s store.Store) {
	c := mustCreate(t, s, samlConnection("entra"), store.Tx.CreateSSOConnection)
	c.Settings.Mapping.Email = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	c.Settings.JIT = false
	c.Settings.Enabled = false
	mustUpdate(t, s, c, store.Tx.UpdateSSOConnection)
	got, err := s.GetSSOConnection(t.Context(), "entra")
	noErr(t, "GetSSOConnection after update", err)
	c.Version = 2
	checkSSO(t, "GetSSOConnection after update", c, got)
	mustUpdate(t, s, got, store.Tx.UpdateSSOConnection)
	got, err = s.GetSSOConnection(t.Context(), "entra")
	noErr(t, "GetSSOConnection after a second update", err)
	if got.Version != 3 {
		t.Errorf("version after two updates = %d, want 3", got.Version)
	}
}

func testSSODelete(t *testing.T, s store.Store) {
	doomed := mustCreate(t, s, samlConnection("entra"), store.Tx.CreateSSOConnection)
	mustCreate(t, s, oidcConnection("okta"), store.Tx.CreateSSOConnection)
	write(t, s, func(tx store.Tx) error { return tx.DeleteSSOConnection(t.Context(), doomed.ID) })
	_, err := s.GetSSOConnection(t.Context(), "entra")
	wantErrIs(t, "GetSSOConnection after delete", err, identity.ErrNotFound)
	all, err := s.ListSSOConnections(t.Context())
	noErr(t, "ListSSOConnections", err)
	if len(all) != 1 || all[0].Name != "okta" {
		t.Errorf("ListSSOConnections after delete = %+v, want okta", all)
	}
}

func testSSONotFound(t *testing.T, s store.Store) {
	_, err := s.GetSSOConnection(t.Context(), "nope")
	wantErrIs(t, "GetSSOConnection of an unknown name", err, identity.ErrNotFound)
	c := samlConnection("ghost")
	c.ID = 999999
	err = tryUpdate(t, s, c, store.Tx.UpdateSSOConnection)
	wantErrIs(t, "UpdateSSOConnection of an unknown id", err, identity.ErrNotFound)
	var derr error
	s.Tx(t.Context(), func(tx store.Tx) error { derr = tx.DeleteSSOConnection(t.Context(), 999999); return derr }) //nolint:errcheck // derr is checked
	wantErrIs(t, "DeleteSSOConnection of an unknown id", derr, identity.ErrNotFound)
}
