package webapi

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// projSearch lists the keys api/projects/search answers, with its paging.
func projSearch(t *testing.T, s *testServer, as cred, kv ...string) ([]string, paging) {
	t.Helper()
	var out struct {
		Paging     paging `json:"paging"`
		Components []struct {
			Key string `json:"key"`
		} `json:"components"`
	}
	s.get("api/projects/search", as, kv...).must(t, 200).json(t, &out)
	var keys []string
	for _, c := range out.Components {
		keys = append(keys, c.Key)
	}
	return keys, out.Paging
}

// projUserToken generates a token for a user directly through the state.
func projUserToken(t *testing.T, s *testServer, login string, typ identity.TokenType, projectID int64) string {
	t.Helper()
	u, err := s.st.Store().GetUserByLogin(context.Background(), login)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := s.st.GenerateUserToken(context.Background(), state.NewUserToken{UserID: u.ID, Name: "t-" + string(typ), Type: typ, ProjectID: projectID})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func TestProjectsCreate(t *testing.T) {
	s := newTestServer(t)
	s.lockDown()
	permUser(t, s, "prov", identity.SourceLocal)
	permUser(t, s, "joe", identity.SourceLocal)
	s.post("api/permissions/add_user", asAdmin, "login", "prov", "permission", "provisioning").must(t, 204)

	var out struct {
		Project json.RawMessage `json:"project"`
	}
	s.post("api/projects/create", permAs("prov"), "project", "my_project", "name", "My Project", "visibility", "public").must(t, 200).json(t, &out)
	if got := permKeys(t, out.Project); !slices.Equal(got, []string{"key", "name", "qualifier", "visibility"}) {
		t.Fatalf("keys %v", got)
	}
	var p projJSON
	if err := json.Unmarshal(out.Project, &p); err != nil {
		t.Fatal(err)
	}
	if p != (projJSON{Key: "my_project", Name: "My Project", Qualifier: "TRK", Visibility: "public"}) {
		t.Fatalf("project %+v", p)
	}

	cases := []struct {
		name   string
		as     cred
		kv     []string
		status int
		msg    string
	}{
		{"admin, public by default", asAdmin, []string{"project", "adm", "name", "Adm"}, 200, ""},
		{"query string parameters too", asAdmin, nil, 200, ""},
		{"duplicate key", asAdmin, []string{"project", "my_project", "name", "Again"}, 400, `Could not create Project with key: "my_project". A similar key already exists: "my_project"`},
		{"malformed key", asAdmin, []string{"project", "bad key", "name", "X"}, 400, "Malformed key for Project: 'bad key'. Allowed characters are alphanumeric, '-', '_', '.' and ':', with at least one non-digit."},
		{"digits only", asAdmin, []string{"project", "123", "name", "X"}, 400, "Malformed key for Project: '123'. Allowed characters are alphanumeric, '-', '_', '.' and ':', with at least one non-digit."},
		{"missing name", asAdmin, []string{"project", "x1"}, 400, "The 'name' parameter is missing"},
		{"missing key", asAdmin, []string{"name", "X"}, 400, "The 'project' parameter is missing"},
		{"bad visibility", asAdmin, []string{"project", "x2", "name", "X", "visibility", "internal"}, 400, "Value of parameter 'visibility' (internal) must be one of: [private, public]"},
		{"without provisioning", permAs("joe"), []string{"project", "x3", "name", "X"}, 403, "Insufficient privileges"},
		{"anonymous", cred{}, []string{"project", "x4", "name", "X"}, 401, "Authentication is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.kv == nil {
				r = s.do("POST", "api/projects/create?project=qs&name=QS", tc.as, nil)
			} else {
				r = s.post("api/projects/create", tc.as, tc.kv...)
			}
			r.must(t, tc.status)
			if tc.msg != "" {
				if got := r.errMsg(t); got != tc.msg {
					t.Fatalf("message %q, want %q", got, tc.msg)
				}
			}
		})
	}
	got, err := s.st.Store().GetProjectByKey(context.Background(), "adm")
	if err != nil || got.Visibility != identity.Public {
		t.Fatalf("adm: %+v %v", got, err)
	}
}

