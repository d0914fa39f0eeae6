package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gitlabsim"
	"github.com/gatehouse-dev/gatehouse/internal/secretbox"
)

// gitlabEnv is a Gatehouse server and a simulated GitLab, with an
// administrator's token.
type gitlabEnv struct {
	srv    *Server
	sim    *gitlabsim.Server
	simURL string
	base   string
	admin  func(*http.Request)
}

const gitlabSyncToken = "glpat-sync-token" // the example fixture's read_api token

// startGitLab starts the simulator (example fixture) and a Gatehouse server
// with a secret key, GitLab not yet configured.
func startGitLab(t *testing.T) *gitlabEnv {
	t.Helper()
	sim, err := gitlabsim.New(gitlabsim.Example(), gitlabsim.Options{HangFor: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sim)
	t.Cleanup(hs.Close)
	key, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := envConfig(t, map[string]string{"GATEHOUSE_SECRET_KEY": key, "GATEHOUSE_ADMIN_PASSWORD": "admin-password-42"}, t.TempDir())
	cfg.gitlabRetries, cfg.gitlabRetryBase = 2, 10*time.Millisecond
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	e := &gitlabEnv{srv: srv, sim: sim, simURL: hs.URL, base: "http://" + srv.Addr() + "/"}
	e.admin = bearer(e.token(t, "admin-password-42", "admin"))
	// Rights must come from GitLab alone: drop a fresh instance's default
	// global scan and provisioning of sonar-users (README: lock down).
	for _, perm := range []string{"scan", "provisioning"} {
		form := url.Values{"groupName": {"sonar-users"}, "permission": {perm}}
		if st, body := call(t, "POST", e.base+"api/permissions/remove_group", form, e.admin); st != 204 {
			t.Fatalf("lock down %s: %d %s", perm, st, body)
		}
	}
	return e
}

// token generates a user token for login (admin: the administrator's own).
func (e *gitlabEnv) token(t *testing.T, adminPassword, login string) string {
	t.Helper()
	form := url.Values{"name": {"e2e-" + login}}
	if login != "admin" {
		form.Set("login", login)
	}
	st, body := call(t, "POST", e.base+"api/user_tokens/generate", form, basic("admin", adminPassword))
	if st != 200 {
		t.Fatalf("token of %s: %d %s", login, st, body)
	}
	var gen struct{ Token string }
	_ = json.Unmarshal([]byte(body), &gen)
	return gen.Token
}

func (e *gitlabEnv) settings(allowed string) url.Values {
	return url.Values{
		"source": {"gitlab"}, "url": {e.simURL}, "token": {gitlabSyncToken},
		"allowedGroups": {allowed}, "sync.enabled": {"true"}, "timeout": {"1s"},
	}
}

// configure saves working settings and waits for the start-up run.
func (e *gitlabEnv) configure(t *testing.T, allowed string) runJSON {
	t.Helper()
	if st, body := call(t, "POST", e.base+"api/provisioning/settings", e.settings(allowed), e.admin); st != 204 {
		t.Fatalf("settings = %d %s", st, body)
	}
	run := waitSourceRun(t, e.base, e.admin, "gitlab", "")
	if run.Status != "success" {
		t.Fatalf("first run = %+v", run)
	}
	return run
}

// allowed asks api/authz/check whether tok may use perm on project key. A
// caller who cannot see the project is answered 404, a refusal too.
func (e *gitlabEnv) allowed(t *testing.T, tok, perm, key string) bool {
	t.Helper()
	st, body := call(t, "GET", e.base+"api/authz/check?"+url.Values{"permission": {perm}, "projectKey": {key}}.Encode(), nil, bearer(tok))
	if st == 404 && strings.Contains(body, "not found") {
		return false
	}
	if st != 200 {
		t.Fatalf("authz/check %s %s = %d %s", perm, key, st, body)
	}
	var d struct{ Allowed bool }
	_ = json.Unmarshal([]byte(body), &d)
	return d.Allowed
}

// userJSON is a user of api/users/search.
type userJSON struct {
	Login  string `json:"login"`
	Active bool   `json:"active"`
}

// user finds login among every user, deactivated ones included.
func (e *gitlabEnv) user(t *testing.T, login string) (userJSON, bool) {
	t.Helper()
	_, body := call(t, "GET", e.base+"api/users/search?"+url.Values{"q": {login}, "deactivated": {"true"}}.Encode(), nil, e.admin)
	_, active := call(t, "GET", e.base+"api/users/search?"+url.Values{"q": {login}}.Encode(), nil, e.admin)
	var out struct{ Users []userJSON }
	for _, b := range []string{body, active} {
		out.Users = nil
		_ = json.Unmarshal([]byte(b), &out)
		for _, u := range out.Users {
			if u.Login == login {
				return u, true
			}
		}
	}
	return userJSON{}, false
}

// groupNames lists Gatehouse's groups whose name contains q.
func (e *gitlabEnv) groupNames(t *testing.T, q string) []string {
	t.Helper()
	_, body := call(t, "GET", e.base+"api/user_groups/search?"+url.Values{"q": {q}, "ps": {"500"}}.Encode(), nil, e.admin)
	var out struct {
		Groups []struct{ Name string }
	}
	_ = json.Unmarshal([]byte(body), &out)
	var names []string
	for _, g := range out.Groups {
		names = append(names, g.Name)
	}
	slices.Sort(names)
	return names
}

// removeMember removes user's direct membership of group in the simulator.
func removeMember(t *testing.T, sim *gitlabsim.Server, group, user string) {
	t.Helper()
	if err := sim.Update(func(f *gitlabsim.Fixture) {
		for i := range f.Groups {
			if f.Groups[i].FullPath == group {
				f.Groups[i].Members = slices.DeleteFunc(f.Groups[i].Members, func(m gitlabsim.Member) bool { return m.User == user })
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
}

// syncSource asks for a run of src and waits until it is the last finished
// one.
func syncSource(t *testing.T, base string, auth func(*http.Request), src string) runJSON {
	t.Helper()
	st, body := call(t, "POST", base+"api/provisioning/sync", url.Values{"source": {src}}, auth)
	if st != 200 {
		t.Fatalf("sync: %d %s", st, body)
	}
	var q struct {
		Run runJSON `json:"run"`
	}
	_ = json.Unmarshal([]byte(body), &q)
	return waitSourceRun(t, base, auth, src, q.Run.ID)
}

// waitSourceRun waits for run id (any new one when empty) to be the last
// finished run of src.
func waitSourceRun(t *testing.T, base string, auth func(*http.Request), src, id string) runJSON {
	t.Helper()
	status := base + "api/provisioning/status?source=" + src
	// Generous: a run against a faulty simulator waits out its retries and
	// timeouts, slowly on a loaded machine.
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		_, body := call(t, "GET", status, nil, auth)
		var s struct {
			Pending *runJSON `json:"pending"`
			Running *runJSON `json:"running"`
			LastRun *runJSON `json:"lastRun"`
		}
		_ = json.Unmarshal([]byte(body), &s)
		if s.LastRun != nil && s.Pending == nil && s.Running == nil && (id == "" || s.LastRun.ID == id) {
			return *s.LastRun
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, body := call(t, "GET", status, nil, auth)
	t.Fatalf("run %q of %s did not finish within 90 s: %s", id, src, body)
	return runJSON{}
}

// TestGitLabSettingsAndFreshness configures GitLab only through
// api/provisioning/settings (the token sealed at rest, masked on read, a bad
// one refused on save saying why), then follows a user's removal from a
// GitLab group: the token that could scan through the GitLab role is
// refused after "sync now" (issue 10, item 6).
func TestGitLabSettingsAndFreshness(t *testing.T) {
	e := startGitLab(t)
	bad := e.settings("acme")
	bad.Set("token", "glpat-wrong")
	if st, body := call(t, "POST", e.base+"api/provisioning/settings", bad, e.admin); st != 400 || !strings.Contains(body, "401") {
		t.Fatalf("bad token = %d %s", st, body)
	}
	noScope := e.settings("acme")
	noScope.Set("token", "glpat-read-user")
	if st, body := call(t, "POST", e.base+"api/provisioning/settings", noScope, e.admin); st != 400 || !strings.Contains(body, "read_api") {
		t.Fatalf("token without read_api = %d %s", st, body)
	}
	first := e.configure(t, "acme,partners")
	if first.Counts["usersCreated"] == 0 || first.Counts["groupsCreated"] == 0 {
		t.Fatalf("first run = %+v", first)
	}
	raw, err := e.srv.store.GetSetting(t.Context(), "provisioning.gitlab.token")
	if err != nil || !secretbox.IsSealed(raw) || strings.Contains(raw, gitlabSyncToken) {
		t.Fatalf("token stored as %q (%v)", raw, err)
	}
	if st, body := call(t, "GET", e.base+"api/provisioning/settings?source=gitlab", nil, e.admin); st != 200 || strings.Contains(body, gitlabSyncToken) || !strings.Contains(body, `"value":"********"`) {
		t.Fatalf("settings read = %d %s", st, body)
	}

	// bob is a Developer of acme/backend, which maps to scan on its
	// projects.
	bob := e.token(t, "admin-password-42", "bob")
	if !e.allowed(t, bob, "scan", "acme:backend:api") {
		t.Fatal("bob cannot scan acme/backend/api through his Developer role")
	}
	removeMember(t, e.sim, "acme/backend", "bob")
	run := syncSource(t, e.base, e.admin, "gitlab")
	if run.Status != "success" || run.Counts["writes"] == 0 {
		t.Fatalf("run after the removal = %+v", run)
	}
	if e.allowed(t, bob, "scan", "acme:backend:api") {
		t.Fatal("bob's token still scans acme/backend/api after he left acme/backend")
	}
	// He is still a Maintainer of acme/backend/payments: that access stays.
	if !e.allowed(t, bob, "scan", "acme:backend:payments:ledger") {
		t.Fatal("bob lost acme/backend/payments/ledger, which he still has in GitLab")
	}
}

// TestGitLabSafety: with GitLab failing part-way through a listing,
// rate-limiting past the retries, or not answering, a run ends failed
// saying why and changes nothing — a user removed in GitLab keeps access
// and nobody is deactivated — and the run after the fault clears does the
// work (issue 10, item 7).
func TestGitLabSafety(t *testing.T) {
	e := startGitLab(t)
	// 150 more members of acme make its members two pages long (GraphQL
	// groupMembers, 100 a page), so a fault can hit the second page only.
	if err := e.sim.Update(func(f *gitlabsim.Fixture) {
		for i := range 150 {
			login := "member" + strconv.Itoa(i)
			f.Users = append(f.Users, gitlabsim.User{Username: login})
			f.Groups[0].Members = append(f.Groups[0].Members, gitlabsim.Member{User: login, AccessLevel: 20})
		}
	}); err != nil {
		t.Fatal(err)
	}
	first := e.configure(t, "acme,partners")
	if first.Counts["usersCreated"] < 150 {
		t.Fatalf("first run = %+v", first)
	}
	bob := e.token(t, "admin-password-42", "bob")
	if !e.allowed(t, bob, "scan", "acme:backend:api") {
		t.Fatal("bob cannot scan acme/backend/api through his Developer role")
	}
	// GitLab changes; then it fails before Gatehouse can read the change.
	removeMember(t, e.sim, "acme/backend", "bob")
	removeMember(t, e.sim, "acme", "member7")

	for _, tc := range []struct {
		name  string
		fault gitlabsim.Fault
		why   string
	}{
		// The first groupMembers query reads every group's first page; the
		// second, acme's second page.
		{"a page failing mid-listing", gitlabsim.Fault{Path: "/api/graphql", Body: "groupMembers(", Skip: 1, Status: 500}, "500"},
		{"rate limit outlasting the retries", gitlabsim.Fault{Status: 429}, "rate-limiting"},
		{"GitLab not answering", gitlabsim.Fault{Path: "/api/graphql", Hang: true}, "timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.sim.Inject(tc.fault)
			defer e.sim.ClearFaults()
			run := syncSource(t, e.base, e.admin, "gitlab")
			if run.Status != "failed" || len(run.Errors) == 0 || !strings.Contains(run.Errors[0], tc.why) || !strings.Contains(run.Errors[0], "nothing was applied") {
				t.Fatalf("run = %+v", run)
			}
			t.Logf("the run says: %s", run.Errors[0])
			if run.Counts["writes"] != 0 || run.Counts["usersDeactivated"] != 0 {
				t.Fatalf("the failed run wrote: %+v", run.Counts)
			}
			if !e.allowed(t, bob, "scan", "acme:backend:api") {
				t.Fatal("bob lost access through a failed run")
			}
			if u, ok := e.user(t, "member7"); !ok || !u.Active {
				t.Fatalf("member7 after the failed run = %+v %v", u, ok)
			}
		})
	}

	run := syncSource(t, e.base, e.admin, "gitlab")
	if run.Status != "success" || run.Counts["usersDeactivated"] != 1 {
		t.Fatalf("run after the faults cleared = %+v", run)
	}
	if e.allowed(t, bob, "scan", "acme:backend:api") {
		t.Fatal("bob still scans acme/backend/api after the run that followed the faults")
	}
	if u, ok := e.user(t, "member7"); !ok || u.Active {
		t.Fatalf("member7 after the run = %+v %v", u, ok)
	}
}

// TestGitLabSemantics drives the mapping end to end: projects' visibility,
// users in no allowed group deactivated, groups no longer allowed removed,
// global permissions and local users untouched, and GitLab-managed objects
// refused to Web API edits with a 400 naming GitLab (issue 10, item 3).
func TestGitLabSemantics(t *testing.T) {
	e := startGitLab(t)
	// A local user with a global permission, made before GitLab is on.
	if st, body := call(t, "POST", e.base+"api/users/create", url.Values{"login": {"local1"}, "name": {"Local One"}, "password": {"local-password-42"}}, e.admin); st != 200 {
		t.Fatalf("local user = %d %s", st, body)
	}
	if st, body := call(t, "POST", e.base+"api/permissions/add_user", url.Values{"login": {"local1"}, "permission": {"provisioning"}}, e.admin); st != 204 {
		t.Fatalf("grant local1 = %d %s", st, body)
	}
	e.configure(t, "acme,partners")
	if got, want := e.groupNames(t, "a"), []string{"acme", "acme/backend", "acme/backend/payments", "acme/frontend", "partners", "sonar-administrators", "sonar-users"}; !slices.Equal(got, want) {
		t.Fatalf("groups = %v, want %v", got, want)
	}
	// other is not allowed: ivan, only there, is not provisioned.
	if _, ok := e.user(t, "ivan"); ok {
		t.Fatal("ivan, of a group not allowed, was provisioned")
	}
	// Private and internal projects are private; public ones public.
	_, body := call(t, "GET", e.base+"api/projects/search", nil, e.admin)
	var ps struct {
		Components []struct{ Key, Visibility string }
	}
	_ = json.Unmarshal([]byte(body), &ps)
	vis := map[string]string{}
	for _, p := range ps.Components {
		vis[p.Key] = p.Visibility
	}
	if want := map[string]string{"acme:backend:api": "private", "acme:backend:payments:ledger": "private", "acme:frontend:web": "public"}; !maps.Equal(vis, want) {
		t.Fatalf("projects = %v, want %v", vis, want)
	}
	// A global permission granted to a provisioned user is Gatehouse's own.
	if st, body := call(t, "POST", e.base+"api/permissions/add_user", url.Values{"login": {"bob"}, "permission": {"scan"}}, e.admin); st != 204 {
		t.Fatalf("grant bob = %d %s", st, body)
	}

	// GitLab-managed objects are edited in GitLab only.
	for _, tc := range []struct {
		name string
		path string
		form url.Values
	}{
		{"add a user to a GitLab group", "api/user_groups/add_user", url.Values{"name": {"acme/backend"}, "login": {"local1"}}},
		{"remove a user from a GitLab group", "api/user_groups/remove_user", url.Values{"name": {"acme/backend"}, "login": {"bob"}}},
		{"rename a GitLab group", "api/user_groups/update", url.Values{"currentName": {"acme/backend"}, "name": {"renamed"}}},
		{"revoke a GitLab user's permission on a GitLab project", "api/permissions/remove_user", url.Values{"login": {"bob"}, "projectKey": {"acme:backend:api"}, "permission": {"scan"}}},
		{"rename a GitLab user", "api/users/update", url.Values{"login": {"bob"}, "name": {"Robert"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if st, body := call(t, "POST", e.base+tc.path, tc.form, e.admin); st != 400 || !strings.Contains(body, "GitLab") {
				t.Fatalf("%s = %d %s", tc.path, st, body)
			}
		})
	}

	// dave leaves his only group; partners is no longer allowed.
	removeMember(t, e.sim, "acme/backend/payments", "dave")
	settings := e.settings("acme")
	settings.Set("token", "********")
	if st, body := call(t, "POST", e.base+"api/provisioning/settings", settings, e.admin); st != 204 {
		t.Fatalf("settings = %d %s", st, body)
	}
	run := syncSource(t, e.base, e.admin, "gitlab")
	if run.Status != "success" || run.Counts["usersDeactivated"] != 1 || run.Counts["groupsDeleted"] != 1 {
		t.Fatalf("run = %+v", run)
	}
	if u, ok := e.user(t, "dave"); !ok || u.Active {
		t.Fatalf("dave, in no allowed group = %+v %v", u, ok)
	}
	if got := e.groupNames(t, "partners"); len(got) != 0 {
		t.Fatalf("partners, no longer allowed, is still a group: %v", got)
	}
	// grace is still in acme through the partners invitation.
	if u, ok := e.user(t, "grace"); !ok || !u.Active {
		t.Fatalf("grace = %+v %v", u, ok)
	}
	if u, ok := e.user(t, "local1"); !ok || !u.Active {
		t.Fatalf("local1 = %+v %v", u, ok)
	}
	_, body = call(t, "GET", e.base+"api/permissions/users?"+url.Values{"permission": {"scan"}}.Encode(), nil, e.admin)
	if !strings.Contains(body, `"login":"bob"`) {
		t.Fatalf("bob's global scan after the run: %s", body)
	}
	_, body = call(t, "GET", e.base+"api/permissions/users?"+url.Values{"permission": {"provisioning"}}.Encode(), nil, e.admin)
	if !strings.Contains(body, `"login":"local1"`) {
		t.Fatalf("local1's global provisioning after the run: %s", body)
	}
}

// gitlabBrowser signs in through GitLab as a browser does: a cookie jar,
// each redirect followed by hand.
type gitlabBrowser struct {
	t      *testing.T
	client *http.Client
}

func newGitLabBrowser(t *testing.T) *gitlabBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &gitlabBrowser{t: t, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *gitlabBrowser) get(u string) (int, string, string) {
	b.t.Helper()
	resp, err := b.client.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// signIn goes through Gatehouse's GitLab sign-in as login and returns the
// callback's status and body.
func (b *gitlabBrowser) signIn(base, login string) (int, string) {
	b.t.Helper()
	st, to, body := b.get(base + "api/authentication/gitlab/login")
	if st != 302 || !strings.Contains(to, "/oauth/authorize?") {
		b.t.Fatalf("login = %d %s %s", st, to, body)
	}
	// The simulator signs in the user its login parameter names.
	st, to, body = b.get(to + "&login=" + login)
	if st != 302 || !strings.Contains(to, "/api/authentication/gitlab/callback?") {
		b.t.Fatalf("authorize = %d %s %s", st, to, body)
	}
	st, to, body = b.get(to)
	if st == 302 && to != "/" {
		b.t.Fatalf("callback redirects to %q", to)
	}
	return st, body
}

// groupsOf lists login's groups.
func (e *gitlabEnv) groupsOf(t *testing.T, login string) []string {
	t.Helper()
	_, body := call(t, "GET", e.base+"api/users/search?"+url.Values{"q": {login}}.Encode(), nil, e.admin)
	var out struct {
		Users []struct {
			Login  string
			Groups []string
		}
	}
	_ = json.Unmarshal([]byte(body), &out)
	for _, u := range out.Users {
		if u.Login == login {
			slices.Sort(u.Groups)
			return u.Groups
		}
	}
	t.Fatalf("no user %s: %s", login, body)
	return nil
}

// TestGitLabJITSignIn signs in through the simulator's OAuth2 endpoints:
// the state is checked, the user is created or updated, and their
// memberships are GitLab's at that moment without a sync (issue 10, items
// 5 and 6).
func TestGitLabJITSignIn(t *testing.T) {
	e := startGitLab(t)
	settings := e.settings("acme,partners")
	settings.Set("oauth.applicationId", "gatehouse-app")
	settings.Set("oauth.secret", "gatehouse-secret")
	if st, body := call(t, "POST", e.base+"api/provisioning/settings", settings, e.admin); st != 204 {
		t.Fatalf("settings = %d %s", st, body)
	}
	if run := waitSourceRun(t, e.base, e.admin, "gitlab", ""); run.Status != "success" {
		t.Fatalf("first run = %+v", run)
	}
	// The configured GitLab sign-in is listed, without authentication, as
	// SonarQube lists its providers.
	if st, body := call(t, "GET", e.base+"api/users/identity_providers", nil, nil); st != 200 || !strings.Contains(body, `"key":"gitlab"`) {
		t.Fatalf("identity_providers = %d %s", st, body)
	}
	if got, want := e.groupsOf(t, "bob"), []string{"acme/backend", "acme/backend/payments", "sonar-users"}; !slices.Equal(got, want) {
		t.Fatalf("bob's groups after the sync = %v, want %v", got, want)
	}

	// In GitLab bob moves from acme/backend to acme/frontend, and ivan
	// joins acme; no sync runs.
	removeMember(t, e.sim, "acme/backend", "bob")
	if err := e.sim.Update(func(f *gitlabsim.Fixture) {
		for i := range f.Groups {
			switch f.Groups[i].FullPath {
			case "acme/frontend":
				f.Groups[i].Members = append(f.Groups[i].Members, gitlabsim.Member{User: "bob", AccessLevel: 30})
			case "acme":
				f.Groups[i].Members = append(f.Groups[i].Members, gitlabsim.Member{User: "ivan", AccessLevel: 20})
			}
		}
	}); err != nil {
		t.Fatal(err)
	}

	b := newGitLabBrowser(t)
	if st, body := b.signIn(e.base, "bob"); st != 302 {
		t.Fatalf("bob's sign-in = %d %s", st, body)
	}
	if _, _, body := b.get(e.base + "api/authentication/validate"); !strings.Contains(body, `"valid":true`) {
		t.Fatalf("bob's session: %s", body)
	}
	if got, want := e.groupsOf(t, "bob"), []string{"acme/backend/payments", "acme/frontend", "sonar-users"}; !slices.Equal(got, want) {
		t.Fatalf("bob's groups after sign-in = %v, want %v", got, want)
	}
	// A user the sync never saw is created at sign-in, with GitLab's
	// e-mail address and effective groups (a member of acme is a member
	// of its subgroups).
	if st, body := newGitLabBrowser(t).signIn(e.base, "ivan"); st != 302 {
		t.Fatalf("ivan's sign-in = %d %s", st, body)
	}
	_, body := call(t, "GET", e.base+"api/users/search?q=ivan", nil, e.admin)
	if !strings.Contains(body, `"externalProvider":"gitlab"`) || !strings.Contains(body, `"email":"ivan@example.com"`) {
		t.Fatalf("ivan = %s", body)
	}
	if got, want := e.groupsOf(t, "ivan"), []string{"acme", "acme/backend", "acme/backend/payments", "acme/frontend", "sonar-users"}; !slices.Equal(got, want) {
		t.Fatalf("ivan's groups = %v, want %v", got, want)
	}
	// heidi has only a project role: she is in no allowed group.
	if st, body := newGitLabBrowser(t).signIn(e.base, "heidi"); st != 401 || !strings.Contains(body, "allowed") {
		t.Fatalf("heidi's sign-in = %d %s", st, body)
	}

	// The next sync finds what the sign-ins wrote already its own: no
	// group or user made twice, the memberships kept.
	run := syncSource(t, e.base, e.admin, "gitlab")
	if run.Status != "success" || run.Counts["groupsCreated"] != 0 || run.Counts["usersCreated"] != 0 || run.Counts["membershipsAdded"] != 0 || run.Counts["membershipsRemoved"] != 0 {
		t.Fatalf("sync after the sign-ins = %+v", run)
	}
	if got, want := e.groupsOf(t, "bob"), []string{"acme/backend/payments", "acme/frontend", "sonar-users"}; !slices.Equal(got, want) {
		t.Fatalf("bob's groups after the sync = %v, want %v", got, want)
	}

	// A callback whose state is not the cookie's is refused.
	forged := newGitLabBrowser(t)
	if st, _, _ := forged.get(e.base + "api/authentication/gitlab/login"); st != 302 {
		t.Fatal("login did not redirect")
	}
	if st, _, body := forged.get(e.base + "api/authentication/gitlab/callback?code=x&state=forged"); st != 401 {
		t.Fatalf("forged state = %d %s", st, body)
	}
	if st, _, body := newGitLabBrowser(t).get(e.base + "api/authentication/gitlab/callback?code=x&state=y"); st != 401 {
		t.Fatalf("callback without a sign-in = %d %s", st, body)
	}
}
