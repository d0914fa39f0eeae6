package webapi

import (
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// groupsSearch returns the groups of api/user_groups/search by name.
func groupsSearch(t *testing.T, s *testServer, kv ...string) (paging, map[string]map[string]any, []string) {
	t.Helper()
	var out struct {
		Paging paging           `json:"paging"`
		Groups []map[string]any `json:"groups"`
	}
	s.get("api/user_groups/search", asAdmin, kv...).must(t, 200).json(t, &out)
	byName := map[string]map[string]any{}
	var order []string
	for _, g := range out.Groups {
		n, _ := g["name"].(string)
		byName[n] = g
		order = append(order, n)
	}
	return out.Paging, byName, order
}

func TestUserGroupsCreate(t *testing.T) {
	s := newTestServer(t)
	s.createUser("bob")

	t.Run("success", func(t *testing.T) {
		var out map[string]map[string]any
		s.post("api/user_groups/create", asAdmin, "name", "devs", "description", "Developers").must(t, 200).json(t, &out)
		g := out["group"]
		identWantKeys(t, "group", g, "id", "name", "description", "membersCount", "default", "managed")
		id, _ := g["id"].(string)
		if _, err := strconv.ParseInt(id, 10, 64); err != nil {
			t.Fatalf("id %v is not a numeric string", g["id"])
		}
		if g["name"] != "devs" || g["membersCount"] != 0.0 || g["default"] != false || g["managed"] != false {
			t.Fatalf("group %v", g)
		}
	})
	s.expectRefusals(t, http.MethodPost, "api/user_groups/create", []refusal{
		{"unauthenticated", cred{}, []string{"name", "g1"}, 401, "Authentication is required"},
		{"not admin", userCred("bob"), []string{"name", "g1"}, 403, "Insufficient privileges"},
		{"missing name", asAdmin, nil, 400, "The 'name' parameter is missing"},
		{"Anyone reserved", asAdmin, []string{"name", "anyONE"}, 400, "Anyone group cannot be used"},
		{"duplicate", asAdmin, []string{"name", "devs"}, 400, "Group 'devs' already exists"},
		{"description too long", asAdmin, []string{"name", "g1", "description", string(make([]byte, 201))}, 400, "'description' length (201) is longer than the maximum authorized (200)"},
	})
}

func TestUserGroupsUpdateDelete(t *testing.T) {
	s := newTestServer(t)
	s.createUser("bob")
	s.post("api/user_groups/create", asAdmin, "name", "devs").must(t, 200)
	s.post("api/user_groups/create", asAdmin, "name", "ops").must(t, 200)
	s.post("api/user_groups/add_user", asAdmin, "name", "devs", "login", "bob").must(t, 204)
	identManagedGroup(t, s, "scim-group")

	t.Run("update", func(t *testing.T) {
		var out map[string]map[string]any
		s.post("api/user_groups/update", asAdmin, "currentName", "devs", "name", "developers", "description", "People who code").must(t, 200).json(t, &out)
		g := out["group"]
		identWantKeys(t, "group", g, "id", "name", "description", "membersCount", "default", "managed")
		if g["name"] != "developers" || g["description"] != "People who code" || g["membersCount"] != 1.0 {
			t.Fatalf("group %v", g)
		}
	})
	for _, tc := range []struct {
		name, path string
		c          cred
		kv         []string
		status     int
		msg        string
	}{
		{"update unauthenticated", "update", cred{}, []string{"currentName", "ops", "name", "x"}, 401, "Authentication is required"},
		{"update not admin", "update", userCred("bob"), []string{"currentName", "ops", "name", "x"}, 403, "Insufficient privileges"},
		{"update missing currentName", "update", asAdmin, []string{"name", "x"}, 400, "The 'currentName' parameter is missing"},
		{"update unknown", "update", asAdmin, []string{"currentName", "nope", "name", "x"}, 404, "No group with name 'nope'"},
		{"update default group", "update", asAdmin, []string{"currentName", "sonar-users", "description", "x"}, 400, "Default group 'sonar-users' cannot be used to perform this action"},
		{"update to Anyone", "update", asAdmin, []string{"currentName", "ops", "name", "Anyone"}, 400, "Anyone group cannot be used"},
		{"update to taken name", "update", asAdmin, []string{"currentName", "ops", "name", "developers"}, 400, "Group 'developers' already exists"},
		{"update managed", "update", asAdmin, []string{"currentName", "scim-group", "description", "x"}, 400, managedMsg(identity.SourceSCIM, "Operation not allowed when the instance is externally managed.")},
		{"delete unauthenticated", "delete", cred{}, []string{"name", "ops"}, 401, "Authentication is required"},
		{"delete not admin", "delete", userCred("bob"), []string{"name", "ops"}, 403, "Insufficient privileges"},
		{"delete missing name", "delete", asAdmin, nil, 400, "The 'name' parameter is missing"},
		{"delete unknown", "delete", asAdmin, []string{"name", "nope"}, 404, "No group with name 'nope'"},
		{"delete default group", "delete", asAdmin, []string{"name", "sonar-users"}, 400, "Default group 'sonar-users' cannot be used to perform this action"},
		{"delete managed", "delete", asAdmin, []string{"name", "scim-group"}, 400, managedMsg(identity.SourceSCIM, "Deleting managed groups is not allowed.")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.post("api/user_groups/"+tc.path, tc.c, tc.kv...).must(t, tc.status).errMsg(t); got != tc.msg {
				t.Fatalf("message %q, want %q", got, tc.msg)
			}
		})
	}
	t.Run("delete", func(t *testing.T) {
		s.post("api/user_groups/delete", asAdmin, "name", "ops").must(t, 204)
		s.post("api/user_groups/delete", asAdmin, "name", "ops").must(t, 404)
	})
}

