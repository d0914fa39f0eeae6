package ui

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	ldapconn "github.com/gatehouse-dev/gatehouse/internal/connector/ldap"
	"github.com/gatehouse-dev/gatehouse/internal/connector/ldap/ldaptest"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/secretbox"
)

// testKeyring is a fresh secret key, as GATEHOUSE_SECRET_KEY would give.
func testKeyring(t *testing.T) *secretbox.Keyring {
	t.Helper()
	key, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := secretbox.Load(key, "")
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

// withLDAP gives the test server the provisioning engine with the LDAP
// source and the directory test over what its settings describe, as the
// server wires them (the engine tells the settings it saved).
func withLDAP(t *testing.T) serverOption {
	return serverOption{ui: func(ts *testServer, _ *http.ServeMux, o *Options) {
		var dir atomic.Pointer[ldapconn.Directory]
		connect := func(_ identity.Source, values map[string]string) {
			d, err := ldapconn.Connector{}.OpenDirectory(values)
			if err != nil {
				d = nil // not (or not usably) configured
			}
			dir.Store(d)
		}
		eng, err := provision.New(ts.ctx, ts.st, map[identity.Source]provision.SourceConfig{identity.SourceLDAP: {Connector: ldapconn.Connector{}}},
			provision.Config{Secrets: testKeyring(t), OnSettings: connect})
		if err != nil {
			t.Fatal(err)
		}
		go eng.Run(ts.ctx)
		o.Provisioner = eng
		o.LDAPTest = func(ctx context.Context, login string) (any, bool) {
			if d := dir.Load(); d != nil {
				return d.Test(ctx, login), true
			}
			return nil, false
		}
	}}
}

// startDirectory is slapd with the connector's test directory.
func startDirectory(t *testing.T) *ldaptest.Server {
	return ldaptest.Start(t, ldaptest.Options{LDIF: []string{"../connector/ldap/testdata/directory.ldif"}})
}

// ldapSettings are the form fields of a working configuration of dir.
func ldapSettings(dir *ldaptest.Server) []string {
	return []string{
		"ldap.url", dir.URL,
		"ldap.bindDn", ldaptest.BindDN,
		"ldap.bindPassword", ldaptest.BindPassword,
		"ldap.user.baseDn", "ou=people," + ldaptest.BaseDN,
		"ldap.group.baseDn", "ou=groups," + ldaptest.BaseDN,
		"ldap.group.request", "(|(member={dn})(uniqueMember={dn})(memberUid={uid}))",
	}
}

func TestLDAPPageAccess(t *testing.T) {
	ts := newTestServer(t, withLDAP(t))
	ts.user("bob", "bob-password-123")
	b := ts.browser()
	b.signIn("bob", "bob-password-123")
	b.get("/provisioning/ldap").must(http.StatusForbidden).lacks("ldap.url")
	b.post("/provisioning/ldap/test", "login", "alice").must(http.StatusForbidden)
	b.post("/provisioning/ldap/settings", "ldap.url", "ldap://127.0.0.1:1").must(http.StatusForbidden)

	admin := ts.browser()
	admin.signIn("admin", adminPassword)
	checkPage(t, admin.get("/provisioning/ldap").must(200).contains("Test a login", "ldap.url", "ldap.bindPassword", "not set"))
	// Every form needs the page's token.
	admin.post("/provisioning/ldap/settings", "csrf", "forged", "ldap.user.baseDn", "dc=x").must(http.StatusForbidden)
	admin.post("/provisioning/ldap/test", "csrf", "", "login", "alice").must(http.StatusForbidden)
	admin.post("/provisioning/ldap/sync", "csrf", "forged").must(http.StatusForbidden)
}

func TestLDAPNotConfigured(t *testing.T) {
	ts := newTestServer(t, withLDAP(t))
	b := ts.browser()
	b.signIn("admin", adminPassword)
	b.get("/provisioning/ldap").must(200)
	checkPage(t, b.post("/provisioning/ldap/test", "login", "alice").must(200).contains("LDAP is not configured", `value="alice"`))

	// A server without the engine says so rather than fail.
	bare := newTestServer(t)
	nb := bare.browser()
	nb.signIn("admin", adminPassword)
	nb.get("/provisioning/ldap").must(200).contains("no LDAP provisioning source")
	nb.post("/provisioning/ldap/test", "login", "alice").must(200).contains("no LDAP provisioning source")
}

// TestLDAPSettings saves settings through the page against a real slapd:
// the bind password is write-only (set / not set, never its value, kept
// when left empty), a refused save shows the reason and keeps the form.
func TestLDAPSettings(t *testing.T) {
	dir := startDirectory(t)
	ts := newTestServer(t, withLDAP(t))
	b := ts.browser()
	b.signIn("admin", adminPassword)
	b.get("/provisioning/ldap").must(200)

	// A wrong bind password is refused by the live check: the reason is
	// shown, the values typed stay, the password is not echoed.
	bad := ldapSettings(dir)
	bad[5] = "wrong-password"
	refused := b.post("/provisioning/ldap/settings", bad...).must(http.StatusBadRequest).contains("were not saved", `value="`+dir.URL+`"`).lacks("wrong-password")
	checkPage(t, refused)
	if got, _ := ts.st.Store().GetSetting(ts.ctx, "provisioning.ldap.ldap.url"); got != "" {
		t.Fatalf("a refused save stored ldap.url = %q", got)
	}

	b.post("/provisioning/ldap/settings", ldapSettings(dir)...).must(http.StatusSeeOther)
	page := b.get("/provisioning/ldap").must(200).contains("LDAP settings saved.", `value="`+dir.URL+`"`, `<span class="badge ok">set</span>`).lacks(ldaptest.BindPassword)
	checkPage(t, page)

	// Saving again with the password left empty keeps it: the directory
	// still answers.
	b.post("/provisioning/ldap/settings", "ldap.url", dir.URL, "ldap.bindPassword", "", "ldap.user.request", "(uid={login})").must(http.StatusSeeOther)
	tested := b.get("/provisioning/ldap").must(200).contains("LDAP settings saved.", "(uid={login})").lacks(ldaptest.BindPassword)
	_ = tested
	res := b.post("/provisioning/ldap/test", "login", "alice").must(200).contains("uid=alice,ou=people,dc=example,dc=org", "Alice Test", "alice@example.org", "developers", "reachable").lacks(ldaptest.BindPassword)
	checkPage(t, res)
	b.post("/provisioning/ldap/test", "login", "nobody-here").must(200).contains("not found")

	// Synchronize now queues a run; the page shows it pending, running or
	// finished.
	b.post("/provisioning/ldap/sync").must(http.StatusSeeOther)
	b.get("/provisioning/ldap").must(200).contains("Synchronization queued")
}
