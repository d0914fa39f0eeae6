package ui

import (
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

func TestGroupsPages(t *testing.T) {
	ts := newTestServer(t)
	ts.user("frank", "frank-password-1")
	b := ts.browser()
	b.signIn("admin", adminPassword)
	p := b.get("/groups").must(200).contains("sonar-administrators", "sonar-users", "every active user")
	checkPage(t, p)
	b.post("/groups/new", "name", "", "description", "x").must(http.StatusBadRequest)
	b.post("/groups/new", "name", "qa", "description", "Quality").must(http.StatusSeeOther)
	g := b.get("/groups/qa").must(200).contains("Group qa created.", "No member.", `action="/groups/qa/members/add"`)
	checkPage(t, g)
	b.post("/groups/qa/members/add", "login", "frank").must(http.StatusSeeOther)
	b.get("/groups/qa").must(200).contains("frank added to qa.", `href="/users/frank"`)
	b.get("/groups?q=qa").must(200).contains(`<td>1</td>`)
	b.get("/groups/qa?q=zzz").must(200).contains("No member matches.")
	b.post("/groups/qa/members/remove", "login", "frank").must(http.StatusSeeOther)
	b.get("/groups/qa").must(200).contains("frank removed from qa.", "No member.")
	b.get("/groups/sonar-users").must(200).contains("Every active user is a member").lacks("Delete the group")
	b.get("/groups/sonar-administrators").must(200).contains(`href="/users/admin"`).lacks("Delete the group")
	b.post("/groups/qa/delete").must(http.StatusSeeOther)
	b.get("/groups").must(200).contains("Group qa deleted.")
	b.get("/groups/qa").must(http.StatusNotFound)
}

func TestManagedGroupIsReadOnly(t *testing.T) {
	ts := newTestServer(t)
	gitlab := state.WithActor(ts.ctx, state.Actor{Name: "connector:gitlab", Source: identity.SourceGitLab})
	if _, err := ts.st.CreateGroup(gitlab, identity.Group{Name: "backend", Source: identity.SourceGitLab, ExternalID: "42"}); err != nil {
		t.Fatal(err)
	}
	ts.user("gina", "gina-password-1")
	b := ts.browser()
	b.signIn("admin", adminPassword)
	b.get("/groups").must(200).contains("managed by GitLab")
	b.get("/groups/backend").must(200).contains("managed by GitLab", "Read-only: this group and its members are managed by GitLab").
		lacks(`action="/groups/backend/members/add"`, "Delete the group")
	// The state's rule refuses a forged form, naming the source.
	b.post("/groups/backend/members/add", "login", "gina").must(http.StatusBadRequest).contains("GitLab")
	b.get("/groups/backend").must(200)
	b.post("/groups/backend/delete").must(http.StatusBadRequest).contains("GitLab")
}
