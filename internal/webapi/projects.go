package webapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// qualifierProject is SonarQube's qualifier of projects, the only kind of
// component Gatehouse knows.
const qualifierProject = "TRK"

var visibilityValues = []string{"private", "public"}

func (a *API) projectRoutes() []Route {
	return append([]Route{
		{Method: http.MethodPost, Path: "api/projects/create", Summary: "Create a project; permission templates are applied, the creator receiving the project-creator grants.", Access: authenticated, Params: []Param{
			{Name: "project", Required: true, MaxLen: identity.MaxProjectKeyLen, Desc: "Project key"},
			{Name: "name", Required: true, Desc: "Project name"},
			{Name: "visibility", Values: visibilityValues, Desc: "Visibility; when absent, the default set by api/projects/update_default_visibility (public unless changed)"},
			{Name: "mainBranch", Desc: "Main branch name (accepted, not used by Gatehouse)"},
			{Name: "newCodeDefinitionType", Desc: "New code definition type (accepted, not used by Gatehouse)"},
			{Name: "newCodeDefinitionValue", Desc: "New code definition value (accepted, not used by Gatehouse)"},
		}, Out: obj{"project": projJSON{}}, Handle: a.projCreate},
		{Method: http.MethodGet, OrgToken: true, Path: "api/projects/search", Summary: "Search projects (Admin); an organization token lists exactly the projects in its scope.", Access: authenticated, Params: append([]Param{
			{Name: "analyzedBefore", Desc: "Only projects last analysed before this date (YYYY-MM-DD or datetime)"},
			{Name: "onProvisionedOnly", Values: boolValues, Default: "false", Desc: "Only projects never analysed"},
			{Name: "projectKeys", MaxValues: 1000, Desc: "Comma-separated project keys"},
			{Name: "projects", MaxValues: 1000, Desc: "Deprecated: use projectKeys"},
			{Name: "q", Desc: "Limit to project names or keys containing this text"},
			{Name: "qualifiers", Default: "TRK", Desc: "Comma-separated qualifiers among TRK, VW, APP"},
			{Name: "visibility", Values: visibilityValues, Desc: "Only projects of this visibility"},
		}, pagingParams(100, 500)...), Out: obj{"paging": paging{}, "components": []projSearchJSON{}}, Handle: a.projSearch},
		{Method: http.MethodPost, Path: "api/projects/delete", Summary: "Delete a project (Admin or project admin).", Access: authenticated, Params: []Param{
			{Name: "project", Required: true, Desc: "Project key"},
		}, Response: "empty", Handle: a.projDelete},
		{Method: http.MethodPost, Path: "api/projects/bulk_delete", Summary: "Delete the projects matching a filter (Admin).", Access: admin, Params: []Param{
			{Name: "analyzedBefore", Desc: "Only projects last analysed before this date (YYYY-MM-DD or datetime)"},
			{Name: "onProvisionedOnly", Values: boolValues, Default: "false", Desc: "Only projects never analysed"},
			{Name: "projects", Desc: "Comma-separated project keys"},
			{Name: "q", Desc: "Limit to project names or keys containing this text"},
			{Name: "qualifiers", Default: "TRK", Desc: "Comma-separated qualifiers among TRK, VW, APP"},
			{Name: "visibility", Values: visibilityValues, Desc: "Only projects of this visibility"},
		}, Response: "empty", Handle: a.projBulkDelete},
		{Method: http.MethodPost, Path: "api/projects/update_visibility", Summary: "Make a project public or private (Admin or project admin).", Access: authenticated, Params: []Param{
			{Name: "project", Required: true, Desc: "Project key"},
			{Name: "visibility", Required: true, Values: visibilityValues, Desc: "New visibility"},
		}, Response: "empty", Handle: a.projUpdateVisibility},
		{Method: http.MethodPost, Path: "api/projects/update_key", Summary: "Change a project's key (Admin or project admin); grants and token scopes follow the project.", Access: authenticated, Params: []Param{
			{Name: "from", Required: true, MaxLen: identity.MaxProjectKeyLen, Desc: "Current project key"},
			{Name: "to", Required: true, MaxLen: identity.MaxProjectKeyLen, Desc: "New project key"},
		}, Response: "empty", Handle: a.projUpdateKey},
		{Method: http.MethodPost, Path: "api/project_tags/set", Summary: "Set a project's tags (Admin or project admin); an empty list removes them.", Access: authenticated, Params: []Param{
			{Name: "project", Required: true, MaxLen: identity.MaxProjectKeyLen, Desc: "Project key"},
			{Name: "tags", MaxValues: identity.MaxTags, Desc: "Comma-separated tags: a-z, 0-9, '+', '-', '#', '.'"},
		}, Response: "empty", Handle: a.projSetTags},
		{Method: http.MethodGet, Path: "api/project_badges/token", Summary: "A project's badge token (browse permission), created on first use.", Access: authenticated, Params: []Param{
			{Name: "project", Required: true, MaxLen: identity.MaxProjectKeyLen, Desc: "Project key"},
		}, Out: obj{"token": ""}, Handle: a.projBadgeToken},
		{Method: http.MethodPost, Path: "api/project_badges/renew_token", Summary: "Replace a project's badge token (Admin or project admin).", Access: authenticated, Params: []Param{
			{Name: "project", Required: true, MaxLen: identity.MaxProjectKeyLen, Desc: "Project key"},
		}, Response: "empty", Handle: a.projRenewBadgeToken},
	}, append(a.myProjectRoutes(), a.componentRoutes()...)...)
}

