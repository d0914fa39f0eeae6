package ui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gitlabconn "github.com/gatehouse-dev/gatehouse/internal/connector/gitlab"
	"github.com/gatehouse-dev/gatehouse/internal/gitlabsim"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// simToken is the example fixture's read_api token.
const simToken = "glpat-sync-token"

// gitlabEnv is a test server whose GitLab page has a real engine with the
// GitLab connector over the simulator (example fixture), as the server
// wires them; secrets are sealed with a fresh key.
type gitlabEnv struct {
	*testServer
	sim    *gitlabsim.Server
	simURL string
	engine *provision.Engine
}

// newGitLabServer starts the simulator and the test server. With schedule,
// the engine's loop runs (queued and scheduled runs start); without, runs
// never start, so a test sees exactly what it wrote.
func newGitLabServer(t *testing.T, simOpts gitlabsim.Options, schedule bool) *gitlabEnv {
	t.Helper()
	return newGitLabServerGuarded(t, simOpts, schedule, provision.Guard{})
}

// newGitLabServerGuarded is newGitLabServer with the engine's guard.
func newGitLabServerGuarded(t *testing.T, simOpts gitlabsim.Options, schedule bool, guard provision.Guard) *gitlabEnv {
	t.Helper()
	sim, err := gitlabsim.New(gitlabsim.Example(), simOpts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sim)
	t.Cleanup(hs.Close)
	ring := testKeyring(t)
	env := &gitlabEnv{sim: sim, simURL: hs.URL}
	env.testServer = newTestServer(t, serverOption{ui: func(ts *testServer, _ *http.ServeMux, o *Options) {
		eng, err := provision.New(ts.ctx, ts.st, map[identity.Source]provision.SourceConfig{
			identity.SourceGitLab: {Connector: gitlabconn.Connector{Retries: 1, RetryBase: 10 * time.Millisecond}},
		}, provision.Config{Secrets: ring, Guard: guard})
		if err != nil {
			t.Fatal(err)
		}
		if schedule {
			ctx, cancel := context.WithCancel(ts.ctx)
			done := make(chan struct{})
			go func() { eng.Run(ctx); close(done) }()
			t.Cleanup(func() { cancel(); <-done })
		}
		env.engine, o.Provisioner = eng, eng
	}})
	return env
}

// admin is a browser signed in as the administrator.
func (e *gitlabEnv) admin() *browser {
	e.t.Helper()
	b := e.browser()
	b.signIn("admin", adminPassword)
	return b
}

// configure saves working settings through the page (automatic
// provisioning of acme).
func (e *gitlabEnv) configure(b *browser) {
	e.t.Helper()
	b.get("/provisioning/gitlab").must(200)
	b.post("/provisioning/gitlab/settings", "url", e.simURL, "token", simToken, "allowedGroups", "acme", "sync.enabled", "true", "timeout", "2s").must(http.StatusSeeOther)
}

// setting is a GitLab setting's effective value (secrets opened).
func (e *gitlabEnv) setting(name string) string {
	e.t.Helper()
	vals, err := e.engine.Values(e.ctx, identity.SourceGitLab)
	if err != nil {
		e.t.Fatal(err)
	}
	return vals[name]
}

func TestGitLabPageAccess(t *testing.T) {
	env := newGitLabServer(t, gitlabsim.Options{}, false)
	env.user("bob", "bob-password-123")
	anon := env.browser()
	if loc := anon.get("/provisioning/gitlab").must(http.StatusSeeOther).location(); !strings.HasPrefix(loc, "/signin") {
		t.Fatalf("signed out: redirect to %q", loc)
	}
	anon.get("/provisioning/gitlab/status").must(http.StatusSeeOther)
	b := env.browser()
	b.signIn("bob", "bob-password-123")
	for _, path := range []string{"/provisioning/gitlab", "/provisioning/gitlab/status"} {
		b.get(path).must(http.StatusForbidden).contains("for administrators")
	}
	b.get("/").must(200)
	for _, path := range []string{"/provisioning/gitlab/settings", "/provisioning/gitlab/roles", "/provisioning/gitlab/roles/remove",
		"/provisioning/gitlab/roles/reset", "/provisioning/gitlab/sync", "/provisioning/gitlab/dry-run"} {
		b.post(path, "url", "http://evil.example").must(http.StatusForbidden)
	}
	if got := env.setting(gitlabconn.SettingURL); got != gitlabconn.DefaultURL {
		t.Fatalf("a non-admin changed the URL to %q", got)
	}

	// Without the engine there is no GitLab page.
	plain := newTestServer(t)
	a := plain.browser()
	a.signIn("admin", adminPassword)
	a.get("/provisioning/gitlab").must(http.StatusNotFound).contains("not available")
}

