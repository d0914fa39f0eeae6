// Package ldap is Gatehouse's LDAP and Active Directory connector: bind
// sign-in, one user's groups on demand (for sign-in and for the freshness of
// tokens), a paged read of the whole directory for the provisioning engine,
// and a test look-up.
//
// Settings use SonarQube's property names. A single server:
//
//	ldap.url=ldap://ldap.example.org:389
//	ldap.bindDn=cn=svc-gatehouse,ou=services,dc=example,dc=org
//	ldap.bindPassword=…
//	ldap.user.baseDn=ou=people,dc=example,dc=org
//	ldap.user.request=(&(objectClass=inetOrgPerson)(uid={login}))
//	ldap.group.baseDn=ou=groups,dc=example,dc=org
//	ldap.group.request=(|(uniqueMember={dn})(member={dn})(memberUid={uid}))
//
// Several servers, tried in order: ldap.servers=dc1,dc2 with ldap.dc1.url,
// ldap.dc2.url and, per server, any other property under ldap.<id>. (a
// property not given per server falls back to its ldap.<name> value).
package ldap

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
)

// Property names (SonarQube's, plus Gatehouse's own under the same prefix).
const (
	PropURL             = "ldap.url"
	PropBindDN          = "ldap.bindDn"
	PropBindPassword    = "ldap.bindPassword"
	PropAuthentication  = "ldap.authentication"
	PropFollowReferrals = "ldap.followReferrals"
	PropUserBaseDN      = "ldap.user.baseDn"
	PropUserRequest     = "ldap.user.request"
	PropRealNameAttr    = "ldap.user.realNameAttribute"
	PropEmailAttr       = "ldap.user.emailAttribute"
	PropGroupBaseDN     = "ldap.group.baseDn"
	PropGroupRequest    = "ldap.group.request"
	PropGroupIDAttr     = "ldap.group.idAttribute"
	PropServers         = "ldap.servers"
	PropTokenStaleness  = "ldap.tokenStaleness"
	PropSyncInterval    = "ldap.syncInterval"
	PropStartTLS        = "ldap.startTls"
	PropCAFile          = "ldap.caFile"
	PropTimeout         = "ldap.timeout"
)

// Defaults (SonarQube's where it has one).
const (
	DefaultUserRequest    = "(&(objectClass=inetOrgPerson)(uid={login}))"
	DefaultGroupRequest   = "(&(objectClass=groupOfUniqueNames)(uniqueMember={dn}))"
	DefaultTokenStaleness = 5 * time.Minute
	DefaultSyncInterval   = time.Hour
	DefaultTimeout        = 10 * time.Second
)

// settings declares every property, in display order.
var settings = []provision.Setting{
	{Name: PropURL, Desc: "URL of the LDAP server: ldap://host:389, or ldaps://host:636 for LDAP over TLS. Refused together with ldap.servers."},
	{Name: PropBindDN, Desc: "DN of the account Gatehouse binds with to search users and groups; empty for an anonymous bind."},
	{Name: PropBindPassword, Desc: "Password of ldap.bindDn (write-only, encrypted at rest).", Secret: true},
	{Name: PropAuthentication, Desc: "Bind method; only simple is supported.", Default: "simple"},
	{Name: PropFollowReferrals, Desc: "Accepted for SonarQube compatibility; referrals are not followed.", Default: "false"},
	{Name: PropUserBaseDN, Desc: "Where users are searched (whole subtree); empty turns LDAP sign-in off.", Required: true},
	{Name: PropUserRequest, Desc: "Filter that finds a user; {login} is the login, compared with the login attribute, e.g. (&(objectClass=user)(sAMAccountName={login})).", Default: DefaultUserRequest},
	{Name: PropRealNameAttr, Desc: "Attribute holding the user's name.", Default: "cn"},
	{Name: PropEmailAttr, Desc: "Attribute holding the user's e-mail address.", Default: "mail"},
	{Name: PropGroupBaseDN, Desc: "Where groups are searched (whole subtree); empty turns group sync off (memberships stay local)."},
	{Name: PropGroupRequest, Desc: "Filter that finds a user's groups: {dn} is the user's DN, any other {attr} that attribute of the user entry, e.g. (|(member={dn})(memberUid={uid})).", Default: DefaultGroupRequest},
	{Name: PropGroupIDAttr, Desc: "Attribute of a group entry that names the Gatehouse group.", Default: "cn"},
	{Name: PropServers, Desc: "Comma-separated server ids for several servers, tried in order; each takes its properties as ldap.<id>.url, ldap.<id>.bindDn, … (falling back to ldap.<name>)."},
	{Name: PropTokenStaleness, Desc: "How long a user's LDAP groups are trusted on token and basic-auth use before they are re-read (Go duration).", Default: DefaultTokenStaleness.String()},
	{Name: PropSyncInterval, Desc: "Interval of the periodic full sync (Go duration).", Default: DefaultSyncInterval.String()},
	{Name: PropStartTLS, Desc: "Upgrade ldap:// connections with StartTLS.", Default: "false"},
	{Name: PropCAFile, Desc: "PEM file of the CA certificates to trust for ldaps:// and StartTLS; empty: the system's."},
	{Name: PropTimeout, Desc: "Bound of each connection and LDAP operation (Go duration).", Default: DefaultTimeout.String()},
}

