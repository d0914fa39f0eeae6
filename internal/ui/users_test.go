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

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
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
	req, _ := http.NewRequest(http.MethodPost, ts.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("admin", adminPassword)
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
