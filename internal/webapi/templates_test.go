package webapi

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// tmplCreate creates a template through the API and returns its id.
func tmplCreate(t *testing.T, s *testServer, kv ...string) string {
	t.Helper()
	var out struct {
		PermissionTemplate struct {
			ID string `json:"id"`
		} `json:"permissionTemplate"`
	}
	s.post("api/permissions/create_template", asAdmin, kv...).must(t, 200).json(t, &out)
	return out.PermissionTemplate.ID
}

// tmplSearchAnswer is the shape of search_templates.
type tmplSearchAnswer struct {
	PermissionTemplates []struct {
		ID                string `json:"id"`
		Name              string `json:"name"`
		ProjectKeyPattern string `json:"projectKeyPattern"`
		Permissions       []struct {
			Key                string `json:"key"`
			UsersCount         int    `json:"usersCount"`
			GroupsCount        int    `json:"groupsCount"`
			WithProjectCreator bool   `json:"withProjectCreator"`
		} `json:"permissions"`
	} `json:"permissionTemplates"`
	DefaultTemplates []struct {
		TemplateID string `json:"templateId"`
		Qualifier  string `json:"qualifier"`
	} `json:"defaultTemplates"`
	Permissions []struct {
		Key, Name, Description string
	} `json:"permissions"`
	Paging *paging `json:"paging"`
}

