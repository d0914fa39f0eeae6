package ldap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
)

// Connector makes LDAP directories from settings. It is registered by the
// wiring under the source name "ldap".
type Connector struct {
	Logger *slog.Logger
}

var (
	_ provision.Connector       = Connector{}
	_ provision.Checker         = Connector{}
	_ provision.PolicyConnector = Connector{}
	_ provision.PatternSettings = Connector{}
	_ provision.Source          = (*Directory)(nil)
	_ provision.Scheduled       = (*Directory)(nil)
)

// Policy is SonarQube's LDAP rule: a directory group is the Gatehouse group
// of that name, created when missing, and the directory's membership
// overrides local membership for its users.
func (Connector) Policy() provision.Policy {
	return provision.Policy{UseExistingGroups: true, OwnAllMemberships: true}
}

// Interval is ldap.syncInterval.
func (d *Directory) Interval() time.Duration { return d.cfg.SyncInterval }

// Settings declares the connector's properties.
func (Connector) Settings() []provision.Setting { return slices.Clone(settings) }

// perServer are the properties a server of ldap.servers may give as
// ldap.<id>.<name>.
var perServer = []string{"url", "bindDn", "bindPassword", "user.baseDn", "user.request", "user.realNameAttribute",
	"user.emailAttribute", "group.baseDn", "group.request", "group.idAttribute", "caFile"}

// SettingFor declares the per-server properties ldap.<id>.<name>.
func (Connector) SettingFor(name string) (provision.Setting, bool) {
	rest, ok := strings.CutPrefix(name, "ldap.")
	if !ok {
		return provision.Setting{}, false
	}
	id, prop, ok := strings.Cut(rest, ".")
	if !ok || id == "" || strings.ContainsAny(id, " ,") || !slices.Contains(perServer, prop) {
		return provision.Setting{}, false
	}
	for _, s := range settings {
		if s.Name == "ldap."+prop {
			return provision.Setting{Name: name, Desc: "Server " + id + " of ldap.servers: " + s.Desc, Secret: s.Secret}, true
		}
	}
	return provision.Setting{}, false
}

// Open parses values and returns the directory they describe. It does not
// connect.
func (c Connector) Open(_ context.Context, values map[string]string) (provision.Source, error) {
	return c.OpenDirectory(values)
}

// OpenDirectory is Open with the concrete type, for the wiring, which also
// uses the directory for sign-in and group freshness.
func (c Connector) OpenDirectory(values map[string]string) (*Directory, error) {
	cfg, err := Parse(values)
	if err != nil {
		return nil, err
	}
	return New(cfg, c.Logger), nil
}

// Check connects and binds to every server; the error names the first that
// fails.
func (c Connector) Check(ctx context.Context, values map[string]string) error {
	d, err := c.OpenDirectory(values)
	if err != nil {
		return err
	}
	for _, st := range d.Ping(ctx) {
		if !st.Reachable {
			return identity.Errorf(identity.ErrInvalid, "LDAP server %s: %s", st.Server, st.Error)
		}
	}
	return nil
}

// Directory is an opened LDAP configuration. It is safe for concurrent use;
// every operation opens its own connection.
type Directory struct {
	cfg Config
	log *slog.Logger
	// pageSize is the paging size of the full read; afterPage, when set
	// by tests, runs after each page.
	pageSize  uint32
	afterPage func(page int)
}

// New returns a directory for cfg.
func New(cfg Config, log *slog.Logger) *Directory {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Directory{cfg: cfg, log: log, pageSize: 500}
}

// Config returns the directory's configuration.
func (d *Directory) Config() Config { return d.cfg }

// unavailable wraps a failure to reach or use a server.
func unavailable(sc *ServerConfig, err error) error {
	return identity.Errorf(identity.ErrUnavailable, "LDAP server %s cannot be reached: %s", sc.name(), cause(err))
}

