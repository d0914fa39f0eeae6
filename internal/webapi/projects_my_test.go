package webapi

import (
	"encoding/json"
	"slices"
	"testing"
)

func projectKeys(t *testing.T, r response, field string) []string {
	t.Helper()
	var out map[string]json.RawMessage
	r.json(t, &out)
	var projects []struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(out[field], &projects); err != nil {
		t.Fatalf("%s: %v", r.body, err)
	}
	keys := []string{}
	for _, p := range projects {
		keys = append(keys, p.Key)
	}
	return keys
}

// TestProjectsDefaultVisibility: from an empty store, a project created
// without visibility is public, as in SonarQube, until the default changes.
func TestProjectsDefaultVisibility(t *testing.T) {
	s := newTestServer(t)
	s.createUser("ann")
	vis := func(key string) string {
		var out struct {
			Project projJSON `json:"project"`
		}
		s.post("api/projects/create", asAdmin, "project", key, "name", key).must(t, 200).json(t, &out)
		return out.Project.Visibility
	}
	if v := vis("first"); v != "public" {
		t.Fatalf("fresh instance default %q, want public", v)
	}
	s.expectRefusals(t, "POST", "api/projects/update_default_visibility", []refusal{
		{"not admin", cred{login: "ann", pw: "ann-password-1"}, []string{"projectVisibility", "private"}, 403, "Insufficient privileges"},
		{"missing", asAdmin, nil, 400, "The 'projectVisibility' parameter is missing"},
		{"bad value", asAdmin, []string{"projectVisibility", "internal"}, 400, "Value of parameter 'projectVisibility' (internal) must be one of: [private, public]"},
	})
	s.post("api/projects/update_default_visibility", asAdmin, "projectVisibility", "private").must(t, 204)
	if v := vis("second"); v != "private" {
		t.Fatalf("after update_default_visibility private: %q", v)
	}
	// An explicit visibility wins; existing projects keep theirs.
	s.post("api/projects/create", asAdmin, "project", "third", "name", "third", "visibility", "public").must(t, 200)
	var show struct {
		Component projJSON `json:"component"`
	}
	s.get("api/components/show", asAdmin, "component", "first").must(t, 200).json(t, &show)
	if show.Component.Visibility != "public" {
		t.Fatalf("first became %q", show.Component.Visibility)
	}
}

