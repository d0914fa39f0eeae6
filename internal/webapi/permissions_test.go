package webapi

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// permConnector is the context of a connector of src, which may create what
// src manages.
func permConnector(src identity.Source) context.Context {
	return state.WithActor(context.Background(), state.Actor{Name: "connector:" + string(src), Source: src})
}

// permUser creates an active user with a password (local) or managed by src.
func permUser(t *testing.T, s *testServer, login string, src identity.Source) identity.User {
	t.Helper()
	n := state.NewUser{Login: login, Name: "User " + login, Email: login + "@example.com", Source: src}
	ctx := context.Background()
	if src == identity.SourceLocal || src == "" {
		n.Password = login + "-password-1"
	} else {
		ctx = permConnector(src)
	}
	u, err := s.st.CreateUser(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// permAs authenticates as a user made by permUser with a password.
func permAs(login string) cred { return cred{login: login, pw: login + "-password-1"} }

// permProject creates a project through the state (templates applied).
func permProject(t *testing.T, s *testServer, key string, vis identity.Visibility, src identity.Source) identity.Project {
	t.Helper()
	p, err := s.st.CreateProject(context.Background(), identity.Project{Key: key, Name: "Project " + key, Visibility: vis, Source: src}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// permGroup creates a local group.
func permGroup(t *testing.T, s *testServer, name string) identity.Group {
	t.Helper()
	g, err := s.st.CreateGroup(context.Background(), identity.Group{Name: name, Description: "Group " + name})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// permKeys returns the sorted keys of a JSON object.
func permKeys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return slices.Sorted(maps.Keys(m))
}

// permMay asks the index whether login holds perm on project (or globally).
func permMay(t *testing.T, s *testServer, login string, perm identity.Permission, project string) bool {
	t.Helper()
	u, err := s.st.Store().GetUserByLogin(context.Background(), login)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.st.Index().UserPrincipal(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return s.st.Index().Decide(p, perm, project).Allowed
}

func TestPermissionsEdit(t *testing.T) {
	s := newTestServer(t)
	permUser(t, s, "alice", identity.SourceLocal)
	permUser(t, s, "bob", identity.SourceLocal)
	permUser(t, s, "sam", identity.SourceSCIM)
	permGroup(t, s, "devs")
	priv := permProject(t, s, "priv", identity.Private, identity.SourceLocal)
	permProject(t, s, "pub", identity.Public, identity.SourceLocal)
	permProject(t, s, "gl", identity.Private, identity.SourceGitLab)
	// bob administers priv and gl (but is no global admin).
	for _, key := range []string{"priv", "gl"} {
		s.post("api/permissions/add_user", asAdmin, "login", "bob", "permission", "admin", "projectKey", key).must(t, 204)
	}

	cases := []struct {
		name   string
		path   string
		as     cred
		params []string
		status int
		msg    string
	}{
		{"global grant", "api/permissions/add_user", asAdmin, []string{"login", "alice", "permission", "provisioning"}, 204, ""},
		{"global grant again is idempotent", "api/permissions/add_user", asAdmin, []string{"login", "alice", "permission", "provisioning"}, 204, ""},
		{"project grant by key", "api/permissions/add_user", asAdmin, []string{"login", "alice", "permission", "issueadmin", "projectKey", "priv"}, 204, ""},
		{"project grant by id", "api/permissions/add_user", asAdmin, []string{"login", "alice", "permission", "scan", "projectId", idString(priv.ID)}, 204, ""},
		{"project admin grants", "api/permissions/add_user", permAs("bob"), []string{"login", "alice", "permission", "codeviewer", "projectKey", "priv"}, 204, ""},
		{"project admin cannot grant globally", "api/permissions/add_user", permAs("bob"), []string{"login", "alice", "permission", "scan"}, 403, "Insufficient privileges"},
		{"non admin refused", "api/permissions/add_user", permAs("alice"), []string{"login", "alice", "permission", "admin", "projectKey", "priv"}, 403, "Insufficient privileges"},
		{"anonymous", "api/permissions/add_user", cred{}, []string{"login", "alice", "permission", "scan"}, 401, "Authentication is required"},
		{"missing login", "api/permissions/add_user", asAdmin, []string{"permission", "scan"}, 400, "The 'login' parameter is missing"},
		{"missing permission", "api/permissions/add_group", asAdmin, []string{"groupName", "devs"}, 400, "The 'permission' parameter is missing"},
		{"unknown user", "api/permissions/add_user", asAdmin, []string{"login", "nobody", "permission", "scan"}, 404, "User with login 'nobody' is not found"},
		{"unknown group", "api/permissions/add_group", asAdmin, []string{"groupName", "nobody", "permission", "scan"}, 404, "No group with name 'nobody'"},
		{"unknown project key", "api/permissions/add_user", asAdmin, []string{"login", "alice", "permission", "scan", "projectKey", "nope"}, 404, "Component key 'nope' not found"},
		{"unknown project id", "api/permissions/add_user", asAdmin, []string{"login", "alice", "permission", "scan", "projectId", "x1"}, 404, "Component id 'x1' not found"},
		{"key and id", "api/permissions/add_user", asAdmin, []string{"login", "alice", "permission", "scan", "projectKey", "priv", "projectId", idString(priv.ID)}, 400, "Project id or project key can be provided, not both."},
		{"bad global permission", "api/permissions/add_user", asAdmin, []string{"login", "alice", "permission", "user"}, 400, "Value of parameter 'permission' (user) must be one of: [admin, gateadmin, profileadmin, provisioning, scan]"},
		{"bad project permission", "api/permissions/add_group", asAdmin, []string{"groupName", "devs", "permission", "gateadmin", "projectKey", "priv"}, 400, "Value of parameter 'permission' (gateadmin) must be one of: [admin, codeviewer, issueadmin, securityhotspotadmin, scan, user]"},
		{"group grant", "api/permissions/add_group", asAdmin, []string{"groupName", "devs", "permission", "scan", "projectKey", "priv"}, 204, ""},
		{"anyone on public, any case", "api/permissions/add_group", asAdmin, []string{"groupName", "aNyOnE", "permission", "issueadmin", "projectKey", "pub"}, 204, ""},
		{"anyone on private", "api/permissions/add_group", asAdmin, []string{"groupName", "Anyone", "permission", "issueadmin", "projectKey", "priv"}, 400, "No permission can be granted to Anyone on a private component"},
		{"anyone admin", "api/permissions/add_group", asAdmin, []string{"groupName", "Anyone", "permission", "admin"}, 400, "It is not possible to add the 'admin' permission to group 'Anyone'."},
		// Implicit on public projects: already done, as SonarQube answers.
		{"browse on public", "api/permissions/add_user", asAdmin, []string{"login", "alice", "permission", "user", "projectKey", "pub"}, 204, ""},
		{"codeviewer on public", "api/permissions/add_group", asAdmin, []string{"groupName", "devs", "permission", "codeviewer", "projectKey", "pub"}, 204, ""},
		{"remove browse on public", "api/permissions/remove_group", asAdmin, []string{"groupName", "Anyone", "permission", "user", "projectKey", "pub"}, 400, "Permission user can't be removed from a public component"},
		{"managed project, non admin", "api/permissions/add_user", permAs("bob"), []string{"login", "alice", "permission", "scan", "projectKey", "gl"}, 400, managedMsg(identity.SourceGitLab, msgManagedProject)},
		{"managed project, admin", "api/permissions/add_user", asAdmin, []string{"login", "sam", "permission", "scan", "projectKey", "gl"}, 204, ""},
		{"remove managed user on managed project", "api/permissions/remove_user", asAdmin, []string{"login", "sam", "permission", "scan", "projectKey", "gl"}, 400, managedMsg(identity.SourceGitLab, msgManagedProject)},
		{"group on managed project, non admin", "api/permissions/add_group", permAs("bob"), []string{"groupName", "devs", "permission", "scan", "projectKey", "gl"}, 400, managedMsg(identity.SourceGitLab, msgManagedProject)},
		{"group off managed project, non admin", "api/permissions/remove_group", permAs("bob"), []string{"groupName", "devs", "permission", "scan", "projectKey", "gl"}, 400, managedMsg(identity.SourceGitLab, msgManagedProject)},
		{"group on managed project, admin", "api/permissions/add_group", asAdmin, []string{"groupName", "devs", "permission", "scan", "projectKey", "gl"}, 204, ""},
		{"remove local user on managed project", "api/permissions/remove_user", permAs("bob"), []string{"login", "bob", "permission", "admin", "projectKey", "gl"}, 204, ""},
		{"remove project grant", "api/permissions/remove_user", asAdmin, []string{"login", "alice", "permission", "issueadmin", "projectKey", "priv"}, 204, ""},
		{"remove absent grant", "api/permissions/remove_user", asAdmin, []string{"login", "alice", "permission", "gateadmin"}, 204, ""},
		{"remove group grant", "api/permissions/remove_group", asAdmin, []string{"groupName", "devs", "permission", "scan", "projectKey", "priv"}, 204, ""},
		{"remove anyone on private is a no-op", "api/permissions/remove_group", asAdmin, []string{"groupName", "anyone", "permission", "scan", "projectKey", "priv"}, 204, ""},
		{"last admin group", "api/permissions/remove_group", asAdmin, []string{"groupName", "sonar-administrators", "permission", "admin"}, 400, "Last group with permission 'admin'. Permission cannot be removed."},
		{"GET refused", "api/permissions/add_user", asAdmin, nil, 405, "HTTP method POST is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.status == 405 {
				r = s.get(tc.path, tc.as, tc.params...)
			} else {
				r = s.post(tc.path, tc.as, tc.params...)
			}
			r.must(t, tc.status)
			if tc.msg != "" {
				if got := r.errMsg(t); got != tc.msg {
					t.Fatalf("message %q, want %q", got, tc.msg)
				}
			}
		})
	}

	// The grants reached the index: the next decision sees them.
	checks := []struct {
		login, perm, project string
		want                 bool
	}{
		{"alice", "provisioning", "", true},
		{"alice", "scan", "priv", true},
		{"alice", "codeviewer", "priv", true},
		{"alice", "admin", "priv", false},
		{"alice", "issueadmin", "pub", true}, // through Anyone
		{"sam", "scan", "gl", true},
		{"bob", "admin", "gl", false},
	}
	for _, ck := range checks {
		if got := permMay(t, s, ck.login, identity.Permission(ck.perm), ck.project); got != ck.want {
			t.Errorf("%s %s on %q = %v, want %v", ck.login, ck.perm, ck.project, got, ck.want)
		}
	}
	// alice still has issueadmin on priv through sonar-users, but her own
	// grant is gone.
	alice, _ := s.st.Store().GetUserByLogin(context.Background(), "alice")
	sub, pid := identity.UserSubject(alice.ID), priv.ID
	gs, err := s.st.Store().ListGrants(context.Background(), store.GrantFilter{Subject: &sub, ProjectID: &pid})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.Permission == identity.PermIssueAdmin {
			t.Fatalf("alice's issueadmin grant on priv survived removal: %+v", gs)
		}
	}
}

func TestPermissionsUsersListing(t *testing.T) {
	s := newTestServer(t)
	permUser(t, s, "zed", identity.SourceLocal)
	permUser(t, s, "amy", identity.SourceLocal)
	permUser(t, s, "sam", identity.SourceSCIM)
	gone := permUser(t, s, "gone", identity.SourceLocal)
	permProject(t, s, "p1", identity.Private, identity.SourceLocal)
	permProject(t, s, "p2", identity.Private, identity.SourceLocal)
	s.post("api/permissions/add_user", asAdmin, "login", "zed", "permission", "scan").must(t, 204)
	s.post("api/permissions/add_user", asAdmin, "login", "zed", "permission", "gateadmin").must(t, 204)
	s.post("api/permissions/add_user", asAdmin, "login", "sam", "permission", "issueadmin", "projectKey", "p1").must(t, 204)
	s.post("api/permissions/add_user", asAdmin, "login", "amy", "permission", "admin", "projectKey", "p2").must(t, 204)
	if _, err := s.st.SetUserActive(context.Background(), gone.Login, false); err != nil {
		t.Fatal(err)
	}

	type user struct {
		Login       string   `json:"login"`
		Permissions []string `json:"permissions"`
		Managed     bool     `json:"managed"`
	}
	type answer struct {
		Paging paging            `json:"paging"`
		Users  []json.RawMessage `json:"users"`
	}
	list := func(t *testing.T, as cred, kv ...string) (answer, []user) {
		t.Helper()
		var a answer
		s.get("api/permissions/users", as, kv...).must(t, 200).json(t, &a)
		us := make([]user, len(a.Users))
		for i, raw := range a.Users {
			if err := json.Unmarshal(raw, &us[i]); err != nil {
				t.Fatal(err)
			}
		}
		return a, us
	}
	logins := func(us []user) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Login)
		}
		return out
	}

	t.Run("global: holders first, then everyone active", func(t *testing.T) {
		a, us := list(t, asAdmin)
		if got, want := logins(us), []string{"zed", "admin", "amy", "sam"}; !slices.Equal(got, want) {
			t.Fatalf("logins %v, want %v", got, want)
		}
		if a.Paging != (paging{PageIndex: 1, PageSize: 20, Total: 4}) {
			t.Fatalf("paging %+v", a.Paging)
		}
		if !slices.Equal(us[0].Permissions, []string{"gateadmin", "scan"}) || len(us[1].Permissions) != 0 || us[1].Permissions == nil {
			t.Fatalf("permissions %+v", us)
		}
		// admin holds admin through its group, not directly: not listed as a holder.
		if got := permKeys(t, a.Users[0]); !slices.Equal(got, []string{"avatar", "email", "login", "managed", "name", "permissions"}) {
			t.Fatalf("user keys %v", got)
		}
		if got := permKeys(t, a.Users[1]); !slices.Equal(got, []string{"login", "managed", "name", "permissions"}) {
			t.Fatalf("user without e-mail keys %v", got)
		}
	})
	t.Run("project, managed flag", func(t *testing.T) {
		_, us := list(t, asAdmin, "projectKey", "p1")
		if us[0].Login != "sam" || !us[0].Managed || !slices.Equal(us[0].Permissions, []string{"issueadmin"}) {
			t.Fatalf("first %+v", us[0])
		}
	})
	t.Run("permission filter", func(t *testing.T) {
		a, us := list(t, asAdmin, "permission", "scan")
		if got := logins(us); !slices.Equal(got, []string{"zed"}) || a.Paging.Total != 1 {
			t.Fatalf("logins %v total %d", got, a.Paging.Total)
		}
	})
	t.Run("query", func(t *testing.T) {
		_, us := list(t, asAdmin, "q", "amy")
		if got := logins(us); !slices.Equal(got, []string{"amy"}) {
			t.Fatalf("logins %v", got)
		}
	})
	t.Run("paging across holders and others", func(t *testing.T) {
		var all []string
		for p := 1; p <= 3; p++ {
			a, us := list(t, asAdmin, "p", itoa(p), "ps", "2")
			if a.Paging.Total != 4 {
				t.Fatalf("total %d", a.Paging.Total)
			}
			all = append(all, logins(us)...)
		}
		if want := []string{"zed", "admin", "amy", "sam"}; !slices.Equal(all, want) {
			t.Fatalf("pages %v, want %v", all, want)
		}
		if _, us := list(t, asAdmin, "p", "999999999999", "ps", "100"); len(us) != 0 {
			t.Fatalf("far page %v", us)
		}
	})
	t.Run("project admin may list its project", func(t *testing.T) {
		_, us := list(t, permAs("amy"), "projectKey", "p2")
		if us[0].Login != "amy" {
			t.Fatalf("first %+v", us[0])
		}
	})

	errs := []struct {
		name   string
		as     cred
		kv     []string
		status int
		msg    string
	}{
		{"short query", asAdmin, []string{"q", "am"}, 400, "'q' length (2) is shorter than the minimum authorized (3)"},
		{"page size too big", asAdmin, []string{"ps", "101"}, 400, "'ps' value (101) must be less than 100"},
		{"bad permission", asAdmin, []string{"permission", "user"}, 400, "Value of parameter 'permission' (user) must be one of: [admin, gateadmin, profileadmin, provisioning, scan]"},
		{"global needs admin", permAs("amy"), nil, 403, "Insufficient privileges"},
		{"other project needs admin", permAs("amy"), []string{"projectKey", "p1"}, 403, "Insufficient privileges"},
		{"anonymous", cred{}, nil, 401, "Authentication is required"},
		{"unknown project", asAdmin, []string{"projectKey", "nope"}, 404, "Component key 'nope' not found"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.get("api/permissions/users", tc.as, tc.kv...).must(t, tc.status).errMsg(t); got != tc.msg {
				t.Fatalf("message %q, want %q", got, tc.msg)
			}
		})
	}
}

