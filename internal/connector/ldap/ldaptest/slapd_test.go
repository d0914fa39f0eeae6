package ldaptest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestStartStop(t *testing.T) {
	s := Start(t, Options{TLS: true, SizeLimit: 2, LDIF: []string{"../testdata/directory.ldif"}})
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	if err := c.StartTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if err := c.Bind(BindDN, BindPassword); err != nil {
		t.Fatalf("bind: %v", err)
	}
	req := ldap.NewSearchRequest("ou=people,"+BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(uid=*)", []string{"uid"}, nil)
	if _, err := c.Search(req); !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		t.Fatalf("unpaged search over the size limit: %v, want size limit exceeded", err)
	}
	res, err := c.SearchWithPaging(req, 2)
	if err != nil {
		t.Fatalf("paged search: %v", err)
	}
	if len(res.Entries) != 7 {
		t.Fatalf("paged search found %d entries, want 7", len(res.Entries))
	}
	s.Stop()
	if _, err := c.Search(req); err == nil {
		t.Fatal("search on a stopped server succeeded")
	}
	s.Restart(t)
	c2, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatalf("dial after restart: %v", err)
	}
	c2.Close()
}