func TestTemplatesCRUD(t *testing.T) {
	s := newTestServer(t)
	permUser(t, s, "joe", identity.SourceLocal)

	var created struct {
		PermissionTemplate json.RawMessage `json:"permissionTemplate"`
	}
	r := s.post("api/permissions/create_template", asAdmin, "name", "Finance", "description", "Money", "projectKeyPattern", `fin\..*`).must(t, 200)
	r.json(t, &created)
	if got := permKeys(t, created.PermissionTemplate); !slices.Equal(got, []string{"createdAt", "description", "id", "name", "projectKeyPattern", "updatedAt"}) {
		t.Fatalf("template keys %v", got)
	}
	var tpl struct {
		ID, Name, Description, ProjectKeyPattern, CreatedAt, UpdatedAt string
	}
	if err := json.Unmarshal(created.PermissionTemplate, &tpl); err != nil {
		t.Fatal(err)
	}
	if tpl.Name != "Finance" || tpl.ProjectKeyPattern != `fin\..*` || len(tpl.CreatedAt) != len("2006-01-02T15:04:05+0000") || tpl.CreatedAt[len(tpl.CreatedAt)-5] != '+' {
		t.Fatalf("template %+v", tpl)
	}
	plain := tmplCreate(t, s, "name", "Plain")
	var plainOut struct {
		PermissionTemplate json.RawMessage `json:"permissionTemplate"`
	}
	s.post("api/permissions/update_template", asAdmin, "id", plain, "description", "now described").must(t, 200).json(t, &plainOut)
	if got := permKeys(t, plainOut.PermissionTemplate); !slices.Equal(got, []string{"createdAt", "description", "id", "name", "updatedAt"}) {
		t.Fatalf("updated keys %v", got)
	}

	cases := []struct {
		name   string
		method string
		path   string
		as     cred
		kv     []string
		status int
		msg    string
	}{
		{"create: duplicate name, any case", "POST", "api/permissions/create_template", asAdmin, []string{"name", "FINANCE"}, 400, "A template with the name 'FINANCE' already exists (case insensitive)."},
		{"create: bad pattern", "POST", "api/permissions/create_template", asAdmin, []string{"name", "Bad", "projectKeyPattern", "fin(["}, 400, "The 'projectKeyPattern' parameter must be a valid Java regular expression. 'fin([' was passed"},
		{"create: missing name", "POST", "api/permissions/create_template", asAdmin, nil, 400, "The 'name' parameter is missing"},
		{"create: not admin", "POST", "api/permissions/create_template", permAs("joe"), []string{"name", "X"}, 403, "Insufficient privileges"},
		{"create: anonymous", "POST", "api/permissions/create_template", cred{}, []string{"name", "X"}, 401, "Authentication is required"},
		{"update: rename", "POST", "api/permissions/update_template", asAdmin, []string{"id", tpl.ID, "name", "Finance 2"}, 200, ""},
		{"update: missing id", "POST", "api/permissions/update_template", asAdmin, []string{"name", "Y"}, 400, "The 'id' parameter is missing"},
		{"update: unknown id", "POST", "api/permissions/update_template", asAdmin, []string{"id", "999", "name", "Y"}, 404, "Permission template with id '999' is not found"},
		{"update: non-numeric id", "POST", "api/permissions/update_template", asAdmin, []string{"id", "AU-x", "name", "Y"}, 404, "Permission template with id 'AU-x' is not found"},
		{"update: bad pattern", "POST", "api/permissions/update_template", asAdmin, []string{"id", tpl.ID, "projectKeyPattern", "("}, 400, "The 'projectKeyPattern' parameter must be a valid Java regular expression. '(' was passed"},
		{"update: name taken", "POST", "api/permissions/update_template", asAdmin, []string{"id", tpl.ID, "name", "plain"}, 400, "A template with the name 'plain' already exists (case insensitive)."},
		{"ref: neither", "POST", "api/permissions/delete_template", asAdmin, nil, 400, "Template name or template id must be provided, not both."},
		{"ref: both", "POST", "api/permissions/delete_template", asAdmin, []string{"templateId", plain, "templateName", "Plain"}, 400, "Template name or template id must be provided, not both."},
		{"ref: unknown name", "POST", "api/permissions/delete_template", asAdmin, []string{"templateName", "nope"}, 404, "Permission template with name 'nope' is not found (case insensitive)"},
		{"ref: unknown id", "POST", "api/permissions/set_default_template", asAdmin, []string{"templateId", "12345"}, 404, "Permission template with id '12345' is not found"},
		{"set default: bad qualifier", "POST", "api/permissions/set_default_template", asAdmin, []string{"templateId", plain, "qualifier", "VW"}, 400, "Value of parameter 'qualifier' (VW) must be one of: [TRK]"},
		{"search: GET only", "POST", "api/permissions/search_templates", asAdmin, nil, 405, "HTTP method GET is required"},
		{"search: not admin", "GET", "api/permissions/search_templates", permAs("joe"), nil, 403, "Insufficient privileges"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.method, tc.path, tc.as, values(tc.kv...)).must(t, tc.status)
			if tc.msg != "" {
				if got := r.errMsg(t); got != tc.msg {
					t.Fatalf("message %q, want %q", got, tc.msg)
				}
			}
		})
	}

	// The default template cannot be deleted until another one is default.
	defID, err := s.st.DefaultTemplateID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.post("api/permissions/delete_template", asAdmin, "templateId", idString(defID)).must(t, 400).errMsg(t); got != "It is not possible to delete the default permission template for projects" {
		t.Fatalf("delete default: %q", got)
	}
	s.post("api/permissions/set_default_template", asAdmin, "templateName", "plain").must(t, 204)
	s.post("api/permissions/delete_template", asAdmin, "templateId", idString(defID)).must(t, 204)

	var found tmplSearchAnswer
	s.get("api/permissions/search_templates", asAdmin).must(t, 200).json(t, &found)
	var names []string
	for _, pt := range found.PermissionTemplates {
		names = append(names, pt.Name)
	}
	if !slices.Equal(names, []string{"Finance 2", "Plain"}) {
		t.Fatalf("templates %v", names)
	}
	if len(found.DefaultTemplates) != 1 || found.DefaultTemplates[0].TemplateID != plain || found.DefaultTemplates[0].Qualifier != "TRK" {
		t.Fatalf("default templates %+v", found.DefaultTemplates)
	}
	if found.Paging != nil {
		t.Fatalf("paging without p/ps: %+v", found.Paging)
	}
	s.get("api/permissions/search_templates", asAdmin, "q", "fin").must(t, 200).json(t, &found)
	if len(found.PermissionTemplates) != 1 || found.PermissionTemplates[0].Name != "Finance 2" {
		t.Fatalf("q=fin: %+v", found.PermissionTemplates)
	}
	found = tmplSearchAnswer{}
	s.get("api/permissions/search_templates", asAdmin, "p", "2", "ps", "1").must(t, 200).json(t, &found)
	if found.Paging == nil || *found.Paging != (paging{PageIndex: 2, PageSize: 1, Total: 2}) || len(found.PermissionTemplates) != 1 || found.PermissionTemplates[0].Name != "Plain" {
		t.Fatalf("paged: %+v %+v", found.Paging, found.PermissionTemplates)
	}
}

