package ui

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestAdminPagesRefuseOthers(t *testing.T) {
	ts := newTestServer(t)
	ts.user("carol", "carol-password-1")
	b := ts.browser()
	b.signIn("carol", "carol-password-1")
	home := b.get("/").must(200)
	checkPage(t, home)
	home.lacks(`href="/users"`)
	for _, path := range adminPages {
		t.Run(path, func(t *testing.T) {
			b.get(path).must(http.StatusForbidden).contains("Administer System")
		})
	}
	b.get("/").must(200)
	b.post("/users/new", "login", "mallory", "name", "M", "password", "mallory-password-1", "password2", "mallory-password-1").must(http.StatusForbidden)
	if _, err := ts.st.Store().GetUserByLogin(ts.ctx, "mallory"); err == nil {
		t.Fatal("a non-administrator created a user")
	}
}

// adminPages are pages only administrators may open.
var adminPages = []string{"/users", "/users/new", "/users/admin", "/groups", "/groups/sonar-users", "/projects", "/permissions", "/templates", "/templates/1", "/org-tokens", "/org-tokens/new", "/audit", "/provisioning/scim"}

func TestUsersPage(t *testing.T) {
	ts := newTestServer(t)
	for i := range 60 {
		if _, err := ts.st.CreateUser(ts.ctx, state.NewUser{Login: fmt.Sprintf("user%02d", i), Name: fmt.Sprintf("User %02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	b := ts.browser()
	b.signIn("admin", adminPassword)
	p := b.get("/users").must(200).contains("admin", "user00", "Page 1 of 2 · 61 in all", `href="/users?p=2"`)
	checkPage(t, p)
	b.get("/users?p=2").must(200).contains("user59", `href="/users"`).lacks("user00<")
	b.get("/users?q=user07").must(200).contains("user07").lacks("user08")
	b.get("/users?p=-4").must(200).contains("Page 1 of 2")
}

func TestCreateLocalUser(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	b.signIn("admin", adminPassword)
	checkPage(t, b.get("/users/new").must(200))
	b.post("/users/new", "login", "bob", "name", "Bob", "password", "bob-password-12", "password2", "other").must(http.StatusBadRequest).contains("The two passwords differ.", `value="bob"`)
	b.post("/users/new", "login", "bob", "name", "Bob").must(http.StatusBadRequest).contains("Password is mandatory")
	res := b.post("/users/new", "login", "bob", "name", "Bob", "email", "bob@example.com", "password", "bob-password-12", "password2", "bob-password-12").must(http.StatusSeeOther)
	if res.location() != "/users/bob" {
		t.Fatalf("redirect to %q", res.location())
	}
	b.get("/users/bob").must(200).contains("User bob created.", "bob@example.com", `<span class="badge">local</span>`)
	// The notice is shown once.
	b.get("/users/bob").must(200).lacks("User bob created.")
	b.post("/users/new", "login", "bob", "name", "Bob", "password", "bob-password-12", "password2", "bob-password-12").must(http.StatusBadRequest).contains("already exists")
	// The new user signs in.
	nb := ts.browser()
	nb.signIn("bob", "bob-password-12")
	nb.get("/").must(200).contains("Welcome, bob")
}

func TestUserGroupsTokensDeactivate(t *testing.T) {
	ts := newTestServer(t)
	dave := ts.user("dave", "dave-password-1")
	if _, err := ts.st.CreateGroup(ts.ctx, identity.Group{Name: "devs"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ts.st.GenerateUserToken(ts.ctx, state.NewUserToken{UserID: dave.ID, Name: "ci", Type: identity.TokenUser}); err != nil {
		t.Fatal(err)
	}
	b := ts.browser()
	b.signIn("admin", adminPassword)
	p := b.get("/users/dave").must(200).contains("ci", "user", "Deactivate")
	checkPage(t, p)
	b.post("/users/dave/groups/add", "group", "devs").must(http.StatusSeeOther)
	b.get("/users/dave").must(200).contains("dave added to devs.", `href="/groups/devs"`)
	b.post("/users/dave/groups/add", "group", "nope").must(http.StatusNotFound)
	b.get("/users/dave").must(200)
	b.post("/users/dave/groups/remove", "group", "devs").must(http.StatusSeeOther)
	b.get("/users/dave").must(200).contains("dave removed from devs.").lacks(`href="/groups/devs"`)
	b.post("/users/dave/tokens/revoke", "name", "ci").must(http.StatusSeeOther)
	b.get("/users/dave").must(200).contains("Token ci of dave revoked.", "No live token.")

	// dave's session ends when he is deactivated.
	db := ts.browser()
	db.signIn("dave", "dave-password-1")
	db.get("/").must(200)
	b.get("/users/dave").must(200)
	b.post("/users/dave/deactivate").must(http.StatusSeeOther)
	b.get("/users/dave").must(200).contains("deactivated").lacks(">Deactivate<")
	db.get("/").must(http.StatusSeeOther)
	b.get("/users?deactivated=true").must(200).contains("dave")

	// No one deactivates themselves: no button, and the rule of the state.
	b.get("/users/admin").must(200).lacks(">Deactivate<")
	b.post("/users/admin/deactivate").must(http.StatusBadRequest).contains("Self-deactivation is not possible")
	b.get("/users/nobody").must(http.StatusNotFound).contains("User &#39;nobody&#39; doesn&#39;t exist")
}

func TestManagedUserIsReadOnly(t *testing.T) {
	ts := newTestServer(t)
	scim := state.WithActor(ts.ctx, state.Actor{Name: "connector:scim", Source: identity.SourceSCIM})
	if _, err := ts.st.CreateUser(scim, state.NewUser{Login: "erin", Name: "Erin", Source: identity.SourceSCIM, ExternalID: "e-1"}); err != nil {
		t.Fatal(err)
	}
	b := ts.browser()
	b.signIn("admin", adminPassword)
	b.get("/users/erin").must(200).contains("managed by SCIM").lacks(">Deactivate<", `action="/users/erin/groups/add"`)
	b.post("/users/erin/deactivate").must(http.StatusBadRequest).contains("SCIM")
}

// apiPost calls the Web API as admin (basic auth), for comparing its answer
// with the UI's.
func (ts *testServer) apiPost(path string, form url.Values) (int, string) {
	ts.t.Helper()
	return ts.apiPostAs("admin", adminPassword, path, form)
}

func (ts *testServer) apiPostAs(login, password, path string, form url.Values) (int, string) {
	ts.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(login, password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// userSources are the identity sources that manage users.
var userSources = []identity.Source{identity.SourceSCIM, identity.SourceGitLab, identity.SourceLDAP, identity.SourceSSO}

func TestEditUserNameAndEmail(t *testing.T) {
	ts := newTestServer(t)
	ts.user("dave", "dave-password-1")
	ts.user("gone", "gone-password-1")
	if _, err := ts.st.DeactivateUser(ts.ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for _, src := range userSources {
		ctx := state.WithActor(ts.ctx, state.Actor{Name: "connector:" + string(src), Source: src})
		if _, err := ts.st.CreateUser(ctx, state.NewUser{Login: "m-" + string(src), Name: "Managed", Email: "m@example.com", Source: src, ExternalID: "x-" + string(src)}); err != nil {
			t.Fatal(err)
		}
	}
	b := ts.browser()
	b.signIn("admin", adminPassword)
	p := b.get("/users/dave").must(200).contains(`action="/users/dave/update"`, `value="Dave"`)
	checkPage(t, p)

	type editCase struct {
		name, login, newName, email string
		status                      int
		want                        string
	}
	cases := []editCase{
		{"local", "dave", "Dave Jones", "dave@example.com", http.StatusSeeOther, ""},
		{"clear the e-mail", "dave", "Dave Jones", "", http.StatusSeeOther, ""},
		{"empty name", "dave", " ", "", http.StatusBadRequest, "Name can&#39;t be empty"},
		{"bad e-mail", "dave", "Dave", "not-an-address", http.StatusBadRequest, "Email &#39;not-an-address&#39; is not valid"},
		{"deactivated", "gone", "Gone Away", "", http.StatusNotFound, "User with login &#39;gone&#39; is not found"},
		{"unknown", "nobody", "Nobody", "", http.StatusNotFound, "is not found"},
	}
	for _, src := range userSources {
		cases = append(cases, editCase{"managed by " + src.Title(), "m-" + string(src), "Changed", "", http.StatusBadRequest, "It is managed by " + src.Title()})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b.get("/users/dave").must(200)
			res := b.post("/users/"+tc.login+"/update", "name", tc.newName, "email", tc.email).must(tc.status)
			if tc.status == http.StatusSeeOther {
				b.get(res.location()).must(200).contains("Name and e-mail of "+tc.login+" saved.", `value="`+tc.newName+`"`)
				us, err := ts.st.Store().GetUserByLogin(ts.ctx, tc.login)
				if err != nil || us.Name != tc.newName || us.Email != tc.email {
					t.Fatalf("stored %q %q, %v", us.Name, us.Email, err)
				}
				return
			}
			res.contains(tc.want)
			if us, err := ts.st.Store().GetUserByLogin(ts.ctx, tc.login); err == nil && us.Name == tc.newName {
				t.Fatalf("refused, yet the name is %q", us.Name)
			}
			if strings.HasPrefix(tc.login, "m-") {
				// The Web API refuses the same change with the same words.
				status, body := ts.apiPost("/api/users/update", url.Values{"login": {tc.login}, "name": {tc.newName}})
				msg := html.UnescapeString(regexp.MustCompile(`<p class="error" role="alert">([^<]*)</p>`).FindStringSubmatch(res.body)[1])
				if status != http.StatusBadRequest || !strings.Contains(body, msg) {
					t.Fatalf("api/users/update: %d %s; the UI said %q", status, body, msg)
				}
			}
		})
	}
	// A managed user's fields are shown read-only, with the source named.
	b.get("/users/m-gitlab").must(200).contains("managed by GitLab", `id="name" type="text" readonly value="Managed"`).lacks(`action="/users/m-gitlab/update"`)
	b.get("/users/gone").must(200).lacks(`action="/users/gone/update"`)
}

func TestTokenForAnotherUser(t *testing.T) {
	ts := newTestServer(t)
	dave := ts.user("dave", "dave-password-1")
	ts.user("gone", "gone-password-1")
	if _, err := ts.st.DeactivateUser(ts.ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.st.CreateProject(ts.ctx, identity.Project{Key: "svc", Name: "svc", Visibility: identity.Private}, 0); err != nil {
		t.Fatal(err)
	}
	b := ts.browser()
	b.signIn("admin", adminPassword)
	p := b.get("/users/dave").must(200).contains(`action="/users/dave/tokens/new"`, `value="90" checked`, "In 1 year", "User token: acts as dave")
	checkPage(t, p)
	b.get("/users/gone").must(200).lacks(`action="/users/gone/tokens/new"`)

	in30 := ts.st.Now().AddDate(0, 0, 30)
	day := ts.st.Now().AddDate(0, 2, 0).UTC().Format(time.DateOnly)
	for _, tc := range []struct {
		name   string
		login  string
		kv     []string
		status int
		want   string
		expiry time.Time // of a created token
	}{
		{"30 days", "dave", []string{"name", "ci", "type", "USER_TOKEN", "expiry", "30"}, 200, "Token ci created for dave (user, expires " + in30.UTC().Format(time.DateOnly), in30},
		{"on a date", "dave", []string{"name", "deploy", "type", "USER_TOKEN", "expiry", "date", "expirationDate", day}, 200, "expires " + day, mustDay(t, day)},
		{"never", "dave", []string{"name", "forever", "type", "USER_TOKEN", "expiry", "never"}, 200, "expires never", time.Time{}},
		{"name taken", "dave", []string{"name", "ci", "type", "USER_TOKEN", "expiry", "30"}, 400, "", time.Time{}},
		{"date in the past", "dave", []string{"name", "old", "type", "USER_TOKEN", "expiry", "date", "expirationDate", "2001-01-01"}, 400, "must be in the future", time.Time{}},
		{"project analysis", "dave", []string{"name", "scan", "type", "PROJECT_ANALYSIS_TOKEN", "projectKey", "svc", "expiry", "30"}, 400, "A Project Analysis Token cannot be generated for another user.", time.Time{}},
		{"global analysis", "dave", []string{"name", "scan", "type", "GLOBAL_ANALYSIS_TOKEN", "expiry", "30"}, 400, "A Global Analysis Token cannot be generated for another user.", time.Time{}},
		{"deactivated", "gone", []string{"name", "ci", "type", "USER_TOKEN", "expiry", "30"}, 400, "User &#39;gone&#39; is deactivated", time.Time{}},
		{"unknown", "nobody", []string{"name", "ci", "type", "USER_TOKEN", "expiry", "30"}, 404, "", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.get("/users/dave").must(200)
			res := b.post("/users/"+tc.login+"/tokens/new", tc.kv...).must(tc.status).contains(tc.want)
			if tc.status != 200 {
				res.lacks("Copy the token now")
				if tc.status == 400 && tc.login == "dave" {
					res.contains(`id="token-name" name="name" type="text" required maxlength="100" value="` + tc.kv[1] + `"`)
				}
				return
			}
			checkPage(t, res)
			m := secretRE.FindStringSubmatch(res.body)
			if m == nil || res.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("no secret, or a cacheable page:\n%s", res.body)
			}
			pr, err := ts.st.Authenticate(m[1])
			if err != nil || pr.UserID != dave.ID || pr.TokenType != identity.TokenUser {
				t.Fatalf("the secret does not authenticate as dave's user token: %+v, %v", pr, err)
			}
			tok, _ := ts.st.Store().GetToken(ts.ctx, pr.TokenID)
			if tok.ExpiresAt.Sub(tc.expiry).Abs() > time.Minute || tok.ExpiresAt.IsZero() != tc.expiry.IsZero() {
				t.Fatalf("expires %v, want %v", tok.ExpiresAt, tc.expiry)
			}
			// Shown once: the user's page lists its name only.
			b.get("/users/dave").must(200).contains(tc.kv[1]).lacks(m[1], "Copy the token now")
		})
	}
	// The Web API refuses an analysis token for another user in the same words.
	if status, body := ts.apiPost("/api/user_tokens/generate", url.Values{"login": {"dave"}, "name": {"x"}, "type": {"GLOBAL_ANALYSIS_TOKEN"}}); status != 400 || !strings.Contains(body, "A Global Analysis Token cannot be generated for another user.") {
		t.Fatalf("api/user_tokens/generate: %d %s", status, body)
	}

	// Revoke one of dave's tokens: it stops working at once.
	b.get("/users/dave").must(200)
	b.post("/users/dave/tokens/revoke", "name", "ci").must(http.StatusSeeOther)
	b.get("/users/dave").must(200).contains("Token ci of dave revoked.")
	uid := dave.ID
	ts2, _, err := ts.st.Store().ListTokens(ts.ctx, store.TokenFilter{UserID: &uid})
	if err != nil || len(ts2) != 2 {
		t.Fatalf("dave's live tokens after the revoke: %d, %v", len(ts2), err)
	}
	b.post("/users/dave/tokens/revoke", "name", "ci").must(http.StatusNotFound)

	// Not for anyone else: a plain user gets 403 and no token.
	ts.user("carol", "carol-password-1")
	cb := ts.browser()
	cb.signIn("carol", "carol-password-1")
	cb.get("/").must(200)
	cb.post("/users/dave/tokens/new", "name", "mine", "type", "USER_TOKEN", "expiry", "30").must(http.StatusForbidden)
	cb.post("/users/dave/tokens/revoke", "name", "deploy").must(http.StatusForbidden)
	if ts2, _, _ := ts.st.Store().ListTokens(ts.ctx, store.TokenFilter{UserID: &uid}); len(ts2) != 2 {
		t.Fatalf("a non-administrator changed dave's tokens: %d live", len(ts2))
	}
}

func mustDay(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
