package webapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// tmplRefParams select a template by id or by name (exactly one).
var tmplRefParams = []Param{
	{Name: "templateId", Desc: "Template id (Gatehouse's numeric id)"},
	{Name: "templateName", Desc: "Template name (case insensitive)"},
}

// tmplPermParam is a project permission of a template action.
func tmplPermParam(required bool) Param {
	return Param{Name: "permission", Required: required, Values: projectPermissionKeys(), Desc: "Project permission"}
}

func projectPermissionKeys() []string {
	out := make([]string, len(identity.ProjectPermissions))
	for i, p := range identity.ProjectPermissions {
		out[i] = string(p)
	}
	return out
}

func (a *API) templateRoutes() []Route {
	withRef := func(ps ...Param) []Param { return append(ps, tmplRefParams...) }
	login := Param{Name: "login", Required: true, Desc: "User login"}
	group := Param{Name: "groupName", Required: true, Desc: "Group name, or 'Anyone' (case insensitive)"}
	listing := withRef(append([]Param{tmplPermParam(false), {Name: "q", MinLen: 3, Desc: "Limit to names (and logins, e-mails) containing this text"}}, pagingParams(20, 100)...)...)
	grantRoute := func(path, summary string, subject *Param, kind identity.SubjectKind, add bool) Route {
		ps := []Param{tmplPermParam(true)}
		if subject != nil {
			ps = append([]Param{*subject}, ps...)
		}
		return Route{Method: http.MethodPost, Path: path, Summary: summary, Access: admin, Params: withRef(ps...), Response: "empty",
			Handle: func(c *call) (any, error) { return a.tmplEditGrant(c, kind, add) }}
	}
	return []Route{
		{Method: http.MethodPost, Path: "api/permissions/create_template", Summary: "Create a permission template.", Access: admin, Params: []Param{
			{Name: "name", Required: true, MaxLen: identity.MaxTemplateNameLen, Desc: "Template name"},
			{Name: "description", MaxLen: identity.MaxTemplateDescLen, Desc: "Description"},
			{Name: "projectKeyPattern", MaxLen: identity.MaxPatternLen, Desc: "Regular expression matched against whole project keys"},
		}, Out: obj{"permissionTemplate": tmplJSON{}}, Handle: a.tmplCreate},
		{Method: http.MethodPost, Path: "api/permissions/update_template", Summary: "Update a permission template.", Access: admin, Params: []Param{
			{Name: "id", Required: true, Desc: "Template id"},
			{Name: "name", MaxLen: identity.MaxTemplateNameLen, Desc: "Template name"},
			{Name: "description", MaxLen: identity.MaxTemplateDescLen, Desc: "Description"},
			{Name: "projectKeyPattern", MaxLen: identity.MaxPatternLen, Desc: "Regular expression matched against whole project keys"},
		}, Out: obj{"permissionTemplate": tmplJSON{}}, Handle: a.tmplUpdate},
		{Method: http.MethodPost, Path: "api/permissions/delete_template", Summary: "Delete a permission template; the default one cannot be deleted.", Access: admin, Params: tmplRefParams, Response: "empty", Handle: a.tmplDelete},
		{Method: http.MethodGet, Path: "api/permissions/search_templates", Summary: "List permission templates with their permission counts, the default template and the permission catalogue.", Access: admin, Params: []Param{
			{Name: "q", Desc: "Limit to template names containing this text"},
			{Name: "p", Int: true, Desc: "1-based page number (paging is optional)"},
			{Name: "ps", Int: true, MaxInt: 500, Desc: "Page size (paging is optional)"},
		}, Out: obj{"paging?": paging{}, "permissionTemplates": []tmplSearchJSON{}, "defaultTemplates": []obj{{"templateId": "", "qualifier": ""}}, "permissions": []permissionInfo{}}, Handle: a.tmplSearch},
		{Method: http.MethodPost, Path: "api/permissions/apply_template", Summary: "Replace a project's permissions with a template's.", Access: admin, Params: withRef(permProjectParams...), Response: "empty", Handle: a.tmplApply},
		{Method: http.MethodPost, Path: "api/permissions/bulk_apply_template", Summary: "Apply a template to many projects; managed projects are skipped.", Access: admin, Params: withRef(
			Param{Name: "analyzedBefore", Desc: "Only projects last analysed before this date (YYYY-MM-DD or datetime)"},
			Param{Name: "onProvisionedOnly", Values: boolValues, Default: "false", Desc: "Only projects never analysed"},
			Param{Name: "projects", MaxValues: 1000, Desc: "Comma-separated project keys"},
			Param{Name: "q", Desc: "Limit to project names or keys containing this text"},
			Param{Name: "qualifiers", Values: []string{"TRK"}, Default: "TRK", Desc: "Component qualifiers"},
			Param{Name: "visibility", Values: []string{"private", "public"}, Desc: "Only projects of this visibility"},
		), Response: "empty", Handle: a.tmplBulkApply},
		grantRoute("api/permissions/add_user_to_template", "Add a user grant to a template.", &login, identity.SubjectUser, true),
		grantRoute("api/permissions/remove_user_from_template", "Remove a user grant from a template.", &login, identity.SubjectUser, false),
		grantRoute("api/permissions/add_group_to_template", "Add a group grant to a template.", &group, identity.SubjectGroup, true),
		grantRoute("api/permissions/remove_group_from_template", "Remove a group grant from a template.", &group, identity.SubjectGroup, false),
		grantRoute("api/permissions/add_project_creator_to_template", "Give a permission to the creator of each project the template is applied to at creation.", nil, identity.SubjectCreator, true),
		grantRoute("api/permissions/remove_project_creator_from_template", "Remove a project-creator permission from a template.", nil, identity.SubjectCreator, false),
		{Method: http.MethodPost, Path: "api/permissions/set_default_template", Summary: "Make a template the default for new projects.", Access: admin, Params: withRef(
			Param{Name: "qualifier", Values: []string{"TRK"}, Default: "TRK", Desc: "Component qualifier"},
		), Response: "empty", Handle: a.tmplSetDefault},
		{Method: http.MethodGet, Path: "api/permissions/template_users", Summary: "Users with permissions in a template.", Access: admin, Params: listing, Out: obj{"paging": paging{}, "users": []tmplUserJSON{}}, Handle: a.tmplUsers},
		{Method: http.MethodGet, Path: "api/permissions/template_groups", Summary: "Groups with permissions in a template; Anyone first.", Access: admin, Params: listing, Out: obj{"paging": paging{}, "groups": []tmplGroupJSON{}}, Handle: a.tmplGroups},
	}
}

