package server

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/connector/ldap/ldaptest"
)

func call(t *testing.T, method, u string, form url.Values, auth func(*http.Request)) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return send(t, req, auth)
}

// send sends req, with auth's credentials when set, and returns the status
// and body.
func send(t *testing.T, req *http.Request, auth func(*http.Request)) (int, string) {
	t.Helper()
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func basic(login, pw string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(login, pw) }
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// TestLDAPSeed is seed 000 end to end against a real slapd: a service
// account's token holds global admin through an LDAP group; the account is
// removed from the group with ldapmodify; with the staleness bound at 1 s
// the same token is refused admin within 2 s, without any sign-in.
func TestLDAPSeed(t *testing.T) {
	dir := ldaptest.Start(t, ldaptest.Options{LDIF: []string{"../connector/ldap/testdata/directory.ldif"}})
	props := filepath.Join(t.TempDir(), "ldap.properties")
	if err := os.WriteFile(props, []byte(strings.Join([]string{
		"# SonarQube-style LDAP settings",
		"ldap.url=" + dir.URL,
		"ldap.bindDn=" + ldaptest.BindDN,
		"ldap.user.baseDn=ou=people," + ldaptest.BaseDN,
		"ldap.group.baseDn=ou=groups," + ldaptest.BaseDN,
		"ldap.group.request=(|(member={dn})(uniqueMember={dn})(memberUid={uid}))",
		"ldap.tokenStaleness=1s",
		"ldap.timeout=2s",
	}, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file comes from GATEHOUSE_LDAP_CONFIG and the bind password from
	// the environment, as a deployment's secret would.
	env := map[string]string{"GATEHOUSE_LDAP_BINDPASSWORD": ldaptest.BindPassword, "GATEHOUSE_LDAP_CONFIG": props, "GATEHOUSE_ADMIN_PASSWORD": "admin-password-42"}
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	if err := cfg.Flags(fs, func(k string) string { return env[k] }); err != nil || fs.Parse(nil) != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.DataDir, cfg.AccessLog = "127.0.0.1:0", t.TempDir(), false
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = srv.Run(ctx) }()
	base := "http://" + srv.Addr() + "/"
	admin := basic("admin", cfg.AdminPassword)

	// Sign-in by bind: wrong password and unknown login refused; the first
	// sign-in creates svc-ci (source ldap) with its LDAP groups.
	if st, _ := call(t, "POST", base+"api/authentication/login", url.Values{"login": {"svc-ci"}, "password": {"wrong"}}, nil); st != 401 {
		t.Fatalf("wrong password: %d", st)
	}
	if st, _ := call(t, "GET", base+"api/authentication/validate", nil, basic("nobody", "x")); st != 200 {
		t.Fatalf("validate: %d", st)
	}
	if st, body := call(t, "POST", base+"api/authentication/login", url.Values{"login": {"svc-ci"}, "password": {"svc-ci-pw"}}, nil); st != 200 {
		t.Fatalf("LDAP sign-in: %d %s", st, body)
	}
	if st, body := call(t, "GET", base+"api/users/search?q=svc-ci", nil, admin); st != 200 || !strings.Contains(body, `"externalProvider":"ldap"`) && !strings.Contains(body, `"managed":true`) {
		t.Logf("users/search = %d %s", st, body)
	}
	// The test call shows what svc-ci would get and the server's state.
	if st, body := call(t, "GET", base+"api/ldap/test?login=svc-ci", nil, admin); st != 200 || !strings.Contains(body, `"dn":"uid=svc-ci,ou=people,dc=example,dc=org"`) || !strings.Contains(body, `"groups":["gatehouse-admins"]`) || !strings.Contains(body, `"reachable":true`) {
		t.Errorf("api/ldap/test = %d %s", st, body)
	}
	if st, _ := call(t, "GET", base+"api/ldap/test?login=svc-ci", nil, basic("svc-ci", "svc-ci-pw")); st != 403 {
		t.Errorf("api/ldap/test by a non-admin = %d, want 403", st)
	}
	// The administrator gives the LDAP group global admin.
	if st, body := call(t, "POST", base+"api/permissions/add_group", url.Values{"groupName": {"gatehouse-admins"}, "permission": {"admin"}}, admin); st != 204 && st != 200 {
		t.Fatalf("add_group: %d %s", st, body)
	}
	// The service account makes its token with basic auth (a bind).
	st, body := call(t, "POST", base+"api/user_tokens/generate", url.Values{"name": {"ci"}}, basic("svc-ci", "svc-ci-pw"))
	if st != 200 {
		t.Fatalf("generate token: %d %s", st, body)
	}
	var gen struct{ Token string }
	if err := json.Unmarshal([]byte(body), &gen); err != nil || gen.Token == "" {
		t.Fatalf("token answer %s: %v", body, err)
	}
	check := func() (bool, string) {
		st, body := call(t, "GET", base+"api/authz/check?permission=admin", nil, bearer(gen.Token))
		if st != 200 {
			t.Fatalf("authz/check: %d %s", st, body)
		}
		var r struct {
			Allowed bool
			Reason  string
		}
		_ = json.Unmarshal([]byte(body), &r)
		return r.Allowed, r.Reason
	}
	if ok, reason := check(); !ok {
		t.Fatalf("token has no admin through gatehouse-admins: %s", reason)
	}

	// Removed from the group in the directory.
	dir.Modify(t, "dn: cn=gatehouse-admins,ou=groups,dc=example,dc=org\nchangetype: modify\ndelete: uniqueMember\nuniqueMember: uid=svc-ci,ou=people,dc=example,dc=org\n")
	removed := time.Now()
	for {
		ok, _ := check()
		if !ok {
			break
		}
		if time.Since(removed) > 2*time.Second {
			t.Fatal("the token kept admin for more than 2 s after its LDAP group membership was removed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("admin refused %v after the LDAP removal", time.Since(removed).Round(time.Millisecond))
	if st, body := call(t, "GET", base+"api/authz/explain?permission=admin", nil, bearer(gen.Token)); st != 200 || !strings.Contains(body, `"kind":"groups"`) || !strings.Contains(body, "last read from ldap at") {
		t.Errorf("explain = %d %s", st, body)
	}

	// Put back, then the directory stops: past the bound, rights from LDAP
	// groups are refused with the reason; the local admin is unaffected.
	dir.Modify(t, "dn: cn=gatehouse-admins,ou=groups,dc=example,dc=org\nchangetype: modify\nadd: uniqueMember\nuniqueMember: uid=svc-ci,ou=people,dc=example,dc=org\n")
	deadline := time.Now().Add(5 * time.Second)
	for ok, _ := check(); !ok; ok, _ = check() {
		if time.Now().After(deadline) {
			t.Fatal("admin not back after the membership was restored")
		}
		time.Sleep(50 * time.Millisecond)
	}
	dir.Stop()
	deadline = time.Now().Add(5 * time.Second)
	for {
		ok, reason := check()
		if !ok {
			if !strings.Contains(reason, "cannot be re-read now") {
				t.Errorf("refusal does not say why: %s", reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("admin through an LDAP group still granted with the directory down past the bound")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, body := call(t, "GET", base+"api/audit/search", nil, bearer(gen.Token)); st != 403 || !strings.Contains(body, "cannot be re-read now") {
		t.Errorf("admin action with held groups = %d %s, want 403 saying why", st, body)
	}
	if st, body := call(t, "GET", base+"api/audit/search", nil, admin); st != 200 {
		t.Errorf("local admin with the directory down = %d %s", st, body)
	}
}