func TestTemplateGrants(t *testing.T) {
	s := newTestServer(t)
	permUser(t, s, "ann", identity.SourceLocal)
	permUser(t, s, "ben", identity.SourceLocal)
	permGroup(t, s, "devs")
	permGroup(t, s, "qa")
	id := tmplCreate(t, s, "name", "T1")

	cases := []struct {
		name   string
		path   string
		kv     []string
		status int
		msg    string
	}{
		{"add user", "api/permissions/add_user_to_template", []string{"templateId", id, "login", "ann", "permission", "scan"}, 204, ""},
		{"add user by template name", "api/permissions/add_user_to_template", []string{"templateName", "t1", "login", "ann", "permission", "admin"}, 204, ""},
		{"add user again", "api/permissions/add_user_to_template", []string{"templateId", id, "login", "ann", "permission", "scan"}, 204, ""},
		{"add group", "api/permissions/add_group_to_template", []string{"templateId", id, "groupName", "devs", "permission", "scan"}, 204, ""},
		{"add Anyone", "api/permissions/add_group_to_template", []string{"templateId", id, "groupName", "ANYONE", "permission", "issueadmin"}, 204, ""},
		{"Anyone admin", "api/permissions/add_group_to_template", []string{"templateId", id, "groupName", "anyone", "permission", "admin"}, 400, "It is not possible to add the 'admin' permission to the group 'Anyone'."},
		{"add creator", "api/permissions/add_project_creator_to_template", []string{"templateId", id, "permission", "admin"}, 204, ""},
		{"add creator scan", "api/permissions/add_project_creator_to_template", []string{"templateId", id, "permission", "scan"}, 204, ""},
		{"remove creator scan", "api/permissions/remove_project_creator_from_template", []string{"templateId", id, "permission", "scan"}, 204, ""},
		{"add then remove group", "api/permissions/add_group_to_template", []string{"templateId", id, "groupName", "qa", "permission", "user"}, 204, ""},
		{"remove group", "api/permissions/remove_group_from_template", []string{"templateId", id, "groupName", "qa", "permission", "user"}, 204, ""},
		{"add then remove user", "api/permissions/add_user_to_template", []string{"templateId", id, "login", "ben", "permission", "user"}, 204, ""},
		{"remove user", "api/permissions/remove_user_from_template", []string{"templateId", id, "login", "ben", "permission", "user"}, 204, ""},
		{"global permission", "api/permissions/add_user_to_template", []string{"templateId", id, "login", "ann", "permission", "gateadmin"}, 400, "Value of parameter 'permission' (gateadmin) must be one of: [admin, codeviewer, issueadmin, securityhotspotadmin, scan, user]"},
		{"unknown user", "api/permissions/add_user_to_template", []string{"templateId", id, "login", "zz", "permission", "scan"}, 404, "User with login 'zz' is not found"},
		{"unknown group", "api/permissions/add_group_to_template", []string{"templateId", id, "groupName", "zz", "permission", "scan"}, 404, "No group with name 'zz'"},
		{"unknown template", "api/permissions/add_group_to_template", []string{"templateId", "0", "groupName", "devs", "permission", "scan"}, 404, "Permission template with id '0' is not found"},
		{"missing permission", "api/permissions/add_project_creator_to_template", []string{"templateId", id}, 400, "The 'permission' parameter is missing"},
		{"missing login", "api/permissions/add_user_to_template", []string{"templateId", id, "permission", "scan"}, 400, "The 'login' parameter is missing"},
		{"no template ref", "api/permissions/add_user_to_template", []string{"login", "ann", "permission", "scan"}, 400, "Template name or template id must be provided, not both."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.post(tc.path, asAdmin, tc.kv...).must(t, tc.status)
			if tc.msg != "" {
				if got := r.errMsg(t); got != tc.msg {
					t.Fatalf("message %q, want %q", got, tc.msg)
				}
			}
		})
	}
	s.post("api/permissions/add_user_to_template", permAs("ann"), "templateId", id, "login", "ann", "permission", "scan").must(t, 403)

	t.Run("search counts", func(t *testing.T) {
		var found tmplSearchAnswer
		s.get("api/permissions/search_templates", asAdmin, "q", "T1").must(t, 200).json(t, &found)
		if len(found.PermissionTemplates) != 1 {
			t.Fatalf("templates %+v", found.PermissionTemplates)
		}
		type count struct {
			users, groups int
			creator       bool
		}
		got := map[string]count{}
		var keys []string
		for _, p := range found.PermissionTemplates[0].Permissions {
			got[p.Key] = count{p.UsersCount, p.GroupsCount, p.WithProjectCreator}
			keys = append(keys, p.Key)
		}
		if !slices.Equal(keys, []string{"admin", "codeviewer", "issueadmin", "securityhotspotadmin", "scan", "user"}) {
			t.Fatalf("keys %v", keys)
		}
		want := map[string]count{"admin": {1, 0, true}, "scan": {1, 1, false}, "issueadmin": {0, 1, false}}
		for _, k := range keys {
			if got[k] != want[k] {
				t.Errorf("%s: %+v, want %+v", k, got[k], want[k])
			}
		}
		var catalogue []string
		for _, p := range found.Permissions {
			if p.Name == "" || p.Description == "" {
				t.Errorf("catalogue entry %+v", p)
			}
			catalogue = append(catalogue, p.Key)
		}
		if !slices.Equal(catalogue, keys) {
			t.Fatalf("catalogue %v", catalogue)
		}
	})

	t.Run("template_users", func(t *testing.T) {
		var out struct {
			Paging paging            `json:"paging"`
			Users  []json.RawMessage `json:"users"`
		}
		s.get("api/permissions/template_users", asAdmin, "templateId", id).must(t, 200).json(t, &out)
		if len(out.Users) != 1 || out.Paging.Total != 1 {
			t.Fatalf("users %s", out.Users)
		}
		if got := permKeys(t, out.Users[0]); !slices.Equal(got, []string{"avatar", "email", "login", "name", "permissions"}) {
			t.Fatalf("keys %v", got)
		}
		var u struct {
			Login       string   `json:"login"`
			Permissions []string `json:"permissions"`
		}
		if err := json.Unmarshal(out.Users[0], &u); err != nil {
			t.Fatal(err)
		}
		if u.Login != "ann" || !slices.Equal(u.Permissions, []string{"admin", "scan"}) {
			t.Fatalf("user %+v", u)
		}
		// With a text query, everyone matching is listed, holders first.
		s.get("api/permissions/template_users", asAdmin, "templateId", id, "q", "example").must(t, 200).json(t, &out)
		if out.Paging.Total != 2 || len(out.Users) != 2 {
			t.Fatalf("q: %+v %s", out.Paging, out.Users)
		}
		s.get("api/permissions/template_users", asAdmin, "templateId", id, "permission", "user").must(t, 200).json(t, &out)
		if len(out.Users) != 0 {
			t.Fatalf("permission=user: %s", out.Users)
		}
		if got := s.get("api/permissions/template_users", asAdmin, "templateId", id, "permission", "gateadmin").must(t, 400).errMsg(t); got != "Value of parameter 'permission' (gateadmin) must be one of: [admin, codeviewer, issueadmin, securityhotspotadmin, scan, user]" {
			t.Fatalf("bad permission: %q", got)
		}
	})

	t.Run("template_groups", func(t *testing.T) {
		var out struct {
			Paging paging            `json:"paging"`
			Groups []json.RawMessage `json:"groups"`
		}
		s.get("api/permissions/template_groups", asAdmin, "templateName", "T1").must(t, 200).json(t, &out)
		var names []string
		for _, raw := range out.Groups {
			var g struct{ Name string }
			if err := json.Unmarshal(raw, &g); err != nil {
				t.Fatal(err)
			}
			names = append(names, g.Name)
		}
		if !slices.Equal(names, []string{"Anyone", "devs"}) || out.Paging.Total != 2 {
			t.Fatalf("groups %v total %d", names, out.Paging.Total)
		}
		if got := permKeys(t, out.Groups[0]); !slices.Equal(got, []string{"name", "permissions"}) {
			t.Fatalf("Anyone keys %v", got)
		}
		if got := permKeys(t, out.Groups[1]); !slices.Equal(got, []string{"description", "id", "name", "permissions"}) {
			t.Fatalf("group keys %v", got)
		}
		s.get("api/permissions/template_groups", asAdmin, "templateName", "T1", "q", "qa_").must(t, 200).json(t, &out)
		if out.Paging.Total != 0 {
			t.Fatalf("q=qa_: %s", out.Groups)
		}
		s.get("api/permissions/template_groups", asAdmin, "templateName", "T1", "q", "sonar").must(t, 200).json(t, &out)
		if out.Paging.Total != 2 {
			t.Fatalf("q=sonar: %s", out.Groups)
		}
	})
}

