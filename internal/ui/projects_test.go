package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestProjectsAndPermissions(t *testing.T) {
	ts := newTestServer(t)
	ts.user("hank", "hank-password-1")
	if _, err := ts.st.CreateGroup(ts.ctx, identity.Group{Name: "devs"}); err != nil {
		t.Fatal(err)
	}
	b := ts.browser()
	b.signIn("admin", adminPassword)
	checkPage(t, b.get("/projects").must(200).contains("No project matches.", `id="vis-public" type="radio" name="visibility" value="public" checked`))
	b.post("/projects/new", "key", "bad key!", "visibility", "private").must(http.StatusBadRequest).contains(`value="bad key!"`)
	b.post("/projects/new", "key", "web-app", "name", "Web app", "visibility", "private").must(http.StatusSeeOther)
	p := b.get("/projects/web-app").must(200).contains("Project web-app created.", "private", "Make it public")
	checkPage(t, p)

	b.post("/projects/web-app/grant", "kind", "user", "name", "hank", "permission", "issueadmin").must(http.StatusSeeOther)
	b.get("/projects/web-app").must(200).contains("issueadmin granted to hank.", `href="/users/hank"`)
	if !ts.st.Index().Decide(ts.principal("hank"), identity.PermIssueAdmin, "web-app").Allowed {
		t.Fatal("the grant does not decide")
	}
	b.post("/projects/web-app/grant", "kind", "group", "name", "devs", "permission", "codeviewer").must(http.StatusSeeOther)
	b.get("/projects/web-app").must(200).contains(`href="/groups/devs"`)
	b.post("/projects/web-app/grant", "kind", "group", "name", "Anyone", "permission", "admin").must(http.StatusBadRequest).contains("not possible to add the &#39;admin&#39; permission to group &#39;Anyone&#39;")
	b.get("/projects/web-app").must(200)
	b.post("/projects/web-app/grant", "kind", "user", "name", "nobody", "permission", "scan").must(http.StatusNotFound)
	b.get("/projects/web-app").must(200)
	b.post("/projects/web-app/grant", "kind", "user", "name", "hank", "permission", "nope").must(http.StatusBadRequest)
	b.get("/projects/web-app").must(200)
	b.post("/projects/web-app/revoke", "kind", "user", "name", "hank", "permission", "issueadmin").must(http.StatusSeeOther)
	b.get("/projects/web-app").must(200).contains("issueadmin revoked from hank.").lacks(`href="/users/hank"`)
	sub := identity.UserSubject(ts.principal("hank").UserID)
	if gs, err := ts.st.Store().ListGrants(ts.ctx, store.GrantFilter{Subject: &sub}); err != nil || len(gs) != 0 {
		t.Fatalf("hank's grants after the revoke: %v, %v", gs, err)
	}

	// Public: browse is implicit and cannot be removed.
	b.post("/projects/web-app/visibility", "visibility", "public").must(http.StatusSeeOther)
	b.get("/projects/web-app").must(200).contains("Project web-app is now public.", "Make it private")
	b.post("/projects/web-app/revoke", "kind", "group", "name", "devs", "permission", "user").must(http.StatusBadRequest).contains("can&#39;t be removed from a public component")

	// Global permissions, and the last administrator.
	b.get("/permissions").must(200).contains("sonar-administrators", "admin")
	b.post("/permissions/grant", "kind", "group", "name", "devs", "permission", "provisioning").must(http.StatusSeeOther)
	b.get("/permissions").must(200).contains("provisioning granted to devs.")
	b.post("/permissions/revoke", "kind", "group", "name", "sonar-administrators", "permission", "admin").must(http.StatusBadRequest).contains("Last group with permission")

	b.get("/projects/web-app").must(200)
	b.post("/projects/web-app/delete").must(http.StatusSeeOther)
	b.get("/projects").must(200).contains("Project web-app deleted.", "No project matches.")
}