func TestUserGroupsMembership(t *testing.T) {
	s := newTestServer(t)
	s.createUser("alice")
	s.createUser("gone")
	s.post("api/users/deactivate", asAdmin, "login", "gone").must(t, 200)
	s.post("api/user_groups/create", asAdmin, "name", "devs").must(t, 200)
	identManagedGroup(t, s, "scim-group")

	t.Run("add and remove", func(t *testing.T) {
		s.post("api/user_groups/add_user", asAdmin, "name", "devs", "login", "alice").must(t, 204)
		// Adding twice is harmless.
		s.post("api/user_groups/add_user", asAdmin, "name", "devs", "login", "alice").must(t, 204)
		if _, groups, _ := groupsSearch(t, s, "q", "devs"); groups["devs"]["membersCount"] != 1.0 {
			t.Fatalf("devs %v", groups["devs"])
		}
		s.post("api/user_groups/remove_user", asAdmin, "name", "devs", "login", "alice").must(t, 204)
		if _, groups, _ := groupsSearch(t, s, "q", "devs"); groups["devs"]["membersCount"] != 0.0 {
			t.Fatalf("devs %v", groups["devs"])
		}
	})
	for _, path := range []string{"add_user", "remove_user"} {
		for _, tc := range []struct {
			name   string
			c      cred
			kv     []string
			status int
			msg    string
		}{
			{"unauthenticated", cred{}, []string{"name", "devs", "login", "alice"}, 401, "Authentication is required"},
			{"not admin", userCred("alice"), []string{"name", "devs", "login", "alice"}, 403, "Insufficient privileges"},
			{"missing name", asAdmin, []string{"login", "alice"}, 400, "The 'name' parameter is missing"},
			{"missing login", asAdmin, []string{"name", "devs"}, 400, "The 'login' parameter is missing"},
			{"unknown group", asAdmin, []string{"name", "nope", "login", "alice"}, 404, "No group with name 'nope'"},
			{"unknown user", asAdmin, []string{"name", "devs", "login", "nobody"}, 404, "Could not find a user with login 'nobody'"},
			{"default group", asAdmin, []string{"name", "sonar-users", "login", "alice"}, 400, "Default group 'sonar-users' cannot be used to perform this action"},
			{"managed group", asAdmin, []string{"name", "scim-group", "login", "alice"}, 400, managedMsg(identity.SourceSCIM, "Operation not allowed when the instance is externally managed.")},
		} {
			t.Run(path+" "+tc.name, func(t *testing.T) {
				if got := s.post("api/user_groups/"+path, tc.c, tc.kv...).must(t, tc.status).errMsg(t); got != tc.msg {
					t.Fatalf("message %q, want %q", got, tc.msg)
				}
			})
		}
	}
	t.Run("add a deactivated user", func(t *testing.T) {
		s.post("api/user_groups/add_user", asAdmin, "name", "devs", "login", "gone").must(t, 404)
	})
	t.Run("last administrator", func(t *testing.T) {
		msg := s.post("api/user_groups/remove_user", asAdmin, "name", identity.GroupAdministrators, "login", "admin").must(t, 400).errMsg(t)
		if msg != "The last administrator user cannot be removed" {
			t.Fatalf("message %q", msg)
		}
	})
}