func TestTemplateApply(t *testing.T) {
	s := newTestServer(t)
	creator := permUser(t, s, "carl", identity.SourceLocal)
	permUser(t, s, "ann", identity.SourceLocal)
	permGroup(t, s, "finance-team")
	s.post("api/permissions/add_user", asAdmin, "login", "carl", "permission", "provisioning").must(t, 204)

	fin := tmplCreate(t, s, "name", "Finance", "projectKeyPattern", `fin\..*`)
	s.post("api/permissions/add_group_to_template", asAdmin, "templateId", fin, "groupName", "finance-team", "permission", "user").must(t, 204)
	s.post("api/permissions/add_project_creator_to_template", asAdmin, "templateId", fin, "permission", "admin").must(t, 204)
	other := tmplCreate(t, s, "name", "Other")
	s.post("api/permissions/add_user_to_template", asAdmin, "templateId", other, "login", "ann", "permission", "scan").must(t, 204)

	grantsOf := func(t *testing.T, key string) []string {
		t.Helper()
		var out struct {
			Users []struct {
				Login       string   `json:"login"`
				Permissions []string `json:"permissions"`
			} `json:"users"`
			Groups []struct {
				Name        string   `json:"name"`
				Permissions []string `json:"permissions"`
			} `json:"groups"`
		}
		var got []string
		s.get("api/permissions/users", asAdmin, "projectKey", key).must(t, 200).json(t, &out)
		for _, u := range out.Users {
			for _, p := range u.Permissions {
				got = append(got, "user:"+u.Login+":"+p)
			}
		}
		s.get("api/permissions/groups", asAdmin, "projectKey", key).must(t, 200).json(t, &out)
		for _, g := range out.Groups {
			for _, p := range g.Permissions {
				got = append(got, "group:"+g.Name+":"+p)
			}
		}
		slices.Sort(got)
		return got
	}

	t.Run("creation: pattern match, creator grants to the creating user", func(t *testing.T) {
		s.post("api/projects/create", permAs("carl"), "project", "fin.ledger", "name", "Ledger", "visibility", "private").must(t, 200)
		want := []string{"group:finance-team:user", "user:carl:admin"}
		if got := grantsOf(t, "fin.ledger"); !slices.Equal(got, want) {
			t.Fatalf("grants %v, want %v", got, want)
		}
		if !permMay(t, s, creator.Login, identity.PermAdmin, "fin.ledger") {
			t.Fatal("creator is not admin of the project it created")
		}
	})
	t.Run("creation: no match, default template", func(t *testing.T) {
		s.post("api/projects/create", permAs("carl"), "project", "ops.tool", "name", "Tool", "visibility", "private").must(t, 200)
		want := []string{"group:sonar-administrators:admin", "group:sonar-users:codeviewer", "group:sonar-users:issueadmin", "group:sonar-users:securityhotspotadmin", "group:sonar-users:user"}
		if got := grantsOf(t, "ops.tool"); !slices.Equal(got, want) {
			t.Fatalf("grants %v, want %v", got, want)
		}
	})
	t.Run("apply replaces the grants", func(t *testing.T) {
		s.post("api/permissions/apply_template", asAdmin, "templateName", "other", "projectKey", "fin.ledger").must(t, 204)
		if got := grantsOf(t, "fin.ledger"); !slices.Equal(got, []string{"user:ann:scan"}) {
			t.Fatalf("grants %v", got)
		}
	})
	t.Run("apply errors", func(t *testing.T) {
		cases := []struct {
			name   string
			kv     []string
			status int
			msg    string
		}{
			{"no project", []string{"templateId", other}, 400, "Project id or project key can be provided, not both."},
			{"unknown project", []string{"templateId", other, "projectKey", "nope"}, 404, "Component key 'nope' not found"},
			{"unknown template", []string{"templateName", "nope", "projectKey", "ops.tool"}, 404, "Permission template with name 'nope' is not found (case insensitive)"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if got := s.post("api/permissions/apply_template", asAdmin, tc.kv...).must(t, tc.status).errMsg(t); got != tc.msg {
					t.Fatalf("message %q, want %q", got, tc.msg)
				}
			})
		}
		s.post("api/permissions/apply_template", permAs("carl"), "templateId", other, "projectKey", "ops.tool").must(t, 403)
	})
	t.Run("bulk apply skips managed projects", func(t *testing.T) {
		permProject(t, s, "fin.gl", identity.Private, identity.SourceGitLab)
		before := grantsOf(t, "fin.gl")
		s.post("api/permissions/bulk_apply_template", asAdmin, "templateId", other, "q", "fin").must(t, 204)
		if got := grantsOf(t, "fin.ledger"); !slices.Equal(got, []string{"user:ann:scan"}) {
			t.Fatalf("fin.ledger %v", got)
		}
		if got := grantsOf(t, "fin.gl"); !slices.Equal(got, before) {
			t.Fatalf("managed project changed: %v, was %v", got, before)
		}
		if got := grantsOf(t, "ops.tool"); slices.Equal(got, []string{"user:ann:scan"}) {
			t.Fatal("q=fin applied to ops.tool")
		}
	})
	t.Run("bulk apply by keys", func(t *testing.T) {
		s.post("api/permissions/bulk_apply_template", asAdmin, "templateName", "Finance", "projects", "ops.tool,fin.ledger").must(t, 204)
		for _, key := range []string{"ops.tool", "fin.ledger"} {
			// Applied on demand, the creator grant has no creator.
			if got := grantsOf(t, key); !slices.Equal(got, []string{"group:finance-team:user"}) {
				t.Fatalf("%s: %v", key, got)
			}
		}
	})
	t.Run("bulk apply errors", func(t *testing.T) {
		keys := make([]string, 1001)
		for i := range keys {
			keys[i] = "k" + itoa(i)
		}
		many := ""
		for i, k := range keys {
			if i > 0 {
				many += ","
			}
			many += k
		}
		if got := s.post("api/permissions/bulk_apply_template", asAdmin, "templateId", other, "projects", many).must(t, 400).errMsg(t); got != "'projects' can contains only 1000 values, got 1001" {
			t.Fatalf("too many: %q", got)
		}
		if got := s.post("api/permissions/bulk_apply_template", asAdmin, "templateId", other, "analyzedBefore", "yesterday").must(t, 400).errMsg(t); got != "Date 'yesterday' cannot be parsed as either a date or date+time" {
			t.Fatalf("bad date: %q", got)
		}
		s.post("api/permissions/bulk_apply_template", asAdmin, "templateId", other, "analyzedBefore", "2017-10-19T13:00:00+0200").must(t, 204)
		s.post("api/permissions/bulk_apply_template", permAs("carl"), "templateId", other).must(t, 403)
	})
}
