package webapi

import (
	"cmp"
	"context"
	"crypto/md5" //nolint:gosec // Gravatar's hash of an e-mail address, not a security use
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Messages of the managed-instance rules (SonarQube's texts).
const msgManagedProject = state.MsgManagedProject

// permProjectParams select the project of a permission action; neither means
// global.
var permProjectParams = []Param{
	{Name: "projectId", Desc: "Project id (Gatehouse's numeric id)"},
	{Name: "projectKey", Desc: "Project key"},
}

func (a *API) permissionRoutes() []Route {
	edit := func(subject Param) []Param {
		return append([]Param{subject, {Name: "permission", Required: true, Desc: "Permission key: global when no project is given, else a project permission"}}, permProjectParams...)
	}
	login := Param{Name: "login", Required: true, Desc: "User login"}
	group := Param{Name: "groupName", Required: true, Desc: "Group name, or 'Anyone' (case insensitive)"}
	list := append([]Param{
		{Name: "permission", Desc: "Only holders of this permission"},
		{Name: "q", MinLen: 3, Desc: "Limit to names (and logins, e-mails) containing this text"},
	}, append(pagingParams(20, 100), permProjectParams...)...)
	return []Route{
		{Method: http.MethodPost, Path: "api/permissions/add_user", Summary: "Grant a permission to a user, globally or on a project.", Access: authenticated, Params: edit(login), Response: "empty", Handle: func(c *call) (any, error) { return a.permEditUser(c, true) }},
		{Method: http.MethodPost, Path: "api/permissions/remove_user", Summary: "Remove a permission from a user, globally or on a project.", Access: authenticated, Params: edit(login), Response: "empty", Handle: func(c *call) (any, error) { return a.permEditUser(c, false) }},
		{Method: http.MethodPost, Path: "api/permissions/add_group", Summary: "Grant a permission to a group, globally or on a project.", Access: authenticated, Params: edit(group), Response: "empty", Handle: func(c *call) (any, error) { return a.permEditGroup(c, true) }},
		{Method: http.MethodPost, Path: "api/permissions/remove_group", Summary: "Remove a permission from a group, globally or on a project.", Access: authenticated, Params: edit(group), Response: "empty", Handle: func(c *call) (any, error) { return a.permEditGroup(c, false) }},
		{Method: http.MethodGet, Path: "api/permissions/users", Summary: "Users and their permissions, globally or on a project; holders first.", Access: authenticated, Params: list, Out: obj{"paging": paging{}, "users": []permUserJSON{}}, Handle: a.permUsers},
		{Method: http.MethodGet, Path: "api/permissions/groups", Summary: "Groups and their permissions, globally or on a project; Anyone, then holders first.", Access: authenticated, Params: list, Out: obj{"paging": paging{}, "groups": []permGroupJSON{}}, Handle: a.permGroups},
	}
}

// permProject resolves projectId or projectKey; nil when neither was sent.
func (a *API) permProject(c *call) (*identity.Project, error) {
	id, key := c.str("projectId"), c.str("projectKey")
	if id != "" && key != "" {
		return nil, badRequest("Project id or project key can be provided, not both.")
	}
	var p identity.Project
	var err error
	switch {
	case key != "":
		p, err = a.st.Store().GetProjectByKey(c.ctx, key)
		if errors.Is(err, identity.ErrNotFound) || err == nil && !c.sees(p.Key) {
			return nil, errorf(http.StatusNotFound, fmt.Sprintf("Component key '%s' not found", key))
		}
	case id != "":
		n, perr := strconv.ParseInt(id, 10, 64)
		if perr != nil || n <= 0 {
			return nil, errorf(http.StatusNotFound, fmt.Sprintf("Component id '%s' not found", id))
		}
		p, err = a.st.Store().GetProject(c.ctx, n)
		if errors.Is(err, identity.ErrNotFound) || err == nil && !c.sees(p.Key) {
			return nil, errorf(http.StatusNotFound, fmt.Sprintf("Component id '%s' not found", id))
		}
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// permMayAdminister reports whether the caller may manage permissions
// globally (proj nil: global admin) or on proj (global or project admin):
// the state's rule, which the admin UI asks too.
func (c *call) permMayAdminister(proj *identity.Project) bool {
	if !c.authed {
		return false
	}
	key := ""
	if proj != nil {
		key = proj.Key
	}
	return c.api.st.MayEditPermissions(c.principal, key)
}

// permParse validates a permission key for the level it is used at.
func permParse(raw string, proj *identity.Project) (identity.Permission, error) {
	if proj == nil {
		return identity.ParseGlobalPermission(raw)
	}
	return identity.ParseProjectPermission(raw)
}

func (a *API) permEditUser(c *call, add bool) (any, error) {
	proj, err := a.permProject(c)
	if err != nil {
		return nil, err
	}
	if !c.permMayAdminister(proj) {
		return nil, errForbidden
	}
	u, err := a.st.ActiveUser(c.ctx, c.str("login"))
	if err != nil {
		return nil, err
	}
	perm, err := permParse(c.str("permission"), proj)
	if err != nil {
		return nil, err
	}
	return nil, a.st.EditGrant(c.ctx, proj, identity.UserSubject(u.ID), u.Source, perm, add, c.isAdmin())
}

func (a *API) permEditGroup(c *call, add bool) (any, error) {
	proj, err := a.permProject(c)
	if err != nil {
		return nil, err
	}
	if !c.permMayAdminister(proj) {
		return nil, errForbidden
	}
	sub, _, err := a.st.GroupSubject(c.ctx, c.str("groupName"))
	if err != nil {
		return nil, err
	}
	perm, err := permParse(c.str("permission"), proj)
	if err != nil {
		return nil, err
	}
	return nil, a.st.EditGrant(c.ctx, proj, sub, "", perm, add, c.isAdmin())
}

// permUserJSON is a user of api/permissions/users.
type permUserJSON struct {
	Login       string   `json:"login"`
	Name        string   `json:"name"`
	Email       string   `json:"email,omitempty"`
	Avatar      string   `json:"avatar,omitempty"`
	Permissions []string `json:"permissions"`
	Managed     bool     `json:"managed"`
}

// permGroupJSON is a group of api/permissions/groups; Anyone has no id.
type permGroupJSON struct {
	ID          string   `json:"id,omitempty"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Permissions []string `json:"permissions"`
	Managed     bool     `json:"managed"`
}

// permHolders are the permissions of each subject in one scope (global, a
// project or a template), and an optional permission filter.
type permHolders struct {
	bySubj map[identity.Subject][]string
	perm   identity.Permission // "" when not filtered
}

func newPermHolders() *permHolders {
	return &permHolders{bySubj: map[identity.Subject][]string{}}
}

func (h *permHolders) add(sub identity.Subject, perm identity.Permission) {
	if !slices.Contains(h.bySubj[sub], string(perm)) {
		h.bySubj[sub] = append(h.bySubj[sub], string(perm))
		slices.Sort(h.bySubj[sub])
	}
}

// holds reports whether sub is listed first: it holds the filtered
// permission, or any permission when unfiltered.
func (h *permHolders) holds(sub identity.Subject) bool {
	perms := h.bySubj[sub]
	if h.perm == "" {
		return len(perms) > 0
	}
	return slices.Contains(perms, string(h.perm))
}

// of returns the sorted permissions of sub, never nil.
func (h *permHolders) of(sub identity.Subject) []string {
	if ps := h.bySubj[sub]; ps != nil {
		return ps
	}
	return []string{}
}

// permListingOf resolves the scope of api/permissions/users and groups,
// checks the caller may see it, and loads its grants.
func (a *API) permListingOf(c *call) (*identity.Project, *permHolders, error) {
	proj, err := a.permProject(c)
	if err != nil {
		return nil, nil, err
	}
	if !c.permMayAdminister(proj) {
		return nil, nil, errForbidden
	}
	h := newPermHolders()
	if raw := c.str("permission"); raw != "" {
		if h.perm, err = permParse(raw, proj); err != nil {
			return nil, nil, err
		}
	}
	var pid int64
	if proj != nil {
		pid = proj.ID
	}
	grants, err := a.st.Store().ListGrants(c.ctx, store.GrantFilter{ProjectID: &pid})
	if err != nil {
		return nil, nil, err
	}
	for _, g := range grants {
		h.add(g.Subject, g.Permission)
	}
	return proj, h, nil
}

func (a *API) permUsers(c *call) (any, error) {
	_, h, err := a.permListingOf(c)
	if err != nil {
		return nil, err
	}
	p, ps := c.page()
	users, total, err := a.permPageUsers(c.ctx, c.str("q"), h, h.perm != "", p, ps)
	if err != nil {
		return nil, err
	}
	out := make([]permUserJSON, 0, len(users))
	for _, u := range users {
		out = append(out, permUserJSON{
			Login: u.Login, Name: u.Name, Email: u.Email, Avatar: permAvatar(u.Email),
			Permissions: h.of(identity.UserSubject(u.ID)), Managed: u.Source.Managed(),
		})
	}
	return map[string]any{"paging": paging{PageIndex: p, PageSize: ps, Total: total}, "users": out}, nil
}

func (a *API) permGroups(c *call) (any, error) {
	proj, h, err := a.permListingOf(c)
	if err != nil {
		return nil, err
	}
	p, ps := c.page()
	q := c.str("q")
	// Anyone holds nothing on a private project, so it is not listed there.
	anyone := (proj == nil || proj.Visibility == identity.Public) && permAnyoneMatches(q) &&
		(h.perm == "" || h.holds(identity.Anyone))
	groups, total, err := a.permPageGroups(c.ctx, q, h, h.perm != "", anyone, p, ps)
	if err != nil {
		return nil, err
	}
	out := make([]permGroupJSON, 0, len(groups))
	for _, g := range groups {
		if g.ID == 0 {
			out = append(out, permGroupJSON{Name: identity.GroupAnyone, Permissions: h.of(identity.Anyone)})
			continue
		}
		out = append(out, permGroupJSON{
			ID: idString(g.ID), Name: g.Name, Description: g.Description,
			Permissions: h.of(identity.GroupSubject(g.ID)), Managed: g.Source.Managed(),
		})
	}
	return map[string]any{"paging": paging{PageIndex: p, PageSize: ps, Total: total}, "groups": out}, nil
}

// permAnyoneMatches applies the text filter to the Anyone pseudo-group.
func permAnyoneMatches(q string) bool {
	return q == "" || strings.Contains(strings.ToLower(identity.GroupAnyone), strings.ToLower(q))
}

// permPageUsers pages the active users matching q, holders first; with
// onlyHolders the others are left out.
func (a *API) permPageUsers(ctx context.Context, q string, h *permHolders, onlyHolders bool, p, ps int) ([]identity.User, int, error) {
	active := true
	var ids []int64
	for s := range h.bySubj {
		if s.Kind == identity.SubjectUser && h.holds(s) {
			ids = append(ids, s.ID)
		}
	}
	var first []identity.User
	if len(ids) > 0 {
		var err error
		first, _, err = a.st.Store().ListUsers(ctx, store.UserFilter{Query: q, Active: &active, IDs: ids})
		if err != nil {
			return nil, 0, err
		}
	}
	isHolder := func(u identity.User) bool { return h.holds(identity.UserSubject(u.ID)) }
	return holdersFirst(first, isHolder, onlyHolders, p, ps, func(pg store.Page) ([]identity.User, int, error) {
		return a.st.Store().ListUsers(ctx, store.UserFilter{Query: q, Active: &active, Page: pg})
	})
}

// permPageGroups pages the groups matching q: Anyone first when anyone is
// set (it has no row; its entry has id 0), then holders, then the others.
func (a *API) permPageGroups(ctx context.Context, q string, h *permHolders, onlyHolders, anyone bool, p, ps int) ([]identity.Group, int, error) {
	var first []identity.Group
	if anyone {
		first = append(first, identity.Group{Name: identity.GroupAnyone})
	}
	var held []identity.Group
	for s := range h.bySubj {
		if s.Kind != identity.SubjectGroup || !h.holds(s) {
			continue
		}
		g, err := a.st.Store().GetGroup(ctx, s.ID)
		if errors.Is(err, identity.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		if q == "" || strings.Contains(strings.ToLower(g.Name), strings.ToLower(q)) {
			held = append(held, g)
		}
	}
	slices.SortFunc(held, func(x, y identity.Group) int {
		return cmp.Or(cmp.Compare(strings.ToLower(x.Name), strings.ToLower(y.Name)), cmp.Compare(x.Name, y.Name), cmp.Compare(x.ID, y.ID))
	})
	first = append(first, held...)
	isHolder := func(g identity.Group) bool { return h.holds(identity.GroupSubject(g.ID)) }
	out, total, err := holdersFirst(first, isHolder, onlyHolders, p, ps, func(pg store.Page) ([]identity.Group, int, error) {
		return a.st.Store().ListGroups(ctx, store.GroupFilter{Query: q, Page: pg})
	})
	if err == nil && anyone && !onlyHolders {
		total++ // Anyone has no row, so the store's count misses it
	}
	return out, total, err
}

// permAvatar is Gravatar's hash of an e-mail address, which SonarQube
// returns as the avatar; "" without an address.
func permAvatar(email string) string {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return ""
	}
	sum := md5.Sum([]byte(email)) //nolint:gosec // Gravatar's hash, not a security use
	return hex.EncodeToString(sum[:])
}

// holdersFirst pages a listing in which the holders (already filtered and
// ordered, a short list) come first, then every other row of the full
// listing in store order. With onlyHolders only the holders are listed.
// all pages the full listing, holders included; they are skipped there.
func holdersFirst[T any](holders []T, isHolder func(T) bool, onlyHolders bool, p, ps int, all func(store.Page) ([]T, int, error)) ([]T, int, error) {
	window := func(total int) (int, bool) {
		// Guard the multiplication: a huge p is simply past the end.
		if ps <= 0 || p-1 > total/ps {
			return 0, false
		}
		return (p - 1) * ps, true
	}
	if onlyHolders {
		off, ok := window(len(holders))
		if !ok || off >= len(holders) {
			return []T{}, len(holders), nil
		}
		return holders[off:min(off+ps, len(holders))], len(holders), nil
	}
	_, total, err := all(store.Page{Number: 1, Size: 1})
	if err != nil {
		return nil, 0, err
	}
	off, ok := window(total + len(holders))
	if !ok {
		return []T{}, total, nil
	}
	out := []T{}
	if off < len(holders) {
		out = append(out, holders[off:min(off+ps, len(holders))]...)
	}
	skip := max(0, off-len(holders))
	const chunk = 500
	for page := 1; len(out) < ps; page++ {
		rows, _, err := all(store.Page{Number: page, Size: chunk})
		if err != nil {
			return nil, 0, err
		}
		for _, r := range rows {
			if len(out) == ps {
				break
			}
			if isHolder(r) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, r)
		}
		if len(rows) < chunk {
			break
		}
	}
	return out, total, nil
}