// projJSON is a project as api/projects/create and components/show answer it.
type projJSON struct {
	Key        string `json:"key"`
	Name       string `json:"name"`
	Qualifier  string `json:"qualifier"`
	Visibility string `json:"visibility"`
}

// componentJSON is a project as api/components/show answers it.
type componentJSON struct {
	projJSON
	Tags []string `json:"tags"`
}

func viewProj(p identity.Project) projJSON {
	return projJSON{Key: p.Key, Name: p.Name, Qualifier: qualifierProject, Visibility: string(p.Visibility)}
}

// projSearchJSON is a component of api/projects/search. Gatehouse records
// no analyses, so lastAnalysisDate is never present.
type projSearchJSON struct {
	Key              string  `json:"key"`
	Name             string  `json:"name"`
	Qualifier        string  `json:"qualifier"`
	Visibility       string  `json:"visibility"`
	LastAnalysisDate *string `json:"lastAnalysisDate,omitempty"`
	Managed          bool    `json:"managed"`
}

func (a *API) projCreate(c *call) (any, error) {
	if !c.authed || !a.st.MayCreateProjects(c.principal) {
		return nil, errForbidden
	}
	p, err := a.st.CreateProject(c.ctx, identity.Project{
		Key: c.str("project"), Name: c.str("name"), Visibility: identity.Visibility(c.str("visibility")),
	}, c.principal.UserID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"project": viewProj(p)}, nil
}

// projQualifiers checks the qualifiers list and reports whether projects
// (TRK) are among them.
func projQualifiers(c *call) (bool, error) {
	allowed := []string{"TRK", "VW", "APP"}
	trk := false
	for _, q := range c.list("qualifiers") {
		if !slices.Contains(allowed, q) {
			return false, badRequest(fmt.Sprintf("Value of parameter 'qualifiers' (%s) must be one of: [TRK, VW, APP]", q))
		}
		trk = trk || q == qualifierProject
	}
	return trk, nil
}

// parseAnalyzedBefore validates analyzedBefore and reports whether it was
// given.
func parseAnalyzedBefore(v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	if _, err := time.Parse(sonarDate, v); err == nil {
		return true, nil
	}
	if _, err := time.Parse(sonarTime, v); err == nil {
		return true, nil
	}
	return false, badRequest(fmt.Sprintf("Date '%s' cannot be parsed as either a date or date+time", v))
}