// Config is the parsed configuration.
type Config struct {
	Servers []ServerConfig
	// TokenStaleness bounds how long a user's groups are trusted on token
	// use; SyncInterval is the period of the full sync; Timeout bounds each
	// connection and operation.
	TokenStaleness, SyncInterval, Timeout time.Duration
}

// ServerConfig is one server's settings.
type ServerConfig struct {
	ID                                  string // "" for the single-server form
	URL                                 string
	BindDN, BindPassword                string
	UserBaseDN, UserRequest             string
	RealNameAttr, EmailAttr             string
	GroupBaseDN, GroupRequest, GroupIDA string
	StartTLS                            bool
	CAFile                              string

	tls       *tls.Config
	loginAttr string
	// links pair a group attribute with the user placeholder it holds,
	// from group.request's (attr={placeholder}) terms.
	links []link
	// userAttrs are the user attributes the group request refers to.
	userAttrs []string
}

type link struct{ groupAttr, userAttr string } // userAttr "dn" is the DN

var (
	loginTerm   = regexp.MustCompile(`\(\s*([A-Za-z][A-Za-z0-9;.-]*)\s*=\s*\{login\}\s*\)`)
	placeholder = regexp.MustCompile(`\{([A-Za-z][A-Za-z0-9;-]*)\}`)
	groupTerm   = regexp.MustCompile(`\(\s*([A-Za-z][A-Za-z0-9;.-]*)\s*=\s*\{([A-Za-z][A-Za-z0-9;-]*)\}\s*\)`)
)

func invalid(format string, args ...any) error {
	return identity.Errorf(identity.ErrInvalid, format, args...)
}

// Parse reads a configuration from property values (name → value; missing
// names take their defaults).
func Parse(values map[string]string) (Config, error) {
	get := func(name string) string {
		if v, ok := values[name]; ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		for _, s := range settings {
			if s.Name == name {
				return s.Default
			}
		}
		return ""
	}
	var c Config
	var err error
	dur := func(name string) time.Duration {
		if err != nil {
			return 0
		}
		d, e := time.ParseDuration(get(name))
		if e != nil || d <= 0 {
			err = invalid("%s: '%s' is not a positive Go duration (e.g. 5m, 30s)", name, get(name))
		}
		return d
	}
	c.TokenStaleness, c.SyncInterval, c.Timeout = dur(PropTokenStaleness), dur(PropSyncInterval), dur(PropTimeout)
	if err != nil {
		return Config{}, err
	}
	var ids []string
	if s := get(PropServers); s != "" {
		if _, ok := values[PropURL]; ok && strings.TrimSpace(values[PropURL]) != "" {
			return Config{}, invalid("%s cannot be set together with %s: give each server's URL as ldap.<id>.url", PropURL, PropServers)
		}
		for _, id := range strings.Split(s, ",") {
			id = strings.TrimSpace(id)
			if id == "" || strings.ContainsAny(id, ". ") || slices.Contains(ids, id) {
				return Config{}, invalid("%s: '%s' is not a list of distinct server ids (letters, digits, - or _)", PropServers, s)
			}
			ids = append(ids, id)
		}
	} else {
		ids = []string{""}
	}
	for _, id := range ids {
		prop := func(name string) (string, string) {
			if id != "" {
				full := "ldap." + id + "." + name
				if v := strings.TrimSpace(values[full]); v != "" {
					return v, full
				}
			}
			v := get("ldap." + name)
			if v == "" && id != "" {
				return "", "ldap." + id + "." + name
			}
			return v, "ldap." + name
		}
		sc, err := parseServer(id, prop)
		if err != nil {
			return Config{}, err
		}
		c.Servers = append(c.Servers, sc)
	}
	return c, nil
}

