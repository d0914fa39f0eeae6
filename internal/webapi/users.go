package webapi

import (
	"crypto/md5" //nolint:gosec // Gravatar's avatar key is an MD5 of the e-mail; not a security use.
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// selectedValues are SonarQube's selection modes for membership listings.
var selectedValues = []string{"all", "deselected", "selected"}

// errManagedInstance is SonarQube's answer to a local edit of what an
// external identity source manages, naming that source.
func errManagedInstance(src identity.Source) error {
	return identity.ManagedError(src, "Operation not allowed when the instance is externally managed.")
}

func (a *API) userRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "api/users/search", Summary: "Search users. email, groups, tokensCount, externalIdentity, lastConnectionDate and managed are shown only to administrators and to the user itself.",
			Access: authenticated, Params: append(pagingParams(50, 500),
				Param{Name: "q", MinLen: 2, Desc: "Filter on login, name and email (case-insensitive substring)"},
				Param{Name: "deactivated", Values: boolValues, Default: "false", Desc: "Return deactivated users instead of active users"},
				Param{Name: "managed", Values: boolValues, Desc: "Return managed or non-managed users; only on externally managed instances"},
				Param{Name: "externalIdentity", Desc: "Find a user by its login in its identity provider (Admin)"},
				Param{Name: "lastConnectedAfter", Desc: "Users who connected at or after this datetime (Admin)"},
				Param{Name: "lastConnectedBefore", Desc: "Users who never connected or connected at or before this datetime (Admin)"},
				Param{Name: "slLastConnectedAfter", Desc: "SonarLint connection filter (Admin); Gatehouse records no SonarLint connection"},
				Param{Name: "slLastConnectedBefore", Desc: "SonarLint connection filter (Admin); Gatehouse records no SonarLint connection"},
			), Out: obj{"paging": paging{}, "users": []userJSON{}}, Handle: a.searchUsers},
		{Method: "POST", Path: "api/users/create", Summary: "Create a user (local: with a password; local=false: signing in through an identity provider), or reactivate a deactivated one of the same login.",
			Access: admin, Params: []Param{
				{Name: "login", Required: true, MinLen: identity.MinLoginLen, MaxLen: identity.MaxLoginLen, Desc: "User login"},
				{Name: "name", Required: true, MaxLen: identity.MaxUserNameLen, Desc: "User name"},
				{Name: "email", MaxLen: identity.MaxEmailLen, Desc: "User email"},
				{Name: "password", Desc: "User password; mandatory for local users"},
				{Name: "local", Values: boolValues, Default: "true", Desc: "Whether the user signs in with a Gatehouse password; a non-local user has none and signs in through an identity provider"},
				{Name: "scmAccount", Multi: true, Desc: "SCM account; repeat the parameter for several"},
			}, Out: obj{"user": createdUserJSON{}}, Handle: a.createUser},
		{Method: "POST", UserOnly: true, Path: "api/users/update", Summary: "Update a user's name, email or SCM accounts.",
			Access: admin, Params: []Param{
				{Name: "login", Required: true, MaxLen: identity.MaxLoginLen, Desc: "User login"},
				{Name: "name", MaxLen: identity.MaxUserNameLen, Desc: "User name"},
				{Name: "email", MaxLen: identity.MaxEmailLen, Desc: "User email"},
				{Name: "scmAccount", Multi: true, Desc: "SCM account; repeat the parameter for several"},
			}, Out: obj{"user": userDetailJSON{}}, Handle: a.updateUser},
		{Method: "POST", Path: "api/users/update_login", Summary: "Change a local user's login.",
			Access: admin, Response: "empty", Params: []Param{
				{Name: "login", Required: true, Desc: "Current login"},
				{Name: "newLogin", Required: true, MinLen: identity.MinLoginLen, MaxLen: identity.MaxLoginLen, Desc: "New login"},
			}, Handle: a.updateLogin},
		{Method: "POST", Path: "api/users/deactivate", Summary: "Deactivate a user: its sessions end and its tokens stop working at once (they are kept for audit).",
			Access: admin, Params: []Param{
				{Name: "login", Required: true, Desc: "User login"},
				{Name: "anonymize", Values: boolValues, Default: "false", Desc: "Also anonymize the user"},
			}, Out: obj{"user": deactivatedJSON{}}, Handle: a.deactivateUser},
		{Method: "POST", Path: "api/users/anonymize", Summary: "Anonymize a deactivated local user: login and name become a random sq-removed-… value, email and SCM accounts are cleared.",
			Access: admin, Response: "empty", Params: []Param{
				{Name: "login", Required: true, Desc: "User login"},
			}, Handle: a.anonymizeUser},
		{Method: "GET", Path: "api/users/groups", Summary: "List the groups a user belongs to.",
			Access: admin, Params: append(pagingParams(25, 500),
				Param{Name: "login", Required: true, Desc: "User login"},
				Param{Name: "q", Desc: "Filter on group names"},
				Param{Name: "selected", Values: selectedValues, Default: "selected", Desc: "selected: the user's groups; deselected: the others; all: both"},
			), Out: obj{"paging": paging{}, "groups": []userGroupJSON{}}, Handle: a.userGroups},
		{Method: "POST", UserOnly: true, Path: "api/users/change_password", Summary: "Change a local user's password: one's own with previousPassword, another's as administrator. Ends the user's sessions.",
			Access: authenticated, Response: "empty", Params: []Param{
				{Name: "login", Required: true, Desc: "User login"},
				{Name: "password", Required: true, MinLen: state.MinPasswordLen, Desc: "New password"},
				{Name: "previousPassword", Desc: "Previous password; required when changing one's own password"},
			}, Handle: a.changePassword},
	}
}

