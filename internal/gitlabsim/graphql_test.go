package gitlabsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func post(t testing.TB, ts *httptest.Server, token, query string, vars map[string]any) (*http.Response, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest("POST", ts.URL+"/api/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(t, ts, req)
}

type gqlAnswer struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// membersAnswer is a group with its members (encoding/json matches the
// field names case-insensitively).
type membersAnswer struct {
	ID, FullPath string
	GroupMembers struct {
		PageInfo struct {
			HasNextPage bool
			EndCursor   string
		}
		Nodes []struct {
			User        struct{ ID, Username, State string }
			AccessLevel struct {
				IntegerValue int
				StringValue  string
			}
			MemberRole *struct{ Name string }
		}
	}
}

const membersQuery = `query($path: ID!, $after: String, $first: Int) {
  group(fullPath: $path) {
    id fullPath
    groupMembers(first: $first, after: $after, relations: [DIRECT, INHERITED, SHARED_FROM_GROUPS]) {
      pageInfo { hasNextPage endCursor }
      nodes { user { id username state } accessLevel { integerValue stringValue } memberRole { name } }
    }
  }
}`

func gqlOK(t testing.TB, ts *httptest.Server, query string, vars map[string]any) gqlAnswer {
	t.Helper()
	resp, b := post(t, ts, "glpat-sync-token", query, vars)
	a := decode[gqlAnswer](t, b)
	if resp.StatusCode != 200 || len(a.Errors) > 0 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	return a
}

// restMembers is what REST members/all answers, as "user:level:role".
func restMembers(t testing.TB, ts *httptest.Server, path string) []string {
	return restList(t, ts, "/api/v4/groups/"+strings.ReplaceAll(path, "/", "%2F")+"/members/all")
}

func TestGraphQLMembersAsREST(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{})
	for _, path := range []string{"acme", "acme/backend", "acme/backend/payments", "acme/frontend", "partners", "other"} {
		t.Run(path, func(t *testing.T) {
			a := gqlOK(t, ts, membersQuery, map[string]any{"path": path})
			g := decode[membersAnswer](t, a.Data["group"])
			if g.FullPath != path || !strings.HasPrefix(g.ID, "gid://gitlab/Group/") {
				t.Errorf("group %s %s", g.ID, g.FullPath)
			}
			var got []string
			for _, n := range g.GroupMembers.Nodes {
				role := ""
				if n.MemberRole != nil {
					role = n.MemberRole.Name
				}
				if !strings.HasPrefix(n.User.ID, "gid://gitlab/User/") || n.AccessLevel.StringValue == "" {
					t.Errorf("member %+v", n)
				}
				got = append(got, fmt.Sprintf("%s:%d:%s", n.User.Username, n.AccessLevel.IntegerValue, role))
			}
			if want := restMembers(t, ts, path); !slices.Equal(got, want) {
				t.Errorf("GraphQL members\n%v\nREST members/all\n%v", got, want)
			}
		})
	}
}

func TestGraphQLRelations(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{})
	names := func(rel []string) []string {
		arg := ""
		if rel != nil {
			arg = "(relations: [" + strings.Join(rel, ", ") + "])"
		}
		q := `{ group(fullPath: "acme/backend") { groupMembers` + arg + ` { nodes { user { username } } } } }`
		g := decode[membersAnswer](t, gqlOK(t, ts, q, nil).Data["group"])
		var out []string
		for _, n := range g.GroupMembers.Nodes {
			out = append(out, n.User.Username)
		}
		return out
	}
	fix := loadAcme(t)
	direct := func(path string) []string {
		for _, g := range fix.Groups {
			if g.FullPath == path {
				var out []string
				for _, m := range g.Members {
					out = append(out, m.User)
				}
				return out
			}
		}
		return nil
	}
	byID := func(xs []string) []string {
		ix, _ := buildIndex(fix)
		slices.SortFunc(xs, func(a, b string) int { return int(ix.userByName[a].ID - ix.userByName[b].ID) })
		return slices.Compact(xs)
	}
	all := names([]string{"DIRECT", "INHERITED", "SHARED_FROM_GROUPS"})
	tests := []struct {
		name string
		rel  []string
		want []string
	}{
		{"direct", []string{"DIRECT"}, byID(direct("acme/backend"))},
		{"inherited", []string{"INHERITED"}, byID(direct("acme"))},
		{"default is direct and inherited", nil, byID(append(direct("acme/backend"), direct("acme")...))},
		{"descendants", []string{"DESCENDANTS"}, byID(direct("acme/backend/payments"))},
		{"members/all", []string{"DIRECT", "INHERITED", "SHARED_FROM_GROUPS"}, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(tt.rel); !slices.Equal(got, tt.want) {
				t.Errorf("%v, want %v", got, tt.want)
			}
		})
	}
	if len(all) <= len(names(nil)) {
		t.Errorf("SHARED_FROM_GROUPS added nobody: %v", all)
	}
}

