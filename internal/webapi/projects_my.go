package webapi

import (
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// myProjectRoutes are the project listings of the caller's own rights and
// the instance's project defaults.
func (a *API) myProjectRoutes() []Route {
	return []Route{
		{Method: http.MethodGet, Path: "api/projects/search_my_projects", Summary: "The projects the caller administers, paged.",
			Access: authenticated, Params: pagingParams(100, 500), Out: obj{"paging": paging{}, "projects": []myProjectJSON{}}, Handle: a.projSearchMine},
		{Method: http.MethodGet, OrgToken: true, Path: "api/projects/search_my_scannable_projects", Summary: "The projects the caller may analyse (scan); an organization token's are those of its scope it carries scan on.",
			Access: authenticated, Params: []Param{
				{Name: "q", MaxLen: identity.MaxProjectKeyLen, Desc: "Limit to project names or keys containing this text"},
			}, Out: obj{"projects": []scannableJSON{}}, Handle: a.projSearchScannable},
		{Method: http.MethodPost, Path: "api/projects/update_default_visibility", Summary: "Set the visibility of projects created without one (public when never set, as in SonarQube).",
			Access: admin, Response: "empty", Params: []Param{
				{Name: "projectVisibility", Required: true, Values: visibilityValues, Desc: "Default visibility of new projects"},
			}, Handle: a.projUpdateDefaultVisibility},
		{Method: http.MethodGet, Path: "api/project_tags/search", Summary: "The tags of the projects the caller may browse, sorted, paged.",
			Access: authenticated, Params: append(pagingParams(10, 100),
				Param{Name: "q", Desc: "Limit to tags containing this text"},
			), Out: obj{"tags": []string{}}, Handle: a.projTagsSearch},
	}
}

// allowedProjects lists the projects matching f on which the caller holds
// perm ([state.State.ProjectsWith]).
func (a *API) allowedProjects(c *call, f store.ProjectFilter, perm identity.Permission) ([]identity.Project, error) {
	return a.st.ProjectsWith(c.ctx, c.principal, perm, f)
}

// myProjectJSON is a project of search_my_projects. Gatehouse records no
// analyses, quality gates or links: links is always empty, the others absent.
type myProjectJSON struct {
	Key   string   `json:"key"`
	Name  string   `json:"name"`
	Links []string `json:"links"`
}

func (a *API) projSearchMine(c *call) (any, error) {
	projects, err := a.allowedProjects(c, store.ProjectFilter{}, identity.PermAdmin)
	if err != nil {
		return nil, err
	}
	p, ps := c.page()
	out := []myProjectJSON{}
	for _, pr := range pageOf(projects, p, ps) {
		out = append(out, myProjectJSON{Key: pr.Key, Name: pr.Name, Links: []string{}})
	}
	return map[string]any{"paging": paging{PageIndex: p, PageSize: ps, Total: len(projects)}, "projects": out}, nil
}

type scannableJSON struct {
	Key  string `json:"key"`
	Name string `json:"name"`
}

func (a *API) projSearchScannable(c *call) (any, error) {
	projects, err := a.allowedProjects(c, store.ProjectFilter{Query: c.str("q")}, identity.PermScan)
	if err != nil {
		return nil, err
	}
	out := make([]scannableJSON, 0, len(projects))
	for _, pr := range projects {
		out = append(out, scannableJSON{Key: pr.Key, Name: pr.Name})
	}
	return map[string]any{"projects": out}, nil
}

func (a *API) projUpdateDefaultVisibility(c *call) (any, error) {
	return nil, a.st.SetDefaultVisibility(c.ctx, identity.Visibility(c.str("projectVisibility")))
}

func (a *API) projTagsSearch(c *call) (any, error) {
	projects, err := a.allowedProjects(c, store.ProjectFilter{}, identity.PermUser)
	if err != nil {
		return nil, err
	}
	q := strings.ToLower(c.str("q"))
	seen := map[string]bool{}
	for _, pr := range projects {
		for _, t := range pr.Tags {
			if strings.Contains(t, q) {
				seen[t] = true
			}
		}
	}
	tags := slices.Sorted(maps.Keys(seen))
	p, ps := c.page()
	return map[string]any{"tags": nonNilSlice(pageOf(tags, p, ps))}, nil
}