// userJSON is a user in api/users/search.
type userJSON struct {
	Login              string   `json:"login"`
	Name               string   `json:"name"`
	Active             bool     `json:"active"`
	Email              string   `json:"email,omitempty"`
	Groups             []string `json:"groups,omitempty"`
	TokensCount        *int     `json:"tokensCount,omitempty"`
	Local              bool     `json:"local"`
	ExternalIdentity   string   `json:"externalIdentity,omitempty"`
	ExternalProvider   string   `json:"externalProvider"`
	Avatar             string   `json:"avatar,omitempty"`
	LastConnectionDate *string  `json:"lastConnectionDate,omitempty"`
	Managed            *bool    `json:"managed,omitempty"`
	ScmAccounts        []string `json:"scmAccounts,omitempty"`
}

// userDetailJSON is the user of api/users/update.
type userDetailJSON struct {
	Login            string   `json:"login"`
	Name             string   `json:"name"`
	Email            string   `json:"email,omitempty"`
	Active           bool     `json:"active"`
	Local            bool     `json:"local"`
	ExternalIdentity string   `json:"externalIdentity"`
	ExternalProvider string   `json:"externalProvider"`
	Groups           []string `json:"groups"`
	ScmAccounts      []string `json:"scmAccounts"`
}

// createdUserJSON is the user of api/users/create.
type createdUserJSON struct {
	Login       string   `json:"login"`
	Name        string   `json:"name"`
	Email       string   `json:"email,omitempty"`
	ScmAccounts []string `json:"scmAccounts"`
	Active      bool     `json:"active"`
	Local       bool     `json:"local"`
}

// externalIdentity is the user's login in its identity provider; a local
// user is its own.
func externalIdentity(u identity.User) string {
	if u.ExternalID != "" {
		return u.ExternalID
	}
	return u.Login
}

// externalProvider names who authenticates the user: "sonarqube" for local
// users as in SonarQube, else the identity source.
func externalProvider(u identity.User) string {
	if u.Provider != "" {
		return u.Provider
	}
	if !u.Source.Managed() {
		return "sonarqube"
	}
	return string(u.Source)
}