func TestGraphQLPagination(t *testing.T) {
	f := Scale(ScaleOptions{Users: 30, Groups: 3, Projects: 1})
	g := &f.Groups[0]
	for _, u := range f.Users[1:] {
		g.Members = append(g.Members, Member{User: u.Username, AccessLevel: 30})
	}
	for i := range 230 {
		u := fmt.Sprintf("extra%03d", i)
		f.Users = append(f.Users, User{Username: u})
		g.Members = append(g.Members, Member{User: u, AccessLevel: 20})
	}
	_, ts := start(t, f, Options{})
	want := restMembers(t, ts, g.FullPath) // first page only
	var got []string
	pages := 0
	after := ""
	for {
		vars := map[string]any{"path": g.FullPath}
		if after != "" {
			vars["after"] = after
		}
		m := decode[membersAnswer](t, gqlOK(t, ts, membersQuery, vars).Data["group"])
		pages++
		if n := len(m.GroupMembers.Nodes); n > 100 {
			t.Fatalf("page of %d", n)
		}
		for _, n := range m.GroupMembers.Nodes {
			got = append(got, n.User.Username)
		}
		if !m.GroupMembers.PageInfo.HasNextPage {
			break
		}
		after = m.GroupMembers.PageInfo.EndCursor
	}
	if pages != 3 || len(got) != 260 || len(slices.Compact(slices.Clone(got))) != 260 {
		t.Errorf("%d pages, %d members (want 3, 260 distinct)", pages, len(got))
	}
	if !strings.HasPrefix(want[0], got[0]+":") {
		t.Errorf("first %s, REST first %s", got[0], want[0])
	}
	// first: 150 is cut to the maximum page size.
	m := decode[membersAnswer](t, gqlOK(t, ts, membersQuery, map[string]any{"path": g.FullPath, "first": 150}).Data["group"])
	if len(m.GroupMembers.Nodes) != 100 {
		t.Errorf("first: 150 gave %d", len(m.GroupMembers.Nodes))
	}
	_, b := post(t, ts, "glpat-sync-token", membersQuery, map[string]any{"path": g.FullPath, "after": "garbage"})
	if a := decode[gqlAnswer](t, b); len(a.Errors) == 0 || !strings.Contains(a.Errors[0].Message, "invalid cursor") {
		t.Errorf("bad cursor: %s", b)
	}
}

// aliased is a query reading n groups' members, one alias each.
func aliased(paths []string) string {
	var q strings.Builder
	q.WriteString("{")
	for i, p := range paths {
		fmt.Fprintf(&q, ` g%d: group(fullPath: %q) { groupMembers(first: 100, relations: [DIRECT, INHERITED, SHARED_FROM_GROUPS]) { pageInfo { hasNextPage endCursor } nodes { user { id username name state } accessLevel { integerValue } memberRole { name } } } }`, i, p)
	}
	q.WriteString("}")
	return q.String()
}

