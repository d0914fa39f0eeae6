package webapi

import "testing"

func TestLDAPTestWithoutLDAP(t *testing.T) {
	s := newTestServer(t)
	s.get("api/ldap/test", asAdmin, "login", "alice").must(t, 400)
	s.createUser("bob")
	s.get("api/ldap/test", cred{login: "bob", pw: "bob-password-1"}, "login", "alice").must(t, 403)
}