func avatar(email string) string {
	if email == "" {
		return ""
	}
	sum := md5.Sum([]byte(strings.ToLower(email))) //nolint:gosec // see the import
	return hex.EncodeToString(sum[:])
}

// lastConnection is the latest interactive sign-in or token use.
func lastConnection(u identity.User) time.Time {
	if u.LastTokenAt.After(u.LastLoginAt) {
		return u.LastTokenAt
	}
	return u.LastLoginAt
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// groupsOf returns the group names a user shows: its explicit groups and, for
// an active user, sonar-users, sorted.
func (a *API) groupsOf(c *call, users []identity.User) (map[int64][]string, error) {
	ids := make([]int64, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	names, err := a.st.GroupNamesByUser(c.ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if u.Active {
			gs := append(names[u.ID], identity.GroupUsers)
			slices.SortFunc(gs, func(x, y string) int { return strings.Compare(strings.ToLower(x), strings.ToLower(y)) })
			names[u.ID] = gs
		}
	}
	return names, nil
}

func (a *API) userDetail(c *call, u identity.User) (userDetailJSON, error) {
	groups, err := a.groupsOf(c, []identity.User{u})
	if err != nil {
		return userDetailJSON{}, err
	}
	return userDetailOf(u, groups[u.ID]), nil
}

func userDetailOf(u identity.User, groups []string) userDetailJSON {
	return userDetailJSON{
		Login: u.Login, Name: u.Name, Email: u.Email, Active: u.Active, Local: isLocal(u),
		ExternalIdentity: externalIdentity(u), ExternalProvider: externalProvider(u),
		Groups: nonNil(groups), ScmAccounts: nonNil(u.SCMAccounts),
	}
}

// parseSonarDateTime accepts SonarQube's datetime or a date (its start, UTC).
func parseSonarDateTime(v string) (time.Time, error) {
	for _, layout := range []string{sonarTime, time.RFC3339, sonarDate} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badRequest(fmt.Sprintf("'%s' cannot be parsed as either a date or date+time", v))
}

// adminOnlySearchParams are the api/users/search filters reserved to
// administrators.
var adminOnlySearchParams = []string{"lastConnectedAfter", "lastConnectedBefore", "slLastConnectedAfter", "slLastConnectedBefore", "externalIdentity"}

func (a *API) searchUsers(c *call) (any, error) {
	isAdmin := c.isAdmin()
	if !isAdmin {
		for _, p := range adminOnlySearchParams {
			if c.form.Get(p) != "" {
				return nil, errorf(http.StatusForbidden, "parameter "+p+" requires Administer System permission.")
			}
		}
	}
	p, ps := c.page()
	deactivated, _ := c.boolean("deactivated")
	active := !deactivated
	// E-mail addresses are hidden from non-administrators, so their search
	// must not match on them either (one could probe an address letter by
	// letter).
	f := store.UserFilter{Query: c.str("q"), QueryWithoutEmail: !c.isAdmin(), Active: &active}
	managed, err := a.managedFilter(c)
	if err != nil {
		return nil, err
	}
	f.Managed = managed
	// Filters the store cannot apply run in memory over every match.
	var keep []func(identity.User) bool
	for _, df := range []struct {
		param  string
		after  bool
		client bool // SonarLint: Gatehouse has no such date, so users "never connected"
	}{{"lastConnectedAfter", true, false}, {"lastConnectedBefore", false, false}, {"slLastConnectedAfter", true, true}, {"slLastConnectedBefore", false, true}} {
		v := c.str(df.param)
		if v == "" {
			continue
		}
		t, err := parseSonarDateTime(v)
		if err != nil {
			return nil, err
		}
		keep = append(keep, func(u identity.User) bool {
			var last time.Time
			if !df.client {
				last = lastConnection(u)
			}
			if df.after {
				return !last.IsZero() && !last.Before(t)
			}
			return last.IsZero() || !last.After(t)
		})
	}
	if ext := c.str("externalIdentity"); ext != "" {
		keep = append(keep, func(u identity.User) bool { return externalIdentity(u) == ext })
	}
	var users []identity.User
	var total int
	if len(keep) == 0 {
		f.Page = store.Page{Number: p, Size: ps}
		users, total, err = a.st.Store().ListUsers(c.ctx, f)
		if err != nil {
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
		total = len(matched)
		users = pageOf(matched, p, ps)
	}
	// Details go to administrators and to the user itself only.
	var detailed []identity.User
	for _, u := range users {
		if isAdmin || u.ID == c.principal.UserID {
			detailed = append(detailed, u)
		}
	}
	groups, err := a.groupsOf(c, detailed)
	if err != nil {
		return nil, err
	}
	out := make([]userJSON, 0, len(users))
	for _, u := range users {
		j := userJSON{
			Login: u.Login, Name: u.Name, Active: u.Active, Local: isLocal(u),
			ExternalProvider: externalProvider(u), Avatar: avatar(u.Email), ScmAccounts: u.SCMAccounts,
		}
		if isAdmin || u.ID == c.principal.UserID {
			n, err := a.st.UserTokenCount(c.ctx, u.ID)
			if err != nil {
				return nil, err
			}
			managed := u.Source.Managed()
			j.Email, j.Groups, j.TokensCount, j.Managed = u.Email, groups[u.ID], &n, &managed
			j.ExternalIdentity = externalIdentity(u)
			j.LastConnectionDate = optTime(lastConnection(u))
		}
		out = append(out, j)
	}
	return map[string]any{"paging": paging{PageIndex: p, PageSize: ps, Total: total}, "users": out}, nil
}

func allOf[T any](preds []func(T) bool, v T) bool {
	for _, p := range preds {
		if !p(v) {
			return false
		}
	}
	return true
}

// pageOf returns page p (1-based) of size ps of xs. The multiplication is
// guarded: a huge p is past the end, never a page that wrapped around to
// the first one.
func pageOf[T any](xs []T, p, ps int) []T {
	if p < 1 || ps < 1 || p-1 > len(xs)/ps {
		return nil
	}
	start := (p - 1) * ps
	if start >= len(xs) {
		return nil
	}
	return xs[start:min(start+ps, len(xs))]
}

// newUser creates a user for api/users/create and the v2 API alike.
func (a *API) newUser(c *call, n state.NewUser, local bool) (identity.User, error) {
	// A non-local user has no password: it signs in only through an
	// identity provider, matched by its login, and its provider is
	// "sonarqube" until api/users/update_identity_provider names one, as in
	// SonarQube.
	switch {
	case !local && n.Password != "":
		return identity.User{}, badRequest("Password should only be set on local user")
	case !local:
		n.Provider = "sonarqube"
	default:
		return a.st.CreateLocalUser(c.ctx, n)
	}
	return a.st.CreateUser(c.ctx, n)
}

func (a *API) createUser(c *call) (any, error) {
	local, _ := c.boolean("local")
	u, err := a.newUser(c, state.NewUser{
		Login: c.str("login"), Name: c.str("name"), Email: c.str("email"), Password: c.form.Get("password"),
		SCMAccounts: c.all("scmAccount"),
	}, local)
	if err != nil {
		return nil, err
	}
	return map[string]any{"user": createdUserJSON{
		Login: u.Login, Name: u.Name, Email: u.Email, ScmAccounts: nonNil(u.SCMAccounts),
		Active: u.Active, Local: isLocal(u),
	}}, nil
}

// activeUser loads an active user, or answers 404 with msg (a format with
// one %s for the login).
func (a *API) activeUser(c *call, login, msg string) (identity.User, error) {
	u, err := a.st.Store().GetUserByLogin(c.ctx, login)
	if errors.Is(err, identity.ErrNotFound) || err == nil && !u.Active {
		return identity.User{}, identity.Errorf(identity.ErrNotFound, msg, login)
	}
	return u, err
}

func (a *API) updateUser(c *call) (any, error) {
	login := c.str("login")
	old, err := a.activeUser(c, login, "User '%s' doesn't exist")
	if err != nil {
		return nil, err
	}
	// The answer's groups are read before the write (it does not change
	// them): once the write has committed, nothing may fail its answer.
	groups, err := a.groupsOf(c, []identity.User{old})
	if err != nil {
		return nil, err
	}
	var upd state.UserUpdate
	upd.Name = c.opt("name")
	upd.Email = c.opt("email")
	if c.has("scmAccount") {
		scm := c.all("scmAccount")
		upd.SCMAccounts = &scm
	}
	u, err := a.st.UpdateUser(c.ctx, login, upd)
	if err != nil {
		return nil, err
	}
	return map[string]any{"user": userDetailOf(u, groups[old.ID])}, nil
}

func (a *API) updateLogin(c *call) (any, error) {
	login := c.str("login")
	u, err := a.activeUser(c, login, "User '%s' doesn't exist")
	if err != nil {
		return nil, err
	}
	_, err = a.renameUser(c, u, c.str("newLogin"))
	return nil, err
}

// renameUser changes a local user's login (update_login, v2 PATCH).
func (a *API) renameUser(c *call, u identity.User, newLogin string) (identity.User, error) {
	if u.Source.Managed() {
		return u, errManagedInstance(u.Source)
	}
	if _, err := a.st.Store().GetUserByLogin(c.ctx, newLogin); err == nil {
		return u, badRequest(fmt.Sprintf("A user with login '%s' already exists", newLogin))
	} else if !errors.Is(err, identity.ErrNotFound) {
		return u, err
	}
	return a.st.UpdateUser(c.ctx, u.Login, state.UserUpdate{Login: &newLogin})
}

// deactivateLogin deactivates (and with anonymize, anonymizes) a user for
// api/users/deactivate and the v2 API's DELETE.
func (a *API) deactivateLogin(c *call, login string, anonymize bool) (identity.User, error) {
	old, err := a.st.Store().GetUserByLogin(c.ctx, login)
	if errors.Is(err, identity.ErrNotFound) {
		return identity.User{}, identity.Errorf(identity.ErrNotFound, "User '%s' doesn't exist", login)
	}
	if err != nil {
		return identity.User{}, err
	}
	if old.Source.Managed() {
		return identity.User{}, errManagedInstance(old.Source)
	}
	u, err := a.st.DeactivateUser(c.ctx, login)
	if err != nil {
		return identity.User{}, err
	}
	if anonymize {
		return a.anonymize(c, u)
	}
	return u, nil
}

func (a *API) deactivateUser(c *call) (any, error) {
	anon, _ := c.boolean("anonymize")
	u, err := a.deactivateLogin(c, c.str("login"), anon)
	if err != nil {
		return nil, err
	}
	// SonarQube's answer: the user without e-mail (cleared) and with no
	// groups left.
	j, err := a.userDetail(c, u)
	if err != nil {
		// The deactivation has committed: its answer must not fail, so
		// the groups come from memory.
		a.log.WarnContext(c.ctx, "read groups of a deactivated user", "login", u.Login, "err", err)
		j = userDetailOf(u, a.st.Index().GroupNames(u.ID))
	}
	return map[string]any{"user": deactivatedJSON{
		Login: j.Login, Name: j.Name, Active: j.Active, Local: j.Local,
		ExternalIdentity: j.ExternalIdentity, ExternalProvider: j.ExternalProvider, Groups: j.Groups, ScmAccounts: j.ScmAccounts,
	}}, nil
}

// deactivatedJSON is the user of api/users/deactivate: SonarQube's shape
// has no e-mail.
type deactivatedJSON struct {
	Login            string   `json:"login"`
	Name             string   `json:"name"`
	Active           bool     `json:"active"`
	Local            bool     `json:"local"`
	ExternalIdentity string   `json:"externalIdentity"`
	ExternalProvider string   `json:"externalProvider"`
	Groups           []string `json:"groups"`
	ScmAccounts      []string `json:"scmAccounts"`
}

func (a *API) anonymizeUser(c *call) (any, error) {
	login := c.str("login")
	u, err := a.st.Store().GetUserByLogin(c.ctx, login)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, identity.Errorf(identity.ErrNotFound, "User '%s' doesn't exist", login)
	}
	if err != nil {
		return nil, err
	}
	if u.Active {
		return nil, badRequest(fmt.Sprintf("User '%s' is not deactivated", login))
	}
	_, err = a.anonymize(c, u)
	return nil, err
}

// anonymize replaces a deactivated local user's personal data with a random
// login, as SonarQube does; the audit log keeps the link to the old login.
func (a *API) anonymize(c *call, u identity.User) (identity.User, error) {
	if u.Source.Managed() {
		return u, errManagedInstance(u.Source)
	}
	login := "sq-removed-" + strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(randomString(12)))
	empty := ""
	scm := []string{}
	return a.st.UpdateUser(c.ctx, u.Login, state.UserUpdate{Login: &login, Name: &login, Email: &empty, ExternalID: &empty, SCMAccounts: &scm})
}

type userGroupJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Selected    bool   `json:"selected"`
	Default     bool   `json:"default"`
}