// cause is an error's text without the bind password (go-ldap never puts it
// in an error, but the DN may be long): the LDAP result code and message.
func cause(err error) string {
	var le *ldap.Error
	if errors.As(err, &le) {
		if le.Err != nil {
			return fmt.Sprintf("%s (%s)", ldap.LDAPResultCodeMap[le.ResultCode], le.Err.Error())
		}
		return ldap.LDAPResultCodeMap[le.ResultCode]
	}
	return err.Error()
}

// conn opens a connection to sc, upgrades it with StartTLS when configured
// and binds with the service account. The connection closes when ctx ends.
func (d *Directory) conn(ctx context.Context, sc *ServerConfig) (*ldap.Conn, func(), error) {
	dialer := &net.Dialer{Timeout: d.cfg.Timeout}
	opts := []ldap.DialOpt{ldap.DialWithDialer(dialer)}
	var tlsCfg = sc.tls
	if tlsCfg != nil {
		tlsCfg = tlsCfg.Clone()
		if u, err := url.Parse(sc.URL); err == nil {
			tlsCfg.ServerName = u.Hostname()
		}
		opts = append(opts, ldap.DialWithTLSConfig(tlsCfg))
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	c, err := ldap.DialURL(sc.URL, opts...)
	if err != nil {
		return nil, nil, unavailable(sc, err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	done := func() { stop(); c.Close() }
	c.SetTimeout(d.cfg.Timeout)
	if sc.StartTLS {
		if err := c.StartTLS(tlsCfg); err != nil {
			done()
			return nil, nil, identity.Errorf(identity.ErrUnavailable, "LDAP server %s: StartTLS failed: %s", sc.name(), cause(err))
		}
	}
	if err := d.bindService(c, sc); err != nil {
		done()
		return nil, nil, err
	}
	return c, done, nil
}

func (d *Directory) bindService(c *ldap.Conn, sc *ServerConfig) error {
	var err error
	if sc.BindDN == "" {
		err = c.UnauthenticatedBind("")
	} else {
		err = c.Bind(sc.BindDN, sc.BindPassword)
	}
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return identity.Errorf(identity.ErrUnavailable, "LDAP server %s refused the bind of %s: invalid credentials (check ldap.bindDn and ldap.bindPassword)", sc.name(), sc.BindDN)
		}
		return unavailable(sc, err)
	}
	return nil
}

// entry is a user entry as read.
type entry struct {
	dn    string
	login string
	name  string
	email string
	uac   string
	attrs map[string][]string // the attributes group.request refers to
}

func (sc *ServerConfig) userAttributes() []string {
	attrs := []string{sc.loginAttr, sc.RealNameAttr, sc.EmailAttr, "userAccountControl"}
	return append(attrs, sc.userAttrs...)
}

func (sc *ServerConfig) toEntry(e *ldap.Entry) entry {
	en := entry{dn: e.DN, login: e.GetAttributeValue(sc.loginAttr), name: e.GetAttributeValue(sc.RealNameAttr), email: e.GetAttributeValue(sc.EmailAttr), uac: e.GetAttributeValue("userAccountControl")}
	if len(sc.userAttrs) > 0 {
		en.attrs = make(map[string][]string, len(sc.userAttrs))
		for _, a := range sc.userAttrs {
			en.attrs[strings.ToLower(a)] = e.GetAttributeValues(a)
		}
	}
	return en
}

// active reads Active Directory's userAccountControl: bit 2 (0x2) is
// ACCOUNTDISABLE. Entries without the attribute are active.
func (e entry) active() bool {
	if e.uac == "" {
		return true
	}
	n, err := strconv.ParseInt(e.uac, 10, 64)
	return err != nil || n&2 == 0
}

func (e entry) account() identity.ExternalAccount {
	name := e.name
	if name == "" {
		name = e.login
	}
	return identity.ExternalAccount{Login: e.login, Name: name, Email: e.email, ExternalID: e.login, Active: e.active(), DN: e.dn}
}

var errNoUser = errors.New("no such user")

// findUser looks login up on one server: errNoUser when absent.
func (d *Directory) findUser(c *ldap.Conn, sc *ServerConfig, login string) (entry, error) {
	filter := strings.ReplaceAll(sc.UserRequest, "{login}", ldap.EscapeFilter(login))
	res, err := c.Search(ldap.NewSearchRequest(sc.UserBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, int(d.cfg.Timeout/time.Second), false, filter, sc.userAttributes(), nil))
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return entry{}, errNoUser
		}
		return entry{}, unavailable(sc, err)
	}
	if res == nil || len(res.Entries) == 0 {
		return entry{}, errNoUser
	}
	if len(res.Entries) > 1 {
		return entry{}, identity.Errorf(identity.ErrInvalid, "LDAP server %s: ldap.user.request finds several entries for login '%s'", sc.name(), login)
	}
	e := sc.toEntry(res.Entries[0])
	// The directory may match case-insensitively: the login is the entry's
	// spelling, so "Alice" and "alice" are one Gatehouse user.
	if e.login == "" {
		e.login = login
	}
	return e, nil
}