func TestGitLabFormsNeedCSRF(t *testing.T) {
	env := newGitLabServer(t, gitlabsim.Options{}, false)
	b := env.admin()
	b.get("/provisioning/gitlab").must(200)
	for _, tc := range []struct{ path, field, value string }{
		{"/provisioning/gitlab/settings", "url", env.simURL},
		{"/provisioning/gitlab/roles", "new-role", "Auditor"},
		{"/provisioning/gitlab/roles/reset", "", ""},
		{"/provisioning/gitlab/sync", "", ""},
		{"/provisioning/gitlab/dry-run", "", ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			b.post(tc.path, "csrf", "forged", tc.field, tc.value).must(http.StatusForbidden).contains("security token")
		})
	}
	if got := env.setting(gitlabconn.SettingURL); got != gitlabconn.DefaultURL {
		t.Fatalf("a forged form changed the URL to %q", got)
	}
	if env.setting(gitlabconn.SettingRoleMapping) != gitlabconn.DefaultRoleMapping().String() {
		t.Fatal("a forged form changed the role mapping")
	}
}

func TestGitLabPage(t *testing.T) {
	env := newGitLabServer(t, gitlabsim.Options{}, false)
	b := env.admin()
	p := b.get("/provisioning/gitlab").must(200).contains(
		"GitLab provisioning", `<label for="gl-url">GitLab URL</label>`, "URL of the GitLab instance", `<label for="gl-token">Provisioning token</label>`,
		`<span class="badge off">not set</span>`, "Synchronize now", "Dry run", "Role permission mapping", "Maintainer", "Planner",
		`aria-label="Developer: Execute analysis" checked`, "No synchronization has run yet.", `aria-live="polite"`, "Page 1 of 1")
	checkPage(t, p)
	// roleMapping is edited in the table, not as a JSON field.
	p.lacks(`id="gl-roleMapping"`)
}