func (a *API) userGroups(c *call) (any, error) {
	u, err := a.activeUser(c, c.str("login"), "Unknown user: %s")
	if err != nil {
		return nil, err
	}
	p, ps := c.page()
	groups, _, err := a.st.Store().ListGroups(c.ctx, store.GroupFilter{Query: c.str("q")})
	if err != nil {
		return nil, err
	}
	ms, err := a.st.Store().ListMemberships(c.ctx, u.ID, 0)
	if err != nil {
		return nil, err
	}
	member := make(map[int64]bool, len(ms))
	for _, m := range ms {
		member[m.GroupID] = true
	}
	sel := c.str("selected")
	var matched []userGroupJSON
	for _, g := range groups {
		in := member[g.ID] || g.Name == identity.GroupUsers
		if sel == "selected" && !in || sel == "deselected" && in {
			continue
		}
		matched = append(matched, userGroupJSON{ID: idString(g.ID), Name: g.Name, Description: g.Description, Selected: in, Default: g.Name == identity.GroupUsers})
	}
	return map[string]any{
		"paging": paging{PageIndex: p, PageSize: ps, Total: len(matched)},
		"groups": nonNilSlice(pageOf(matched, p, ps)),
	}, nil
}

func nonNilSlice[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

func (a *API) changePassword(c *call) (any, error) {
	login := c.str("login")
	u, err := a.activeUser(c, login, "User with login '%s' has not been found")
	if err != nil {
		return nil, err
	}
	var previous *string
	if c.principal.UserID == u.ID {
		prev := c.form.Get("previousPassword")
		if prev == "" {
			return nil, badRequest("The 'previousPassword' parameter is missing")
		}
		previous = &prev
	} else if !c.isAdmin() {
		return nil, errForbidden
	}
	if err := a.st.SetPassword(c.ctx, login, c.form.Get("password"), previous); err != nil {
		return nil, err
	}
	return nil, nil
}

// managedFilter reads the 'managed' parameter of a user search (v1 and v2):
// nil when absent; refused on an instance that nothing manages.
func (a *API) managedFilter(c *call) (*bool, error) {
	managed, set := c.boolean("managed")
	if !set {
		return nil, nil
	}
	ext, err := a.st.ExternallyManaged(c.ctx)
	if err != nil {
		return nil, err
	}
	if !ext {
		return nil, badRequest("The 'managed' parameter is only available for managed instances.")
	}
	return &managed, nil
}