func TestGraphQLAliasesAndComplexity(t *testing.T) {
	sim, ts := start(t, loadAcme(t), Options{})
	paths := []string{"acme", "acme/backend", "acme/frontend", "partners", "acme/backend/payments", "nope", "acme", "partners"}
	sim.ResetStats()
	a := gqlOK(t, ts, aliased(paths), nil)
	if got := sim.Stats().Requests; got != 1 {
		t.Errorf("%d requests for 8 groups", got)
	}
	for i, p := range paths {
		raw := a.Data[fmt.Sprintf("g%d", i)]
		if p == "nope" {
			if string(raw) != "null" {
				t.Errorf("missing group: %s", raw)
			}
			continue
		}
		if m := decode[membersAnswer](t, raw); len(m.GroupMembers.Nodes) == 0 {
			t.Errorf("%s: no members", p)
		}
	}
	// 1 (group) + groupMembers: (13 fields under it + 1) × 2 = 29 an alias:
	// 8 fit in 250, 9 do not.
	for _, tt := range []struct {
		n     int
		score int
	}{{8, 0}, {9, 9 * 29}, {20, 20 * 29}} {
		q := aliased(slices.Repeat([]string{"acme"}, tt.n))
		_, b := post(t, ts, "glpat-sync-token", q, nil)
		a := decode[gqlAnswer](t, b)
		switch {
		case tt.score == 0 && len(a.Errors) > 0:
			t.Errorf("%d groups: %s", tt.n, b)
		case tt.score > 0:
			want := fmt.Sprintf("Query has complexity of %d, which exceeds max complexity of 250", tt.score)
			if len(a.Errors) != 1 || a.Errors[0].Message != want || a.Data != nil {
				t.Errorf("%d groups: %s, want %q and no data", tt.n, b, want)
			}
		}
	}
	// A smaller page costs less: first: 10 is (13 + 1) × 1.1 = 15.
	q := `{ group(fullPath: "acme") { groupMembers(first: 10) { pageInfo { hasNextPage endCursor } nodes { user { id username name state } accessLevel { integerValue } memberRole { name } } } } queryComplexity { limit score } }`
	var c struct {
		QueryComplexity struct{ Limit, Score int }
	}
	if err := json.Unmarshal(gqlOK(t, ts, q, nil).Data["queryComplexity"], &c.QueryComplexity); err != nil || c.QueryComplexity.Limit != 250 {
		t.Errorf("queryComplexity %+v %v", c, err)
	}
}

func TestGraphQLDescendantGroups(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{})
	q := `query($after: String) { group(fullPath: "acme") { descendantGroups(first: 1, after: $after) { count pageInfo { hasNextPage endCursor } nodes { id fullPath parent { fullPath } } } } }`
	var got []string
	after := ""
	for range 10 {
		var vars map[string]any
		if after != "" {
			vars = map[string]any{"after": after}
		}
		var g struct {
			DescendantGroups struct {
				Count    int
				PageInfo struct {
					HasNextPage bool
					EndCursor   string
				}
				Nodes []struct{ FullPath string }
			}
		}
		if err := json.Unmarshal(gqlOK(t, ts, q, vars).Data["group"], &g); err != nil {
			t.Fatal(err)
		}
		for _, n := range g.DescendantGroups.Nodes {
			got = append(got, n.FullPath)
		}
		if !g.DescendantGroups.PageInfo.HasNextPage {
			break
		}
		after = g.DescendantGroups.PageInfo.EndCursor
	}
	_, b := get(t, ts, "glpat-sync-token", "/api/v4/groups/acme/descendant_groups?per_page=100")
	var want []string
	for _, d := range decode[[]map[string]any](t, b) {
		want = append(want, d["full_path"].(string))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
}