// groupsOf returns the names of the groups of e on one server.
func (d *Directory) groupsOf(c *ldap.Conn, sc *ServerConfig, e entry) ([]string, error) {
	filter := placeholder.ReplaceAllStringFunc(sc.GroupRequest, func(m string) string {
		name := m[1 : len(m)-1]
		if strings.EqualFold(name, "dn") {
			return ldap.EscapeFilter(e.dn)
		}
		vs := e.attrs[strings.ToLower(name)]
		if len(vs) == 0 {
			// An absent attribute matches nothing; an escaped NUL never
			// equals a real value.
			return `\00`
		}
		return ldap.EscapeFilter(vs[0])
	})
	req := ldap.NewSearchRequest(sc.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, int(d.cfg.Timeout/time.Second), false, filter, []string{sc.GroupIDA}, nil)
	res, err := c.SearchWithPaging(req, d.pageSize)
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return nil, nil
		}
		return nil, unavailable(sc, err)
	}
	var out []string
	for _, g := range res.Entries {
		if name := g.GetAttributeValue(sc.GroupIDA); name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// LookUp reads one user and its groups, trying the servers in order. A user
// found on no server, with every server answering, is identity.ErrNotFound;
// a server that cannot be reached before the user is found makes the answer
// identity.ErrUnavailable, since the user may be there.
func (d *Directory) LookUp(ctx context.Context, login string) (identity.ExternalAccount, error) {
	var firstErr error
	for i := range d.cfg.Servers {
		sc := &d.cfg.Servers[i]
		acc, err := d.lookUpOn(ctx, sc, login)
		if err == nil {
			return acc, nil
		}
		if !errors.Is(err, errNoUser) && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return identity.ExternalAccount{}, firstErr
	}
	return identity.ExternalAccount{}, identity.Errorf(identity.ErrNotFound, "User '%s' not found in LDAP", login)
}

func (d *Directory) lookUpOn(ctx context.Context, sc *ServerConfig, login string) (identity.ExternalAccount, error) {
	c, done, err := d.conn(ctx, sc)
	if err != nil {
		return identity.ExternalAccount{}, err
	}
	defer done()
	e, err := d.findUser(c, sc, login)
	if err != nil {
		return identity.ExternalAccount{}, err
	}
	return d.withGroups(c, sc, e)
}

func (d *Directory) withGroups(c *ldap.Conn, sc *ServerConfig, e entry) (identity.ExternalAccount, error) {
	acc := e.account()
	if !d.cfg.GroupsManaged() {
		return acc, nil
	}
	gs, err := d.groupsOf(c, sc, e)
	if err != nil {
		return identity.ExternalAccount{}, err
	}
	acc.Groups, acc.GroupsManaged = gs, true
	return acc, nil
}

// errBadCredentials is the same for an unknown login and a wrong password.
var errBadCredentials = identity.Errorf(identity.ErrUnauthenticated, "Authentication failed")

// SignIn authenticates login with password by binding as the user's entry,
// trying the servers in order, and returns the account with its groups. A
// wrong password or unknown login is identity.ErrUnauthenticated; no server
// reachable (and none that refused the password) is identity.ErrUnavailable.
func (d *Directory) SignIn(ctx context.Context, login, password string) (identity.ExternalAccount, error) {
	// An empty password would be an unauthenticated bind, which servers
	// accept: never a sign-in.
	if password == "" || login == "" {
		return identity.ExternalAccount{}, errBadCredentials
	}
	var unreachable error
	for i := range d.cfg.Servers {
		sc := &d.cfg.Servers[i]
		acc, err := d.signInOn(ctx, sc, login, password)
		switch {
		case err == nil:
			return acc, nil
		case errors.Is(err, errNoUser), errors.Is(err, identity.ErrUnauthenticated):
		default:
			if unreachable == nil {
				unreachable = err
			}
			d.log.WarnContext(ctx, "ldap sign-in: server unavailable", "server", sc.name(), "err", err)
		}
	}
	if unreachable != nil {
		return identity.ExternalAccount{}, unreachable
	}
	return identity.ExternalAccount{}, errBadCredentials
}

func (d *Directory) signInOn(ctx context.Context, sc *ServerConfig, login, password string) (identity.ExternalAccount, error) {
	c, done, err := d.conn(ctx, sc)
	if err != nil {
		return identity.ExternalAccount{}, err
	}
	defer done()
	e, err := d.findUser(c, sc, login)
	if err != nil {
		return identity.ExternalAccount{}, err
	}
	if err := c.Bind(e.dn, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return identity.ExternalAccount{}, errBadCredentials
		}
		return identity.ExternalAccount{}, unavailable(sc, err)
	}
	// Groups are read as the service account, as every other read.
	if err := d.bindService(c, sc); err != nil {
		return identity.ExternalAccount{}, err
	}
	return d.withGroups(c, sc, e)
}

