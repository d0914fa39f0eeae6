package gitlabsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func loadAcme(t testing.TB) *Fixture {
	t.Helper()
	f, err := LoadFixture("testdata/acme.json")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func start(t testing.TB, f *Fixture, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	sim, err := New(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, ts
}

func get(t testing.TB, ts *httptest.Server, token, path string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+path, nil)
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	return send(t, ts, req)
}

// send does req and reads the answer.
func send(t testing.TB, ts *httptest.Server, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

func TestAuthentication(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{})
	cases := []struct {
		name, token, path string
		status            int
		body              string
	}{
		{"no token", "", "/api/v4/user", 401, `"401 Unauthorized"`},
		{"bad token", "glpat-nope", "/api/v4/groups/acme", 401, `"401 Unauthorized"`},
		{"read_user reads itself", "glpat-read-user", "/api/v4/user", 200, `"username":"root"`},
		{"read_user cannot read groups", "glpat-read-user", "/api/v4/groups/acme", 403, `"insufficient_scope"`},
		{"scopes of the token", "glpat-read-user", "/api/v4/personal_access_tokens/self", 200, `"scopes":["read_user"]`},
		{"read_api reads groups", "glpat-sync-token", "/api/v4/groups/acme", 200, `"full_path":"acme"`},
		{"full path URL-encoded", "glpat-sync-token", "/api/v4/groups/acme%2Fbackend%2Fpayments", 200, `"full_path":"acme/backend/payments"`},
		{"missing group", "glpat-sync-token", "/api/v4/groups/nope", 404, `"404 Group Not Found"`},
		{"private group hidden from a non-member", "glpat-alice", "/api/v4/groups/other", 404, `"404 Group Not Found"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := get(t, ts, c.token, c.path)
			if resp.StatusCode != c.status || !strings.Contains(string(body), c.body) {
				t.Fatalf("got %d %s, want %d with %s", resp.StatusCode, body, c.status, c.body)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{})
	req, _ := http.NewRequest("GET", ts.URL+"/api/v4/user", nil)
	req.Header.Set("Authorization", "Bearer glpat-alice")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
}

func TestOffsetPagination(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{})
	resp, body := get(t, ts, "glpat-sync-token", "/api/v4/users?per_page=3&page=2")
	users := decode[[]map[string]any](t, body)
	if len(users) != 3 || users[0]["username"] != "carol" {
		t.Fatalf("page 2: %s", body)
	}
	h := resp.Header
	want := map[string]string{"X-Page": "2", "X-Per-Page": "3", "X-Prev-Page": "1", "X-Next-Page": "3", "X-Total": "10", "X-Total-Pages": "4"}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	for _, rel := range []string{`rel="prev"`, `rel="next"`, `rel="first"`, `rel="last"`} {
		if !strings.Contains(h.Get("Link"), rel) {
			t.Errorf("Link %q lacks %s", h.Get("Link"), rel)
		}
	}
	// The last page has no next.
	resp, _ = get(t, ts, "glpat-sync-token", "/api/v4/users?per_page=3&page=4")
	if resp.Header.Get("X-Next-Page") != "" || strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
		t.Fatalf("last page: %v", resp.Header)
	}
	// per_page is capped at 100; default 20.
	resp, _ = get(t, ts, "glpat-sync-token", "/api/v4/users?per_page=500")
	if resp.Header.Get("X-Per-Page") != "100" {
		t.Fatalf("per_page cap: %q", resp.Header.Get("X-Per-Page"))
	}
	resp, _ = get(t, ts, "glpat-sync-token", "/api/v4/users")
	if resp.Header.Get("X-Per-Page") != "20" {
		t.Fatalf("default per_page: %q", resp.Header.Get("X-Per-Page"))
	}
}

func TestPastTenThousandRecordsNoTotals(t *testing.T) {
	f := &Fixture{Tokens: []Token{{Token: "t", User: "u1", Scopes: []string{"read_api"}}}}
	for i := 1; i <= maxCountedRecords+1; i++ {
		f.Users = append(f.Users, User{Username: "u" + strconv.Itoa(i)})
	}
	_, ts := start(t, f, Options{})
	resp, _ := get(t, ts, "t", "/api/v4/users?per_page=100")
	h := resp.Header
	if h.Get("X-Total") != "" || h.Get("X-Total-Pages") != "" || strings.Contains(h.Get("Link"), `rel="last"`) {
		t.Fatalf("totals past 10,000: %v", h)
	}
	if h.Get("X-Next-Page") != "2" || !strings.Contains(h.Get("Link"), `rel="next"`) {
		t.Fatalf("next page: %v", h)
	}
}

func TestKeysetPagination(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{})
	next := "/api/v4/projects?pagination=keyset&order_by=id&sort=asc&per_page=3"
	var ids []float64
	for next != "" {
		resp, body := get(t, ts, "glpat-sync-token", next)
		for _, p := range decode[[]map[string]any](t, body) {
			ids = append(ids, p["id"].(float64))
		}
		next = ""
		if l := resp.Header.Get("Link"); l != "" {
			if strings.Contains(l, `rel="first"`) || strings.Contains(l, `rel="last"`) {
				t.Fatalf("keyset Link has more than next: %s", l)
			}
			u, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(strings.Split(l, ";")[0], "<"), ">"))
			if err != nil {
				t.Fatal(err)
			}
			next = u.RequestURI()
		}
	}
	if fmt.Sprint(ids) != "[1000 1001 1002 1003]" {
		t.Fatalf("ids %v", ids)
	}
	resp, _ := get(t, ts, "glpat-sync-token", "/api/v4/projects?pagination=keyset&order_by=name")
	if resp.StatusCode != 400 {
		t.Fatalf("keyset by name: %d", resp.StatusCode)
	}
}

func TestMembers(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{})
	levels := func(path string) map[string]string {
		_, body := get(t, ts, "glpat-sync-token", path)
		out := map[string]string{}
		for _, m := range decode[[]map[string]any](t, body) {
			v := fmt.Sprint(m["access_level"])
			if r, ok := m["member_role"].(map[string]any); ok {
				v += ":" + r["name"].(string)
			}
			out[m["username"].(string)] = v
		}
		return out
	}
	cases := []struct{ path, want string }{
		{"/api/v4/groups/acme%2Fbackend%2Fpayments/members", "map[bob:40 dave:20:Security auditor]"},
		// Inherited from acme and acme/backend, invited partners capped at 20.
		{"/api/v4/groups/acme%2Fbackend%2Fpayments/members/all", "map[alice:50 bob:40 carol:15 dave:20:Security auditor frank:30 grace:20]"},
		{"/api/v4/projects/1000/members", "map[erin:30 heidi:30]"},
		{"/api/v4/projects/1002/members/all", "map[alice:50 bob:20 carol:15 erin:10 frank:30 grace:20]"},
	}
	for _, c := range cases {
		if got := fmt.Sprint(levels(c.path)); got != c.want {
			t.Errorf("%s: %s, want %s", c.path, got, c.want)
		}
	}
}

func TestGroupProjectsWithShared(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{})
	paths := func(q string) string {
		_, body := get(t, ts, "glpat-sync-token", "/api/v4/groups/acme/projects?per_page=100&"+q)
		var out []string
		for _, p := range decode[[]map[string]any](t, body) {
			out = append(out, p["path_with_namespace"].(string))
		}
		return strings.Join(out, ",")
	}
	if got := paths("include_subgroups=true&with_shared=false"); got != "acme/backend/api,acme/backend/payments/ledger,acme/frontend/web" {
		t.Errorf("tree without shared: %s", got)
	}
	if got := paths("include_subgroups=true"); !strings.Contains(got, "other/tool") {
		t.Errorf("with_shared defaults to true: %s", got)
	}
	if got := paths(""); got != "" {
		t.Errorf("without subgroups: %q", got)
	}
}

func TestDescendantGroups(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{})
	_, body := get(t, ts, "glpat-sync-token", "/api/v4/groups/acme/descendant_groups")
	var got []string
	for _, g := range decode[[]map[string]any](t, body) {
		got = append(got, g["full_path"].(string))
		if _, ok := g["shared_with_groups"]; ok {
			t.Error("list entries carry no shares (GitLab's Group entity)")
		}
	}
	if strings.Join(got, ",") != "acme/backend,acme/backend/payments,acme/frontend" {
		t.Fatalf("%v", got)
	}
	_, body = get(t, ts, "glpat-sync-token", "/api/v4/groups/acme/subgroups")
	if n := len(decode[[]map[string]any](t, body)); n != 2 {
		t.Fatalf("subgroups: %d", n)
	}
	_, body = get(t, ts, "glpat-sync-token", "/api/v4/groups/acme")
	if !strings.Contains(string(body), `"group_full_path":"partners"`) {
		t.Fatalf("detail shares: %s", body)
	}
}

func TestMemberRoles(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{})
	_, body := get(t, ts, "glpat-sync-token", "/api/v4/groups/acme/member_roles")
	if n := len(decode[[]map[string]any](t, body)); n != 2 {
		t.Fatalf("roles: %s", body)
	}
	if resp, _ := get(t, ts, "glpat-sync-token", "/api/v4/groups/acme%2Fbackend/member_roles"); resp.StatusCode != 400 {
		t.Fatalf("subgroup roles: %d", resp.StatusCode)
	}
	if resp, _ := get(t, ts, "glpat-alice", "/api/v4/member_roles"); resp.StatusCode != 403 {
		t.Fatalf("instance roles for a non-admin: %d", resp.StatusCode)
	}
}

func TestRateLimit(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	sim, ts := start(t, loadAcme(t), Options{RateLimit: 2, RateWindow: time.Minute, Now: clock})
	for i := 1; i <= 2; i++ {
		resp, _ := get(t, ts, "glpat-sync-token", "/api/v4/user")
		if resp.StatusCode != 200 || resp.Header.Get("RateLimit-Remaining") != strconv.Itoa(2-i) || resp.Header.Get("RateLimit-Limit") != "2" {
			t.Fatalf("request %d: %d %v", i, resp.StatusCode, resp.Header)
		}
	}
	resp, body := get(t, ts, "glpat-sync-token", "/api/v4/user")
	if resp.StatusCode != 429 || strings.TrimSpace(string(body)) != "Retry later" {
		t.Fatalf("third: %d %s", resp.StatusCode, body)
	}
	// 1,700,000,000 is 20 s into its minute.
	if resp.Header.Get("Retry-After") != "40" || resp.Header.Get("RateLimit-Reset") != "1700000040" || resp.Header.Get("RateLimit-ResetTime") == "" {
		t.Fatalf("429 headers: %v", resp.Header)
	}
	if sim.Stats().RateLimited != 1 {
		t.Fatalf("stats %+v", sim.Stats())
	}
	// Another token has its own window.
	if resp, _ := get(t, ts, "glpat-alice", "/api/v4/user"); resp.StatusCode != 200 {
		t.Fatalf("other token: %d", resp.StatusCode)
	}
}

func TestFaults(t *testing.T) {
	sim, ts := start(t, loadAcme(t), Options{HangFor: 10 * time.Millisecond})
	sim.Inject(Fault{Path: "/members", Page: 2, Status: 502})
	if resp, _ := get(t, ts, "glpat-sync-token", "/api/v4/groups/acme/members?per_page=1&page=1"); resp.StatusCode != 200 {
		t.Fatalf("page 1: %d", resp.StatusCode)
	}
	if resp, _ := get(t, ts, "glpat-sync-token", "/api/v4/groups/acme/members?per_page=1&page=2"); resp.StatusCode != 502 {
		t.Fatalf("page 2: %d", resp.StatusCode)
	}
	sim.ClearFaults()
	sim.Inject(Fault{Path: "/user", Status: 503, Times: 1})
	if resp, _ := get(t, ts, "glpat-sync-token", "/api/v4/user"); resp.StatusCode != 503 {
		t.Fatalf("once: %d", resp.StatusCode)
	}
	if resp, _ := get(t, ts, "glpat-sync-token", "/api/v4/user"); resp.StatusCode != 200 {
		t.Fatalf("cleared itself: %d", resp.StatusCode)
	}
	// A hang holds the request until the client gives up.
	sim.Inject(Fault{Path: "/user", Hang: true, Status: 504})
	c := &http.Client{Timeout: 5 * time.Millisecond}
	req, _ := http.NewRequest("GET", ts.URL+"/api/v4/user", nil)
	if _, err := c.Do(req); err == nil {
		t.Fatal("hang answered before the client's timeout")
	}
	if sim.Stats().Faulted != 3 {
		t.Fatalf("stats %+v", sim.Stats())
	}
}

func TestUpdate(t *testing.T) {
	sim, ts := start(t, loadAcme(t), Options{})
	err := sim.Update(func(f *Fixture) {
		for i, g := range f.Groups {
			if g.FullPath == "acme/frontend" {
				f.Groups[i].Members = nil
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	_, body := get(t, ts, "glpat-sync-token", "/api/v4/groups/acme%2Ffrontend/members")
	if string(body) != "[]\n" {
		t.Fatalf("after update: %s", body)
	}
	if err := sim.Update(func(f *Fixture) {
		f.Groups[0].Members = append(f.Groups[0].Members, Member{User: "ghost", AccessLevel: 30})
	}); err == nil {
		t.Fatal("inconsistent update accepted")
	}
}

func TestOAuth(t *testing.T) {
	sim, ts := start(t, loadAcme(t), Options{})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := func(q string) *http.Response {
		resp, err := noRedirect.Get(ts.URL + "/oauth/authorize?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	base := "client_id=gatehouse-app&response_type=code&redirect_uri=" + url.QueryEscape("http://gh.example/cb") + "&state=xyz&scope=read_api"
	if resp := authorize("client_id=nope&response_type=code&redirect_uri=x"); resp.StatusCode != 400 {
		t.Fatalf("unknown client: %d", resp.StatusCode)
	}
	if resp := authorize(base); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("no user: %d", resp.StatusCode)
	}
	sim.SignIn("bob")
	resp := authorize(base)
	if resp.StatusCode != 302 {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("state") != "xyz" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %s", loc)
	}
	exchange := func(secret, code string) *http.Response {
		resp, err := http.PostForm(ts.URL+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://gh.example/cb"}, "client_id": {"gatehouse-app"}, "client_secret": {secret}})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := exchange("wrong", loc.Query().Get("code")); r.StatusCode != 401 {
		t.Fatalf("bad secret: %d", r.StatusCode)
	}
	r := exchange("gatehouse-secret", loc.Query().Get("code"))
	defer r.Body.Close()
	var tok map[string]any
	if err := json.NewDecoder(r.Body).Decode(&tok); err != nil || r.StatusCode != 200 {
		t.Fatalf("exchange: %d %v", r.StatusCode, err)
	}
	if again := exchange("gatehouse-secret", loc.Query().Get("code")); again.StatusCode != 400 {
		t.Fatalf("code reused: %d", again.StatusCode)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/api/v4/user", nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	u, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Body.Close()
	var me map[string]any
	_ = json.NewDecoder(u.Body).Decode(&me)
	if me["username"] != "bob" || me["email"] != "bob@example.com" {
		t.Fatalf("me %v", me)
	}
}

func TestListGroupsMinAccessLevel(t *testing.T) {
	_, ts := start(t, loadAcme(t), Options{})
	_, body := get(t, ts, "glpat-alice", "/api/v4/groups?min_access_level=10")
	var got []string
	for _, g := range decode[[]map[string]any](t, body) {
		got = append(got, g["full_path"].(string))
	}
	if strings.Join(got, ",") != "acme,acme/backend,acme/backend/payments,acme/frontend" {
		t.Fatalf("%v", got)
	}
}

func FuzzParseFixture(f *testing.F) {
	seed, err := os.ReadFile("testdata/acme.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"groups":[{"full_path":"a/b"}]}`))
	f.Add([]byte(`{"users":[{"username":"x"},{"username":"x"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fix, err := ParseFixture(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		if _, err := New(fix, Options{}); err != nil {
			t.Fatalf("parsed fixture refused by New: %v", err)
		}
	})
}