// tmplRef resolves templateId or templateName, exactly one of which must be
// given.
func (a *API) tmplRef(c *call) (identity.Template, error) {
	id, name := c.str("templateId"), c.str("templateName")
	if (id == "") == (name == "") {
		return identity.Template{}, badRequest("Template name or template id must be provided, not both.")
	}
	if name != "" {
		t, err := a.st.Store().GetTemplateByName(c.ctx, name)
		if errors.Is(err, identity.ErrNotFound) {
			return t, errorf(http.StatusNotFound, fmt.Sprintf("Permission template with name '%s' is not found (case insensitive)", name))
		}
		return t, err
	}
	return a.tmplByID(c, id)
}

func (a *API) tmplByID(c *call, id string) (identity.Template, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err == nil && n > 0 {
		t, err := a.st.Store().GetTemplate(c.ctx, n)
		if !errors.Is(err, identity.ErrNotFound) {
			return t, err
		}
	}
	return identity.Template{}, errorf(http.StatusNotFound, fmt.Sprintf("Permission template with id '%s' is not found", id))
}

// tmplJSON is a permission template as create, update and search answer it.
type tmplJSON struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	Description       string `json:"description,omitempty"`
	ProjectKeyPattern string `json:"projectKeyPattern,omitempty"`
	CreatedAt         string `json:"createdAt"`
	UpdatedAt         string `json:"updatedAt"`
}

func viewTmpl(t identity.Template) tmplJSON {
	return tmplJSON{
		ID: idString(t.ID), Name: t.Name, Description: t.Description, ProjectKeyPattern: t.KeyPattern,
		CreatedAt: formatTime(t.CreatedAt), UpdatedAt: formatTime(t.UpdatedAt),
	}
}