func TestGitLabSettingsSave(t *testing.T) {
	env := newGitLabServer(t, gitlabsim.Options{}, false)
	b := env.admin()
	for _, tc := range []struct {
		name   string
		kv     []string
		status int
		reason string // on the page
		kept   string // a value the form keeps
	}{
		{"bad token", []string{"url", env.simURL, "token", "glpat-wrong", "allowedGroups", "acme", "sync.enabled", "true"}, 400, "401", `value="acme"`},
		{"token without read_api", []string{"url", env.simURL, "token", "glpat-read-user", "allowedGroups", "acme", "sync.enabled", "true"}, 400, "read_api", `value="` + env.simURL + `"`},
		{"no allowed group", []string{"url", env.simURL, "token", simToken, "sync.enabled", "true"}, 400, "at least one allowed root group", `value="` + env.simURL + `"`},
		{"subgroup", []string{"url", env.simURL, "token", simToken, "allowedGroups", "acme/backend", "sync.enabled", "true"}, 400, "is a subgroup", `value="acme/backend"`},
		{"not a URL", []string{"url", "gitlab.example.com"}, 400, "is not the http(s) URL", `value="gitlab.example.com"`},
		{"unknown group", []string{"url", env.simURL, "token", simToken, "allowedGroups", "nowhere", "sync.enabled", "true"}, 400, "nowhere", `value="nowhere"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.get("/provisioning/gitlab").must(200)
			p := b.post("/provisioning/gitlab/settings", tc.kv...).must(tc.status).contains(`class="error" role="alert"`, tc.reason, tc.kept)
			checkPage(t, p)
			// What was typed into a secret field is not sent back.
			p.lacks("glpat-wrong", "glpat-read-user", simToken)
			if env.setting(gitlabconn.SettingToken) != "" || env.setting(gitlabconn.SettingURL) != gitlabconn.DefaultURL {
				t.Fatal("a refused change was stored")
			}
		})
	}

	env.configure(b)
	p := b.get("/provisioning/gitlab").must(200).contains("GitLab settings saved.", `<span class="badge ok">set</span>`, `value="acme"`, `<option value="true" selected>on</option>`)
	p.lacks(simToken)
	if env.setting(gitlabconn.SettingToken) != simToken || env.setting(gitlabconn.SettingAllowedGroups) != "acme" {
		t.Fatal("the settings were not stored")
	}
	// An empty (or masked) secret keeps the stored one.
	b.post("/provisioning/gitlab/settings", "token", "", "allowedGroups", "acme,partners").must(http.StatusSeeOther)
	b.post("/provisioning/gitlab/settings", "token", provision.Masked, "timeout", "3s").must(http.StatusSeeOther)
	if env.setting(gitlabconn.SettingToken) != simToken || env.setting(gitlabconn.SettingAllowedGroups) != "acme,partners" || env.setting(gitlabconn.SettingTimeout) != "3s" {
		t.Fatalf("token %q, groups %q", env.setting(gitlabconn.SettingToken), env.setting(gitlabconn.SettingAllowedGroups))
	}
	// Unchanged values are not stored: a default stays a default.
	b.get("/provisioning/gitlab").must(200)
	b.post("/provisioning/gitlab/settings", "sync.interval", gitlabconn.DefaultSyncInterval.String()).must(http.StatusSeeOther)
	b.get("/provisioning/gitlab").must(200).contains("Nothing to save")
	// The remove box clears a secret (here the OAuth secret).
	b.post("/provisioning/gitlab/settings", "oauth.secret", "gatehouse-secret").must(http.StatusSeeOther)
	b.get("/provisioning/gitlab").must(200).lacks("gatehouse-secret").contains(`name="clear:oauth.secret"`)
	b.post("/provisioning/gitlab/settings", "oauth.secret", "", "clear:oauth.secret", "1").must(http.StatusSeeOther)
	if env.setting(gitlabconn.SettingSecret) != "" {
		t.Fatal("the secret was not removed")
	}
}

func TestGitLabRoleMapping(t *testing.T) {
	env := newGitLabServer(t, gitlabsim.Options{}, false)
	b := env.admin()
	p := b.get("/provisioning/gitlab").must(200)
	// Row order: the six base roles. Guest gets code viewing, Owner loses
	// scanning; a custom role is added with browse and issue admin.
	form := []string{"role", "Guest", "perm-0", "user", "perm-0", "codeviewer"}
	for i, r := range gitlabconn.BaseRoles[1:] {
		form = append(form, "role", r.Name)
		perms := []string{"user", "codeviewer"}
		if r.Name == "Owner" {
			perms = []string{"user", "codeviewer", "issueadmin", "securityhotspotadmin", "admin"}
		}
		for _, perm := range perms {
			form = append(form, "perm-"+string(rune('1'+i)), perm)
		}
	}
	form = append(form, "new-role", "Security auditor", "perm-new", "user", "perm-new", "issueadmin")
	checkPage(t, p)
	b.post("/provisioning/gitlab/roles", form...).must(http.StatusSeeOther)
	m, err := gitlabconn.ParseRoleMapping(env.setting(gitlabconn.SettingRoleMapping))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]identity.Permission{
		"Guest":            {identity.PermCodeViewer, identity.PermUser},
		"Developer":        {identity.PermCodeViewer, identity.PermUser},
		"Owner":            {identity.PermAdmin, identity.PermCodeViewer, identity.PermIssueAdmin, identity.PermSecurityHotspotAdmin, identity.PermUser},
		"Security auditor": {identity.PermIssueAdmin, identity.PermUser},
	}
	for _, e := range m.Entries() {
		if w, ok := want[e.Role]; ok && !slices.Equal(e.Permissions, w) {
			t.Errorf("%s: %v, want %v", e.Role, e.Permissions, w)
		}
	}
	if !m.HasRole("Security auditor") {
		t.Fatal("the custom role was not added")
	}
	// The page shows what was stored.
	p = b.get("/provisioning/gitlab").must(200).contains("Custom role Security auditor added", `aria-label="Guest: See source code" checked`,
		`aria-label="Security auditor: Administer issues" checked`, `aria-label="Remove the custom role Security auditor"`)
	p.lacks(`aria-label="Developer: Execute analysis" checked`, `aria-label="Owner: Execute analysis" checked`)
	checkPage(t, p)

	// The same role twice, or as a base role, is refused with the form kept.
	b.post("/provisioning/gitlab/roles", "role", "Guest", "perm-0", "user", "new-role", "developer", "perm-new", "scan").must(http.StatusBadRequest).
		contains("already has a mapping", `value="developer"`)
	b.get("/provisioning/gitlab").must(200)
	b.post("/provisioning/gitlab/roles", "role", "Security auditor", "new-role", "security AUDITOR").must(http.StatusBadRequest).contains("already has a mapping")
	// Base roles cannot be removed; a custom one can.
	b.get("/provisioning/gitlab").must(200)
	b.post("/provisioning/gitlab/roles/remove", "role", "Owner").must(http.StatusBadRequest).contains("base roles cannot be removed")
	b.get("/provisioning/gitlab").must(200)
	b.post("/provisioning/gitlab/roles/remove", "role", "Security auditor").must(http.StatusSeeOther)
	if m, _ := gitlabconn.ParseRoleMapping(env.setting(gitlabconn.SettingRoleMapping)); m.HasRole("Security auditor") {
		t.Fatal("the custom role was not removed")
	}
	// Reset brings the default back.
	b.get("/provisioning/gitlab").must(200)
	b.post("/provisioning/gitlab/roles/reset").must(http.StatusSeeOther)
	if got := env.setting(gitlabconn.SettingRoleMapping); got != gitlabconn.DefaultRoleMapping().String() {
		t.Fatalf("after reset: %s", got)
	}
	b.get("/provisioning/gitlab").must(200).contains("Role mapping reset", `aria-label="Developer: Execute analysis" checked`)
}

// TestGitLabActionsWhileOff: with automatic provisioning off, the page's
// actions say why they cannot run, over the page.
func TestGitLabActionsWhileOff(t *testing.T) {
	env := newGitLabServer(t, gitlabsim.Options{}, true)
	b := env.admin()
	for _, tc := range []struct{ path, reason string }{
		{"/provisioning/gitlab/dry-run", "automatic provisioning is off"},
		{"/provisioning/gitlab/sync", "disabled by its settings"},
	} {
		b.get("/provisioning/gitlab").must(200)
		checkPage(t, b.post(tc.path).must(http.StatusBadRequest).contains(tc.reason, "Synchronize now"))
	}
}

func TestGitLabDryRun(t *testing.T) {
	env := newGitLabServer(t, gitlabsim.Options{}, false)
	b := env.admin()
	env.configure(b)
	b.get("/provisioning/gitlab").must(200)
	p := b.post("/provisioning/gitlab/dry-run").must(200).contains("Dry run: what a synchronization would change", "Nothing was written.",
		"users created", "<code>alice</code>", "groups created", "memberships added", "<code>alice → acme</code>")
	checkPage(t, p)
	p.lacks(simToken)
	if _, err := env.st.Store().GetUserByLogin(env.ctx, "alice"); err == nil {
		t.Fatal("the dry run created alice")
	}
	if runs, total, err := env.st.Store().ListSyncRuns(env.ctx, identity.SourceGitLab, store.Page{Number: 1, Size: 10}); err != nil || total != 0 {
		t.Fatalf("the dry run recorded runs: %v %d %v", runs, total, err)
	}
	// GitLab failing: the reason, not a bare 500.
	env.sim.Inject(gitlabsim.Fault{Status: http.StatusInternalServerError})
	b.post("/provisioning/gitlab/dry-run").must(http.StatusServiceUnavailable).contains("GitLab failed (500 Internal Server Error)")
}

// waitRun waits until run id of GitLab has finished and returns it.
func (e *gitlabEnv) waitRun(id int64) identity.SyncRun {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		st, err := e.engine.Status(e.ctx, identity.SourceGitLab)
		if err != nil {
			e.t.Fatal(err)
		}
		if st.Last != nil && st.Last.ID >= id {
			return *st.Last
		}
		time.Sleep(20 * time.Millisecond) // poll the engine, with a deadline
	}
	e.t.Fatalf("run %d did not finish", id)
	return identity.SyncRun{}
}

func TestGitLabSynchronizeNow(t *testing.T) {
	env := newGitLabServer(t, gitlabsim.Options{}, true)
	b := env.admin()
	env.configure(b)
	first := env.waitRun(1) // enabling runs a first synchronization at once
	if first.Status != identity.SyncSuccess {
		t.Fatalf("first run %+v", first)
	}
	b.get("/provisioning/gitlab").must(200)
	res := b.post("/provisioning/gitlab/sync").must(http.StatusSeeOther)
	if res.location() != "/provisioning/gitlab#sync" {
		t.Fatalf("redirect to %q", res.location())
	}
	p := b.get("/provisioning/gitlab").must(200).contains("Synchronization queued (run 2)")
	checkPage(t, p)
	run := env.waitRun(2)
	if run.Status != identity.SyncSuccess || run.Trigger != identity.TriggerManual {
		t.Fatalf("run %+v", run)
	}
	status := b.get("/provisioning/gitlab/status").must(200).contains(`id="sync-status"`, "Last synchronization", "run 2 (manual)", "Next scheduled synchronization").lacks("<html", "data-poll-active")
	if status.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("status answer headers %v", status.header)
	}
	b.get("/provisioning/gitlab").must(200).contains("<td>2</td><td>manual</td>", "<td>1</td>", "users created", "Page 1 of 1 · 2 in all")
}

// TestGitLabPendingStatus: a queued run that has not started is shown as
// pending, and the region asks the script to follow it; asking again
// queues nothing more.
func TestGitLabPendingStatus(t *testing.T) {
	env := newGitLabServer(t, gitlabsim.Options{}, false) // no loop: the run stays pending
	b := env.admin()
	env.configure(b)
	b.get("/provisioning/gitlab").must(200)
	b.post("/provisioning/gitlab/sync").must(http.StatusSeeOther)
	p := b.get("/provisioning/gitlab").must(200).contains("Synchronization queued (run 1)", "Synchronization is pending", "data-poll-active", "<td>1</td><td>manual</td>")
	checkPage(t, p)
	b.get("/provisioning/gitlab/status").must(200).contains(`<div id="sync-status"`, "Synchronization is pending</strong> (run 1, manual)", "data-poll-active")
	b.post("/provisioning/gitlab/sync").must(http.StatusSeeOther)
	b.get("/provisioning/gitlab").must(200).contains("already pending (run 1); nothing more was queued")
}

// TestGitLabRunHistory pages the runs, newest first, with their counts,
// warnings and errors.
func TestGitLabRunHistory(t *testing.T) {
	env := newGitLabServer(t, gitlabsim.Options{}, false)
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range 55 {
		r := identity.SyncRun{Source: identity.SourceGitLab, Trigger: identity.TriggerSchedule, Status: identity.SyncSuccess,
			StartedAt: start.Add(time.Duration(i) * time.Hour), FinishedAt: start.Add(time.Duration(i)*time.Hour + 1500*time.Millisecond),
			Counts: identity.SyncCounts{UsersCreated: i}}
		if i == 0 {
			r.Status, r.Errors, r.Warnings = identity.SyncFailed, []string{"read gitlab: GitLab answered 401"}, []string{"user x has no e-mail"}
		}
		if _, err := env.st.StartSyncRun(env.ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	b := env.admin()
	p := b.get("/provisioning/gitlab").must(200).contains("Page 1 of 2 · 55 in all", `href="/provisioning/gitlab?p=2" rel="next"`,
		"<td>55</td><td>schedule</td>", "users created: 54", "1.5s", `data-refresh-from="/provisioning/gitlab"`)
	p.lacks("<td>5</td><td>schedule</td>")
	if first, last := strings.Index(p.body, "<td>55</td>"), strings.Index(p.body, "<td>6</td>"); first < 0 || last < first {
		t.Fatal("the history is not newest first")
	}
	b.get("/provisioning/gitlab?p=2").must(200).contains("Page 2 of 2", "<td>1</td><td>schedule</td>", `<span class="badge off">failed</span>`,
		`<li class="failed">read gitlab: GitLab answered 401</li>`, "<li>user x has no e-mail</li>", `data-refresh-from="/provisioning/gitlab?p=2"`).
		lacks("<td>55</td>")
}

// TestGitLabSecretsNeverRendered: the token and the OAuth secret, once
// saved, appear on no answer: not the page, the status, a dry run, nor a
// refused save (which shows the rest of the form as sent).
func TestGitLabSecretsNeverRendered(t *testing.T) {
	env := newGitLabServer(t, gitlabsim.Options{}, false)
	b := env.admin()
	env.configure(b)
	b.get("/provisioning/gitlab").must(200)
	b.post("/provisioning/gitlab/settings", "oauth.secret", "gatehouse-secret", "oauth.applicationId", "gatehouse-app").must(http.StatusSeeOther)
	secrets := []string{simToken, "gatehouse-secret", provision.Masked}
	answers := map[string]*page{
		"page":   b.get("/provisioning/gitlab").must(200).contains(`<span class="badge ok">set</span>`, `value="gatehouse-app"`),
		"status": b.get("/provisioning/gitlab/status").must(200),
	}
	answers["dry run"] = b.post("/provisioning/gitlab/dry-run").must(200)
	answers["refused save"] = b.post("/provisioning/gitlab/settings", "url", "not a url", "token", "glpat-typed-now").must(http.StatusBadRequest).contains(`value="not a url"`)
	secrets = append(secrets, "glpat-typed-now")
	for name, p := range answers {
		p.lacks(secrets...)
		for _, m := range regexp.MustCompile(`<input type="password"[^>]*>`).FindAllString(p.body, -1) {
			if !strings.Contains(m, `value=""`) {
				t.Errorf("%s: a secret field holds a value: %s", name, m)
			}
		}
	}
}

// TestGitLabForceAfterGuard: a dry run whose plan the guard would stop
// says why and offers to synchronize anyway; that run applies it.
func TestGitLabForceAfterGuard(t *testing.T) {
	env := newGitLabServerGuarded(t, gitlabsim.Options{}, true, provision.Guard{Floor: -1})
	b := env.admin()
	env.configure(b)
	if first := env.waitRun(1); first.Status != identity.SyncSuccess {
		t.Fatalf("first run %+v", first)
	}
	if err := env.sim.Update(func(f *gitlabsim.Fixture) {
		for i := range f.Users {
			if f.Users[i].Username == "alice" {
				f.Users[i].State = "blocked"
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	b.get("/provisioning/gitlab").must(200)
	p := b.post("/provisioning/gitlab/dry-run").must(200).contains("A synchronization would stop before applying this", "force=true", `name="force" value="true"`, "Synchronize anyway")
	checkPage(t, p)
	b.post("/provisioning/gitlab/sync").must(http.StatusSeeOther)
	if run := env.waitRun(2); run.Status != identity.SyncAborted {
		t.Fatalf("unforced run %+v, want aborted by the guard", run)
	}
	if u, err := env.st.Store().GetUserByLogin(env.ctx, "alice"); err != nil || !u.Active {
		t.Fatalf("alice after the stopped run: %+v %v, want active", u, err)
	}
	b.get("/provisioning/gitlab").must(200)
	b.post("/provisioning/gitlab/sync", "force", "true").must(http.StatusSeeOther)
	if run := env.waitRun(3); run.Status != identity.SyncSuccess || run.Counts.UsersDeactivated != 1 {
		t.Fatalf("forced run %+v, want success deactivating alice", run)
	}
	if u, err := env.st.Store().GetUserByLogin(env.ctx, "alice"); err != nil || u.Active {
		t.Fatalf("alice after the forced run: %+v %v, want deactivated", u, err)
	}
}
