package ui

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

func TestOrgTokens(t *testing.T) {
	ts := newTestServer(t)
	for _, p := range []identity.Project{{Key: "a.web", Visibility: identity.Public}, {Key: "a.api", Visibility: identity.Private}, {Key: "b.api", Visibility: identity.Private}} {
		p.Name = p.Key
		if _, err := ts.st.CreateProject(ts.ctx, p, 0); err != nil {
			t.Fatal(err)
		}
	}
	b := ts.browser()
	b.signIn("admin", adminPassword)
	checkPage(t, b.get("/org-tokens").must(200).contains("No organization token."))
	form := b.get("/org-tokens/new").must(200).contains(`id="perm-scan" type="checkbox" name="permission" value="scan" checked`, `id="set-all" type="radio" name="projectSet" value="all" checked`, "In 1 year")
	checkPage(t, form)

	many := strings.Repeat("a.*\n", state.MaxOrgTokenPatterns+1)
	for _, tc := range []struct {
		name   string
		kv     []string
		status int
		want   string
	}{
		{"no permission", []string{"name", "x", "projectSet", "all", "expiry", "90"}, http.StatusBadRequest, "at least one permission"},
		{"no scope", []string{"name", "x", "permission", "scan", "projectSet", "", "expiry", "90"}, http.StatusBadRequest, "needs a project scope"},
		{"bad pattern", []string{"name", "x", "permission", "scan", "projectSet", "", "patterns", "(", "expiry", "90"}, http.StatusBadRequest, "Invalid project pattern"},
		{"too many patterns", []string{"name", "x", "permission", "scan", "projectSet", "", "patterns", many, "expiry", "90"}, http.StatusBadRequest, "at most 100 project patterns"},
		{"unknown project", []string{"name", "x", "permission", "scan", "projectSet", "", "projects", "nope", "expiry", "90"}, http.StatusNotFound, "Project &#39;nope&#39; not found"},
		{"date in the past", []string{"name", "x", "permission", "scan", "projectSet", "all", "expiry", "date", "expirationDate", "2020-01-01"}, http.StatusBadRequest, "must be in the future"},
		{"not a date", []string{"name", "x", "permission", "scan", "projectSet", "all", "expiry", "date", "expirationDate", "soon"}, http.StatusBadRequest, "YYYY-MM-DD"},
		{"not a preset", []string{"name", "x", "permission", "scan", "projectSet", "all", "expiry", "7"}, http.StatusBadRequest, "Choose when the token expires"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.get("/org-tokens/new").must(200)
			b.post("/org-tokens/new", tc.kv...).must(tc.status).contains(tc.want)
		})
	}

	// Every scope kind at once: a set, patterns and a list.
	b.get("/org-tokens/new").must(200)
	created := b.post("/org-tokens/new", "name", "ci", "description", "pipelines", "permission", "scan", "permission", "user",
		"projectSet", "public", "patterns", "b\\..*", "projects", "a.api", "expiry", "date", "expirationDate", time.Now().AddDate(0, 2, 0).Format(time.DateOnly)).must(200)
	checkPage(t, created)
	m := secretRE.FindStringSubmatch(created.body)
	if m == nil {
		t.Fatalf("no secret:\n%s", created.body)
	}
	created.contains("Organization token ci created.", "public projects, keys matching b\\..*, 1 listed", "Projects it covers now (3)")
	id := regexp.MustCompile(`action="/org-tokens/(\d+)/rotate"`).FindStringSubmatch(created.body)[1]
	path := "/org-tokens/" + id
	b.get(path).must(200).lacks(m[1], "Copy the token now")
	b.get("/org-tokens").must(200).contains(`href="`+path+`"`, "<td>3</td>").lacks(m[1])

	// Edit: all projects, 365 days; the secret stays.
	b.get(path).must(200)
	b.post(path+"/update", "name", "ci", "permission", "scan", "projectSet", "all", "expiry", "365").must(http.StatusSeeOther)
	b.get(path).must(200).contains("Organization token ci saved.", "all projects", "Projects it covers now (3)")
	tok, _ := ts.st.Store().GetToken(ts.ctx, mustID(t, id))
	if want := ts.st.Now().AddDate(0, 0, 365); tok.ExpiresAt.Sub(want).Abs() > time.Minute || tok.Scope.ProjectCount != 0 {
		t.Fatalf("after the edit: %+v", tok)
	}
	if _, err := ts.st.Authenticate(m[1]); err != nil {
		t.Fatalf("the secret changed on edit: %v", err)
	}
	// Keep the expiry as it is.
	b.post(path+"/update", "name", "ci", "permission", "scan", "projectSet", "all", "expiry", "keep").must(http.StatusSeeOther)
	if again, _ := ts.st.Store().GetToken(ts.ctx, tok.ID); !again.ExpiresAt.Equal(tok.ExpiresAt) {
		t.Fatalf("expiry moved: %v, was %v", again.ExpiresAt, tok.ExpiresAt)
	}

	// Rotate with a grace period: both secrets work, the new one is shown once.
	b.get(path).must(200)
	rotated := b.post(path+"/rotate", "grace", "3600").must(200).contains("the old secret works until", "Copy the token now")
	m2 := secretRE.FindStringSubmatch(rotated.body)
	if m2 == nil || m2[1] == m[1] {
		t.Fatal("no new secret")
	}
	for _, s := range []string{m[1], m2[1]} {
		if _, err := ts.st.Authenticate(s); err != nil {
			t.Fatalf("a secret fails within the grace period: %v", err)
		}
	}
	// Any length in seconds, within the state's bound (as the Web API's
	// gracePeriod); not a word, not past 30 days.
	b.get(path).must(200).contains(`<option value="custom">`, `name="graceSeconds"`)
	b.post(path+"/rotate", "grace", "custom", "graceSeconds", "soon").must(http.StatusBadRequest).contains("in seconds")
	b.post(path+"/rotate", "grace", "custom", "graceSeconds", "2592001").must(http.StatusBadRequest).contains("between 0 and 2592000 seconds")
	custom := b.post(path+"/rotate", "grace", "custom", "graceSeconds", "12345").must(200).contains("the old secret works until")
	m3 := secretRE.FindStringSubmatch(custom.body)
	if m3 == nil {
		t.Fatal("no secret after a custom grace period")
	}
	if tok, err := ts.st.Authenticate(m3[1]); err != nil {
		t.Fatal(err)
	} else if stored, _ := ts.st.Store().GetToken(ts.ctx, tok.TokenID); time.Until(stored.PrevValidUntil) < 12000*time.Second || time.Until(stored.PrevValidUntil) > 12400*time.Second {
		t.Fatalf("grace until %v, want about 12,345 s from now", stored.PrevValidUntil)
	}
	m2 = m3
	b.get(path).must(200).lacks(m2[1])
	b.post(path + "/revoke").must(http.StatusSeeOther)
	b.get("/org-tokens").must(200).contains("Organization token ci revoked.", "No organization token.")
	if _, err := ts.st.Authenticate(m2[1]); err == nil {
		t.Fatal("a revoked token works")
	}
	b.get(path).must(http.StatusNotFound)
}