// projFilter builds the store filter shared by search and bulk_delete. none
// reports that the filter cannot match any project.
func projFilter(c *call) (f store.ProjectFilter, none bool, err error) {
	trk, err := projQualifiers(c)
	if err != nil {
		return f, false, err
	}
	analysed, err := parseAnalyzedBefore(c.str("analyzedBefore"))
	if err != nil {
		return f, false, err
	}
	f = store.ProjectFilter{Query: c.str("q"), Visibility: identity.Visibility(c.str("visibility"))}
	if keys := append(c.list("projectKeys"), c.list("projects")...); len(keys) > 0 {
		f.Keys = keys
	}
	// Gatehouse records no analyses: every project is "provisioned only" and
	// none was analysed before any date.
	return f, !trk || analysed, nil
}

func (a *API) projSearch(c *call) (any, error) {
	f, none, err := projFilter(c)
	if err != nil {
		return nil, err
	}
	if !c.isAdmin() {
		if c.principal.TokenType != identity.TokenOrganization || c.principal.UserID != 0 {
			return nil, errForbidden
		}
		// An organization token sees exactly its scope (SPEC §3).
		f.IDs = append([]int64{}, a.st.Index().ProjectsInScope(c.principal.TokenID)...)
	}
	p, ps := c.page()
	var projects []identity.Project
	total := 0
	if !none {
		f.Page = store.Page{Number: p, Size: ps}
		if projects, total, err = a.st.Store().ListProjects(c.ctx, f); err != nil {
			return nil, err
		}
	}
	out := make([]projSearchJSON, 0, len(projects))
	for _, pr := range projects {
		out = append(out, projSearchJSON{Key: pr.Key, Name: pr.Name, Qualifier: qualifierProject, Visibility: string(pr.Visibility), Managed: pr.Source.Managed()})
	}
	return map[string]any{"paging": paging{PageIndex: p, PageSize: ps, Total: total}, "components": out}, nil
}

// projGet finds a project the caller sees by key, with SonarQube's
// not-found text for a missing one and for one the caller cannot see.
func (a *API) projGet(c *call, key string) (identity.Project, error) {
	p, err := a.st.Store().GetProjectByKey(c.ctx, key)
	if errors.Is(err, identity.ErrNotFound) || err == nil && !c.sees(p.Key) {
		return p, errorf(http.StatusNotFound, fmt.Sprintf("Project '%s' not found", key))
	}
	return p, err
}

func (a *API) projDelete(c *call) (any, error) {
	p, err := a.projGet(c, c.str("project"))
	if err != nil {
		return nil, err
	}
	if !c.permMayAdminister(&p) {
		return nil, errForbidden
	}
	return nil, a.st.DeleteProject(c.ctx, p.Key)
}

func (a *API) projBulkDelete(c *call) (any, error) {
	if c.str("analyzedBefore") == "" && c.str("projects") == "" && c.str("q") == "" {
		return nil, badRequest("At least one parameter among analyzedBefore, projects and q must be provided")
	}
	f, none, err := projFilter(c)
	if err != nil || none {
		return nil, err
	}
	projects, _, err := a.st.Store().ListProjects(c.ctx, f)
	if err != nil {
		return nil, err
	}
	for _, p := range projects {
		if err := a.st.DeleteProject(c.ctx, p.Key); err != nil && !errors.Is(err, identity.ErrNotFound) {
			return nil, err
		}
	}
	return nil, nil
}

func (a *API) projUpdateVisibility(c *call) (any, error) {
	p, err := a.projForAdmin(c, c.str("project"))
	if err != nil {
		return nil, err
	}
	return nil, a.st.SetVisibility(c.ctx, p.Key, identity.Visibility(c.str("visibility")))
}