func (a *API) tmplCreate(c *call) (any, error) {
	t, err := a.st.CreateTemplate(c.ctx, identity.Template{
		Name: strings.TrimSpace(c.str("name")), Description: c.str("description"), KeyPattern: c.str("projectKeyPattern"),
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"permissionTemplate": viewTmpl(t)}, nil
}

func (a *API) tmplUpdate(c *call) (any, error) {
	old, err := a.tmplByID(c, c.str("id"))
	if err != nil {
		return nil, err
	}
	upd := state.TemplateUpdate{Description: c.opt("description"), KeyPattern: c.opt("projectKeyPattern")}
	// An empty name keeps the current one, as SonarQube does.
	if name := strings.TrimSpace(c.str("name")); name != "" {
		upd.Name = &name
	}
	t, err := a.st.UpdateTemplate(c.ctx, old.ID, upd)
	if err != nil {
		return nil, err
	}
	return map[string]any{"permissionTemplate": viewTmpl(t)}, nil
}

func (a *API) tmplDelete(c *call) (any, error) {
	t, err := a.tmplRef(c)
	if err != nil {
		return nil, err
	}
	return nil, a.st.DeleteTemplate(c.ctx, t.ID)
}

// tmplPermCount is one permission of a template in search_templates.
type tmplPermCount struct {
	Key                string `json:"key"`
	UsersCount         int    `json:"usersCount"`
	GroupsCount        int    `json:"groupsCount"`
	WithProjectCreator bool   `json:"withProjectCreator"`
}

// tmplSearchJSON is a template with its permission counts.
type tmplSearchJSON struct {
	tmplJSON
	Permissions []tmplPermCount `json:"permissions"`
}

// permissionInfo describes a project permission, as search_templates lists
// the catalogue.
type permissionInfo struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// projectPermissionCatalogue holds SonarQube's names and descriptions of the
// project permissions, in its order.
var projectPermissionCatalogue = []permissionInfo{
	{Key: "admin", Name: "Administer", Description: "Access project settings and perform administration tasks. (Users will also need \"Browse\" permission)"},
	{Key: "codeviewer", Name: "See Source Code", Description: "View the project's source code. (Users will also need \"Browse\" permission)"},
	{Key: "issueadmin", Name: "Administer Issues", Description: "Grants the permission to perform advanced editing on issues: marking an issue False Positive / Accepted or changing an issue's severity. (Users will also need \"Browse\" permission)"},
	{Key: "securityhotspotadmin", Name: "Administer Security Hotspots", Description: "Detect a Vulnerability from a \"Security Hotspot\". Reject, clear, accept, reopen a \"Security Hotspot\" (users also need \"Browse\" permissions)."},
	{Key: "scan", Name: "Execute Analysis", Description: "Ability to get all settings required to perform an analysis (including the secured settings like passwords) and to push analysis results to the server."},
	{Key: "user", Name: "Browse", Description: "Access a project, browse its measures, and create/edit issues for it."},
}

func (a *API) tmplSearch(c *call) (any, error) {
	all, err := a.st.Store().ListTemplates(c.ctx)
	if err != nil {
		return nil, err
	}
	q := strings.ToLower(c.str("q"))
	var matched []identity.Template
	for _, t := range all {
		if q == "" || strings.Contains(strings.ToLower(t.Name), q) {
			matched = append(matched, t)
		}
	}
	body := map[string]any{}
	// Paging is optional (SonarQube 2026.2): without p or ps, every template.
	if c.has("p") || c.has("ps") {
		p, ps := c.integer("p"), c.integer("ps")
		if p < 1 {
			p = 1
		}
		if ps < 1 {
			ps = 100
		}
		total := len(matched)
		matched = pageOf(matched, p, ps)
		body["paging"] = paging{PageIndex: p, PageSize: ps, Total: total}
	}
	out := make([]tmplSearchJSON, 0, len(matched))
	for _, t := range matched {
		j := tmplSearchJSON{tmplJSON: viewTmpl(t)}
		for _, perm := range identity.ProjectPermissions {
			pc := tmplPermCount{Key: string(perm)}
			for _, g := range t.Grants {
				if g.Permission != perm {
					continue
				}
				switch g.Subject.Kind {
				case identity.SubjectUser:
					pc.UsersCount++
				case identity.SubjectGroup, identity.SubjectAnyone:
					pc.GroupsCount++
				case identity.SubjectCreator:
					pc.WithProjectCreator = true
				}
			}
			j.Permissions = append(j.Permissions, pc)
		}
		out = append(out, j)
	}
	def, err := a.st.DefaultTemplateID(c.ctx)
	if err != nil {
		return nil, err
	}
	body["permissionTemplates"] = out
	body["defaultTemplates"] = []map[string]string{{"templateId": idString(def), "qualifier": "TRK"}}
	body["permissions"] = projectPermissionCatalogue
	return body, nil
}

func (a *API) tmplApply(c *call) (any, error) {
	t, err := a.tmplRef(c)
	if err != nil {
		return nil, err
	}
	if c.str("projectId") == "" && c.str("projectKey") == "" {
		return nil, badRequest("Project id or project key can be provided, not both.")
	}
	proj, err := a.permProject(c)
	if err != nil {
		return nil, err
	}
	_, err = a.st.ApplyTemplate(c.ctx, t.ID, []int64{proj.ID}, false)
	return nil, err
}

func (a *API) tmplBulkApply(c *call) (any, error) {
	t, err := a.tmplRef(c)
	if err != nil {
		return nil, err
	}
	analysed, err := parseAnalyzedBefore(c.str("analyzedBefore"))
	if err != nil {
		return nil, err
	}
	if analysed {
		// Gatehouse records no analyses: no project was analysed before any
		// date, so the filter selects nothing.
		return nil, nil
	}
	f := store.ProjectFilter{Query: c.str("q"), Visibility: identity.Visibility(c.str("visibility"))}
	if c.str("projects") != "" {
		f.Keys = c.list("projects")
	}
	projects, _, err := a.st.Store().ListProjects(c.ctx, f)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(projects))
	for i, p := range projects {
		ids[i] = p.ID
	}
	if len(ids) == 0 {
		return nil, nil
	}
	_, err = a.st.ApplyTemplate(c.ctx, t.ID, ids, true)
	return nil, err
}

