package webapi

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// groupFields are the values of api/user_groups/search's f parameter.
var groupFields = []string{"name", "description", "membersCount", "managed"}

func (a *API) groupRoutes() []Route {
	nameParam := Param{Name: "name", Required: true, Desc: "Group name"}
	return []Route{
		{Method: "POST", Path: "api/user_groups/create", Summary: "Create a local group. \"Anyone\" is reserved.",
			Access: admin, Params: []Param{
				{Name: "name", Required: true, MaxLen: identity.MaxGroupNameLen, Desc: "Group name"},
				{Name: "description", MaxLen: identity.MaxGroupDescriptionLen, Desc: "Description"},
			}, Out: obj{"group": groupJSON{}}, Handle: a.createGroup},
		{Method: "POST", Path: "api/user_groups/delete", Summary: "Delete a group with its memberships and permissions. The default group and managed groups cannot be deleted.",
			Access: admin, Response: "empty", Params: []Param{nameParam}, Handle: a.deleteGroup},
		{Method: "POST", Path: "api/user_groups/update", Summary: "Rename a group or change its description. The default group is not editable.",
			Access: admin, Params: []Param{
				{Name: "currentName", Required: true, Desc: "Current name of the group"},
				{Name: "name", MaxLen: identity.MaxGroupNameLen, Desc: "New name"},
				{Name: "description", MaxLen: identity.MaxGroupDescriptionLen, Desc: "New description"},
			}, Out: obj{"group": groupJSON{}}, Handle: a.updateGroup},
		{Method: "POST", Path: "api/user_groups/add_user", Summary: "Add a user to a group; takes effect at the next decision.",
			Access: admin, Response: "empty", Params: []Param{nameParam, {Name: "login", Desc: "User login"}}, Handle: a.addGroupMember},
		{Method: "POST", Path: "api/user_groups/remove_user", Summary: "Remove a user from a group; takes effect at the next decision.",
			Access: admin, Response: "empty", Params: []Param{nameParam, {Name: "login", Desc: "User login"}}, Handle: a.removeGroupMember},
		{Method: "GET", Path: "api/user_groups/search", Summary: "Search groups.",
			Access: admin, Params: append(pagingParams(100, 500),
				Param{Name: "q", Desc: "Filter on group names"},
				Param{Name: "f", MaxValues: len(groupFields), Desc: "Comma-separated fields to return: name, description, membersCount, managed"},
				Param{Name: "managed", Values: boolValues, Desc: "Return managed or non-managed groups; only on externally managed instances"},
			), Out: obj{"paging": paging{}, "groups": []groupSearchJSON{}}, Handle: a.searchGroups},
		{Method: "GET", Path: "api/user_groups/users", Summary: "Search active users with their membership of a group.",
			Access: admin, Params: append(pagingParams(25, 500),
				nameParam,
				Param{Name: "q", Desc: "Filter on logins and names"},
				Param{Name: "selected", Values: selectedValues, Default: "selected", Desc: "selected: members; deselected: the others; all: both"},
			), Out: obj{"users": []groupUserJSON{}, "paging": paging{}, "p": 0, "ps": 0, "total": 0}, Handle: a.groupUsers},
	}
}

// groupJSON is a group in create and update answers.
type groupJSON struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description,omitempty"`
	MembersCount int    `json:"membersCount"`
	Default      bool   `json:"default"`
	Managed      bool   `json:"managed"`
}

// membersCounts counts explicit members; sonar-users counts every active
// user, its implicit members.
func (a *API) membersCounts(c *call, groups []identity.Group) (map[int64]int, error) {
	ids := make([]int64, len(groups))
	for i, g := range groups {
		ids[i] = g.ID
	}
	counts, err := a.st.Store().CountMembers(c.ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if g.Name == identity.GroupUsers {
			active := true
			_, n, err := a.st.Store().ListUsers(c.ctx, store.UserFilter{Active: &active, Page: store.Page{Number: 1, Size: 1}})
			if err != nil {
				return nil, err
			}
			counts[g.ID] = n
		}
	}
	return counts, nil
}