func TestUserGroupsSearch(t *testing.T) {
	s := newTestServer(t)
	s.createUser("alice")
	s.createUser("bob")
	s.post("api/user_groups/create", asAdmin, "name", "devs", "description", "Developers").must(t, 200)
	s.post("api/user_groups/add_user", asAdmin, "name", "devs", "login", "alice").must(t, 204)

	t.Run("all fields", func(t *testing.T) {
		pg, groups, order := groupsSearch(t, s)
		if pg != (paging{PageIndex: 1, PageSize: 100, Total: 3}) || !slices.Equal(order, []string{"devs", "sonar-administrators", "sonar-users"}) {
			t.Fatalf("paging %+v, order %v", pg, order)
		}
		identWantKeys(t, "group", groups["devs"], "name", "description", "membersCount", "default", "managed")
		if groups["devs"]["membersCount"] != 1.0 || groups["devs"]["default"] != false {
			t.Fatalf("devs %v", groups["devs"])
		}
		// sonar-users counts every active user: admin, alice, bob.
		if g := groups["sonar-users"]; g["membersCount"] != 3.0 || g["default"] != true || g["managed"] != false {
			t.Fatalf("sonar-users %v", g)
		}
	})
	t.Run("some fields", func(t *testing.T) {
		_, groups, _ := groupsSearch(t, s, "f", "name,membersCount", "q", "dev")
		identWantKeys(t, "group", groups["devs"], "name", "membersCount", "default")
	})
	t.Run("paging", func(t *testing.T) {
		pg, _, order := groupsSearch(t, s, "p", "2", "ps", "2")
		if pg.Total != 3 || !slices.Equal(order, []string{"sonar-users"}) {
			t.Fatalf("paging %+v, order %v", pg, order)
		}
	})
	s.expectRefusals(t, http.MethodGet, "api/user_groups/search", []refusal{
		{"unauthenticated", cred{}, nil, 401, "Authentication is required"},
		{"not admin", userCred("alice"), nil, 403, "Insufficient privileges"},
		{"bad field", asAdmin, []string{"f", "name,id"}, 400, "Value of parameter 'f' (id) must be one of: [name, description, membersCount, managed]"},
		{"managed on an unmanaged instance", asAdmin, []string{"managed", "true"}, 400, "The 'managed' parameter is only available for managed instances."},
	})
	t.Run("managed instance", func(t *testing.T) {
		identManagedGroup(t, s, "scim-group")
		_, groups, order := groupsSearch(t, s, "managed", "true")
		if !slices.Equal(order, []string{"scim-group"}) || groups["scim-group"]["managed"] != true {
			t.Fatalf("managed groups %v", groups)
		}
		_, _, order = groupsSearch(t, s, "managed", "false")
		if slices.Contains(order, "scim-group") || len(order) != 3 {
			t.Fatalf("local groups %v", order)
		}
	})
}

func TestUserGroupsUsers(t *testing.T) {
	s := newTestServer(t)
	s.createUser("alice")
	s.createUser("bob")
	s.createUser("gone")
	s.post("api/user_groups/create", asAdmin, "name", "devs").must(t, 200)
	s.post("api/user_groups/add_user", asAdmin, "name", "devs", "login", "alice").must(t, 204)
	s.post("api/user_groups/add_user", asAdmin, "name", "devs", "login", "gone").must(t, 204)
	s.post("api/users/deactivate", asAdmin, "login", "gone").must(t, 200)

	list := func(kv ...string) (map[string]any, []string) {
		var out map[string]any
		s.get("api/user_groups/users", asAdmin, kv...).must(t, 200).json(t, &out)
		var logins []string
		for _, u := range out["users"].([]any) {
			logins = append(logins, u.(map[string]any)["login"].(string))
		}
		return out, logins
	}
	for _, tc := range []struct {
		name string
		kv   []string
		want []string
	}{
		{"members", []string{"name", "devs"}, []string{"alice"}},
		{"non-members", []string{"name", "devs", "selected", "deselected"}, []string{"admin", "bob"}},
		{"all", []string{"name", "devs", "selected", "all"}, []string{"admin", "alice", "bob"}},
		{"query", []string{"name", "devs", "selected", "all", "q", "BO"}, []string{"bob"}},
		{"sonar-users has every active user", []string{"name", "sonar-users"}, []string{"admin", "alice", "bob"}},
		{"sonar-users has no outsider", []string{"name", "sonar-users", "selected", "deselected"}, nil},
		{"page", []string{"name", "devs", "selected", "all", "p", "2", "ps", "2"}, []string{"bob"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, got := list(tc.kv...); !slices.Equal(got, tc.want) {
				t.Fatalf("users %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("shape", func(t *testing.T) {
		out, _ := list("name", "devs", "selected", "all")
		identWantKeys(t, "answer", out, "users", "paging", "p", "ps", "total")
		identWantKeys(t, "user", out["users"].([]any)[0].(map[string]any), "login", "name", "selected", "managed")
		if out["total"] != 3.0 || out["ps"] != 25.0 || out["p"] != 1.0 {
			t.Fatalf("answer %v", out)
		}
	})
	s.get("api/user_groups/users", asAdmin, "name", "nope").must(t, 404)
	s.get("api/user_groups/users", asAdmin).must(t, 400)
	s.get("api/user_groups/users", userCred("alice"), "name", "devs").must(t, 403)
	s.get("api/user_groups/users", cred{}, "name", "devs").must(t, 401)
}