func TestProjectsSearch(t *testing.T) {
	s := newTestServer(t)
	permUser(t, s, "joe", identity.SourceLocal)
	for _, key := range []string{"alpha", "beta", "gamma"} {
		permProject(t, s, key, identity.Private, identity.SourceLocal)
	}
	permProject(t, s, "delta", identity.Public, identity.SourceLocal)
	permProject(t, s, "gl.one", identity.Private, identity.SourceGitLab)

	var raw struct {
		Paging     json.RawMessage   `json:"paging"`
		Components []json.RawMessage `json:"components"`
	}
	s.get("api/projects/search", asAdmin).must(t, 200).json(t, &raw)
	if got := permKeys(t, raw.Components[0]); !slices.Equal(got, []string{"key", "managed", "name", "qualifier", "visibility"}) {
		t.Fatalf("component keys %v", got)
	}
	if got := permKeys(t, raw.Paging); !slices.Equal(got, []string{"pageIndex", "pageSize", "total"}) {
		t.Fatalf("paging keys %v", got)
	}
	var managed struct {
		Managed bool `json:"managed"`
	}
	if err := json.Unmarshal(raw.Components[4], &managed); err != nil || !managed.Managed {
		t.Fatalf("gl.one managed: %s", raw.Components[4])
	}

	cases := []struct {
		name  string
		kv    []string
		want  []string
		total int
	}{
		{"all", nil, []string{"alpha", "beta", "delta", "gamma", "gl.one"}, 5},
		{"q on key or name", []string{"q", "ALPH"}, []string{"alpha"}, 1},
		{"projectKeys", []string{"projectKeys", "beta,gamma,nope"}, []string{"beta", "gamma"}, 2},
		{"deprecated projects", []string{"projects", "delta"}, []string{"delta"}, 1},
		{"visibility", []string{"visibility", "public"}, []string{"delta"}, 1},
		{"paging", []string{"p", "2", "ps", "2"}, []string{"delta", "gamma"}, 5},
		{"far page", []string{"p", "50", "ps", "2"}, nil, 5},
		{"views only", []string{"qualifiers", "VW,APP"}, nil, 0},
		{"projects among qualifiers", []string{"qualifiers", "APP,TRK"}, []string{"alpha", "beta", "delta", "gamma", "gl.one"}, 5},
		{"analyzed before: nothing was analysed", []string{"analyzedBefore", "2030-01-01"}, nil, 0},
		{"provisioned only: everything", []string{"onProvisionedOnly", "true"}, []string{"alpha", "beta", "delta", "gamma", "gl.one"}, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, pg := projSearch(t, s, asAdmin, tc.kv...)
			if !slices.Equal(keys, tc.want) || pg.Total != tc.total {
				t.Fatalf("keys %v total %d, want %v %d", keys, pg.Total, tc.want, tc.total)
			}
		})
	}

	errs := []struct {
		name   string
		as     cred
		kv     []string
		status int
		msg    string
	}{
		{"not admin", permAs("joe"), nil, 403, "Insufficient privileges"},
		{"user token of a non admin", bearer(projUserToken(t, s, "joe", identity.TokenUser, 0)), nil, 403, "Insufficient privileges"},
		{"anonymous", cred{}, nil, 401, "Authentication is required"},
		{"page size", asAdmin, []string{"ps", "501"}, 400, "'ps' value (501) must be less than 500"},
		{"bad qualifier", asAdmin, []string{"qualifiers", "TRK,FIL"}, 400, "Value of parameter 'qualifiers' (FIL) must be one of: [TRK, VW, APP]"},
		{"bad date", asAdmin, []string{"analyzedBefore", "2020-13-45"}, 400, "Date '2020-13-45' cannot be parsed as either a date or date+time"},
		{"bad visibility", asAdmin, []string{"visibility", "internal"}, 400, "Value of parameter 'visibility' (internal) must be one of: [private, public]"},
		{"bad boolean", asAdmin, []string{"onProvisionedOnly", "maybe"}, 400, "Value of parameter 'onProvisionedOnly' (maybe) must be one of: [true, false, yes, no]"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.get("api/projects/search", tc.as, tc.kv...).must(t, tc.status).errMsg(t); got != tc.msg {
				t.Fatalf("message %q, want %q", got, tc.msg)
			}
		})
	}
}

