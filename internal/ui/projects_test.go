package ui

import (
	"net/http"
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
