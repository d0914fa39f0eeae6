package webapi

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// TestHugePageIsPastTheEnd asks every paged listing, those paged in memory
// and those paged by the store, for pages whose offset overflows an int64
// ((p-1)*ps = 2^64 for p=2^62+1, ps=4): each answers 200 with no item,
// never a page that wrapped around to the first one. The table must name
// every route that declares a page parameter.
func TestHugePageIsPastTheEnd(t *testing.T) {
	s := newTestServer(t)
	for i := range 5 {
		n := fmt.Sprint(i)
		s.createUser("user" + n)
		s.post("api/user_groups/create", asAdmin, "name", "group"+n).must(t, 200)
		s.post("api/user_groups/add_user", asAdmin, "name", "group0", "login", "user"+n).must(t, 204)
		s.post("api/projects/create", asAdmin, "project", "proj"+n, "name", "Project "+n).must(t, 200)
		s.post("api/permissions/add_user", asAdmin, "login", "user"+n, "permission", "admin").must(t, 204)
		s.post("api/permissions/add_group", asAdmin, "groupName", "group"+n, "permission", "scan").must(t, 204)
		s.post("api/permissions/create_template", asAdmin, "name", "tmpl"+n).must(t, 200)
		s.post("api/permissions/add_user_to_template", asAdmin, "templateName", "tmpl0", "login", "user"+n, "permission", "scan").must(t, 204)
		s.post("api/permissions/add_group_to_template", asAdmin, "templateName", "tmpl0", "groupName", "group"+n, "permission", "scan").must(t, 204)
		s.post("api/scim_tokens/generate", asAdmin, "name", "scim"+n).must(t, 200)
		if _, err := s.st.StartSyncRun(t.Context(), identity.SyncRun{Source: identity.SourceLDAP, Trigger: identity.TriggerManual, Status: identity.SyncSuccess}); err != nil {
			t.Fatal(err)
		}
		s.post("api/project_tags/set", asAdmin, "project", "proj"+n, "tags", "tag"+n).must(t, 204)
	}
	var org struct{ ID string }
	s.post("api/organization_tokens/generate", asAdmin, "name", "org", "projects", "proj0,proj1,proj2,proj3,proj4").must(t, 200).json(t, &org)
	for i := range 4 {
		s.post("api/organization_tokens/generate", asAdmin, "name", fmt.Sprint("org", i), "projectSet", "all").must(t, 200)
	}

	cases := []struct {
		path, items string
		kv          []string
	}{
		{"api/users/search", "users", nil},
		{"api/users/groups", "groups", []string{"login", "user0", "selected", "all"}},
		{"api/user_groups/search", "groups", nil},
		{"api/user_groups/users", "users", []string{"name", "group0"}},
		{"api/permissions/users", "users", nil},
		{"api/permissions/groups", "groups", nil},
		{"api/permissions/search_templates", "permissionTemplates", nil},
		{"api/permissions/template_users", "users", []string{"templateName", "tmpl0"}},
		{"api/permissions/template_groups", "groups", []string{"templateName", "tmpl0"}},
		{"api/projects/search", "components", nil},
		{"api/projects/search_my_projects", "projects", nil},
		{"api/project_tags/search", "tags", nil},
		{"api/organization_tokens/search", "organizationTokens", nil},
		{"api/organization_tokens/show", "projects", []string{"id", org.ID}},
		{"api/scim_tokens/search", "scimTokens", nil},
		{"api/audit/search", "events", nil},
		{"api/provisioning/runs", "runs", nil},
	}
	// Paged by the store (store.Page.Offset saturates) behind the
	// provisioning engine, which this test server does not run.
	covered := []string{"api/provisioning/runs"}
	for _, tc := range cases {
		covered = append(covered, tc.path)
	}
	for _, rt := range s.api.Routes() {
		if slices.ContainsFunc(rt.Params, func(p Param) bool { return p.Name == "p" }) && !slices.Contains(covered, rt.Path) {
			t.Errorf("paged route %s is missing from the table", rt.Path)
		}
	}

	items := func(t *testing.T, path, key string, kv []string, p, ps string) []any {
		t.Helper()
		v := values(kv...)
		v.Set("p", p)
		v.Set("ps", ps)
		var body map[string]any
		s.get(path+"?"+v.Encode(), asAdmin).must(t, 200).json(t, &body)
		list, ok := body[key].([]any)
		if !ok && body[key] != nil {
			t.Fatalf("%s: %q is not a list: %v", path, key, body)
		}
		return list
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			if first := items(t, tc.path, tc.items, tc.kv, "1", "4"); len(first) == 0 {
				t.Fatalf("page 1 is empty: the fixture does not exercise %s", tc.path)
			}
			for _, huge := range [][2]string{
				{"4611686018427387905", "4"}, // (p-1)*ps = 2^64
				{"2305843009213693953", "8"}, // (p-1)*ps = 2^64
				{"9223372036854775807", "50"},
			} {
				if got := items(t, tc.path, tc.items, tc.kv, huge[0], huge[1]); len(got) != 0 {
					t.Errorf("p=%s&ps=%s answered %d items, want none", huge[0], huge[1], len(got))
				}
			}
		})
	}
}
