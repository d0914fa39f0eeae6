package ui

import (
	"net/http"
	"testing"
	"time"
)

func TestAuditLog(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	b.signIn("admin", adminPassword)
	b.get("/groups").must(200)
	b.post("/groups/new", "name", "auditors").must(http.StatusSeeOther)
	b.get("/users/new").must(200)
	b.post("/users/new", "login", "kim", "name", "Kim", "password", "kim-password-123", "password2", "kim-password-123").must(http.StatusSeeOther)

	p := b.get("/audit").must(200).contains("group.create", "group:auditors", "user.create", "user:kim")
	checkPage(t, p)
	// The UI's writes are audited with the signed-in user as the actor.
	b.get("/audit?actor=admin&action=group.create").must(200).contains("group:auditors").lacks("user:kim<")
	b.get("/audit?target=user:kim").must(200).contains("user.create").lacks("group:auditors")
	today := time.Now().UTC().Format(time.DateOnly)
	b.get("/audit?from=" + today + "&to=" + today).must(200).contains("group:auditors")
	b.get("/audit?to=2000-01-01").must(200).contains("No event matches.")
	b.get("/audit?from=yesterday").must(200).contains("Enter dates as YYYY-MM-DD.")
	// The secret of a token is never in the log.
	b.get("/account/tokens").must(200)
	created := b.post("/account/tokens/new", "name", "t1", "type", "USER_TOKEN", "expiry", "30").must(200)
	secret := secretRE.FindStringSubmatch(created.body)[1]
	b.get("/audit").must(200).contains("token").lacks(secret)
}