// groupAnswer is the answer of a group create or update. Its member
// count is read before the write (a write never changes it): once the write
// has committed, nothing may fail its answer.
func groupAnswer(g identity.Group, members int) any {
	return map[string]any{"group": groupJSON{
		ID: idString(g.ID), Name: g.Name, Description: g.Description, MembersCount: members,
		Default: g.Name == identity.GroupUsers, Managed: g.Source.Managed(),
	}}
}

func (a *API) createGroup(c *call) (any, error) {
	g, err := a.st.CreateGroup(c.ctx, identity.Group{Name: c.str("name"), Description: c.str("description")})
	if err != nil {
		return nil, err
	}
	return groupAnswer(g, 0), nil // a new group has no members
}

func (a *API) deleteGroup(c *call) (any, error) {
	return nil, a.st.DeleteGroup(c.ctx, c.str("name"))
}

func (a *API) updateGroup(c *call) (any, error) {
	current := c.str("currentName")
	members := 0
	if old, err := a.st.Store().GetGroupByName(c.ctx, current); err == nil {
		counts, err := a.membersCounts(c, []identity.Group{old})
		if err != nil {
			return nil, err
		}
		members = counts[old.ID]
	} else if !errors.Is(err, identity.ErrNotFound) {
		return nil, err
	} // a missing group: the update answers its 404
	g, err := a.editGroup(c, current, state.GroupUpdate{Name: c.opt("name"), Description: c.opt("description")})
	if err != nil {
		return nil, err
	}
	return groupAnswer(g, members), nil
}

// editGroup renames a group or changes its description (v1 update, v2
// PATCH); the state refuses the default group's.
func (a *API) editGroup(c *call, current string, upd state.GroupUpdate) (identity.Group, error) {
	return a.st.UpdateGroup(c.ctx, current, upd)
}

// memberLogin returns the login parameter, which add_user and remove_user
// need although SonarQube declares it optional.
func memberLogin(c *call) (string, error) {
	login := c.str("login")
	if strings.TrimSpace(login) == "" {
		return "", badRequest("The 'login' parameter is missing")
	}
	return login, nil
}

func (a *API) addGroupMember(c *call) (any, error) {
	login, err := memberLogin(c)
	if err != nil {
		return nil, err
	}
	return nil, a.join(c, c.str("name"), login)
}

// join adds an active user to a group (v1 add_user, v2 membership POST).
func (a *API) join(c *call, group, login string) error {
	if _, err := a.activeUser(c, login, "Could not find a user with login '%s'"); err != nil {
		return err
	}
	return a.st.AddMember(c.ctx, group, login)
}

func (a *API) removeGroupMember(c *call) (any, error) {
	login, err := memberLogin(c)
	if err != nil {
		return nil, err
	}
	// Deactivated users may still be removed: their memberships are kept.
	if _, err := a.st.Store().GetUserByLogin(c.ctx, login); errors.Is(err, identity.ErrNotFound) {
		return nil, identity.Errorf(identity.ErrNotFound, "Could not find a user with login '%s'", login)
	} else if err != nil {
		return nil, err
	}
	return nil, a.st.RemoveMember(c.ctx, c.str("name"), login)
}

// groupSearchJSON is a group in api/user_groups/search; f selects fields.
type groupSearchJSON struct {
	Name         string `json:"name,omitempty"`
	Description  string `json:"description,omitempty"`
	MembersCount *int   `json:"membersCount,omitempty"`
	Default      bool   `json:"default"`
	Managed      *bool  `json:"managed,omitempty"`
}

