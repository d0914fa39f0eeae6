package gitlab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gitlabsim"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
)

const syncToken = "glpat-sync-token" // root, read_api, in the example fixture

func startSim(t testing.TB, f *gitlabsim.Fixture, opts gitlabsim.Options) (*gitlabsim.Server, *httptest.Server) {
	t.Helper()
	sim, err := gitlabsim.New(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, ts
}

// values are settings for the simulator at url, with extra name=value pairs.
func values(url string, extra ...string) map[string]string {
	v := map[string]string{
		SettingURL: url, SettingToken: syncToken, SettingAllowedGroups: "acme", SettingSyncEnabled: "true",
	}
	for _, kv := range extra {
		k, val, _ := strings.Cut(kv, "=")
		v[k] = val
	}
	return v
}

// testConnector retries quickly, so failure tests stay short.
func testConnector() Connector {
	return Connector{Retries: 2, RetryBase: 10 * time.Millisecond}
}

func read(t testing.TB, c Connector, v map[string]string) (provision.Snapshot, error) {
	t.Helper()
	src, err := c.Open(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	return src.Read(context.Background())
}

func mustRead(t testing.TB, v map[string]string) provision.Snapshot {
	t.Helper()
	snap, err := read(t, testConnector(), v)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// view is a snapshot by names: logins, group paths, project keys.
type view struct {
	users   map[string]provision.User
	groups  []string
	members map[string][]string // group path → logins
	perms   map[string][]string // project key → "login:perm"
	proj    map[string]provision.Project
}

func viewOf(s provision.Snapshot) view {
	v := view{users: map[string]provision.User{}, members: map[string][]string{}, perms: map[string][]string{}, proj: map[string]provision.Project{}}
	login := map[string]string{}
	for _, u := range s.Users {
		v.users[u.Login] = u
		login[u.ExternalID] = u.Login
	}
	gname := map[string]string{}
	for _, g := range s.Groups {
		v.groups = append(v.groups, g.Name)
		gname[g.ExternalID] = g.Name
	}
	for _, m := range s.Memberships {
		v.members[gname[m.GroupExternalID]] = append(v.members[gname[m.GroupExternalID]], login[m.UserExternalID])
	}
	for k := range v.members {
		slices.Sort(v.members[k])
	}
	pkey := map[string]string{}
	for _, p := range s.Projects {
		v.proj[p.Key] = p
		pkey[p.ExternalID] = p.Key
	}
	for _, p := range s.Permissions {
		k := pkey[p.ProjectExternalID]
		v.perms[k] = append(v.perms[k], login[p.UserExternalID]+":"+string(p.Permission))
	}
	return v
}

// permsOf lists login's permissions on a project, sorted.
func (v view) permsOf(key, login string) []string {
	var out []string
	for _, lp := range v.perms[key] {
		if l, p, _ := strings.Cut(lp, ":"); l == login {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func list(s string) []string {
	if s == "" {
		return nil
	}
	out := strings.Split(s, ",")
	slices.Sort(out)
	return out
}

func TestReadSemantics(t *testing.T) {
	_, ts := startSim(t, gitlabsim.Example(), gitlabsim.Options{})
	def := viewOf(mustRead(t, values(ts.URL)))
	custom := viewOf(mustRead(t, values(ts.URL, SettingRoleMapping+`={"Security auditor":["user","codeviewer","securityhotspotadmin"],"Reporter":["user"]}`)))
	two := viewOf(mustRead(t, values(ts.URL, SettingAllowedGroups+"=acme, partners")))

	dev := "codeviewer,issueadmin,scan,securityhotspotadmin,user"
	all := "admin," + dev
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"root and all subgroups, named by full path", def.groups, []string{"acme", "acme/backend", "acme/backend/payments", "acme/frontend"}},
		{"second allowed root group", two.groups, []string{"acme", "acme/backend", "acme/backend/payments", "acme/frontend", "partners"}},
		{"root group: direct and invited members", def.members["acme"], list("alice,frank,grace")},
		{"subgroup inherits the root's members", def.members["acme/backend"], list("alice,bob,carol,frank,grace")},
		{"inherited at any depth", def.members["acme/backend/payments"], list("alice,bob,carol,dave,frank,grace")},
		{"sibling subgroup does not get backend's members", def.members["acme/frontend"], list("alice,erin,frank,grace")},
		{"invited user is also in their own allowed group", two.members["partners"], list("grace")},
		{"users are the members of allowed groups", slices.Sorted(maps.Keys(def.users)), list("alice,bob,carol,dave,erin,frank,grace")},
		{"project-only member absent", def.permsOf("acme:backend:api", "heidi"), []string(nil)},
		{"member of a non-allowed group absent", def.users["ivan"].Login, ""},
		{"blocked user inactive", def.users["frank"].Active, false},
		{"active user", def.users["alice"].Active, true},
		{"user fields", def.users["alice"], provision.User{ExternalID: "2", Login: "alice", Name: "Alice Archer", Active: true}},
		{"private stays private", def.proj["acme:backend:api"].Visibility, identity.Private},
		{"internal becomes private", def.proj["acme:backend:payments:ledger"].Visibility, identity.Private},
		{"public stays public", def.proj["acme:frontend:web"].Visibility, identity.Public},
		{"project fields", def.proj["acme:backend:api"], provision.Project{ExternalID: "1000", Key: "acme:backend:api", Name: "API", Visibility: identity.Private, ExternalPath: "acme/backend/api"}},
		{"projects of the trees only (with_shared=false)", len(def.proj), 3},
		{"Owner: every permission", def.permsOf("acme:backend:api", "alice"), list(all)},
		{"Developer", def.permsOf("acme:backend:api", "bob"), list(dev)},
		{"Planner browses and sees code", def.permsOf("acme:backend:api", "carol"), list("codeviewer,user")},
		{"Reporter through an invited group", def.permsOf("acme:backend:api", "grace"), list("codeviewer,user")},
		{"direct project member of another subgroup", def.permsOf("acme:backend:api", "erin"), list(dev)},
		{"not a member of the project's tree", def.permsOf("acme:backend:api", "dave"), []string(nil)},
		{"highest role wins: Maintainer in subgroup over Developer in parent", def.permsOf("acme:backend:payments:ledger", "bob"), list(all)},
		{"highest role wins: project role over inherited Planner", def.permsOf("acme:backend:payments:ledger", "carol"), list("codeviewer,user")},
		{"custom role without mapping: its base role", def.permsOf("acme:backend:payments:ledger", "dave"), list("codeviewer,user")},
		{"custom role by name", custom.permsOf("acme:backend:payments:ledger", "dave"), list("codeviewer,securityhotspotadmin,user")},
		{"mapped base role", custom.permsOf("acme:backend:api", "grace"), list("user")},
		{"unmapped base roles keep the default", custom.permsOf("acme:backend:api", "bob"), list(dev)},
		{"public project: no user or codeviewer grants", def.permsOf("acme:frontend:web", "alice"), list("admin,issueadmin,scan,securityhotspotadmin")},
		{"public project: Reporter gets nothing more", def.permsOf("acme:frontend:web", "grace"), []string(nil)},
		{"through a group invited into the root", def.permsOf("acme:backend:payments:ledger", "grace"), list("codeviewer,user")},
		{"shared project: the invitation caps the level", def.permsOf("acme:frontend:web", "bob"), []string(nil)},
		{"blocked user: memberships but no permissions", fmt.Sprint(def.members["acme"], def.permsOf("acme:backend:api", "frank")), "[alice frank grace] []"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fmt.Sprint(tt.got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestReadWithoutProjectMembers(t *testing.T) {
	sim, ts := startSim(t, gitlabsim.Example(), gitlabsim.Options{})
	snap := mustRead(t, values(ts.URL))
	withReqs := sim.Stats().Requests
	sim.ResetStats()
	v := viewOf(mustRead(t, values(ts.URL, SettingReadProjectMembers+"=false")))
	if got := v.permsOf("acme:backend:api", "erin"); got != nil {
		t.Errorf("direct project role read anyway: %v", got)
	}
	if got := v.permsOf("acme:frontend:web", "alice"); len(got) == 0 {
		t.Error("shared project's members not read")
	}
	// One GraphQL query lists acme's projects with their direct members.
	if got := sim.Stats().Requests; got != withReqs-1 {
		t.Errorf("%d requests without project members, %d with: want one fewer", got, withReqs)
	}
	if len(snap.Users) != len(v.users) {
		t.Errorf("users changed: %d, %d", len(snap.Users), len(v.users))
	}
}

// bigFixture has one root group with n users as direct members, m
// subgroups and p projects: every listing spans several pages.
func bigFixture(n, m, p int) *gitlabsim.Fixture {
	f := &gitlabsim.Fixture{Tokens: []gitlabsim.Token{{Token: syncToken, User: "root", Scopes: []string{"read_api"}}}}
	f.Users = append(f.Users, gitlabsim.User{Username: "root", Admin: true})
	root := gitlabsim.Group{FullPath: "big"}
	for i := range n {
		u := fmt.Sprintf("user%05d", i)
		f.Users = append(f.Users, gitlabsim.User{Username: u})
		root.Members = append(root.Members, gitlabsim.Member{User: u, AccessLevel: 10 + 10*(i%4)})
	}
	f.Groups = append(f.Groups, root)
	for i := range m {
		f.Groups = append(f.Groups, gitlabsim.Group{FullPath: fmt.Sprintf("big/sub%03d", i), Members: []gitlabsim.Member{{User: "user00000", AccessLevel: 50}}})
	}
	for i := range p {
		f.Projects = append(f.Projects, gitlabsim.Project{PathWithNamespace: fmt.Sprintf("big/sub%03d/p%04d", i%max(m, 1), i)})
	}
	return f
}

func TestReadPagination(t *testing.T) {
	sim, ts := startSim(t, bigFixture(250, 120, 230), gitlabsim.Options{})
	snap := mustRead(t, values(ts.URL, SettingAllowedGroups+"=big"))
	v := viewOf(snap)
	if len(snap.Users) != 250 || len(snap.Groups) != 121 || len(snap.Projects) != 230 {
		t.Fatalf("%d users, %d groups, %d projects: want 250, 121, 230", len(snap.Users), len(snap.Groups), len(snap.Projects))
	}
	if got := len(v.members["big/sub007"]); got != 250 {
		t.Errorf("subgroup has %d effective members, want 250", got)
	}
	// 1 group + 2 descendant pages + 3 project pages + 1 custom roles +
	// 121 groups × 3 member pages in GraphQL queries of 8 groups (16 a
	// round, 3 rounds) + 3 pages of big's projects with their direct
	// members (one a round).
	if got, want := sim.Stats().Requests, int64(1+2+3+1+16*3+3); got != want {
		t.Errorf("%d requests, want %d", got, want)
	}
}

func TestReadPastTenThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("10,050 members")
	}
	f := bigFixture(10050, 0, 0)
	_, ts := startSim(t, f, gitlabsim.Options{})
	snap := mustRead(t, values(ts.URL, SettingAllowedGroups+"=big"))
	if len(snap.Users) != 10050 || len(snap.Memberships) != 10050 {
		t.Errorf("%d users, %d memberships: want 10050 (GitLab stops counting past 10,000)", len(snap.Users), len(snap.Memberships))
	}
}

func TestReadRecovers(t *testing.T) {
	tests := []struct {
		name  string
		fault gitlabsim.Fault
	}{
		{"429 with Retry-After", gitlabsim.Fault{Path: "/api/graphql", Status: 429, Times: 2}},
		{"429 on the projects listing", gitlabsim.Fault{Path: "/projects", Status: 429, Times: 2}},
		{"500 on a later page of projects", gitlabsim.Fault{Path: "/api/graphql", Body: "projects(", Skip: 1, Status: 500, Times: 1}},
		{"502", gitlabsim.Fault{Path: "/descendant_groups", Status: 502, Times: 2}},
		{"500 on a later GraphQL page", gitlabsim.Fault{Path: "/api/graphql", Skip: 1, Status: 500, Times: 1}},
		{"503 on the root group", gitlabsim.Fault{Path: "/groups/big", Status: 503, Times: 1}},
	}
	want := mustRead(t, values(startSimURL(t, bigFixture(150, 3, 150)), SettingAllowedGroups+"=big"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts := startSim(t, bigFixture(150, 3, 150), gitlabsim.Options{})
			sim.Inject(tt.fault)
			got := mustRead(t, values(ts.URL, SettingAllowedGroups+"=big"))
			if sim.Stats().Faulted == 0 {
				t.Fatal("the fault did not hit")
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Error("the snapshot after retries differs")
			}
		})
	}
}

func startSimURL(t *testing.T, f *gitlabsim.Fixture) string {
	_, ts := startSim(t, f, gitlabsim.Options{})
	return ts.URL
}

func TestReadPacedByRateLimit(t *testing.T) {
	// 3 requests a second; the read needs 6 (4 REST, the groups' members
	// in one GraphQL query, the projects in another): the pacer waits for
	// the next window instead of collecting 429s, for GraphQL as for REST.
	sim, ts := startSim(t, bigFixture(20, 5, 5), gitlabsim.Options{RateLimit: 3, RateWindow: time.Second})
	snap := mustRead(t, values(ts.URL, SettingAllowedGroups+"=big"))
	if len(snap.Groups) != 6 {
		t.Fatalf("%d groups", len(snap.Groups))
	}
	st := sim.Stats()
	t.Logf("%d requests, %d rate-limited", st.Requests, st.RateLimited)
	// The first window's concurrent requests may overshoot before the
	// first answer tells the budget; after that none should.
	if st.RateLimited > 16 {
		t.Errorf("%d requests rate-limited", st.RateLimited)
	}
}

func TestReadFails(t *testing.T) {
	tests := []struct {
		name  string
		fault *gitlabsim.Fault
		extra []string
		want  string // in the error
		kind  error
	}{
		{"GraphQL page failing mid-listing", &gitlabsim.Fault{Path: "/api/graphql", Skip: 1, Status: 500}, []string{SettingReadProjectMembers + "=false"}, "500 Internal Server Error) to list the members of groups big", identity.ErrUnavailable},
		{"GraphQL page of projects failing mid-listing", &gitlabsim.Fault{Path: "/api/graphql", Body: "projects(", Skip: 1, Status: 500}, nil, "500 Internal Server Error) to list the projects of group big (GraphQL)", identity.ErrUnavailable},
		{"GraphQL rate limit outlasting the retries", &gitlabsim.Fault{Path: "/api/graphql", Status: 429}, nil, "rate-limiting (429 Too Many Requests) to list the ", identity.ErrUnavailable},
		{"project listing failing", &gitlabsim.Fault{Path: "/projects", Status: 502}, nil, "502", identity.ErrUnavailable},
		{"rate limit outlasting the retries", &gitlabsim.Fault{Path: "/descendant_groups", Status: 429}, nil, "rate-limiting", identity.ErrUnavailable},
		{"timeout", &gitlabsim.Fault{Path: "/descendant_groups", Hang: true}, []string{SettingTimeout + "=150ms"}, "timed out", identity.ErrUnavailable},
		{"bad token: 401", nil, []string{SettingToken + "=glpat-wrong"}, "401", identity.ErrInvalid},
		{"token without read_api", nil, []string{SettingToken + "=glpat-read-user"}, "read_api", identity.ErrInvalid},
		{"allowed group missing", nil, []string{SettingAllowedGroups + "=big,nope"}, "'nope' does not exist", identity.ErrInvalid},
		{"allowed group is a subgroup (by id)", nil, []string{SettingAllowedGroups + "=1002"}, "not a root group", identity.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := bigFixture(150, 3, 150) // 2 pages of projects
			f.Tokens = append(f.Tokens, gitlabsim.Token{Token: "glpat-read-user", User: "root", Scopes: []string{"read_user"}})
			sim, ts := startSim(t, f, gitlabsim.Options{HangFor: 5 * time.Second})
			if tt.fault != nil {
				sim.Inject(*tt.fault)
			}
			snap, err := read(t, testConnector(), values(ts.URL, append([]string{SettingAllowedGroups + "=big"}, tt.extra...)...))
			if err == nil {
				t.Fatalf("no error; snapshot of %d users", len(snap.Users))
			}
			if !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.kind) {
				t.Errorf("error %q (kind %v), want it to say %q and be %v", err, errors.Is(err, tt.kind), tt.want, tt.kind)
			}
			if len(snap.Users)+len(snap.Groups)+len(snap.Projects) != 0 {
				t.Error("a failed read returned data")
			}
		})
	}
}

func TestReadContextEnds(t *testing.T) {
	sim, ts := startSim(t, bigFixture(10, 2, 2), gitlabsim.Options{})
	sim.Inject(gitlabsim.Fault{Path: "/api/graphql", Hang: true})
	src, err := testConnector().Open(context.Background(), values(ts.URL, SettingAllowedGroups+"=big"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := src.Read(ctx); err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Read took %v after its context ended", d)
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name string
		v    map[string]string
		want error // nil: opens
		msg  string
	}{
		{"defaults: JIT only", map[string]string{}, provision.ErrDisabled, ""},
		{"sync off", values("https://gitlab.example.com", SettingSyncEnabled+"=false"), provision.ErrDisabled, ""},
		{"sync on", values("https://gitlab.example.com/"), nil, ""},
		{"no token", values("https://gitlab.example.com", SettingToken+"="), identity.ErrInvalid, "read_api"},
		{"no allowed group", values("https://gitlab.example.com", SettingAllowedGroups+"= , "), identity.ErrInvalid, "allowed root group"},
		{"subgroup allowed", values("https://gitlab.example.com", SettingAllowedGroups+"=acme/backend"), identity.ErrInvalid, "allow its root group 'acme'"},
		{"bad URL", values("gitlab.example.com"), identity.ErrInvalid, SettingURL},
		{"bad interval", values("https://gitlab.example.com", SettingSyncInterval+"=hourly"), identity.ErrInvalid, SettingSyncInterval},
		{"bad boolean", values("https://gitlab.example.com", SettingSyncEnabled+"=yes please"), identity.ErrInvalid, SettingSyncEnabled},
		{"bad role mapping", values("https://gitlab.example.com", SettingRoleMapping+`={"Guest":["browse"]}`), identity.ErrInvalid, "'browse'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := Connector{}.Open(context.Background(), tt.v)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (src != nil) {
				t.Fatalf("Open = %v, %v; want %v", src, err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
	src, _ := Connector{}.Open(context.Background(), values("https://gitlab.example.com", SettingSyncInterval+"=15m"))
	if got := src.(provision.Scheduled).Interval(); got != 15*time.Minute {
		t.Errorf("interval %v", got)
	}
}

func TestParse(t *testing.T) {
	c, err := Parse(values("https://gitlab.example.com/gitlab/api/v4/", SettingAllowedGroups+"=acme, /partners/ ,ACME"))
	if err != nil {
		t.Fatal(err)
	}
	if c.URL != "https://gitlab.example.com/gitlab" {
		t.Errorf("URL %q", c.URL)
	}
	if fmt.Sprint(c.AllowedGroups) != "[acme partners]" {
		t.Errorf("allowed groups %q", c.AllowedGroups)
	}
	if !c.ReadProjectMembers || !c.JITEnabled || c.SyncInterval != time.Hour || c.Timeout != DefaultTimeout {
		t.Errorf("defaults: %+v", c)
	}
	names := map[string]bool{}
	for _, s := range (Connector{}).Settings() {
		if names[s.Name] || s.Desc == "" {
			t.Errorf("setting %q duplicated or undocumented", s.Name)
		}
		names[s.Name] = true
		if (s.Name == SettingToken || s.Name == SettingSecret) != s.Secret {
			t.Errorf("setting %q: Secret = %v", s.Name, s.Secret)
		}
	}
}

func TestRoleMapping(t *testing.T) {
	def := DefaultRoleMapping()
	if got := fmt.Sprint(def.Permissions(15, "")); got != "[codeviewer user]" {
		t.Errorf("Planner: %s", got)
	}
	if got := def.Permissions(5, ""); got != nil {
		t.Errorf("Minimal access: %v", got)
	}
	if got := len(def.Permissions(60, "")); got != 6 {
		t.Errorf("Admin level: %d permissions", got)
	}
	m, err := ParseRoleMapping(`{"developer":["USER","codeViewer"],"Auditor":[]}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(m.Permissions(30, "")); got != "[codeviewer user]" {
		t.Errorf("developer (lower case) mapped: %s", got)
	}
	if got := m.Permissions(20, "auditor"); len(got) != 0 {
		t.Errorf("custom role mapped to nothing: %v", got)
	}
	if got := fmt.Sprint(m.Permissions(20, "Unmapped")); got != "[codeviewer user]" {
		t.Errorf("unmapped custom role: %s", got)
	}
	back, err := ParseRoleMapping(m.String())
	if err != nil || back.String() != m.String() {
		t.Errorf("round trip: %v\n%s\n%s", err, m.String(), back.String())
	}
	if !strings.HasPrefix(m.String(), `{"Guest":["user"],"Planner":`) || !strings.HasSuffix(m.String(), `"Auditor":[]}`) {
		t.Errorf("String: %s", m.String())
	}
	w := def.With("Release manager", []identity.Permission{identity.PermScan, identity.PermUser})
	if !w.HasRole("release manager") || def.HasRole("Release manager") {
		t.Error("With changed the original or did not add")
	}
	if w.Without("Release manager").HasRole("Release manager") || !w.Without("Owner").HasRole("Owner") {
		t.Error("Without")
	}
	for _, tc := range []struct {
		role, want string
		base, ok   bool
	}{
		{"RELEASE manager", "Release manager", false, true}, {"owner", "Owner", true, true}, {"Auditor", "", false, false},
	} {
		if e, ok := w.Entry(tc.role); ok != tc.ok || e.Role != tc.want || e.Base != tc.base {
			t.Errorf("Entry(%q) = %+v, %v", tc.role, e, ok)
		}
	}
	for _, bad := range []string{`[]`, `{"Guest":["nope"]}`, `{"Guest":["user"],"guest":["user"]}`, `{"":["user"]}`} {
		if _, err := ParseRoleMapping(bad); !errors.Is(err, identity.ErrInvalid) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestCheck(t *testing.T) {
	f := gitlabsim.Example()
	f.Tokens = append(f.Tokens, gitlabsim.Token{Token: "glpat-api", User: "root", Scopes: []string{"api"}})
	_, ts := startSim(t, f, gitlabsim.Options{})
	down := httptest.NewServer(nil)
	down.Close()
	tests := []struct {
		name string
		v    map[string]string
		want string // "" for no error
	}{
		{"valid", values(ts.URL, SettingAllowedGroups+"=acme,partners"), ""},
		{"api scope is enough", values(ts.URL, SettingToken+"=glpat-api"), ""},
		{"JIT-only without a token", values(ts.URL, SettingSyncEnabled+"=false", SettingToken+"="), ""},
		{"bad token", values(ts.URL, SettingToken+"=glpat-wrong"), "401 Unauthorized"},
		{"token without read_api", values(ts.URL, SettingToken+"=glpat-read-user"), "lacks the read_api scope (its scopes: read_user)"},
		{"unreachable", values(down.URL), "cannot be reached"},
		{"missing group", values(ts.URL, SettingAllowedGroups+"=acme,ghost"), "'ghost' does not exist"},
		{"subgroup by id", values(ts.URL, SettingAllowedGroups+"=101"), "'101' is not a root group (it is acme/backend)"},
		{"subgroup by path", values(ts.URL, SettingAllowedGroups+"=acme/backend"), "allow its root group 'acme'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := testConnector().Check(context.Background(), tt.v)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, identity.ErrInvalid)):
				t.Fatalf("Check = %v, want an invalid-argument error saying %q", err, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	now := time.Now()
	hdr := func(kv ...string) *http.Response {
		r := &http.Response{StatusCode: 429, Header: http.Header{}}
		for i := 0; i < len(kv); i += 2 {
			r.Header.Set(kv[i], kv[i+1])
		}
		return r
	}
	tests := []struct {
		name     string
		resp     *http.Response
		attempt  int
		min, max time.Duration
	}{
		{"Retry-After seconds", hdr("Retry-After", "7"), 0, 7 * time.Second, 7 * time.Second},
		{"Retry-After date", hdr("Retry-After", now.Add(3*time.Second).UTC().Format(http.TimeFormat)), 0, 1 * time.Second, 3 * time.Second},
		{"RateLimit-Reset on a 429", hdr("RateLimit-Reset", strconv.FormatInt(now.Add(5*time.Second).Unix(), 10)), 0, 3 * time.Second, 5 * time.Second},
		{"Retry-After capped", hdr("Retry-After", "86400"), 0, maxRetryWait, maxRetryWait},
		{"no header: doubling", &http.Response{StatusCode: 502, Header: http.Header{}}, 3, 800 * time.Millisecond, 1000 * time.Millisecond},
		{"transport error", nil, 0, 100 * time.Millisecond, 125 * time.Millisecond},
		{"doubling stops at 2^8", nil, 30, 25600 * time.Millisecond, 32 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := backoff(100*time.Millisecond, tt.attempt, tt.resp); d < tt.min || d > tt.max {
				t.Errorf("backoff %v, want %v–%v", d, tt.min, tt.max)
			}
		})
	}
}

func TestReadTwiceSame(t *testing.T) {
	_, ts := startSim(t, gitlabsim.Scale(gitlabsim.ScaleOptions{Users: 300, Seed: 7}), gitlabsim.Options{})
	v := values(ts.URL, SettingAllowedGroups+"=org00")
	a, b := mustRead(t, v), mustRead(t, v)
	if len(a.Permissions) == 0 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("two reads of unchanged data differ (%d permissions)", len(a.Permissions))
	}
}

// readMembersBy reads with group members from GraphQL or, with rest, from
// one REST members/all listing per group.
func readMembersBy(t testing.TB, v map[string]string, rest bool) (provision.Snapshot, error) {
	t.Helper()
	src, err := testConnector().Open(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	src.(*source).restMembers = rest
	return src.Read(context.Background())
}

func roots(f *gitlabsim.Fixture) string {
	var out []string
	for _, g := range f.Groups {
		if !strings.Contains(g.FullPath, "/") {
			out = append(out, g.FullPath)
		}
	}
	return strings.Join(out, ",")
}

// projectsFixture is bigFixture with projects of many members: p0000 has
// 230 direct members (the projects listing reads 50, two more queries the
// rest), p0001 60, p0002 is shared with big/sub001 (250 effective members).
func projectsFixture() *gitlabsim.Fixture {
	f := bigFixture(250, 3, 6)
	for i, n := range []int{230, 60} {
		for u := range n {
			f.Projects[i].Members = append(f.Projects[i].Members, gitlabsim.Member{User: fmt.Sprintf("user%05d", u), AccessLevel: 10 + 10*(u%5)})
		}
	}
	f.Projects[2].SharedWithGroups = []gitlabsim.Share{{Group: "big/sub001", GroupAccessLevel: 30}}
	return f
}

func TestGraphQLSameSnapshotAsREST(t *testing.T) {
	type test struct {
		name  string
		fix   *gitlabsim.Fixture
		extra []string
	}
	var tests []test
	for _, f := range []test{
		{"example", gitlabsim.Example(), nil},
		{"scale of 400 users", gitlabsim.Scale(gitlabsim.ScaleOptions{Users: 400, Groups: 700, Seed: 11}), nil},
		{"groups of 250 members", bigFixture(250, 20, 30), nil},
		{"projects of 230 members", projectsFixture(), nil},
	} {
		tests = append(tests, f, test{f.name + ", without project members", f.fix, []string{SettingReadProjectMembers + "=false"}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts := startSim(t, tt.fix, gitlabsim.Options{})
			v := values(ts.URL, append([]string{SettingAllowedGroups + "=" + roots(tt.fix)}, tt.extra...)...)
			rest, err := readMembersBy(t, v, true)
			if err != nil {
				t.Fatal(err)
			}
			restReqs := sim.Stats().Requests
			sim.ResetStats()
			gql, err := readMembersBy(t, v, false)
			if err != nil {
				t.Fatal(err)
			}
			gqlReqs := sim.Stats().Requests
			if len(rest.Memberships) == 0 || len(rest.Permissions) == 0 {
				t.Fatalf("nothing read: %d memberships, %d permissions", len(rest.Memberships), len(rest.Permissions))
			}
			if fmt.Sprint(gql) != fmt.Sprint(rest) {
				t.Errorf("snapshots differ: GraphQL %d users, %d memberships, %d permissions; REST %d, %d, %d",
					len(gql.Users), len(gql.Memberships), len(gql.Permissions), len(rest.Users), len(rest.Memberships), len(rest.Permissions))
			}
			t.Logf("%d groups: %d requests with REST members, %d with GraphQL", len(rest.Groups), restReqs, gqlReqs)
			if len(rest.Groups) > pageKinds[groupMembersPage].perQuery && gqlReqs >= restReqs {
				t.Errorf("GraphQL took %d requests, REST %d", gqlReqs, restReqs)
			}
		})
	}
}

func TestGraphQLProjectMembersGoOn(t *testing.T) {
	f := projectsFixture()
	sim, ts := startSim(t, f, gitlabsim.Options{})
	v := values(ts.URL, SettingAllowedGroups+"=big")
	want, err := readMembersBy(t, v, true)
	if err != nil {
		t.Fatal(err)
	}
	sim.ResetStats()
	got := mustRead(t, v)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Error("the snapshot differs from the REST read's")
	}
	// 4 REST requests; round 1: the groups' members, the shared project's,
	// big's projects with 50 direct members each; round 2: the groups' and
	// the shared project's next pages, p0000's and p0001's further direct
	// members (one query of 3 projects); round 3: the last pages of the
	// groups, of the shared project and of p0000.
	if got, want := sim.Stats().Requests, int64(4+3+2+2); got != want {
		t.Errorf("%d requests, want %d", got, want)
	}
	// An admin of p0000 (user00004, 50) past the first 100 direct members
	// is one: user00204.
	if perms := viewOf(got).permsOf("big:sub000:p0000", "user00204"); !slices.Contains(perms, "admin") {
		t.Errorf("user00204 on p0000: %v", perms)
	}

	// A failed page of further direct members fails the read.
	sim.Inject(gitlabsim.Fault{Path: "/api/graphql", Body: "project(fullPath", Skip: 1, Status: 500})
	snap, err := read(t, testConnector(), v)
	if err == nil || !errors.Is(err, identity.ErrUnavailable) || !strings.Contains(err.Error(), "to list the members of projects") ||
		!strings.Contains(err.Error(), "big/sub000/p0000") || len(snap.Users)+len(snap.Projects) != 0 {
		t.Errorf("error %v, %d users", err, len(snap.Users))
	}
}

func TestGraphQLProjectGoneBetweenListings(t *testing.T) {
	// p0001 is deleted after the REST listing, before the GraphQL one: its
	// direct members are asked for on their own, and GitLab has none.
	sim, err := gitlabsim.New(bigFixture(10, 3, 4), gitlabsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/graphql" {
			once.Do(func() {
				if err := sim.Update(func(f *gitlabsim.Fixture) { f.Projects = slices.Delete(f.Projects, 1, 2) }); err != nil {
					t.Error(err)
				}
			})
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	snap, err := read(t, testConnector(), values(ts.URL, SettingAllowedGroups+"=big"))
	if err == nil || !errors.Is(err, identity.ErrNotFound) || !strings.Contains(err.Error(), "no project big/sub001/p0001 to list the members of project big/sub001/p0001") || len(snap.Projects) != 0 {
		t.Errorf("error %v, %d projects", err, len(snap.Projects))
	}
}

func TestGraphQLProjectsComplexityFallback(t *testing.T) {
	// 3 roots; 8 shared projects: one query, until refused.
	f := gitlabsim.Scale(gitlabsim.ScaleOptions{Users: 300, Groups: 900, Seed: 5})
	for i := range f.Projects {
		f.Projects[i].SharedWithGroups = nil
		if i < 8 {
			f.Projects[i].SharedWithGroups = []gitlabsim.Share{{Group: f.Groups[4].FullPath, GroupAccessLevel: 20}}
		}
	}
	_, ts := startSim(t, f, gitlabsim.Options{})
	v := values(ts.URL, SettingAllowedGroups+"="+roots(f))
	want, err := readMembersBy(t, v, true)
	if err != nil {
		t.Fatal(err)
	}
	// At 200: 8 groups (232) or shared projects are refused, 4 pass; 3
	// roots' projects (225) are refused, 1 passes.
	_, ts = startSim(t, f, gitlabsim.Options{GraphQLComplexity: 200})
	got := mustRead(t, values(ts.URL, SettingAllowedGroups+"="+roots(f)))
	slices.Sort(got.Warnings)
	wantWarnings := []string{
		"GitLab refused a GraphQL query for the members of 8 groups (Query has complexity of 232, which exceeds max complexity of 200); members are read 4 groups per query",
		"GitLab refused a GraphQL query for the members of 8 projects (Query has complexity of 232, which exceeds max complexity of 200); members are read 4 projects per query",
		"GitLab refused a GraphQL query for the projects of 3 groups (Query has complexity of 225, which exceeds max complexity of 200); projects are read 1 group per query",
	}
	if !slices.Equal(got.Warnings, wantWarnings) {
		t.Errorf("warnings\n%s", strings.Join(got.Warnings, "\n"))
	}
	got.Warnings = want.Warnings
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Error("the snapshot read in smaller batches differs")
	}
}

func TestGraphQLMembersPagination(t *testing.T) {
	// 21 groups of 250 effective members: 3 pages each, 8 groups a query.
	sim, ts := startSim(t, bigFixture(250, 20, 0), gitlabsim.Options{})
	snap := mustRead(t, values(ts.URL, SettingAllowedGroups+"=big"))
	if len(snap.Users) != 250 || len(snap.Memberships) != 21*250 {
		t.Errorf("%d users, %d memberships: want 250, %d", len(snap.Users), len(snap.Memberships), 21*250)
	}
	v := viewOf(snap)
	if got := len(v.members["big/sub019"]); got != 250 {
		t.Errorf("big/sub019 has %d members", got)
	}
	// group + descendants + projects + custom roles, then 3 rounds of
	// ⌈21/8⌉ = 3 queries, and one of big's (no) projects.
	if got, want := sim.Stats().Requests, int64(4+3*3+1); got != want {
		t.Errorf("%d requests, want %d", got, want)
	}
}

func TestGraphQLComplexityFallback(t *testing.T) {
	f := bigFixture(150, 7, 10) // 8 groups: one query, until refused
	_, ts := startSim(t, f, gitlabsim.Options{})
	want, err := readMembersBy(t, values(ts.URL, SettingAllowedGroups+"=big"), true)
	if err != nil {
		t.Fatal(err)
	}
	// A group costs 29: at 100, 8 and 4 groups are refused, 2 pass.
	sim, ts := startSim(t, f, gitlabsim.Options{GraphQLComplexity: 100})
	got := mustRead(t, values(ts.URL, SettingAllowedGroups+"=big"))
	if len(got.Warnings) != 2 ||
		!strings.Contains(got.Warnings[0], "refused a GraphQL query for the members of 8 groups (Query has complexity of 232, which exceeds max complexity of 100); members are read 4 groups per query") ||
		!strings.Contains(got.Warnings[1], "of 4 groups (Query has complexity of 116, which exceeds max complexity of 100); members are read 2 groups per query") {
		t.Errorf("warnings %q", got.Warnings)
	}
	got.Warnings = want.Warnings
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Error("the snapshot read in smaller batches differs")
	}
	t.Logf("%d requests", sim.Stats().Requests)

	// Not even one group fits: an error, no snapshot.
	_, ts = startSim(t, f, gitlabsim.Options{GraphQLComplexity: 20})
	snap, err := read(t, testConnector(), values(ts.URL, SettingAllowedGroups+"=big", SettingReadProjectMembers+"=false"))
	if err == nil || !errors.Is(err, identity.ErrUnavailable) || !strings.Contains(err.Error(), "GraphQL errors to list the members of group big") || len(snap.Users) != 0 {
		t.Errorf("error %v, %d users", err, len(snap.Users))
	}
}

func TestGraphQLRetriesAfter429(t *testing.T) {
	sim, ts := startSim(t, bigFixture(150, 3, 0), gitlabsim.Options{})
	sim.Inject(gitlabsim.Fault{Path: "/api/graphql", Status: 429, Times: 1}) // Retry-After: 1
	start := time.Now()
	snap := mustRead(t, values(ts.URL, SettingAllowedGroups+"=big"))
	if d := time.Since(start); d < time.Second {
		t.Errorf("read in %v: the Retry-After of 1 s was not waited", d)
	}
	if len(snap.Memberships) != 4*150 {
		t.Errorf("%d memberships", len(snap.Memberships))
	}
	// 4 REST requests, 2 GraphQL pages of members, 1 of projects, 1 retry.
	if st := sim.Stats(); st.Faulted != 1 || st.Requests != 4+2+1+1 {
		t.Errorf("stats %+v", st)
	}
}

func TestRESTMembersFailMidListing(t *testing.T) {
	sim, ts := startSim(t, bigFixture(150, 3, 5), gitlabsim.Options{})
	sim.Inject(gitlabsim.Fault{Path: "/members/all", Page: 2, Status: 500})
	snap, err := readMembersBy(t, values(ts.URL, SettingAllowedGroups+"=big"), true)
	if err == nil || !strings.Contains(err.Error(), "page 2") || len(snap.Users) != 0 {
		t.Errorf("error %v, %d users", err, len(snap.Users))
	}
}
