package webapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// sharedSQLite is a migrated SQLite store that several servers can share,
// as replicas or as one server restarted.
func sharedSQLite(t *testing.T) *sqlstore.Store {
	t.Helper()
	db, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "shared.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// serveAgain starts another Web API, with a state of its own, over a store
// a test server already set up: the first one restarted, or a second
// replica.
func serveAgain(t *testing.T, db store.Store) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := state.New(ctx, db, state.Options{SyncInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go st.Run(ctx)
	api := New(st, Options{GatehouseVersion: "test"})
	srv := httptest.NewServer((&answerChecker{t: t, api: api}).wrap(api.Handler()))
	t.Cleanup(srv.Close)
	return &testServer{t: t, st: st, api: api, srv: srv, logs: &syncBuffer{}}
}

// within polls ok until it holds, at most a second (SPEC §8).
func within(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 1 s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

// TestSessionsInStore checks issue 7 item 1 through the API: a session
// outlives a restart and works on another replica (its XSRF value too);
// an administrator's sign-out ends it on both; a deactivated and
// re-created login starts without its old sessions.
func TestSessionsInStore(t *testing.T) {
	db := sharedSQLite(t)
	a := newTestServerOn(t, db)
	a.createUser("alice")
	a.createUser("bob")
	cookies, xsrf := authnLogin(t, a, "alice", "alice-password-1")
	bobCookies, _ := authnLogin(t, a, "bob", "bob-password-1")

	// A restart, or a second replica: a new state and API over the store.
	b := serveAgain(t, db)
	if !authnValid(t, b, cred{cookies: cookies}) {
		t.Fatal("a restarted server signed alice out")
	}
	b.post("api/users/set_homepage", cred{cookies: cookies, xsrf: xsrf}, "type", "PROJECTS").must(t, 204)
	b.post("api/users/set_homepage", cred{cookies: cookies, xsrf: "forged"}, "type", "PROJECTS").must(t, 403)

	a.expectRefusals(t, http.MethodPost, "api/sessions/sign_out", []refusal{
		{"unauthenticated", cred{}, []string{"login", "alice"}, 401, "Authentication is required"},
		{"not admin", userCred("bob"), []string{"login", "alice"}, 403, "Insufficient privileges"},
		{"missing login", asAdmin, nil, 400, "The 'login' parameter is missing"},
		{"unknown login", asAdmin, []string{"login", "nobody"}, 404, "User 'nobody' has not been found"},
	})
	var out map[string]int
	a.post("api/sessions/sign_out", asAdmin, "login", "alice").must(t, 200).json(t, &out)
	if out["sessionsEnded"] != 1 {
		t.Fatalf("sign_out answered %v, want 1 session ended", out)
	}
	if authnValid(t, a, cred{cookies: cookies}) {
		t.Fatal("a signed-out session works on the replica that signed it out")
	}
	within(t, "a sign-out on the other replica", func() bool { return !authnValid(t, b, cred{cookies: cookies}) })
	if !authnValid(t, b, cred{cookies: bobCookies}) {
		t.Fatal("signing alice out ended bob's session")
	}
	evs, n, err := db.ListAudit(t.Context(), store.AuditFilter{Action: "user.sign_out"})
	if err != nil || n != 1 || evs[0].Actor != "user:admin" || evs[0].Target != "user:alice" || evs[0].RequestID == "" {
		t.Fatalf("sign-out audit %+v, %v", evs, err)
	}
	evs, _, err = db.ListAudit(t.Context(), store.AuditFilter{Action: "session.start", Target: "user:bob"})
	if err != nil || len(evs) != 1 || evs[0].Actor != "user:bob" || evs[0].RequestID == "" {
		t.Fatalf("sign-in audit %+v, %v", evs, err)
	}
	for _, e := range evs {
		for _, ck := range append(cookies, bobCookies...) {
			if strings.Contains(e.After, ck.Value) {
				t.Fatal("an audit event holds a cookie value")
			}
		}
	}

	// Sign-out on B ends the session for A.
	cookies, _ = authnLogin(t, b, "alice", "alice-password-1")
	within(t, "a session started on the other replica", func() bool { return authnValid(t, a, cred{cookies: cookies}) })
	b.post("api/authentication/logout", cred{cookies: cookies}).must(t, 200)
	within(t, "a logout on the other replica", func() bool { return !authnValid(t, a, cred{cookies: cookies}) })
	evs, _, err = db.ListAudit(t.Context(), store.AuditFilter{Action: "session.end"})
	if err != nil || len(evs) != 1 || evs[0].Actor != "user:alice" {
		t.Fatalf("sign-out audit %+v, %v", evs, err)
	}

	// Deactivated, then re-created: the old session stays dead everywhere.
	cookies, _ = authnLogin(t, a, "alice", "alice-password-1")
	a.post("api/users/deactivate", asAdmin, "login", "alice").must(t, 200)
	a.post("api/users/create", asAdmin, "login", "alice", "name", "Another Alice", "password", "alice-password-2").must(t, 200)
	if authnValid(t, a, cred{cookies: cookies}) {
		t.Fatal("a re-created login inherits an old session")
	}
	within(t, "the deactivation on the other replica", func() bool { return !authnValid(t, b, cred{cookies: cookies}) })
	again := serveAgain(t, db)
	if authnValid(t, again, cred{cookies: cookies}) {
		t.Fatal("a restart revives a session of a deactivated user")
	}
	fresh, _ := authnLogin(t, a, "alice", "alice-password-2")
	within(t, "the re-created login's new session on another replica", func() bool { return authnValid(t, again, cred{cookies: fresh}) })
}