func (a *API) searchGroups(c *call) (any, error) {
	fields := c.list("f")
	for _, f := range fields {
		if !slices.Contains(groupFields, f) {
			return nil, badRequest(fmt.Sprintf("Value of parameter 'f' (%s) must be one of: [%s]", f, strings.Join(groupFields, ", ")))
		}
	}
	if len(fields) == 0 {
		fields = groupFields
	}
	p, ps := c.page()
	f := store.GroupFilter{Query: c.str("q"), Page: store.Page{Number: p, Size: ps}}
	if managed, set := c.boolean("managed"); set {
		ext, err := a.st.ExternallyManaged(c.ctx)
		if err != nil {
			return nil, err
		}
		// As in SonarQube, only asking for managed groups is an error on an
		// instance without any.
		if managed && !ext {
			return nil, badRequest("The 'managed' parameter is only available for managed instances.")
		}
		f.Managed = &managed
	}
	groups, total, err := a.st.Store().ListGroups(c.ctx, f)
	if err != nil {
		return nil, err
	}
	counts, err := a.membersCounts(c, groups)
	if err != nil {
		return nil, err
	}
	out := make([]groupSearchJSON, 0, len(groups))
	for _, g := range groups {
		j := groupSearchJSON{Default: g.Name == identity.GroupUsers}
		if slices.Contains(fields, "name") {
			j.Name = g.Name
		}
		if slices.Contains(fields, "description") {
			j.Description = g.Description
		}
		if slices.Contains(fields, "membersCount") {
			n := counts[g.ID]
			j.MembersCount = &n
		}
		if slices.Contains(fields, "managed") {
			m := g.Source.Managed()
			j.Managed = &m
		}
		out = append(out, j)
	}
	return map[string]any{"paging": paging{PageIndex: p, PageSize: ps, Total: total}, "groups": out}, nil
}

type groupUserJSON struct {
	Login    string `json:"login"`
	Name     string `json:"name"`
	Selected bool   `json:"selected"`
	Managed  bool   `json:"managed"`
}

func (a *API) groupUsers(c *call) (any, error) {
	name := c.str("name")
	g, err := a.st.Store().GetGroupByName(c.ctx, name)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, identity.Errorf(identity.ErrNotFound, "No group with name '%s'", name)
	}
	if err != nil {
		return nil, err
	}
	p, ps := c.page()
	sel := c.str("selected")
	everyone := g.Name == identity.GroupUsers
	member := map[int64]bool{}
	if !everyone {
		ms, err := a.st.Store().ListMemberships(c.ctx, 0, g.ID)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			member[m.UserID] = true
		}
	}
	active := true
	f := store.UserFilter{Active: &active}
	if sel == "selected" && !everyone {
		if len(member) == 0 {
			return groupUsersAnswer(nil, p, ps), nil
		}
		for id := range member {
			f.IDs = append(f.IDs, id)
		}
	}
	if sel == "deselected" && everyone {
		return groupUsersAnswer(nil, p, ps), nil
	}
	users, _, err := a.st.Store().ListUsers(c.ctx, f)
	if err != nil {
		return nil, err
	}
	q := strings.ToLower(c.str("q"))
	var matched []groupUserJSON
	for _, u := range users {
		if q != "" && !strings.Contains(strings.ToLower(u.Login), q) && !strings.Contains(strings.ToLower(u.Name), q) {
			continue
		}
		in := everyone || member[u.ID]
		if sel == "selected" && !in || sel == "deselected" && in {
			continue
		}
		matched = append(matched, groupUserJSON{Login: u.Login, Name: u.Name, Selected: in, Managed: u.Source.Managed()})
	}
	return groupUsersAnswer(matched, p, ps), nil
}

// groupUsersAnswer keeps SonarQube's deprecated top-level p, ps and total
// beside the paging object: older clients read them.
func groupUsersAnswer(matched []groupUserJSON, p, ps int) map[string]any {
	return map[string]any{
		"users":  nonNilSlice(pageOf(matched, p, ps)),
		"paging": paging{PageIndex: p, PageSize: ps, Total: len(matched)},
		"p":      p, "ps": ps, "total": len(matched),
	}
}
