package ui

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestExplainPage(t *testing.T) {
	ts := newTestServer(t)
	ts.user("jay", "jay-password-123")
	ts.lockDown()
	for _, k := range []string{"team-a.web", "secret-proj"} {
		if _, err := ts.st.CreateProject(ts.ctx, identity.Project{Key: k, Name: k, Visibility: identity.Private}, 0); err != nil {
			t.Fatal(err)
		}
	}
	// secret-proj: no grant at all, so jay cannot see it.
	sp, err := ts.st.Store().GetProjectByKey(ts.ctx, "secret-proj")
	if err != nil {
		t.Fatal(err)
	}
	gs, err := ts.st.Store().ListGrants(ts.ctx, store.GrantFilter{ProjectID: &sp.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if err := ts.st.RemoveGrant(ts.ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	_, tok, err := ts.st.GenerateOrgToken(ts.ctx, state.OrgTokenSpec{Name: "ci", Permissions: []identity.Permission{identity.PermScan}, Patterns: []string{`team-a\..*`}})
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(tok.ID, 10)

	admin := ts.browser()
	admin.signIn("admin", adminPassword)
	checkPage(t, admin.get("/explain").must(200).contains(`id="tokenId"`))
	admin.get("/explain?permission=scan&projectKey=team-a.web&tokenId="+id).must(200).contains("allowed", "organization token covers the project")
	p := admin.get("/explain?permission=user&projectKey=team-a.web&tokenId="+id).must(200).contains("denied", "Missing:")
	checkPage(t, p)
	admin.get("/explain?permission=scan&projectKey=secret-proj&tokenId="+id).must(200).contains("denied", "Missing:")
	admin.get("/explain?permission=scan&projectKey=nope").must(200).contains("Project &#39;nope&#39; not found")
	admin.get("/explain?permission=codeviewer").must(200).contains("is not a global permission")

	// Someone else: their own access only, and nothing about projects
	// they cannot see.
	jay := ts.browser()
	jay.signIn("jay", "jay-password-123")
	jay.get("/explain").must(200).lacks(`id="tokenId"`)
	jay.get("/explain?permission=codeviewer&projectKey=secret-proj").must(200).contains("Project &#39;secret-proj&#39; not found").lacks("denied")
	jay.get("/explain?permission=scan&tokenId=" + id).must(http.StatusForbidden).contains("only administrators may ask about another token")
	jay.get("/explain?permission=scan").must(200).contains("denied", "for you (jay)")
}
