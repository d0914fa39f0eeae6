package webapi

import (
	"errors"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const v2Users = "api/v2/users-management/users"

func (a *API) v2UserRoutes() []v2Route {
	userBody := map[string]string{"login": "string", "name": "string", "email": "string", "password": "string", "local": "boolean", "scmAccounts": "array"}
	return []v2Route{
		{Method: "GET", Pattern: v2Users, Summary: "Search users (v2). email, managed, external identity and dates are shown only to administrators and to the user itself.",
			Access: authenticated, Status: http.StatusOK, Query: append(v2PagingParams(50, 500),
				Param{Name: "q", MinLen: 2, Desc: "Filter on login, name and email (case-insensitive substring)"},
				Param{Name: "active", Values: boolValues, Default: "true", Desc: "Active or deactivated users"},
				Param{Name: "managed", Values: boolValues, Desc: "Managed or non-managed users; only on externally managed instances"},
				Param{Name: "externalIdentity", Desc: "The user's login at its identity provider (Admin)"},
				Param{Name: "groupId", Desc: "Only members of this group (Admin)"},
				Param{Name: "groupId!", Desc: "Only users who are not members of this group (Admin)"},
			), Out: obj{"users": []any{anyOf{v2UserJSON{}, v2UserBriefJSON{}}}, "page": v2Page{}}, Handle: a.v2SearchUsers},
		{Method: "POST", Pattern: v2Users, Summary: "Create a user (v2): local with a password, or local=false signing in through an identity provider. Reactivates a deactivated login.",
			Access: admin, Status: http.StatusOK, Body: userBody, Required: []string{"login", "name"}, Out: v2UserJSON{}, Handle: a.v2CreateUser},
		{Method: "GET", Pattern: v2Users + "/{id}", Summary: "A user by id (v2).",
			Access: authenticated, Status: http.StatusOK, Out: anyOf{v2UserJSON{}, v2UserBriefJSON{}}, Handle: a.v2GetUser},
		{Method: "PATCH", Pattern: v2Users + "/{id}", Summary: "Update a user (v2) with a JSON merge patch: login, name, email, scmAccounts, externalProvider, externalLogin (null clears email and scmAccounts).",
			Access: admin, Status: http.StatusOK, Body: map[string]string{"login": "string", "name": "string", "email": "string", "scmAccounts": "array", "externalProvider": "string", "externalLogin": "string", "externalId": "string"},
			Out: v2UserJSON{}, Handle: a.v2PatchUser},
		{Method: "DELETE", Pattern: v2Users + "/{id}", Summary: "Deactivate a user (v2); anonymize=true also anonymizes it.",
			Access: admin, Status: http.StatusNoContent, Query: []Param{{Name: "anonymize", Values: boolValues, Default: "false", Desc: "Also anonymize the user"}},
			Handle: a.v2DeleteUser},
	}
}

// v2UserJSON is a user of the v2 API as administrators and the user itself
// see it (SonarQube's UserRestResponseForAdmins).
type v2UserJSON struct {
	ID               string   `json:"id"`
	Login            string   `json:"login"`
	Name             string   `json:"name"`
	Email            *string  `json:"email"`
	Active           bool     `json:"active"`
	Local            bool     `json:"local"`
	Managed          bool     `json:"managed"`
	ExternalLogin    string   `json:"externalLogin"`
	ExternalProvider string   `json:"externalProvider"`
	ExternalID       string   `json:"externalId"`
	Avatar           *string  `json:"avatar"`
	LastConnection   *string  `json:"sonarQubeLastConnectionDate"`
	SonarLint        *string  `json:"sonarLintLastConnectionDate"` // Gatehouse records none
	ScmAccounts      []string `json:"scmAccounts"`
}

// v2UserBriefJSON is a user as other users see it.
type v2UserBriefJSON struct {
	ID     string  `json:"id"`
	Login  string  `json:"login"`
	Name   string  `json:"name"`
	Avatar *string `json:"avatar"`
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func viewV2User(c *call, u identity.User) any {
	if !c.isAdmin() && u.ID != c.principal.UserID {
		return v2UserBriefJSON{ID: idString(u.ID), Login: u.Login, Name: u.Name, Avatar: optString(avatar(u.Email))}
	}
	return v2UserJSON{
		ID: idString(u.ID), Login: u.Login, Name: u.Name, Email: optString(u.Email), Active: u.Active,
		Local: isLocal(u), Managed: u.Source.Managed(), ExternalLogin: externalIdentity(u), ExternalProvider: externalProvider(u),
		ExternalID: externalIdentity(u), Avatar: optString(avatar(u.Email)), LastConnection: optTime(lastConnection(u)),
		ScmAccounts: nonNil(u.SCMAccounts),
	}
}

// v2User loads the user of the path's {id}.
func (a *API) v2User(c *call) (identity.User, error) {
	id, err := pathID(c, "User")
	if err != nil {
		return identity.User{}, err
	}
	u, err := a.st.Store().GetUser(c.ctx, id)
	if errors.Is(err, identity.ErrNotFound) {
		return u, errorf(http.StatusNotFound, "User '"+idString(id)+"' not found")
	}
	return u, err
}

func (a *API) v2SearchUsers(c *call) (any, error) {
	isAdmin := c.isAdmin()
	if !isAdmin {
		for _, p := range []string{"externalIdentity", "groupId", "groupId!"} {
			if c.form.Get(p) != "" {
				return nil, errorf(http.StatusForbidden, "parameter "+p+" requires Administer System permission.")
			}
		}
	}
	active, _ := c.boolean("active")
	f := store.UserFilter{Query: c.str("q"), QueryWithoutEmail: !isAdmin, Active: &active, ExternalID: c.str("externalIdentity")}
	managed, err := a.managedFilter(c)
	if err != nil {
		return nil, err
	}
	f.Managed = managed
	// Group filters: members of groupId, or everyone but groupId!'s.
	var keep []func(identity.User) bool
	for _, param := range []string{"groupId", "groupId!"} {
		raw := c.str(param)
		if raw == "" {
			continue
		}
		members, everyone, err := a.v2GroupMembers(c, raw)
		if err != nil {
			return nil, err
		}
		member := func(u identity.User) bool { return everyone || members[u.ID] }
		if param == "groupId" {
			keep = append(keep, member)
		} else {
			keep = append(keep, func(u identity.User) bool { return !member(u) })
		}
	}
	p, ps := c.v2Page()
	var users []identity.User
	var total int
	if len(keep) == 0 {
		f.Page = store.Page{Number: p, Size: ps}
		var err error
		if users, total, err = a.st.Store().ListUsers(c.ctx, f); err != nil {
			return nil, err
		}
	} else {
		all, _, err := a.st.Store().ListUsers(c.ctx, f)
		if err != nil {
			return nil, err
		}
		matched := all[:0]
		for _, u := range all {
			if allOf(keep, u) {
				matched = append(matched, u)
			}
		}
		total, users = len(matched), pageOf(matched, p, ps)
	}
	list := make([]any, 0, len(users))
	for _, u := range users {
		list = append(list, viewV2User(c, u))
	}
	return map[string]any{"users": list, "page": v2Page{PageIndex: p, PageSize: ps, Total: total}}, nil
}

// v2GroupMembers returns the explicit members of the group id raw, or
// everyone for sonar-users (whose members are implicit).
func (a *API) v2GroupMembers(c *call, raw string) (map[int64]bool, bool, error) {
	g, err := a.v2GroupByRawID(c, raw)
	if err != nil {
		return nil, false, err
	}
	if g.Name == identity.GroupUsers {
		return nil, true, nil
	}
	ms, err := a.st.Store().ListMemberships(c.ctx, 0, g.ID)
	if err != nil {
		return nil, false, err
	}
	members := make(map[int64]bool, len(ms))
	for _, m := range ms {
		members[m.UserID] = true
	}
	return members, false, nil
}

// v2NewUser is the body of POST users.
type v2NewUser struct {
	Login       string   `json:"login"`
	Name        string   `json:"name"`
	Email       string   `json:"email"`
	Password    string   `json:"password"`
	Local       *bool    `json:"local"`
	ScmAccounts []string `json:"scmAccounts"`
}

func (a *API) v2CreateUser(c *call) (any, error) {
	var b v2NewUser
	if err := c.jsonBody(&b); err != nil {
		return nil, err
	}
	// The v1 parameter rules, on the body's fields.
	check := &Route{Params: []Param{
		{Name: "login", Required: true, MinLen: identity.MinLoginLen, MaxLen: identity.MaxLoginLen},
		{Name: "name", Required: true, MaxLen: identity.MaxUserNameLen},
		{Name: "email", MaxLen: identity.MaxEmailLen},
	}}
	if err := check.validate(map[string][]string{"login": {b.Login}, "name": {b.Name}, "email": {b.Email}}); err != nil {
		return nil, err
	}
	local := b.Local == nil || *b.Local
	u, err := a.newUser(c, state.NewUser{Login: b.Login, Name: b.Name, Email: b.Email, Password: b.Password, SCMAccounts: b.ScmAccounts}, local)
	if err != nil {
		return nil, err
	}
	return viewV2User(c, u), nil
}

func (a *API) v2GetUser(c *call) (any, error) {
	u, err := a.v2User(c)
	if err != nil {
		return nil, err
	}
	return viewV2User(c, u), nil
}

func (a *API) v2PatchUser(c *call) (any, error) {
	u, err := a.v2User(c)
	if err != nil {
		return nil, err
	}
	if !u.Active {
		return nil, errorf(http.StatusNotFound, "User '"+idString(u.ID)+"' not found")
	}
	m, err := c.mergePatch()
	if err != nil {
		return nil, err
	}
	var upd state.UserUpdate
	if upd.Name, err = patchString(m, "name", false); err != nil {
		return nil, err
	}
	if upd.Email, err = patchString(m, "email", true); err != nil {
		return nil, err
	}
	login, err := patchString(m, "login", false)
	if err != nil {
		return nil, err
	}
	provider, err := patchString(m, "externalProvider", false)
	if err != nil {
		return nil, err
	}
	// Gatehouse keeps one external identity: externalLogin and externalId
	// both name it.
	extLogin, err := patchString(m, "externalLogin", false)
	if err != nil {
		return nil, err
	}
	extID, err := patchString(m, "externalId", false)
	if err != nil {
		return nil, err
	}
	if extLogin != nil && extID != nil && *extLogin != *extID {
		return nil, badRequest("Gatehouse keeps one external identity: externalLogin and externalId must be equal when both are given")
	}
	if extLogin == nil {
		extLogin = extID
	}
	if raw, ok := m["scmAccounts"]; ok {
		scm := []string{}
		if string(raw) != "null" {
			if err := jsonUnmarshalField(raw, &scm, "scmAccounts", "an array of strings"); err != nil {
				return nil, err
			}
		}
		upd.SCMAccounts = &scm
	}
	check := &Route{Params: []Param{
		{Name: "login", MinLen: identity.MinLoginLen, MaxLen: identity.MaxLoginLen},
		{Name: "name", MaxLen: identity.MaxUserNameLen},
		{Name: "email", MaxLen: identity.MaxEmailLen},
	}}
	form := map[string][]string{}
	for name, v := range map[string]*string{"login": login, "name": upd.Name, "email": upd.Email} {
		if v != nil {
			form[name] = []string{*v}
		}
	}
	if err := check.validate(form); err != nil {
		return nil, err
	}
	if provider != nil {
		if err := a.checkProvider(c.ctx, *provider, "externalProvider"); err != nil {
			return nil, err
		}
	}
	// The v1 actions' rules, one after the other: update, update_login,
	// update_identity_provider.
	if upd.Name != nil || upd.Email != nil || upd.SCMAccounts != nil {
		if u, err = a.st.UpdateUser(c.ctx, u.Login, upd); err != nil {
			return nil, err
		}
	}
	if login != nil && *login != u.Login {
		if u, err = a.renameUser(c, u, *login); err != nil {
			return nil, err
		}
	}
	switch {
	case provider != nil:
		ext := ""
		if extLogin != nil {
			ext = *extLogin
		}
		if u, err = a.moveToProvider(c, u, *provider, ext); err != nil {
			return nil, err
		}
	case extLogin != nil && *extLogin != externalIdentity(u):
		if isLocal(u) {
			return nil, badRequest("A local user has no external identity: set externalProvider too")
		}
		if u, err = a.st.UpdateUser(c.ctx, u.Login, state.UserUpdate{ExternalID: extLogin}); err != nil {
			return nil, err
		}
	}
	return viewV2User(c, u), nil
}

func (a *API) v2DeleteUser(c *call) (any, error) {
	u, err := a.v2User(c)
	if err != nil {
		return nil, err
	}
	anon, _ := c.boolean("anonymize")
	_, err = a.deactivateLogin(c, u.Login, anon)
	return nil, err
}