func TestGraphQLAuthLimitsFaults(t *testing.T) {
	f := loadAcme(t)
	f.Tokens = append(f.Tokens, Token{Token: "glpat-user-only", User: "alice", Scopes: []string{"read_user"}})
	sim, ts := start(t, f, Options{RateLimit: 2})
	q := `{ group(fullPath: "acme") { id } }`
	if resp, b := post(t, ts, "wrong", q, nil); resp.StatusCode != 401 {
		t.Errorf("bad token: %d %s", resp.StatusCode, b)
	}
	if resp, b := post(t, ts, "glpat-user-only", q, nil); resp.StatusCode != 403 || !strings.Contains(string(b), "insufficient_scope") {
		t.Errorf("read_user token: %d %s", resp.StatusCode, b)
	}
	if resp, b := post(t, ts, "glpat-sync-token", `{ group(fullPath: "acme") { nosuchfield } }`, nil); resp.StatusCode != 200 || len(decode[gqlAnswer](t, b).Errors) == 0 {
		t.Errorf("unknown field: %d %s", resp.StatusCode, b)
	}
	post(t, ts, "glpat-sync-token", q, nil)
	if resp, _ := post(t, ts, "glpat-sync-token", q, nil); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third request in the window: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	sim.SetRateLimit(0)
	sim.Inject(Fault{Path: "/api/graphql", Status: 502, Times: 1})
	if resp, _ := post(t, ts, "glpat-sync-token", q, nil); resp.StatusCode != 502 {
		t.Errorf("fault: %d", resp.StatusCode)
	}
	if resp, _ := post(t, ts, "glpat-sync-token", q, nil); resp.StatusCode != 200 {
		t.Errorf("after the fault: %d", resp.StatusCode)
	}
	// Skip: the second GraphQL request fails, the first and third pass.
	sim.Inject(Fault{Path: "/api/graphql", Status: 500, Skip: 1, Times: 1})
	for i, want := range []int{200, 500, 200} {
		if resp, _ := post(t, ts, "glpat-sync-token", q, nil); resp.StatusCode != want {
			t.Errorf("request %d after a Skip fault: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	// Body: only the queries that read projects fail.
	sim.Inject(Fault{Path: "/api/graphql", Body: "projects(", Status: 503, Times: 1})
	projects := `{ group(fullPath: "acme") { projects(first: 1) { nodes { id } } } }`
	for i, tt := range []struct {
		q    string
		want int
	}{{q, 200}, {projects, 503}, {projects, 200}} {
		if resp, _ := post(t, ts, "glpat-sync-token", tt.q, nil); resp.StatusCode != tt.want {
			t.Errorf("request %d after a Body fault: %d, want %d", i+1, resp.StatusCode, tt.want)
		}
	}
	if st := sim.Stats(); st.RateLimited != 1 || st.Faulted != 3 {
		t.Errorf("stats %+v", st)
	}
	// Too deep: GitLab's depth limit is 15.
	deep := `{ group(fullPath: "acme/backend/payments") { ` + strings.Repeat("parent { ", 15) + "id" + strings.Repeat(" }", 15) + " } }"
	if _, b := post(t, ts, "glpat-sync-token", deep, nil); len(decode[gqlAnswer](t, b).Errors) == 0 {
		t.Errorf("depth 17 accepted: %s", b)
	}
}

func TestGraphQLComplexityOption(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{GraphQLComplexity: 60})
	if a := gqlOK(t, ts, aliased([]string{"acme", "partners"}), nil); len(a.Data) != 2 {
		t.Errorf("2 groups (58) under 60: %v", a.Data)
	}
	_, b := post(t, ts, "glpat-sync-token", aliased([]string{"acme", "partners", "other"}), nil)
	if a := decode[gqlAnswer](t, b); len(a.Errors) != 1 || a.Errors[0].Message != "Query has complexity of 87, which exceeds max complexity of 60" {
		t.Errorf("3 groups: %s", b)
	}
}

// memberNodes is a page of a members connection (groupMembers or
// projectMembers), as "user:level:role".
type memberNodes struct {
	PageInfo struct {
		HasNextPage bool
		EndCursor   string
	}
	Nodes []struct {
		Typename    string `json:"__typename"`
		ID          string
		User        struct{ ID, Username string }
		AccessLevel struct{ IntegerValue int }
		MemberRole  *struct{ Name string }
	}
}

func (m memberNodes) strings() []string {
	var out []string
	for _, n := range m.Nodes {
		role := ""
		if n.MemberRole != nil {
			role = n.MemberRole.Name
		}
		out = append(out, fmt.Sprintf("%s:%d:%s", n.User.Username, n.AccessLevel.IntegerValue, role))
	}
	return out
}

// restList is what a REST member listing answers, as "user:level:role".
func restList(t testing.TB, ts *httptest.Server, path string) []string {
	_, b := get(t, ts, "glpat-sync-token", path+"?per_page=100")
	var out []string
	for _, m := range decode[[]map[string]any](t, b) {
		role := ""
		if r, ok := m["member_role"].(map[string]any); ok {
			role = r["name"].(string)
		}
		out = append(out, fmt.Sprintf("%s:%v:%s", m["username"], m["access_level"], role))
	}
	return out
}

const projectMembersQuery = `query($path: ID!, $rel: [ProjectMemberRelation!]) {
  project(fullPath: $path) {
    id fullPath
    projectMembers(first: 100, relations: $rel) {
      pageInfo { hasNextPage endCursor }
      nodes { __typename id user { id username } accessLevel { integerValue } memberRole { name } }
    }
  }
}`

func TestGraphQLProjectMembersAsREST(t *testing.T) {
	fixtures := []struct {
		name string
		fix  *Fixture
	}{
		{"acme", loadAcme(t)},
		{"scale", Scale(ScaleOptions{Users: 200, Projects: 150, Seed: 3})},
	}
	relations := []struct {
		name string
		rel  []string
		rest string // the REST listing it equals
	}{
		{"direct is members", []string{"DIRECT"}, "/members"},
		{"all four are members/all", []string{"DIRECT", "INHERITED", "INVITED_GROUPS", "SHARED_INTO_ANCESTORS"}, "/members/all"},
	}
	for _, f := range fixtures {
		sim, ts := start(t, f.fix, Options{})
		for _, r := range relations {
			t.Run(f.name+"/"+r.name, func(t *testing.T) {
				shared, nonEmpty := 0, 0
				for _, p := range sim.Fixture().Projects { // with their ids
					raw := gqlOK(t, ts, projectMembersQuery, map[string]any{"path": p.PathWithNamespace, "rel": r.rel}).Data["project"]
					got := decode[struct {
						ID, FullPath   string
						ProjectMembers memberNodes
					}](t, raw)
					if got.FullPath != p.PathWithNamespace || got.ID != fmt.Sprintf("gid://gitlab/Project/%d", p.ID) {
						t.Errorf("project %s %s", got.ID, got.FullPath)
					}
					want := restList(t, ts, fmt.Sprintf("/api/v4/projects/%d%s", p.ID, r.rest))
					if !slices.Equal(got.ProjectMembers.strings(), want) {
						t.Errorf("%s: GraphQL\n%v\nREST\n%v", p.PathWithNamespace, got.ProjectMembers.strings(), want)
					}
					if len(p.SharedWithGroups) > 0 {
						shared++
					}
					if len(want) > 0 {
						nonEmpty++
					}
				}
				if shared == 0 || nonEmpty == 0 {
					t.Errorf("%d shared projects, %d with members: the fixture tests nothing", shared, nonEmpty)
				}
			})
		}
	}
}

func TestGraphQLProjectMemberRelations(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{})
	members := func(t *testing.T, path string, rel []string) []string {
		q, vars := projectMembersQuery, map[string]any{"path": path, "rel": rel}
		if rel == nil {
			// graph-gophers passes an unset variable as null, not the
			// argument's default.
			q = strings.Replace(strings.Replace(q, ", relations: $rel", "", 1), ", $rel: [ProjectMemberRelation!]", "", 1)
			delete(vars, "rel")
		}
		raw := gqlOK(t, ts, q, vars).Data["project"]
		return decode[struct{ ProjectMembers memberNodes }](t, raw).ProjectMembers.strings()
	}
	// acme/frontend/web: no direct members; its namespace acme/frontend has
	// erin (10), acme alice (50) and frank (30), partners is invited into
	// acme at 20 (grace), acme/backend into the project at 20 (bob, carol).
	ns := []string{"alice:50:", "frank:30:", "erin:10:"}
	tests := []struct {
		name string
		path string
		rel  []string
		want []string
	}{
		{"direct", "acme/frontend/web", []string{"DIRECT"}, nil},
		{"default is direct and inherited", "acme/backend/api", nil, []string{"alice:50:", "bob:30:", "carol:15:", "frank:30:", "erin:30:", "heidi:30:"}},
		{"inherited", "acme/frontend/web", []string{"INHERITED"}, ns},
		{"shared into ancestors", "acme/frontend/web", []string{"SHARED_INTO_ANCESTORS"}, append(slices.Clone(ns), "grace:20:")},
		// GitLab's MembersFinder: any relations but DIRECT alone bring the
		// namespace's members too, so INVITED_GROUPS alone cannot tell a
		// shared project.
		{"invited groups (and the namespace)", "acme/frontend/web", []string{"INVITED_GROUPS"}, []string{"alice:50:", "bob:20:", "carol:15:", "frank:30:", "erin:10:"}},
		{"invited groups of an unshared project", "acme/backend/api", []string{"INVITED_GROUPS"}, []string{"alice:50:", "bob:30:", "carol:15:", "frank:30:"}},
		{"descendants of the namespace", "acme/backend/api", []string{"DESCENDANTS"}, []string{"alice:50:", "bob:40:", "carol:15:", "dave:20:Security auditor", "frank:30:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := members(t, tt.path, tt.rel)
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("%v, want %v", got, want)
			}
		})
	}
	// A project's own membership is a ProjectMember, an inherited one a
	// GroupMember.
	raw := gqlOK(t, ts, projectMembersQuery, map[string]any{"path": "acme/backend/api", "rel": []string{"DIRECT", "INHERITED"}}).Data["project"]
	for _, n := range decode[struct{ ProjectMembers memberNodes }](t, raw).ProjectMembers.Nodes {
		want := "GroupMember"
		if n.User.Username == "heidi" || n.User.Username == "erin" {
			want = "ProjectMember"
		}
		if n.Typename != want || !strings.HasPrefix(n.ID, "gid://gitlab/"+want+"/") {
			t.Errorf("%s: %s %s, want a %s", n.User.Username, n.Typename, n.ID, want)
		}
	}
	if a := gqlOK(t, ts, projectMembersQuery, map[string]any{"path": "acme/nope", "rel": []string{"DIRECT"}}); string(a.Data["project"]) != "null" {
		t.Errorf("missing project: %s", a.Data["project"])
	}
}

