package server

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLDAPValues(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ldap.properties")
	if err := os.WriteFile(f, []byte("# comment\n! also\n ldap.url = ldap://a:389 \nldap.user.baseDn=ou=people,dc=x\nsonar.other=ignored\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := readLDAPEnv(func(k string) string {
		return map[string]string{"GATEHOUSE_LDAP_URL": "ldap://env:389", "GATEHOUSE_LDAP_BINDPASSWORD": "pw"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	c := Config{LDAPFile: f, LDAP: env}
	v, err := c.LDAPValues()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ldap.url": "ldap://env:389", "ldap.user.baseDn": "ou=people,dc=x", "ldap.bindPassword": "pw"}
	if len(v) != len(want) {
		t.Fatalf("values = %v, want %v", v, want)
	}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("%s = %q, want %q", k, v[k], w)
		}
	}
	if ldapEnv("ldap.user.baseDn") != "GATEHOUSE_LDAP_USER_BASEDN" {
		t.Error(ldapEnv("ldap.user.baseDn"))
	}
	if _, err := parseProperties("no equals sign"); err == nil {
		t.Error("a line without = was accepted")
	}
	if v, err := (&Config{}).LDAPValues(); v != nil || err != nil {
		t.Errorf("no LDAP configuration = %v, %v", v, err)
	}
}

func FuzzParseProperties(f *testing.F) {
	f.Add("ldap.url=ldap://h\n# c\nldap.bindDn = cn=x,dc=y\n")
	f.Add("=x\n")
	f.Fuzz(func(t *testing.T, s string) { _, _ = parseProperties(s) })
}
