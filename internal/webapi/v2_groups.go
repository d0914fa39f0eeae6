package webapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const (
	v2Groups      = "api/v2/authorizations/groups"
	v2Memberships = "api/v2/authorizations/group-memberships"
)

func (a *API) v2GroupRoutes() []v2Route {
	body := map[string]string{"name": "string", "description": "string"}
	return []v2Route{
		{Method: "GET", Pattern: v2Groups, Summary: "Search groups (v2).",
			Access: admin, Status: http.StatusOK, Query: append(v2PagingParams(50, 500),
				Param{Name: "q", Desc: "Filter on group names"},
				Param{Name: "managed", Values: boolValues, Desc: "Managed or non-managed groups; only on externally managed instances"},
				Param{Name: "userId", Desc: "Only the groups of this user"},
			), Out: obj{"groups": []v2GroupJSON{}, "page": v2Page{}}, Handle: a.v2SearchGroups},
		{Method: "POST", Pattern: v2Groups, Summary: "Create a local group (v2). \"Anyone\" is reserved.",
			Access: admin, Status: http.StatusOK, Body: body, Required: []string{"name"}, Out: v2GroupJSON{}, Handle: a.v2CreateGroup},
		{Method: "GET", Pattern: v2Groups + "/{id}", Summary: "A group by id (v2).",
			Access: admin, Status: http.StatusOK, Out: v2GroupJSON{}, Handle: a.v2GetGroup},
		{Method: "PATCH", Pattern: v2Groups + "/{id}", Summary: "Rename a group or change its description (v2, JSON merge patch; null clears the description). The default group is not editable.",
			Access: admin, Status: http.StatusOK, Body: body, Out: v2GroupJSON{}, Handle: a.v2PatchGroup},
		{Method: "DELETE", Pattern: v2Groups + "/{id}", Summary: "Delete a group with its memberships and permissions (v2). The default group and managed groups cannot be deleted.",
			Access: admin, Status: http.StatusNoContent, Handle: a.v2DeleteGroup},
	}
}

func (a *API) v2MembershipRoutes() []v2Route {
	return []v2Route{
		{Method: "GET", Pattern: v2Memberships, Summary: "Search the explicit group memberships (v2) by userId and groupId; sonar-users' implicit ones are not listed.",
			Access: admin, Status: http.StatusOK, Query: append(v2PagingParams(50, 500),
				Param{Name: "userId", Desc: "Only this user's memberships"},
				Param{Name: "groupId", Desc: "Only this group's memberships"},
			), Out: obj{"groupMemberships": []v2MembershipJSON{}, "page": v2Page{}}, Handle: a.v2SearchMemberships},
		{Method: "POST", Pattern: v2Memberships, Summary: "Add a user to a group (v2); takes effect at the next decision.",
			Access: admin, Status: http.StatusOK, Body: map[string]string{"groupId": "string", "userId": "string"}, Required: []string{"groupId", "userId"},
			Out: v2MembershipJSON{}, Handle: a.v2CreateMembership},
		{Method: "DELETE", Pattern: v2Memberships + "/{id}", Summary: "Remove a user from a group (v2); takes effect at the next decision.",
			Access: admin, Status: http.StatusNoContent, Handle: a.v2DeleteMembership},
	}
}

// v2GroupJSON is a group of the v2 API.
type v2GroupJSON struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
	Managed     bool    `json:"managed"`
	Default     bool    `json:"default"`
}

func viewV2Group(g identity.Group) v2GroupJSON {
	return v2GroupJSON{ID: idString(g.ID), Name: g.Name, Description: optString(g.Description), Managed: g.Source.Managed(), Default: g.Name == identity.GroupUsers}
}

// v2GroupByRawID loads a group by the id of a parameter or body field.
func (a *API) v2GroupByRawID(c *call, raw string) (identity.Group, error) {
	notFound := errorf(http.StatusNotFound, "Group '"+clip(raw)+"' not found")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return identity.Group{}, notFound
	}
	g, err := a.st.Store().GetGroup(c.ctx, id)
	if errors.Is(err, identity.ErrNotFound) {
		return g, notFound
	}
	return g, err
}

// v2UserByRawID loads a user by the id of a parameter or body field.
func (a *API) v2UserByRawID(c *call, raw string) (identity.User, error) {
	notFound := errorf(http.StatusNotFound, "User '"+clip(raw)+"' not found")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return identity.User{}, notFound
	}
	u, err := a.st.Store().GetUser(c.ctx, id)
	if errors.Is(err, identity.ErrNotFound) {
		return u, notFound
	}
	return u, err
}

func (a *API) v2SearchGroups(c *call) (any, error) {
	f := store.GroupFilter{Query: c.str("q")}
	if managed, set := c.boolean("managed"); set {
		ext, err := a.st.ExternallyManaged(c.ctx)
		if err != nil {
			return nil, err
		}
		if managed && !ext {
			return nil, badRequest("The 'managed' parameter is only available for managed instances.")
		}
		f.Managed = &managed
	}
	p, ps := c.v2Page()
	var groups []identity.Group
	var total int
	if raw := c.str("userId"); raw != "" {
		u, err := a.v2UserByRawID(c, raw)
		if err != nil {
			return nil, err
		}
		all, _, err := a.st.Store().ListGroups(c.ctx, f)
		if err != nil {
			return nil, err
		}
		ms, err := a.st.Store().ListMemberships(c.ctx, u.ID, 0)
		if err != nil {
			return nil, err
		}
		member := map[int64]bool{}
		for _, m := range ms {
			member[m.GroupID] = true
		}
		matched := all[:0]
		for _, g := range all {
			if member[g.ID] || g.Name == identity.GroupUsers && u.Active {
				matched = append(matched, g)
			}
		}
		total, groups = len(matched), pageOf(matched, p, ps)
	} else {
		f.Page = store.Page{Number: p, Size: ps}
		var err error
		if groups, total, err = a.st.Store().ListGroups(c.ctx, f); err != nil {
			return nil, err
		}
	}
	out := make([]v2GroupJSON, 0, len(groups))
	for _, g := range groups {
		out = append(out, viewV2Group(g))
	}
	return map[string]any{"groups": out, "page": v2Page{PageIndex: p, PageSize: ps, Total: total}}, nil
}