func TestPermissionsGroupsListing(t *testing.T) {
	s := newTestServer(t)
	permGroup(t, s, "devs")
	permGroup(t, s, "ops")
	permProject(t, s, "pub", identity.Public, identity.SourceLocal)
	permProject(t, s, "priv", identity.Private, identity.SourceLocal)
	s.post("api/permissions/add_group", asAdmin, "groupName", "ops", "permission", "provisioning").must(t, 204)
	s.post("api/permissions/add_group", asAdmin, "groupName", "anyone", "permission", "scan", "projectKey", "pub").must(t, 204)

	type group struct {
		ID          string   `json:"id"`
		Name        string   `json:"name"`
		Permissions []string `json:"permissions"`
	}
	type answer struct {
		Paging paging            `json:"paging"`
		Groups []json.RawMessage `json:"groups"`
	}
	list := func(t *testing.T, kv ...string) (answer, []group) {
		t.Helper()
		var a answer
		s.get("api/permissions/groups", asAdmin, kv...).must(t, 200).json(t, &a)
		gs := make([]group, len(a.Groups))
		for i, raw := range a.Groups {
			if err := json.Unmarshal(raw, &gs[i]); err != nil {
				t.Fatal(err)
			}
		}
		return a, gs
	}
	names := func(gs []group) []string {
		var out []string
		for _, g := range gs {
			out = append(out, g.Name)
		}
		return out
	}

	cases := []struct {
		name  string
		kv    []string
		want  []string
		total int
	}{
		// sonar-users holds scan and provisioning on a fresh instance.
		{"global: Anyone, holders, others", nil, []string{"Anyone", "ops", "sonar-administrators", "sonar-users", "devs"}, 5},
		{"public project: Anyone holds scan, then default template holders", []string{"projectKey", "pub"}, []string{"Anyone", "sonar-administrators", "sonar-users", "devs", "ops"}, 5},
		{"private project: no Anyone", []string{"projectKey", "priv"}, []string{"sonar-administrators", "sonar-users", "devs", "ops"}, 4},
		{"permission filter", []string{"permission", "admin"}, []string{"sonar-administrators"}, 1},
		{"permission filter held by Anyone", []string{"permission", "scan", "projectKey", "pub"}, []string{"Anyone"}, 1},
		{"query matching Anyone", []string{"q", "ANY"}, []string{"Anyone"}, 1},
		{"query", []string{"q", "sonar"}, []string{"sonar-administrators", "sonar-users"}, 2},
		{"second page", []string{"p", "2", "ps", "2"}, []string{"sonar-administrators", "sonar-users"}, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, gs := list(t, tc.kv...)
			if got := names(gs); !slices.Equal(got, tc.want) {
				t.Fatalf("groups %v, want %v", got, tc.want)
			}
			if a.Paging.Total != tc.total {
				t.Fatalf("total %d, want %d", a.Paging.Total, tc.total)
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		a, gs := list(t)
		if got := permKeys(t, a.Groups[0]); !slices.Equal(got, []string{"managed", "name", "permissions"}) {
			t.Fatalf("Anyone keys %v", got)
		}
		if got := permKeys(t, a.Groups[1]); !slices.Equal(got, []string{"description", "id", "managed", "name", "permissions"}) {
			t.Fatalf("group keys %v", got)
		}
		if gs[1].ID == "" || !slices.Equal(gs[1].Permissions, []string{"provisioning"}) {
			t.Fatalf("ops %+v", gs[1])
		}
		if gs[0].Permissions == nil {
			t.Fatal("Anyone permissions must be [] not null")
		}
	})
	t.Run("pub permissions of sonar-users come from the default template", func(t *testing.T) {
		_, gs := list(t, "projectKey", "priv")
		if !slices.Equal(gs[1].Permissions, []string{"codeviewer", "issueadmin", "securityhotspotadmin", "user"}) {
			t.Fatalf("sonar-users %+v", gs[1])
		}
	})
	t.Run("needs admin", func(t *testing.T) {
		permUser(t, s, "joe", identity.SourceLocal)
		s.get("api/permissions/groups", permAs("joe")).must(t, http.StatusForbidden)
	})
}