func TestProjectsSearchMine(t *testing.T) {
	s := newTestServer(t)
	s.createUser("ann")
	s.createUser("bob")
	ann, bob := cred{login: "ann", pw: "ann-password-1"}, cred{login: "bob", pw: "bob-password-1"}
	// Created by ann: the default template makes no creator admin, so she
	// is granted admin on two of them.
	for _, k := range []string{"a1", "a2", "a3"} {
		s.post("api/projects/create", ann, "project", k, "name", "Project "+k, "visibility", "private").must(t, 200)
	}
	for _, k := range []string{"a1", "a3"} {
		s.post("api/permissions/add_user", asAdmin, "login", "ann", "permission", "admin", "projectKey", k).must(t, 204)
	}
	s.post("api/permissions/add_user", asAdmin, "login", "bob", "permission", "scan", "projectKey", "a2").must(t, 204)

	if got := projectKeys(t, s.get("api/projects/search_my_projects", ann).must(t, 200), "projects"); !slices.Equal(got, []string{"a1", "a3"}) {
		t.Fatalf("ann administers %v", got)
	}
	var paged struct {
		Paging   paging          `json:"paging"`
		Projects []myProjectJSON `json:"projects"`
	}
	s.get("api/projects/search_my_projects", ann, "p", "2", "ps", "1").must(t, 200).json(t, &paged)
	if paged.Paging.Total != 2 || len(paged.Projects) != 1 || paged.Projects[0].Key != "a3" || paged.Projects[0].Links == nil {
		t.Fatalf("page 2: %+v", paged)
	}
	if got := projectKeys(t, s.get("api/projects/search_my_projects", bob).must(t, 200), "projects"); len(got) != 0 {
		t.Fatalf("bob administers %v", got)
	}
	s.get("api/projects/search_my_projects", cred{}).must(t, 401)

	// Scannable: on a fresh instance sonar-users scans everything.
	if got := projectKeys(t, s.get("api/projects/search_my_scannable_projects", bob).must(t, 200), "projects"); !slices.Equal(got, []string{"a1", "a2", "a3"}) {
		t.Fatalf("bob may scan %v", got)
	}
	s.lockDown()
	if got := projectKeys(t, s.get("api/projects/search_my_scannable_projects", bob).must(t, 200), "projects"); !slices.Equal(got, []string{"a2"}) {
		t.Fatalf("locked down, bob may scan %v", got)
	}
	if got := projectKeys(t, s.get("api/projects/search_my_scannable_projects", bob, "q", "A1").must(t, 200), "projects"); len(got) != 0 {
		t.Fatalf("q=A1 for bob: %v", got)
	}
	// An organization token: the projects of its scope it carries scan on.
	scan := orgTokGenerate(t, s, "name", "ci", "projects", "a1,a3", "permissions", "scan").Token
	browse := orgTokGenerate(t, s, "name", "view", "projects", "a2", "permissions", "user").Token
	if got := projectKeys(t, s.get("api/projects/search_my_scannable_projects", bearer(scan)).must(t, 200), "projects"); !slices.Equal(got, []string{"a1", "a3"}) {
		t.Fatalf("org token may scan %v", got)
	}
	if got := projectKeys(t, s.get("api/projects/search_my_scannable_projects", bearer(scan), "q", "project a3").must(t, 200), "projects"); !slices.Equal(got, []string{"a3"}) {
		t.Fatalf("org token, q: %v", got)
	}
	if got := projectKeys(t, s.get("api/projects/search_my_scannable_projects", bearer(browse)).must(t, 200), "projects"); len(got) != 0 {
		t.Fatalf("browse-only org token may scan %v", got)
	}
}

func TestProjectTagsSearch(t *testing.T) {
	s := newTestServer(t)
	s.createUser("ann")
	ann := cred{login: "ann", pw: "ann-password-1"}
	s.post("api/projects/create", asAdmin, "project", "pub", "name", "Pub").must(t, 200)
	s.post("api/projects/create", asAdmin, "project", "hidden", "name", "Hidden", "visibility", "private").must(t, 200)
	s.post("api/permissions/remove_group", asAdmin, "groupName", "sonar-users", "permission", "user", "projectKey", "hidden").must(t, 204)
	s.post("api/permissions/add_user", asAdmin, "login", "admin", "permission", "user", "projectKey", "hidden").must(t, 204)
	s.post("api/project_tags/set", asAdmin, "project", "pub", "tags", "java,team-a").must(t, 204)
	s.post("api/project_tags/set", asAdmin, "project", "hidden", "tags", "secret,java").must(t, 204)
	tags := func(c cred, kv ...string) []string {
		var out struct {
			Tags []string `json:"tags"`
		}
		s.get("api/project_tags/search", c, kv...).must(t, 200).json(t, &out)
		return out.Tags
	}
	for _, tc := range []struct {
		name string
		c    cred
		kv   []string
		want []string
	}{
		{"who may browse all", asAdmin, nil, []string{"java", "secret", "team-a"}},
		{"only browsable projects", ann, nil, []string{"java", "team-a"}},
		{"q", asAdmin, []string{"q", "TEAM"}, []string{"team-a"}},
		{"page size", asAdmin, []string{"ps", "2"}, []string{"java", "secret"}},
		{"second page", asAdmin, []string{"ps", "2", "p", "2"}, []string{"team-a"}},
		{"nothing", asAdmin, []string{"q", "zzz"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tags(tc.c, tc.kv...); !slices.Equal(got, tc.want) || got == nil {
				t.Fatalf("tags %v, want %v", got, tc.want)
			}
		})
	}
	s.get("api/project_tags/search", asAdmin, "ps", "101").must(t, 400)
}