type v2NewGroup struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

var v2GroupChecks = &Route{Params: []Param{
	{Name: "name", MaxLen: identity.MaxGroupNameLen},
	{Name: "description", MaxLen: identity.MaxGroupDescriptionLen},
}}

func (a *API) v2CreateGroup(c *call) (any, error) {
	var b v2NewGroup
	if err := c.jsonBody(&b); err != nil {
		return nil, err
	}
	if strings.TrimSpace(b.Name) == "" {
		return nil, badRequest("The 'name' field is missing")
	}
	if err := v2GroupChecks.validate(map[string][]string{"name": {b.Name}, "description": {b.Description}}); err != nil {
		return nil, err
	}
	g, err := a.st.CreateGroup(c.ctx, identity.Group{Name: b.Name, Description: b.Description})
	if err != nil {
		return nil, err
	}
	return viewV2Group(g), nil
}

func (a *API) v2GetGroup(c *call) (any, error) {
	g, err := a.v2GroupByRawID(c, c.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return viewV2Group(g), nil
}

func (a *API) v2PatchGroup(c *call) (any, error) {
	g, err := a.v2GroupByRawID(c, c.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	m, err := c.mergePatch()
	if err != nil {
		return nil, err
	}
	var upd state.GroupUpdate
	if upd.Name, err = patchString(m, "name", false); err != nil {
		return nil, err
	}
	if upd.Description, err = patchString(m, "description", true); err != nil {
		return nil, err
	}
	form := map[string][]string{}
	for name, v := range map[string]*string{"name": upd.Name, "description": upd.Description} {
		if v != nil {
			form[name] = []string{*v}
		}
	}
	if err := v2GroupChecks.validate(form); err != nil {
		return nil, err
	}
	if g, err = a.editGroup(c, g.Name, upd); err != nil {
		return nil, err
	}
	return viewV2Group(g), nil
}

func (a *API) v2DeleteGroup(c *call) (any, error) {
	g, err := a.v2GroupByRawID(c, c.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return nil, a.st.DeleteGroup(c.ctx, g.Name)
}

// v2MembershipJSON is a group membership of the v2 API. Gatehouse keys a
// membership by its group and user, so its id is "<groupId>-<userId>".
type v2MembershipJSON struct {
	ID      string `json:"id"`
	GroupID string `json:"groupId"`
	UserID  string `json:"userId"`
}

func viewV2Membership(groupID, userID int64) v2MembershipJSON {
	return v2MembershipJSON{ID: idString(groupID) + "-" + idString(userID), GroupID: idString(groupID), UserID: idString(userID)}
}

func (a *API) v2SearchMemberships(c *call) (any, error) {
	var userID, groupID int64
	if raw := c.str("userId"); raw != "" {
		u, err := a.v2UserByRawID(c, raw)
		if err != nil {
			return nil, err
		}
		userID = u.ID
	}
	if raw := c.str("groupId"); raw != "" {
		g, err := a.v2GroupByRawID(c, raw)
		if err != nil {
			return nil, err
		}
		groupID = g.ID
	}
	ms, err := a.st.Store().ListMemberships(c.ctx, userID, groupID)
	if err != nil {
		return nil, err
	}
	p, ps := c.v2Page()
	out := []v2MembershipJSON{}
	for _, m := range pageOf(ms, p, ps) {
		out = append(out, viewV2Membership(m.GroupID, m.UserID))
	}
	return map[string]any{"groupMemberships": out, "page": v2Page{PageIndex: p, PageSize: ps, Total: len(ms)}}, nil
}

type v2NewMembership struct {
	GroupID string `json:"groupId"`
	UserID  string `json:"userId"`
}

func (a *API) v2CreateMembership(c *call) (any, error) {
	var b v2NewMembership
	if err := c.jsonBody(&b); err != nil {
		return nil, err
	}
	for field, v := range map[string]string{"groupId": b.GroupID, "userId": b.UserID} {
		if strings.TrimSpace(v) == "" {
			return nil, badRequest("The '" + field + "' field is missing")
		}
	}
	g, err := a.v2GroupByRawID(c, b.GroupID)
	if err != nil {
		return nil, err
	}
	u, err := a.v2UserByRawID(c, b.UserID)
	if err != nil {
		return nil, err
	}
	if err := a.join(c, g.Name, u.Login); err != nil {
		return nil, err
	}
	return viewV2Membership(g.ID, u.ID), nil
}

func (a *API) v2DeleteMembership(c *call) (any, error) {
	raw := c.r.PathValue("id")
	notFound := errorf(http.StatusNotFound, "Group membership '"+clip(raw)+"' not found")
	gRaw, uRaw, ok := strings.Cut(raw, "-")
	if !ok {
		return nil, notFound
	}
	g, err := a.v2GroupByRawID(c, gRaw)
	if err != nil {
		return nil, notFound
	}
	u, err := a.v2UserByRawID(c, uRaw)
	if err != nil {
		return nil, notFound
	}
	ms, err := a.st.Store().ListMemberships(c.ctx, u.ID, g.ID)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, notFound
	}
	return nil, a.st.RemoveMember(c.ctx, g.Name, u.Login)
}
