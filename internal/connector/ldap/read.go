package ldap

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
)

// Read returns the whole directory as a snapshot: every user the user
// request matches on every server (AD accounts with userAccountControl bit 2
// inactive), and, with group sync on, every group and membership. It reads
// with paged searches, so a server's size limit does not cut it short, and
// any failure — a server down, a page refused, the connection lost — is an
// error, never a smaller snapshot.
func (d *Directory) Read(ctx context.Context) (provision.Snapshot, error) {
	var snap provision.Snapshot
	seen := map[string]bool{}
	groups := map[string]bool{}
	members := map[provision.Membership]bool{}
	for i := range d.cfg.Servers {
		sc := &d.cfg.Servers[i]
		if err := d.readServer(ctx, sc, &snap, seen, groups, members); err != nil {
			return provision.Snapshot{}, fmt.Errorf("read LDAP server %s: %w", sc.name(), err)
		}
	}
	return snap, nil
}

func (d *Directory) readServer(ctx context.Context, sc *ServerConfig, snap *provision.Snapshot, seen, groups map[string]bool, members map[provision.Membership]bool) error {
	c, done, err := d.conn(ctx, sc)
	if err != nil {
		return err
	}
	defer done()
	// Users: the user request with {login} as a wildcard.
	filter := strings.ReplaceAll(sc.UserRequest, "{login}", "*")
	byDN := map[string]string{}                // normalised DN → login
	byAttr := map[string]map[string][]string{} // attr → value → logins
	var local []string
	err = d.paged(ctx, c, sc, sc.UserBaseDN, filter, sc.userAttributes(), func(e *ldap.Entry) {
		en := sc.toEntry(e)
		if en.login == "" {
			snap.Warnings = append(snap.Warnings, fmt.Sprintf("LDAP entry %s has no %s: skipped", e.DN, sc.loginAttr))
			return
		}
		if seen[en.login] {
			snap.Warnings = append(snap.Warnings, fmt.Sprintf("login '%s' found again at %s on %s: the first server's entry is kept", en.login, e.DN, sc.name()))
			return
		}
		seen[en.login] = true
		local = append(local, en.login)
		acc := en.account()
		snap.Users = append(snap.Users, provision.User{ExternalID: acc.ExternalID, Login: acc.Login, Name: acc.Name, Email: acc.Email, Active: acc.Active})
		byDN[normDN(e.DN)] = en.login
		for attr, vs := range en.attrs {
			m := byAttr[attr]
			if m == nil {
				m = map[string][]string{}
				byAttr[attr] = m
			}
			for _, v := range vs {
				k := strings.ToLower(v)
				m[k] = append(m[k], en.login)
			}
		}
	})
	if err != nil {
		return err
	}
	if !d.cfg.GroupsManaged() {
		return nil
	}
	// Groups: the group request with every placeholder as a wildcard; the
	// member attributes it names are mapped back to users.
	gfilter := placeholder.ReplaceAllString(sc.GroupRequest, "*")
	attrs := []string{sc.GroupIDA}
	for _, l := range sc.links {
		attrs = append(attrs, l.groupAttr)
	}
	return d.paged(ctx, c, sc, sc.GroupBaseDN, gfilter, attrs, func(e *ldap.Entry) {
		name := e.GetAttributeValue(sc.GroupIDA)
		if name == "" {
			snap.Warnings = append(snap.Warnings, fmt.Sprintf("LDAP group %s has no %s: skipped", e.DN, sc.GroupIDA))
			return
		}
		if !groups[name] {
			groups[name] = true
			snap.Groups = append(snap.Groups, provision.Group{ExternalID: name, Name: name})
		}
		add := func(login string) {
			m := provision.Membership{UserExternalID: login, GroupExternalID: name}
			if !members[m] {
				members[m] = true
				snap.Memberships = append(snap.Memberships, m)
			}
		}
		for _, l := range sc.links {
			for _, v := range e.GetAttributeValues(l.groupAttr) {
				if strings.EqualFold(l.userAttr, "dn") {
					if login, ok := byDN[normDN(v)]; ok {
						add(login)
					}
					continue
				}
				for _, login := range byAttr[strings.ToLower(l.userAttr)][strings.ToLower(v)] {
					add(login)
				}
			}
		}
	})
}

// paged runs a paged subtree search, calling fn for every entry. A failed
// page fails the whole search.
func (d *Directory) paged(ctx context.Context, c *ldap.Conn, sc *ServerConfig, base, filter string, attrs []string, fn func(*ldap.Entry)) error {
	paging := ldap.NewControlPaging(d.pageSize)
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, []ldap.Control{paging})
		res, err := c.Search(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
				return identity.Errorf(identity.ErrUnavailable, "LDAP server %s cut the search under %s at its size limit: let the bind account read all entries with paging (OpenLDAP: olcLimits with size.prtotal=unlimited)", sc.name(), base)
			}
			return unavailable(sc, err)
		}
		for _, e := range res.Entries {
			fn(e)
		}
		if d.afterPage != nil {
			d.afterPage(page)
		}
		ctrl, _ := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if ctrl == nil || len(ctrl.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(ctrl.Cookie)
	}
}

// normDN normalises a DN for comparison: parsed and lower-cased, or the
// lower-cased text when it does not parse.
func normDN(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	var b strings.Builder
	for i, rdn := range p.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, a := range rdn.Attributes {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(strings.ToLower(a.Type))
			b.WriteByte('=')
			b.WriteString(strings.ToLower(a.Value))
		}
	}
	return b.String()
}
