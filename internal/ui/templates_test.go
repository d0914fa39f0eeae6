package ui

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

func TestTemplatesWithPatternPreview(t *testing.T) {
	ts := newTestServer(t)
	for i := range 14 {
		if _, err := ts.st.CreateProject(ts.ctx, identity.Project{Key: fmt.Sprintf("team-a.svc%02d", i), Name: "svc"}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ts.st.CreateProject(ts.ctx, identity.Project{Key: "team-b.web", Name: "web"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.st.CreateGroup(ts.ctx, identity.Group{Name: "team-a"}); err != nil {
		t.Fatal(err)
	}
	b := ts.browser()
	b.signIn("admin", adminPassword)
	checkPage(t, b.get("/templates").must(200).contains("Default template", "default"))
	p := b.get(`/templates?pattern=team-a%5C..*`).must(200).contains("matches these 14 projects (the first 12 are shown)", "team-a.svc00", "team-a.svc11").lacks("team-a.svc12", "team-b.web")
	checkPage(t, p)
	b.get(`/templates?pattern=team-b.web`).must(200).contains("matches this project")
	b.get(`/templates?pattern=(`).must(200).contains("This is not a valid regular expression")

	res := b.post("/templates/new", "name", "Team A", "description", "Team A's services", "pattern", `team-a\..*`).must(http.StatusSeeOther)
	id := regexp.MustCompile(`/templates/(\d+)$`).FindStringSubmatch(res.location())
	if id == nil {
		t.Fatalf("redirect to %q", res.location())
	}
	tp := "/templates/" + id[1]
	checkPage(t, b.get(tp).must(200).contains("Template Team A created.", "matches these 14 projects", "No permission yet."))
	b.post(tp+"/grant", "kind", "group", "name", "team-a", "permission", "scan").must(http.StatusSeeOther)
	b.get(tp).must(200).contains("scan added for team-a.")
	b.post(tp+"/grant", "kind", "creator", "permission", "admin").must(http.StatusSeeOther)
	b.get(tp).must(200).contains("Project creator")
	b.post(tp+"/grant", "kind", "group", "name", "Anyone", "permission", "admin").must(http.StatusBadRequest).contains("to the group &#39;Anyone&#39;")

	// A project created afterwards whose key matches gets the grants.
	b.get("/projects").must(200)
	b.post("/projects/new", "key", "team-a.new", "visibility", "private").must(http.StatusSeeOther)
	b.get("/projects/team-a.new").must(200).contains(`href="/groups/team-a"`, "scan")

	b.get(tp).must(200)
	b.post(tp+"/update", "name", "Team A", "description", "", "pattern", `(`).must(http.StatusBadRequest)
	b.get(tp).must(200)
	b.post(tp+"/revoke", "kind", "group", "name", "team-a", "permission", "scan").must(http.StatusSeeOther)
	b.get(tp).must(200).contains("scan removed for team-a.")
	b.post(tp + "/default").must(http.StatusSeeOther)
	b.get(tp).must(200).contains("is now the default.").lacks("Delete the template")
	b.get("/templates/999").must(http.StatusNotFound)
	b.get("/templates/x").must(http.StatusNotFound)
}