// ServerStatus is one server's answer to a ping.
type ServerStatus struct {
	Server    string `json:"server"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	Millis    int64  `json:"latencyMs"`
}

// Ping connects and binds to every server.
func (d *Directory) Ping(ctx context.Context) []ServerStatus {
	out := make([]ServerStatus, 0, len(d.cfg.Servers))
	for i := range d.cfg.Servers {
		sc := &d.cfg.Servers[i]
		start := time.Now()
		st := ServerStatus{Server: sc.name()}
		if _, done, err := d.conn(ctx, sc); err != nil {
			st.Error = identity.Message(err)
		} else {
			done()
			st.Reachable = true
		}
		st.Millis = time.Since(start).Milliseconds()
		out = append(out, st)
	}
	return out
}

// TestResult is what the test call shows: the servers' reachability and
// what Gatehouse would make of login.
type TestResult struct {
	Servers       []ServerStatus `json:"servers"`
	Found         bool           `json:"found"`
	Login         string         `json:"login"`
	DN            string         `json:"dn,omitempty"`
	Name          string         `json:"name,omitempty"`
	Email         string         `json:"email,omitempty"`
	Active        bool           `json:"active"`
	Groups        []string       `json:"groups"`
	GroupsManaged bool           `json:"groupsSynced"`
	Error         string         `json:"error,omitempty"`
}

// Test pings every server and looks login up.
func (d *Directory) Test(ctx context.Context, login string) TestResult {
	r := TestResult{Servers: d.Ping(ctx), Login: login, Groups: []string{}}
	if login == "" {
		return r
	}
	acc, err := d.LookUp(ctx, login)
	if err != nil {
		r.Error = identity.Message(err)
		return r
	}
	r.Found, r.DN, r.Name, r.Email, r.Active, r.GroupsManaged = true, acc.DN, acc.Name, acc.Email, acc.Active, acc.GroupsManaged
	if acc.Groups != nil {
		r.Groups = acc.Groups
	}
	return r
}
