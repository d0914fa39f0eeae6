package ldap

import (
	"context"
	"errors"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/connector/ldap/ldaptest"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
)

const groupRequest = "(|(member={dn})(uniqueMember={dn})(memberUid={uid}))"

func values(s *ldaptest.Server, extra ...string) map[string]string {
	v := map[string]string{
		PropURL:          s.URL,
		PropBindDN:       ldaptest.BindDN,
		PropBindPassword: ldaptest.BindPassword,
		PropUserBaseDN:   "ou=people," + ldaptest.BaseDN,
		PropGroupBaseDN:  "ou=groups," + ldaptest.BaseDN,
		PropGroupRequest: groupRequest,
		PropTimeout:      "5s",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v[extra[i]] = extra[i+1]
	}
	return v
}

func open(t *testing.T, v map[string]string) *Directory {
	t.Helper()
	d, err := Connector{}.OpenDirectory(v)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return d
}

func startDirectory(t *testing.T, opts ldaptest.Options) *ldaptest.Server {
	opts.LDIF = append(opts.LDIF, "testdata/directory.ldif")
	return ldaptest.Start(t, opts)
}

func TestParse(t *testing.T) {
	base := map[string]string{PropURL: "ldap://h:389", PropUserBaseDN: "dc=x"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "<unset>" {
				delete(m, kv[i])
				continue
			}
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		values  map[string]string
		wantErr string
	}{
		{"minimal", with(), ""},
		{"no url", with(PropURL, "<unset>"), "ldap.url is required"},
		{"bad scheme", with(PropURL, "http://h"), "must start with ldap://"},
		{"no base dn", with(PropUserBaseDN, "<unset>"), "ldap.user.baseDn is required"},
		{"bind dn without password", with(PropBindDN, "cn=x"), "ldap.bindPassword is required"},
		{"request without login", with(PropUserRequest, "(uid=*)"), "{login}"},
		{"request not a filter", with(PropUserRequest, "(&(uid={login})(cn=x)"), "not a valid LDAP filter"},
		{"group request without link", with(PropGroupBaseDN, "dc=g", PropGroupRequest, "(objectClass=group)"), "must compare a member attribute"},
		{"bad staleness", with(PropTokenStaleness, "soon"), "ldap.tokenStaleness"},
		{"negative timeout", with(PropTimeout, "-1s"), "ldap.timeout"},
		{"starttls on ldaps", with(PropURL, "ldaps://h", PropStartTLS, "true"), "StartTLS is for ldap://"},
		{"bad starttls", with(PropStartTLS, "maybe"), "ldap.startTls"},
		{"sasl", with(PropAuthentication, "GSSAPI"), "only 'simple'"},
		{"missing ca file", with(PropURL, "ldaps://h", PropCAFile, "/nonexistent.pem"), "cannot read"},
		{"servers and url", with(PropServers, "a,b", "ldap.a.url", "ldap://a", "ldap.b.url", "ldap://b"), "cannot be set together"},
		{"servers", with(PropURL, "<unset>", PropServers, "a, b", "ldap.a.url", "ldap://a", "ldap.b.url", "ldap://b"), ""},
		{"server without url", with(PropURL, "<unset>", PropServers, "a,b", "ldap.a.url", "ldap://a"), "ldap.b.url is required"},
		{"duplicate server", with(PropURL, "<unset>", PropServers, "a,a", "ldap.a.url", "ldap://a"), "distinct server ids"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.values)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, identity.ErrInvalid) {
				t.Fatalf("Parse = %v, want an invalid-argument error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse(map[string]string{PropURL: "ldap://h", PropUserBaseDN: "dc=x", PropGroupBaseDN: "dc=g"})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Servers[0]
	if c.TokenStaleness != 5*time.Minute || c.SyncInterval != time.Hour || c.Timeout != 10*time.Second {
		t.Errorf("durations = %v %v %v", c.TokenStaleness, c.SyncInterval, c.Timeout)
	}
	if s.UserRequest != DefaultUserRequest || s.GroupRequest != DefaultGroupRequest || s.RealNameAttr != "cn" || s.EmailAttr != "mail" || s.GroupIDA != "cn" {
		t.Errorf("defaults = %+v", s)
	}
	if s.loginAttr != "uid" || len(s.links) != 1 || s.links[0] != (link{"uniqueMember", "dn"}) {
		t.Errorf("derived = %q %v", s.loginAttr, s.links)
	}
	if !c.GroupsManaged() {
		t.Error("GroupsManaged = false with a group base DN")
	}
}

func TestSignIn(t *testing.T) {
	s := startDirectory(t, ldaptest.Options{})
	d := open(t, values(s))
	ctx := context.Background()
	for _, tc := range []struct {
		login, password string
		wantGroups      []string
		wantErr         error
	}{
		// developers: groupOfNames; sonar-admins, gatehouse-admins:
		// groupOfUniqueNames; builders: posixGroup memberUid.
		{"alice", "alice-pw", []string{"builders", "developers", "gatehouse-admins", "sonar-admins"}, nil},
		{"carol", "carol-pw", []string{"builders", "qa"}, nil},
		{"eve", "eve-pw", []string{"ops"}, nil},
		{"alice", "wrong", nil, identity.ErrUnauthenticated},
		{"alice", "", nil, identity.ErrUnauthenticated},
		{"nobody", "x", nil, identity.ErrUnauthenticated},
		{"al*", "alice-pw", nil, identity.ErrUnauthenticated},
	} {
		acc, err := d.SignIn(ctx, tc.login, tc.password)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("SignIn(%s, %q) = %v, want %v", tc.login, tc.password, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("SignIn(%s): %v", tc.login, err)
			continue
		}
		if !slices.Equal(acc.Groups, tc.wantGroups) || !acc.GroupsManaged {
			t.Errorf("SignIn(%s) groups = %v (managed %v), want %v", tc.login, acc.Groups, acc.GroupsManaged, tc.wantGroups)
		}
		if acc.Login != tc.login || acc.Email != tc.login+"@example.org" || !strings.HasPrefix(acc.DN, "uid="+tc.login+",") || !acc.Active {
			t.Errorf("SignIn(%s) = %+v", tc.login, acc)
		}
	}
}

func TestLookUpAD(t *testing.T) {
	s := startDirectory(t, ldaptest.Options{})
	// Active Directory style: sAMAccountName, displayName-less, bit 2.
	d := open(t, values(s, PropUserRequest, "(&(objectClass=adAccount)(sAMAccountName={login}))", PropGroupRequest, "(member={dn})"))
	ctx := context.Background()
	acc, err := d.LookUp(ctx, "frank")
	if err != nil {
		t.Fatal(err)
	}
	if acc.Active {
		t.Error("frank (userAccountControl 514) is active, want disabled")
	}
	acc, err = d.LookUp(ctx, "bob")
	if err != nil || !acc.Active || !slices.Equal(acc.Groups, []string{"developers"}) || acc.Name != "Bob Test" {
		t.Errorf("LookUp(bob) = %+v, %v", acc, err)
	}
	if _, err := d.LookUp(ctx, "nobody"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("LookUp(nobody) = %v, want not found", err)
	}
}

func TestGroupSyncOff(t *testing.T) {
	s := startDirectory(t, ldaptest.Options{})
	v := values(s)
	delete(v, PropGroupBaseDN)
	acc, err := open(t, v).SignIn(context.Background(), "alice", "alice-pw")
	if err != nil || acc.GroupsManaged || acc.Groups != nil {
		t.Fatalf("SignIn without group sync = %+v, %v", acc, err)
	}
}

func TestRead(t *testing.T) {
	// The size limit (3) is below the number of users (7) and groups (6):
	// only paging reads them all.
	s := startDirectory(t, ldaptest.Options{SizeLimit: 3})
	d := open(t, values(s))
	d.pageSize = 2
	snap, err := d.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var logins, inactive []string
	for _, u := range snap.Users {
		logins = append(logins, u.Login)
		if !u.Active {
			inactive = append(inactive, u.Login)
		}
	}
	sort.Strings(logins)
	if want := []string{"alice", "bob", "carol", "dave", "eve", "frank", "svc-ci"}; !slices.Equal(logins, want) {
		t.Errorf("users = %v, want %v", logins, want)
	}
	if !slices.Equal(inactive, []string{"frank"}) {
		t.Errorf("inactive = %v, want [frank]", inactive)
	}
	var ms []string
	for _, m := range snap.Memberships {
		ms = append(ms, m.GroupExternalID+":"+m.UserExternalID)
	}
	sort.Strings(ms)
	want := []string{"builders:alice", "builders:bob", "builders:carol", "developers:alice", "developers:bob", "gatehouse-admins:alice", "gatehouse-admins:svc-ci", "ops:eve", "qa:carol", "qa:dave", "sonar-admins:alice"}
	if !slices.Equal(ms, want) {
		t.Errorf("memberships = %v\nwant %v", ms, want)
	}
	if len(snap.Groups) != 6 || snap.ManagesProjects {
		t.Errorf("groups = %v, manages projects %v", snap.Groups, snap.ManagesProjects)
	}
}

// A server whose limits cap paged searches in total (OpenLDAP's default:
// 500 entries) makes the read fail, never return the first 500.
func TestReadCutBySizeLimitFails(t *testing.T) {
	s := startDirectory(t, ldaptest.Options{SizeLimit: 3, PagedTotalLimited: true})
	d := open(t, values(s))
	d.pageSize = 2
	snap, err := d.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "size limit") || len(snap.Users) != 0 {
		t.Fatalf("Read = %d users, %v; want a size-limit error and no snapshot", len(snap.Users), err)
	}
}

func TestReadDirectoryStoppedMidRun(t *testing.T) {
	s := startDirectory(t, ldaptest.Options{})
	d := open(t, values(s))
	d.pageSize = 2
	d.afterPage = func(page int) {
		if page == 1 {
			s.Stop()
		}
	}
	snap, err := d.Read(context.Background())
	if err == nil {
		t.Fatalf("read with the directory stopped after the first page succeeded with %d users", len(snap.Users))
	}
	if !errors.Is(err, identity.ErrUnavailable) || len(snap.Users) != 0 {
		t.Errorf("Read = %d users, %v; want no snapshot and an unavailable error", len(snap.Users), err)
	}
	// Sign-in and look-up say the directory is unreachable, not that the
	// user is unknown.
	if _, err := d.SignIn(context.Background(), "alice", "alice-pw"); !errors.Is(err, identity.ErrUnavailable) {
		t.Errorf("SignIn with the directory down = %v, want unavailable", err)
	}
	if _, err := d.LookUp(context.Background(), "alice"); !errors.Is(err, identity.ErrUnavailable) {
		t.Errorf("LookUp with the directory down = %v, want unavailable", err)
	}
	s.Restart(t)
	if _, err := d.Read(context.Background()); err == nil {
		t.Error("the read hook should stop the server again")
	}
}

func TestStartTLS(t *testing.T) {
	s := startDirectory(t, ldaptest.Options{TLS: true})
	d := open(t, values(s, PropStartTLS, "true", PropCAFile, s.CAFile))
	if _, err := d.SignIn(context.Background(), "bob", "bob-pw"); err != nil {
		t.Fatalf("sign-in over StartTLS: %v", err)
	}
	// Without the self-signed CA the certificate is refused.
	d = open(t, values(s, PropStartTLS, "true"))
	if _, err := d.SignIn(context.Background(), "bob", "bob-pw"); !errors.Is(err, identity.ErrUnavailable) || !strings.Contains(err.Error(), "StartTLS") {
		t.Fatalf("StartTLS with an unknown CA = %v, want unavailable", err)
	}
}

func TestServersInOrder(t *testing.T) {
	s := startDirectory(t, ldaptest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "ldap://" + ln.Addr().String()
	ln.Close()
	v := values(s)
	delete(v, PropURL)
	v[PropServers] = "down,up"
	v["ldap.down.url"] = dead
	v["ldap.up.url"] = s.URL
	v[PropTimeout] = "1s"
	d := open(t, v)
	ctx := context.Background()
	acc, err := d.SignIn(ctx, "alice", "alice-pw")
	if err != nil || acc.Login != "alice" {
		t.Fatalf("SignIn with the first server down = %+v, %v", acc, err)
	}
	if _, err := d.SignIn(ctx, "alice", "wrong"); !errors.Is(err, identity.ErrUnavailable) {
		// A server that could not answer might hold another alice.
		t.Errorf("wrong password with one server down = %v, want unavailable", err)
	}
	res := d.Test(ctx, "alice")
	if len(res.Servers) != 2 || res.Servers[0].Reachable || !res.Servers[1].Reachable || res.Servers[0].Error == "" {
		t.Errorf("Test servers = %+v", res.Servers)
	}
	if _, err := d.Read(ctx); err == nil {
		t.Error("Read with a server down succeeded; it must fail")
	}
	if err := (Connector{}).Check(ctx, v); err == nil || !strings.Contains(err.Error(), "down") {
		t.Errorf("Check = %v, want an error naming server down", err)
	}
}

func TestTestCall(t *testing.T) {
	s := startDirectory(t, ldaptest.Options{})
	d := open(t, values(s))
	res := d.Test(context.Background(), "carol")
	if !res.Found || res.DN != "uid=carol,ou=people,dc=example,dc=org" || res.Name != "Carol Test" || res.Email != "carol@example.org" || !slices.Equal(res.Groups, []string{"builders", "qa"}) || !res.Servers[0].Reachable {
		t.Errorf("Test(carol) = %+v", res)
	}
	res = d.Test(context.Background(), "nobody")
	if res.Found || res.Error == "" {
		t.Errorf("Test(nobody) = %+v", res)
	}
	if err := (Connector{}).Check(context.Background(), values(s)); err != nil {
		t.Errorf("Check: %v", err)
	}
	if err := (Connector{}).Check(context.Background(), values(s, PropBindPassword, "wrong")); err == nil || !strings.Contains(err.Error(), "invalid credentials") {
		t.Errorf("Check with a wrong bind password = %v", err)
	}
}

func TestSettingsDeclared(t *testing.T) {
	var names []string
	for _, s := range (Connector{}).Settings() {
		names = append(names, s.Name)
		if s.Name == PropBindPassword && !s.Secret {
			t.Error("ldap.bindPassword is not secret")
		}
	}
	for _, want := range []string{PropURL, PropBindDN, PropBindPassword, PropUserBaseDN, PropUserRequest, PropRealNameAttr, PropEmailAttr, PropGroupBaseDN, PropGroupRequest, PropGroupIDAttr, PropServers, PropTokenStaleness, PropSyncInterval, PropStartTLS, PropCAFile, PropTimeout} {
		if !slices.Contains(names, want) {
			t.Errorf("setting %s not declared", want)
		}
	}
	var _ provision.Source = open(t, map[string]string{PropURL: "ldap://h", PropUserBaseDN: "dc=x"})
}