// projectsQuery lists a group's projects with their direct members, as
// the connector does.
const projectsQuery = `query($path: ID!, $after: String, $first: Int, $sub: Boolean) {
  group(fullPath: $path) {
    projects(includeSubgroups: $sub, first: $first, after: $after) {
      count
      pageInfo { hasNextPage endCursor }
      nodes { id fullPath name visibility group { fullPath } projectMembers(relations: [DIRECT], first: 50) { pageInfo { hasNextPage endCursor } nodes { user { id username } accessLevel { integerValue } memberRole { name } } } }
    }
  }
}`

type projectsAnswer struct {
	Projects struct {
		Count    int
		PageInfo struct {
			HasNextPage bool
			EndCursor   string
		}
		Nodes []struct {
			ID, FullPath, Name, Visibility string
			Group                          struct{ FullPath string }
			ProjectMembers                 memberNodes
		}
	}
}

func TestGraphQLGroupProjects(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{})
	// REST's listing of the tree without shared projects, and each
	// project's direct members.
	rest := func(query string) []string {
		_, b := get(t, ts, "glpat-sync-token", "/api/v4/groups/acme/projects?per_page=100&with_shared=false"+query)
		var out []string
		for _, p := range decode[[]map[string]any](t, b) {
			ns := p["namespace"].(map[string]any)["full_path"]
			out = append(out, fmt.Sprintf("gid://gitlab/Project/%v %s %s %s %s %v", p["id"], p["path_with_namespace"], p["name"], p["visibility"], ns,
				restList(t, ts, fmt.Sprintf("/api/v4/projects/%v/members", p["id"]))))
		}
		return out
	}
	tests := []struct {
		name  string
		sub   bool
		first int
		want  []string
	}{
		{"with subgroups, one page", true, 100, rest("&include_subgroups=true")},
		{"with subgroups, a project a page", true, 1, rest("&include_subgroups=true")},
		{"the group's own projects", false, 100, rest("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			after, pages := "", 0
			for {
				vars := map[string]any{"path": "acme", "first": tt.first, "sub": tt.sub}
				if after != "" {
					vars["after"] = after
				}
				g := decode[projectsAnswer](t, gqlOK(t, ts, projectsQuery, vars).Data["group"])
				pages++
				if g.Projects.Count != len(tt.want) || len(g.Projects.Nodes) > tt.first {
					t.Fatalf("count %d, %d nodes a page of %d; want %d projects", g.Projects.Count, len(g.Projects.Nodes), tt.first, len(tt.want))
				}
				for _, n := range g.Projects.Nodes {
					got = append(got, fmt.Sprintf("%s %s %s %s %s %v", n.ID, n.FullPath, n.Name, n.Visibility, n.Group.FullPath, n.ProjectMembers.strings()))
				}
				if !g.Projects.PageInfo.HasNextPage {
					break
				}
				after = g.Projects.PageInfo.EndCursor
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("GraphQL\n%q\nREST\n%q", got, tt.want)
			}
			if want := max(1, (len(tt.want)+tt.first-1)/tt.first); pages != want {
				t.Errorf("%d pages, want %d", pages, want)
			}
		})
	}
}