func (a *API) tmplSetDefault(c *call) (any, error) {
	t, err := a.tmplRef(c)
	if err != nil {
		return nil, err
	}
	return nil, a.st.SetDefaultTemplate(c.ctx, t.ID)
}

// tmplEditGrant adds or removes one grant of a template for a user, a group
// (or Anyone) or the project creator.
func (a *API) tmplEditGrant(c *call, kind identity.SubjectKind, add bool) (any, error) {
	t, err := a.tmplRef(c)
	if err != nil {
		return nil, err
	}
	perm := identity.Permission(c.str("permission"))
	var sub identity.Subject
	switch kind {
	case identity.SubjectUser:
		u, err := a.st.ActiveUser(c.ctx, c.str("login"))
		if err != nil {
			return nil, err
		}
		sub = identity.UserSubject(u.ID)
	case identity.SubjectGroup:
		if sub, _, err = a.st.GroupSubject(c.ctx, c.str("groupName")); err != nil {
			return nil, err
		}
	default:
		sub = identity.Subject{Kind: identity.SubjectCreator}
	}
	return nil, a.st.EditTemplateGrant(c.ctx, t.ID, identity.TemplateGrant{Subject: sub, Permission: perm}, add)
}

// tmplHolders loads a template's grants (project creator aside) for the
// listings, with the permission filter.
func tmplHolders(c *call, t identity.Template) *permHolders {
	h := newPermHolders()
	h.perm = identity.Permission(c.str("permission"))
	for _, g := range t.Grants {
		if g.Subject.Kind != identity.SubjectCreator {
			h.add(g.Subject, g.Permission)
		}
	}
	return h
}

// tmplUserJSON is a user of template_users; SonarQube sends no managed flag
// there.
type tmplUserJSON struct {
	Login       string   `json:"login"`
	Name        string   `json:"name"`
	Email       string   `json:"email,omitempty"`
	Avatar      string   `json:"avatar,omitempty"`
	Permissions []string `json:"permissions"`
}

// tmplGroupJSON is a group of template_groups; Anyone has no id.
type tmplGroupJSON struct {
	ID          string   `json:"id,omitempty"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Permissions []string `json:"permissions"`
}

// Without a text query, template listings show only subjects with a
// permission in the template (SonarQube's behaviour); with one, everyone
// matching, holders first.
func (a *API) tmplUsers(c *call) (any, error) {
	t, err := a.tmplRef(c)
	if err != nil {
		return nil, err
	}
	h := tmplHolders(c, t)
	q := c.str("q")
	p, ps := c.page()
	users, total, err := a.permPageUsers(c.ctx, q, h, q == "" || h.perm != "", p, ps)
	if err != nil {
		return nil, err
	}
	out := make([]tmplUserJSON, 0, len(users))
	for _, u := range users {
		out = append(out, tmplUserJSON{Login: u.Login, Name: u.Name, Email: u.Email, Avatar: permAvatar(u.Email), Permissions: h.of(identity.UserSubject(u.ID))})
	}
	return map[string]any{"paging": paging{PageIndex: p, PageSize: ps, Total: total}, "users": out}, nil
}

func (a *API) tmplGroups(c *call) (any, error) {
	t, err := a.tmplRef(c)
	if err != nil {
		return nil, err
	}
	h := tmplHolders(c, t)
	q := c.str("q")
	p, ps := c.page()
	onlyHolders := q == "" || h.perm != ""
	anyone := permAnyoneMatches(q) && (h.holds(identity.Anyone) || !onlyHolders)
	groups, total, err := a.permPageGroups(c.ctx, q, h, onlyHolders, anyone, p, ps)
	if err != nil {
		return nil, err
	}
	out := make([]tmplGroupJSON, 0, len(groups))
	for _, g := range groups {
		if g.ID == 0 {
			out = append(out, tmplGroupJSON{Name: identity.GroupAnyone, Permissions: h.of(identity.Anyone)})
			continue
		}
		out = append(out, tmplGroupJSON{ID: idString(g.ID), Name: g.Name, Description: g.Description, Permissions: h.of(identity.GroupSubject(g.ID))})
	}
	return map[string]any{"paging": paging{PageIndex: p, PageSize: ps, Total: total}, "groups": out}, nil
}