func TestProjectsOrganizationTokenScope(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	for _, key := range []string{"team-a.api", "team-a.web", "team-b.api"} {
		permProject(t, s, key, identity.Private, identity.SourceLocal)
	}
	pub := permProject(t, s, "shared", identity.Public, identity.SourceLocal)
	secret, _, err := s.st.GenerateOrgToken(ctx, state.OrgTokenSpec{
		Name: "ci", Permissions: []identity.Permission{identity.PermScan},
		Patterns: []string{`team-a\..*`}, Projects: []int64{pub.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	tok := bearer(secret)

	keys, pg := projSearch(t, s, tok)
	if want := []string{"shared", "team-a.api", "team-a.web"}; !slices.Equal(keys, want) || pg.Total != 3 {
		t.Fatalf("scope %v (total %d), want %v", keys, pg.Total, want)
	}
	t.Run("filters narrow the scope", func(t *testing.T) {
		if keys, _ := projSearch(t, s, tok, "q", "api"); !slices.Equal(keys, []string{"team-a.api"}) {
			t.Fatalf("q=api: %v", keys)
		}
		if keys, _ := projSearch(t, s, tok, "projectKeys", "team-b.api,team-a.web"); !slices.Equal(keys, []string{"team-a.web"}) {
			t.Fatalf("projectKeys: %v", keys)
		}
		if keys, pg := projSearch(t, s, tok, "ps", "1", "p", "2"); !slices.Equal(keys, []string{"team-a.api"}) || pg.Total != 3 {
			t.Fatalf("paged: %v %+v", keys, pg)
		}
	})
	t.Run("a project created later that matches appears", func(t *testing.T) {
		s.post("api/projects/create", asAdmin, "project", "team-a.new", "name", "New").must(t, 200)
		s.post("api/projects/create", asAdmin, "project", "team-c.new", "name", "Other").must(t, 200)
		keys, _ := projSearch(t, s, tok)
		if want := []string{"shared", "team-a.api", "team-a.new", "team-a.web"}; !slices.Equal(keys, want) {
			t.Fatalf("scope %v, want %v", keys, want)
		}
	})
	t.Run("a deleted project disappears", func(t *testing.T) {
		s.post("api/projects/delete", asAdmin, "project", "team-a.web").must(t, 204)
		keys, _ := projSearch(t, s, tok)
		if want := []string{"shared", "team-a.api", "team-a.new"}; !slices.Equal(keys, want) {
			t.Fatalf("scope %v, want %v", keys, want)
		}
	})
	t.Run("components/show in and out of scope", func(t *testing.T) {
		cases := []struct {
			key    string
			status int
		}{
			{"team-a.api", 200},
			{"shared", 200},
			{"team-b.api", 404},
			{"team-c.new", 404},
			{"nope", 404},
		}
		for _, tc := range cases {
			r := s.get("api/components/show", tok, "component", tc.key).must(t, tc.status)
			if tc.status == 404 {
				if got := r.errMsg(t); got != "Component key '"+tc.key+"' not found" {
					t.Fatalf("%s: %q", tc.key, got)
				}
			}
		}
	})
	t.Run("revoked token", func(t *testing.T) {
		other, tk, err := s.st.GenerateOrgToken(ctx, state.OrgTokenSpec{Name: "gone", Permissions: []identity.Permission{identity.PermScan}, Set: identity.SetAll})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.st.RevokeToken(ctx, tk.ID); err != nil {
			t.Fatal(err)
		}
		s.get("api/projects/search", bearer(other)).must(t, 401)
	})
}

func TestProjectsDeleteAndVisibility(t *testing.T) {
	s := newTestServer(t)
	permUser(t, s, "owner", identity.SourceLocal)
	permUser(t, s, "joe", identity.SourceLocal)
	for _, key := range []string{"p1", "p2", "p3"} {
		permProject(t, s, key, identity.Private, identity.SourceLocal)
		s.post("api/permissions/add_user", asAdmin, "login", "owner", "permission", "admin", "projectKey", key).must(t, 204)
	}
	permProject(t, s, "gl", identity.Private, identity.SourceGitLab)
	s.post("api/permissions/add_group", asAdmin, "groupName", "sonar-users", "permission", "scan", "projectKey", "p2").must(t, 204)

	cases := []struct {
		name   string
		path   string
		as     cred
		kv     []string
		status int
		msg    string
	}{
		{"visibility by project admin", "api/projects/update_visibility", permAs("owner"), []string{"project", "p2", "visibility", "public"}, 204, ""},
		{"visibility unchanged", "api/projects/update_visibility", asAdmin, []string{"project", "p2", "visibility", "public"}, 204, ""},
		{"visibility of a managed project", "api/projects/update_visibility", asAdmin, []string{"project", "gl", "visibility", "public"}, 400, managedMsg(identity.SourceGitLab, msgManagedProject)},
		{"visibility missing", "api/projects/update_visibility", asAdmin, []string{"project", "p2"}, 400, "The 'visibility' parameter is missing"},
		{"visibility bad value", "api/projects/update_visibility", asAdmin, []string{"project", "p2", "visibility", "internal"}, 400, "Value of parameter 'visibility' (internal) must be one of: [private, public]"},
		{"visibility unknown project", "api/projects/update_visibility", asAdmin, []string{"project", "nope", "visibility", "public"}, 404, "Component key 'nope' not found"},
		{"visibility not admin", "api/projects/update_visibility", permAs("joe"), []string{"project", "p1", "visibility", "public"}, 403, "Insufficient privileges"},
		{"delete by project admin", "api/projects/delete", permAs("owner"), []string{"project", "p1"}, 204, ""},
		{"delete again", "api/projects/delete", asAdmin, []string{"project", "p1"}, 404, "Project 'p1' not found"},
		{"delete not admin", "api/projects/delete", permAs("joe"), []string{"project", "p3"}, 403, "Insufficient privileges"},
		{"delete missing key", "api/projects/delete", asAdmin, nil, 400, "The 'project' parameter is missing"},
		{"delete anonymous", "api/projects/delete", cred{}, []string{"project", "p3"}, 401, "Authentication is required"},
		{"bulk delete needs a filter", "api/projects/bulk_delete", asAdmin, nil, 400, "At least one parameter among analyzedBefore, projects and q must be provided"},
		{"bulk delete not admin", "api/projects/bulk_delete", permAs("owner"), []string{"q", "p"}, 403, "Insufficient privileges"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.post(tc.path, tc.as, tc.kv...).must(t, tc.status)
			if tc.msg != "" {
				if got := r.errMsg(t); got != tc.msg {
					t.Fatalf("message %q, want %q", got, tc.msg)
				}
			}
		})
	}

	// Going public dropped the now implicit browse grants but kept scan, and
	// anyone signed in may browse.
	if !permMay(t, s, "joe", identity.PermUser, "p2") || !permMay(t, s, "joe", identity.PermScan, "p2") {
		t.Fatal("joe cannot browse or scan public p2")
	}
	s.post("api/projects/update_visibility", asAdmin, "project", "p2", "visibility", "private").must(t, 204)
	s.post("api/permissions/remove_group", asAdmin, "groupName", "sonar-users", "permission", "user", "projectKey", "p2").must(t, 204)
	if permMay(t, s, "joe", identity.PermUser, "p2") {
		t.Fatal("joe still browses private p2")
	}

	s.post("api/projects/bulk_delete", asAdmin, "projects", "p2,p3").must(t, 204)
	if keys, _ := projSearch(t, s, asAdmin); !slices.Equal(keys, []string{"gl"}) {
		t.Fatalf("after bulk delete: %v", keys)
	}
}

func TestComponentsShow(t *testing.T) {
	s := newTestServer(t)
	permUser(t, s, "joe", identity.SourceLocal)
	permUser(t, s, "dev", identity.SourceLocal)
	priv := permProject(t, s, "priv", identity.Private, identity.SourceLocal)
	permProject(t, s, "pub", identity.Public, identity.SourceLocal)
	other := permProject(t, s, "other", identity.Private, identity.SourceLocal)
	// Only dev may browse the private projects: sonar-users' default grants go.
	for _, p := range []identity.Project{priv, other} {
		s.post("api/permissions/remove_group", asAdmin, "groupName", "sonar-users", "permission", "user", "projectKey", p.Key).must(t, 204)
	}
	s.post("api/permissions/add_user", asAdmin, "login", "dev", "permission", "user", "projectKey", "priv").must(t, 204)
	projTok := projUserToken(t, s, "dev", identity.TokenProjectAnalysis, priv.ID)

	var out struct {
		Component json.RawMessage `json:"component"`
	}
	s.get("api/components/show", permAs("dev"), "component", "priv").must(t, 200).json(t, &out)
	if got := permKeys(t, out.Component); !slices.Equal(got, []string{"key", "name", "qualifier", "tags", "visibility"}) {
		t.Fatalf("keys %v", got)
	}
	var c projJSON
	if err := json.Unmarshal(out.Component, &c); err != nil {
		t.Fatal(err)
	}
	if c != (projJSON{Key: "priv", Name: "Project priv", Qualifier: "TRK", Visibility: "private"}) {
		t.Fatalf("component %+v", c)
	}

	cases := []struct {
		name   string
		as     cred
		kv     []string
		status int
		msg    string
	}{
		{"public project, any user", permAs("joe"), []string{"component", "pub"}, 200, ""},
		{"private without browse looks missing", permAs("joe"), []string{"component", "priv"}, 404, "Component key 'priv' not found"},
		{"missing", permAs("dev"), []string{"component", "nope"}, 404, "Component key 'nope' not found"},
		{"project token on its project", bearer(projTok), []string{"component", "priv"}, 200, ""},
		{"project token elsewhere", bearer(projTok), []string{"component", "other"}, 404, "Component key 'other' not found"},
		{"branch", permAs("dev"), []string{"component", "priv", "branch", "feature"}, 404, "Component key 'priv' not found"},
		{"missing parameter", permAs("dev"), nil, 400, "The 'component' parameter is missing"},
		{"anonymous", cred{}, []string{"component", "pub"}, 401, "Authentication is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.get("api/components/show", tc.as, tc.kv...).must(t, tc.status)
			if tc.msg != "" {
				if got := r.errMsg(t); got != tc.msg {
					t.Fatalf("message %q, want %q", got, tc.msg)
				}
			}
		})
	}
}