func parseServer(id string, prop func(string) (string, string)) (ServerConfig, error) {
	v := func(name string) string { s, _ := prop(name); return s }
	sc := ServerConfig{
		ID: id, URL: v("url"), BindDN: v("bindDn"), BindPassword: v("bindPassword"),
		UserBaseDN: v("user.baseDn"), UserRequest: v("user.request"),
		RealNameAttr: v("user.realNameAttribute"), EmailAttr: v("user.emailAttribute"),
		GroupBaseDN: v("group.baseDn"), GroupRequest: v("group.request"), GroupIDA: v("group.idAttribute"),
		CAFile: v("caFile"),
	}
	urlName := func() string { _, n := prop("url"); return n }
	if sc.URL == "" {
		return sc, invalid("%s is required", urlName())
	}
	lower := strings.ToLower(sc.URL)
	if !strings.HasPrefix(lower, "ldap://") && !strings.HasPrefix(lower, "ldaps://") {
		return sc, invalid("%s: '%s' must start with ldap:// or ldaps://", urlName(), sc.URL)
	}
	if a, n := prop("authentication"); a != "" && !strings.EqualFold(a, "simple") {
		return sc, invalid("%s: only 'simple' is supported, not '%s'", n, a)
	}
	st, n := prop("startTls")
	b, err := strconv.ParseBool(st)
	if err != nil {
		return sc, invalid("%s: '%s' is not true or false", n, st)
	}
	sc.StartTLS = b
	if sc.StartTLS && strings.HasPrefix(lower, "ldaps://") {
		return sc, invalid("%s: StartTLS is for ldap:// URLs; an ldaps:// URL is TLS already", n)
	}
	if sc.BindDN != "" && sc.BindPassword == "" {
		_, pn := prop("bindPassword")
		return sc, invalid("%s is required with a bind DN", pn)
	}
	if sc.UserBaseDN == "" {
		_, n := prop("user.baseDn")
		return sc, invalid("%s is required", n)
	}
	m := loginTerm.FindStringSubmatch(sc.UserRequest)
	if m == nil {
		_, n := prop("user.request")
		return sc, invalid("%s: '%s' must compare the login attribute with {login}, e.g. (uid={login})", n, sc.UserRequest)
	}
	sc.loginAttr = m[1]
	if _, err := ldap.CompileFilter(strings.ReplaceAll(sc.UserRequest, "{login}", "x")); err != nil {
		_, n := prop("user.request")
		return sc, invalid("%s: '%s' is not a valid LDAP filter", n, sc.UserRequest)
	}
	if sc.GroupBaseDN != "" {
		_, n := prop("group.request")
		if _, err := ldap.CompileFilter(placeholder.ReplaceAllString(sc.GroupRequest, "x")); err != nil {
			return sc, invalid("%s: '%s' is not a valid LDAP filter", n, sc.GroupRequest)
		}
		for _, m := range groupTerm.FindAllStringSubmatch(sc.GroupRequest, -1) {
			sc.links = append(sc.links, link{groupAttr: m[1], userAttr: m[2]})
		}
		for _, m := range placeholder.FindAllStringSubmatch(sc.GroupRequest, -1) {
			if !strings.EqualFold(m[1], "dn") && !slices.Contains(sc.userAttrs, m[1]) {
				sc.userAttrs = append(sc.userAttrs, m[1])
			}
		}
		if len(sc.links) == 0 {
			return sc, invalid("%s: '%s' must compare a member attribute with {dn} or a user attribute, e.g. (member={dn})", n, sc.GroupRequest)
		}
	}
	if strings.HasPrefix(lower, "ldaps://") || sc.StartTLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if sc.CAFile != "" {
			pem, err := os.ReadFile(sc.CAFile)
			if err != nil {
				_, n := prop("caFile")
				return sc, invalid("%s: cannot read '%s': %v", n, sc.CAFile, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				_, n := prop("caFile")
				return sc, invalid("%s: '%s' holds no PEM certificate", n, sc.CAFile)
			}
			cfg.RootCAs = pool
		}
		sc.tls = cfg
	}
	return sc, nil
}

// name is how messages refer to the server.
func (sc *ServerConfig) name() string {
	if sc.ID == "" {
		return sc.URL
	}
	return fmt.Sprintf("%s (%s)", sc.ID, sc.URL)
}

// GroupsManaged reports whether every server syncs groups; with any server
// lacking ldap.group.baseDn, Gatehouse leaves memberships local.
func (c Config) GroupsManaged() bool {
	for _, s := range c.Servers {
		if s.GroupBaseDN == "" {
			return false
		}
	}
	return len(c.Servers) > 0
}
