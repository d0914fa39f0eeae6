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
	_, b := get(t, ts, "glpat-sync-token", "/api/v4/groups/"+strings.ReplaceAll(path, "/", "%2F")+"/members/all?per_page=100")
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
	if st := sim.Stats(); st.RateLimited != 1 || st.Faulted != 2 {
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