func TestGraphQLProjectsComplexity(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{})
	// A root's page of 100 projects with 50 direct members each, as the
	// connector reads it: 1 (group) + projects: (3 pageInfo + 1 nodes + 1
	// id + projectMembers (13 fields + 1) × 1.5 = 21, + 11) × 2 = 74; 75 an
	// alias, so 3 fit in 250 and 4 do not.
	field := `p%d: group(fullPath: "acme") { projects(includeSubgroups: true, first: 100) { pageInfo { hasNextPage endCursor } nodes { id projectMembers(relations: [DIRECT], first: 50) { pageInfo { hasNextPage endCursor } nodes { user { id username name state } accessLevel { integerValue } memberRole { name } } } } } }`
	for _, tt := range []struct{ n, refused int }{{3, 0}, {4, 300}} {
		var q strings.Builder
		q.WriteString("{")
		for i := range tt.n {
			fmt.Fprintf(&q, field, i)
		}
		q.WriteString("}")
		_, b := post(t, ts, "glpat-sync-token", q.String(), nil)
		a := decode[gqlAnswer](t, b)
		switch {
		case tt.refused == 0 && (len(a.Errors) > 0 || len(a.Data) != tt.n):
			t.Errorf("%d roots: %s", tt.n, b)
		case tt.refused > 0 && (len(a.Errors) != 1 || a.Errors[0].Message != fmt.Sprintf("Query has complexity of %d, which exceeds max complexity of 250", tt.refused)):
			t.Errorf("%d roots: %s, want complexity %d refused", tt.n, b, tt.refused)
		}
	}
	// A project's members page costs as a group's: 8 fit.
	var q strings.Builder
	q.WriteString("{")
	for i := range 9 {
		fmt.Fprintf(&q, `p%d: project(fullPath: "acme/backend/api") { projectMembers(first: 100, relations: [DIRECT]) { pageInfo { hasNextPage endCursor } nodes { user { id username name state } accessLevel { integerValue } memberRole { name } } } }`, i)
	}
	q.WriteString("}")
	if _, b := post(t, ts, "glpat-sync-token", q.String(), nil); !strings.Contains(string(b), "Query has complexity of 261") {
		t.Errorf("9 projects: %s", b)
	}
}
