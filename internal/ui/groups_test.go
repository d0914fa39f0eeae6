package ui

import (
	"net/http"
	"net/url"
	"strings"
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

// groupSources are the identity sources that manage groups.
var groupSources = []identity.Source{identity.SourceSCIM, identity.SourceGitLab, identity.SourceLDAP}

func TestRenameGroup(t *testing.T) {
	ts := newTestServer(t)
	for _, name := range []string{"qa", "ops"} {
		if _, err := ts.st.CreateGroup(ts.ctx, identity.Group{Name: name, Description: "old"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, src := range groupSources {
		ctx := state.WithActor(ts.ctx, state.Actor{Name: "connector:" + string(src), Source: src})
		if _, err := ts.st.CreateGroup(ctx, identity.Group{Name: "m-" + string(src), Source: src, ExternalID: "x-" + string(src)}); err != nil {
			t.Fatal(err)
		}
	}
	b := ts.browser()
	b.signIn("admin", adminPassword)
	checkPage(t, b.get("/groups/qa").must(200).contains(`action="/groups/qa/update"`))

	type editCase struct {
		name                  string
		status                int
		group, newName, about string
		want                  string // the notice, or the refusal
	}
	cases := []editCase{
		{"rename", http.StatusSeeOther, "qa", "quality", "Testers", "Group qa renamed to quality."},
		{"description only", http.StatusSeeOther, "quality", "quality", "Testers and reviewers", "Group quality saved."},
		{"name taken", http.StatusBadRequest, "quality", "ops", "", "Group &#39;ops&#39; already exists"},
		{"empty name", http.StatusBadRequest, "quality", "", "", "Group name cannot be empty"},
		{"Anyone", http.StatusBadRequest, "quality", "anyone", "", "Anyone group cannot be used"},
		{"administrators keep their name", http.StatusBadRequest, identity.GroupAdministrators, "admins", "", "cannot be used to perform this action"},
		{"administrators' description", http.StatusSeeOther, identity.GroupAdministrators, identity.GroupAdministrators, "The system administrators", "Group sonar-administrators saved."},
		{"the default group", http.StatusBadRequest, identity.GroupUsers, "everyone", "", "Default group &#39;sonar-users&#39; cannot be used to perform this action"},
		{"unknown", http.StatusNotFound, "nope", "x", "", "No group with name &#39;nope&#39;"},
	}
	for _, src := range groupSources {
		cases = append(cases, editCase{src.Title(), http.StatusBadRequest, "m-" + string(src), "renamed", "", "It is managed by " + src.Title()})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b.get("/groups").must(200)
			res := b.post("/groups/"+tc.group+"/update", "name", tc.newName, "description", tc.about).must(tc.status)
			if tc.status != http.StatusSeeOther {
				res.contains(tc.want)
				if tc.status == http.StatusBadRequest && tc.group != identity.GroupUsers && !strings.HasPrefix(tc.group, "m-") {
					res.contains(`value="` + tc.newName + `"`) // the form as sent
				}
				if _, err := ts.st.Store().GetGroupByName(ts.ctx, tc.group); err != nil && tc.status != http.StatusNotFound {
					t.Fatalf("refused, yet %s is gone: %v", tc.group, err)
				}
				return
			}
			b.get(res.location()).must(200).contains(tc.want)
			g, err := ts.st.Store().GetGroupByName(ts.ctx, tc.newName)
			if err != nil || g.Description != tc.about {
				t.Fatalf("stored %+v, %v", g, err)
			}
		})
	}
	// The Web API's update refuses a managed group in the same words.
	status, body := ts.apiPost("/api/user_groups/update", url.Values{"currentName": {"m-gitlab"}, "name": {"renamed"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "It is managed by GitLab") {
		t.Fatalf("api/user_groups/update: %d %s", status, body)
	}
	// Managed and default groups show the fields read-only, the source named.
	b.get("/groups/m-ldap").must(200).contains("managed by LDAP", `id="group-name" type="text" readonly value="m-ldap"`).lacks(`action="/groups/m-ldap/update"`)
	b.get("/groups/sonar-users").must(200).contains("its name and description are fixed").lacks(`action="/groups/sonar-users/update"`)
}
