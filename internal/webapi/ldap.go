package webapi

import (
	"context"
	"net/http"
)

// DirectoryTester answers the LDAP test call: it looks a login up in the
// directory and reports what Gatehouse would make of it and what each
// server answered. The wiring connects the LDAP connector to it.
// It answers false when no directory is configured.
type DirectoryTester func(ctx context.Context, login string) (any, bool)

func (a *API) ldapRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "api/ldap/test", Access: admin, Out: obj{"servers": []obj{{"server": "", "reachable": true, "error?": "", "latencyMs": int64(0)}}, "found": true, "login": "", "dn?": "", "name?": "", "email?": "", "active": true, "groups": []string{}, "groupsSynced": true, "error?": ""},
			Handle:  a.ldapTest,
			Summary: "Look a login up in the configured LDAP directory: {servers:[{server, reachable, error?, latencyMs}], found, login, dn, name, email, active, groups, groupsSynced, error?}. Without a login, only the servers' reachability. 400 when LDAP is not configured.",
			Params:  []Param{{Name: "login", MaxLen: 255, Desc: "The login to look up, as the user would type it at sign-in."}}},
	}
}

func (a *API) ldapTest(c *call) (any, error) {
	if a.opts.LDAPTest != nil {
		if res, ok := a.opts.LDAPTest(c.ctx, c.str("login")); ok {
			return res, nil
		}
	}
	return nil, errorf(http.StatusBadRequest, "LDAP is not configured: set ldap.url (or ldap.servers) and ldap.user.baseDn")
}