// A project's administrator (admin on it, not Administer System) manages
// that project's permissions in the UI, and nothing else: the state's
// MayEditPermissions decides, as for api/permissions/add_user.
func TestProjectAdministratorPages(t *testing.T) {
	ts := newTestServer(t)
	hank := ts.user("hank", "hank-password-1")
	ts.user("ivy", "ivy-password-12")
	ts.lockDown()
	if _, err := ts.st.CreateGroup(ts.ctx, identity.Group{Name: "devs"}); err != nil {
		t.Fatal(err)
	}
	// 55 projects hank administers (more than a page), and one he does not.
	for i := range 55 {
		p, err := ts.st.CreateProject(ts.ctx, identity.Project{Key: fmt.Sprintf("web-%02d", i), Name: "Web", Visibility: identity.Private}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := ts.st.AddGrant(ts.ctx, identity.Grant{Subject: identity.UserSubject(hank.ID), ProjectID: p.ID, Permission: identity.PermAdmin}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ts.st.CreateProject(ts.ctx, identity.Project{Key: "billing", Name: "Billing", Visibility: identity.Private}, 0); err != nil {
		t.Fatal(err)
	}
	b := ts.browser()
	b.signIn("hank", "hank-password-1")
	home := b.get("/").must(200).contains(`href="/account/projects"`).lacks(`href="/users"`, `href="/projects"`)
	checkPage(t, home)
	mine := b.get("/account/projects").must(200).contains("web-00", "Page 1 of 2 · 55 in all", `href="/account/projects?p=2"`).lacks("billing")
	checkPage(t, mine)
	b.get("/account/projects?p=2").must(200).contains("web-54").lacks("web-00<")
	b.get("/account/projects?q=web-07").must(200).contains("web-07").lacks("web-08")

	// He manages the project as the Web API lets him: permissions,
	// visibility, deletion.
	page := b.get("/projects/web-00").must(200).contains(`action="/projects/web-00/grant"`, "← Projects I administer",
		`action="/projects/web-00/visibility"`, `action="/projects/web-00/delete"`).lacks(`href="/users/`)
	checkPage(t, page)
	for _, tc := range []struct {
		name, path string
		kv         []string
		status     int
		want       string
	}{
		{"grant a user", "/projects/web-00/grant", []string{"kind", "user", "name", "ivy", "permission", "codeviewer"}, http.StatusSeeOther, "codeviewer granted to ivy."},
		{"grant a group", "/projects/web-00/grant", []string{"kind", "group", "name", "devs", "permission", "scan"}, http.StatusSeeOther, "scan granted to devs."},
		{"revoke", "/projects/web-00/revoke", []string{"kind", "group", "name", "devs", "permission", "scan"}, http.StatusSeeOther, "scan revoked from devs."},
		{"the state's rules hold", "/projects/web-00/grant", []string{"kind", "group", "name", "Anyone", "permission", "admin"}, http.StatusBadRequest, "not possible to add the &#39;admin&#39; permission"},
		{"another project", "/projects/billing/grant", []string{"kind", "user", "name", "ivy", "permission", "scan"}, http.StatusForbidden, "the project&#39;s administrators"},
		{"another project's revoke", "/projects/billing/revoke", []string{"kind", "user", "name", "ivy", "permission", "codeviewer"}, http.StatusForbidden, ""},
		{"visibility", "/projects/web-01/visibility", []string{"visibility", "public"}, http.StatusSeeOther, "Project web-01 is now public."},
		{"another project's visibility", "/projects/billing/visibility", []string{"visibility", "public"}, http.StatusForbidden, "the project&#39;s administrators"},
		{"delete", "/projects/web-02/delete", nil, http.StatusSeeOther, "Project web-02 deleted."},
		{"another project's delete", "/projects/billing/delete", nil, http.StatusForbidden, "the project&#39;s administrators"},
		{"global permissions", "/permissions/grant", []string{"kind", "user", "name", "hank", "permission", "admin"}, http.StatusForbidden, "Administer System"},
		{"create a project", "/projects/new", []string{"key", "mine"}, http.StatusForbidden, "Create Projects permission"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.get("/projects/web-00").must(200)
			res := b.post(tc.path, tc.kv...).must(tc.status)
			if tc.status == http.StatusSeeOther {
				b.get(res.location()).must(200).contains(tc.want)
			} else {
				res.contains(tc.want)
			}
		})
	}
	if !ts.st.Index().Decide(ts.principal("ivy"), identity.PermCodeViewer, "web-00").Allowed {
		t.Fatal("hank's grant does not decide")
	}
	if ts.st.Index().Decide(ts.principal("ivy"), identity.PermScan, "billing").Allowed {
		t.Fatal("a refused grant decides")
	}
	if pr, _ := ts.st.Store().GetProjectByKey(ts.ctx, "billing"); pr.Visibility != identity.Private {
		t.Fatal("a refused visibility change was made")
	}
	if _, err := ts.st.Store().GetProjectByKey(ts.ctx, "billing"); err != nil {
		t.Fatalf("a refused delete was made: %v", err)
	}

	// Other projects' pages and the admin pages stay closed; an unknown
	// project is refused like one he may not administer (no existence leak).
	for _, path := range append([]string{"/projects/billing", "/projects/nope", "/projects"}, adminPages...) {
		t.Run("GET "+path, func(t *testing.T) {
			b.get(path).must(http.StatusForbidden)
		})
	}

	// The Web API answers hank the same: granted on his project, refused on another.
	for _, tc := range []struct {
		project string
		status  int
	}{{"web-01", http.StatusNoContent}, {"billing", http.StatusForbidden}} {
		status, body := ts.apiPostAs("hank", "hank-password-1", "/api/permissions/add_user", url.Values{"login": {"ivy"}, "permission": {"user"}, "projectKey": {tc.project}})
		if status != tc.status {
			t.Errorf("api/permissions/add_user on %s: %d %s, want %d", tc.project, status, body, tc.status)
		}
	}

	// Once his admin on web-00 is gone, so is the page.
	if err := ts.st.RemoveGrant(ts.ctx, identity.Grant{Subject: identity.UserSubject(hank.ID), ProjectID: mustProject(t, ts, "web-00").ID, Permission: identity.PermAdmin}); err != nil {
		t.Fatal(err)
	}
	b.get("/projects/web-00").must(http.StatusForbidden)
	b.get("/account/projects").must(200).contains("53 in all") // 55, less web-02 (deleted) and web-00
}

func mustProject(t *testing.T, ts *testServer, key string) identity.Project {
	t.Helper()
	p, err := ts.st.Store().GetProjectByKey(ts.ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestProjectCreatorPages: a holder of Create Projects (not an
// administrator) creates a project from "Projects I administer", as
// api/projects/create lets them; others may not.
func TestProjectCreatorPages(t *testing.T) {
	ts := newTestServer(t)
	cara := ts.user("cara", "cara-password-12")
	ts.user("dave", "dave-password-12")
	ts.lockDown()
	if err := ts.st.AddGrant(ts.ctx, identity.Grant{Subject: identity.UserSubject(cara.ID), Permission: identity.PermProvisioning}); err != nil {
		t.Fatal(err)
	}
	b := ts.browser()
	b.signIn("cara", "cara-password-12")
	page := b.get("/account/projects").must(200).contains("Create a project", `action="/projects/new"`)
	checkPage(t, page)
	res := b.post("/projects/new", "key", "cara-app", "name", "Cara's app", "visibility", "private").must(http.StatusSeeOther)
	b.get(res.location()).must(200).contains("Project cara-app created.")
	if _, err := ts.st.Store().GetProjectByKey(ts.ctx, "cara-app"); err != nil {
		t.Fatalf("cara-app: %v", err)
	}
	// A refusal shows on her page, with what she typed.
	b.get("/account/projects").must(200)
	b.post("/projects/new", "key", "cara-app", "visibility", "private").must(http.StatusBadRequest).contains("cara-app", "Create a project")
	b.get("/projects").must(http.StatusForbidden)

	d := ts.browser()
	d.signIn("dave", "dave-password-12")
	d.get("/account/projects").must(200).lacks("Create a project")
	d.post("/projects/new", "key", "dave-app").must(http.StatusForbidden)
	if status, _ := ts.apiPostAs("dave", "dave-password-12", "/api/projects/create", url.Values{"project": {"dave-app"}, "name": {"D"}}); status != http.StatusForbidden {
		t.Fatalf("the Web API let dave create a project: %d", status)
	}
	if status, body := ts.apiPostAs("cara", "cara-password-12", "/api/projects/create", url.Values{"project": {"cara-api"}, "name": {"C"}}); status != http.StatusOK {
		t.Fatalf("the Web API refused cara: %d %s", status, body)
	}
}