func (a *API) projUpdateKey(c *call) (any, error) {
	p, err := a.projForAdmin(c, c.str("from"))
	if err != nil {
		return nil, err
	}
	return nil, a.st.SetProjectKey(c.ctx, p.Key, c.str("to"))
}

// projForAdmin loads a project the caller administers; a caller who cannot
// browse it learns nothing of its existence.
func (a *API) projForAdmin(c *call, key string) (*identity.Project, error) {
	p, err := a.st.Store().GetProjectByKey(c.ctx, key)
	if errors.Is(err, identity.ErrNotFound) || err == nil && !c.sees(key) {
		return nil, errorf(http.StatusNotFound, fmt.Sprintf("Component key '%s' not found", key))
	}
	if err != nil {
		return nil, err
	}
	if !c.permMayAdminister(&p) {
		return nil, errForbidden
	}
	return &p, nil
}

func (a *API) projSetTags(c *call) (any, error) {
	p, err := a.projForAdmin(c, c.str("project"))
	if err != nil {
		return nil, err
	}
	return nil, a.st.SetProjectTags(c.ctx, p.Key, c.list("tags"))
}

func (a *API) projBadgeToken(c *call) (any, error) {
	key := c.str("project")
	if !c.isAdmin() && !c.may(identity.PermUser, key) {
		return nil, errorf(http.StatusNotFound, fmt.Sprintf("Component key '%s' not found", key))
	}
	tok, err := a.st.ProjectBadgeToken(c.ctx, key, false)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, fmt.Sprintf("Component key '%s' not found", key))
	}
	if err != nil {
		return nil, err
	}
	return map[string]string{"token": tok}, nil
}

func (a *API) projRenewBadgeToken(c *call) (any, error) {
	p, err := a.projForAdmin(c, c.str("project"))
	if err != nil {
		return nil, err
	}
	_, err = a.st.ProjectBadgeToken(c.ctx, p.Key, true)
	return nil, err
}

func (a *API) componentRoutes() []Route {
	return []Route{
		{Method: http.MethodGet, OrgToken: true, Path: "api/components/show", Summary: "A project the caller may browse; an organization token sees the projects in its scope.", Access: authenticated, Params: []Param{
			{Name: "component", Required: true, Desc: "Project key"},
			{Name: "branch", Desc: "Branch key (Gatehouse knows no branches)"},
			{Name: "pullRequest", Desc: "Pull request id (Gatehouse knows no pull requests)"},
		}, Out: obj{"component": componentJSON{}}, Handle: a.componentShow},
	}
}

func (a *API) componentShow(c *call) (any, error) {
	key := c.str("component")
	// Callers who may not browse the project get the same 404 as for a
	// missing one, so existence does not leak.
	notFound := errorf(http.StatusNotFound, fmt.Sprintf("Component key '%s' not found", key))
	if c.str("branch") != "" || c.str("pullRequest") != "" {
		return nil, notFound
	}
	if !a.componentVisible(c, key) {
		return nil, notFound
	}
	p, err := a.st.Store().GetProjectByKey(c.ctx, key)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	// components/show also carries the tags, as SonarQube's does (the
	// Terraform provider reads them there).
	tags := p.Tags
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{"component": componentJSON{projJSON: viewProj(p), Tags: tags}}, nil
}

// componentVisible reports whether the caller may see a project: browse
// permission, or for an organization token, the project is in its scope
// (the token may carry any subset of permissions, so any one of them
// allowed on the project means the scope covers it).
func (a *API) componentVisible(c *call, key string) bool {
	if c.principal.TokenType == identity.TokenOrganization && c.principal.UserID == 0 {
		for _, perm := range identity.ProjectPermissions {
			if a.st.Index().Decide(c.principal, perm, key).Allowed {
				return true
			}
		}
		return false
	}
	return c.may(identity.PermUser, key)
}
