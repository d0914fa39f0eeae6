package ui

import (
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

var secretRE = regexp.MustCompile(`<code class="secret" id="new-token">([^<]+)</code>`)

func TestOwnTokensShownOnce(t *testing.T) {
	ts := newTestServer(t)
	ts.user("ivy", "ivy-password-12")
	if _, err := ts.st.CreateProject(ts.ctx, identity.Project{Key: "svc", Name: "svc", Visibility: identity.Private}, 0); err != nil {
		t.Fatal(err)
	}
	ts.lockDown() // sonar-users scan everything on a new instance; ivy must not
	b := ts.browser()
	b.signIn("ivy", "ivy-password-12")
	p := b.get("/account/tokens").must(200).contains("You have no token.", `value="90" checked`, "In 1 year")
	checkPage(t, p)
	p.lacks("GLOBAL_ANALYSIS_TOKEN")
	b.post("/account/tokens/new", "name", "laptop", "type", "USER_TOKEN", "expiry", "date", "expirationDate", "2001-01-01").must(http.StatusBadRequest).contains("must be in the future", `value="laptop"`)
	b.get("/account/tokens").must(200)
	created := b.post("/account/tokens/new", "name", "laptop", "type", "USER_TOKEN", "expiry", "365").must(200).contains("Copy the token now", `data-copy="new-token"`)
	checkPage(t, created)
	m := secretRE.FindStringSubmatch(created.body)
	if m == nil {
		t.Fatalf("no secret on the creation page:\n%s", created.body)
	}
	if created.header.Get("Cache-Control") != "no-store" {
		t.Fatal("the creation page may be cached")
	}
	pr, err := ts.st.Authenticate(m[1])
	if err != nil || pr.UserID != ts.principal("ivy").UserID {
		t.Fatalf("the shown secret does not authenticate as ivy: %v", err)
	}
	tok, _ := ts.st.Store().GetToken(ts.ctx, pr.TokenID)
	if want := ts.st.Now().AddDate(0, 0, 365); tok.ExpiresAt.Sub(want).Abs() > time.Minute {
		t.Fatalf("expires %v, want about %v", tok.ExpiresAt, want)
	}
	// Never again: the list has its name only.
	b.get("/account/tokens").must(200).contains("laptop").lacks(m[1], "Copy the token now")

	// A project analysis token needs scan on its project.
	b.post("/account/tokens/new", "name", "svc-ci", "type", "PROJECT_ANALYSIS_TOKEN", "projectKey", "svc", "expiry", "30").must(http.StatusForbidden).contains("Insufficient privileges") // as api/user_tokens/generate answers
	ab := ts.browser()
	ab.signIn("admin", adminPassword)
	ab.get("/projects/svc").must(200)
	ab.post("/projects/svc/grant", "kind", "user", "name", "ivy", "permission", "scan").must(http.StatusSeeOther)
	b.get("/account/tokens").must(200)
	b.post("/account/tokens/new", "name", "svc-ci", "type", "PROJECT_ANALYSIS_TOKEN", "projectKey", "svc", "expiry", "30").must(200).contains("project analysis on svc")

	b.post("/account/tokens/revoke", "name", "laptop").must(http.StatusSeeOther)
	b.get("/account/tokens").must(200).contains("Token laptop revoked.")
	if _, err := ts.st.Authenticate(m[1]); err == nil {
		t.Fatal("a revoked token still authenticates")
	}
}
