package ui

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/dataset"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/webapi"
)

// BenchmarkPages measures the server time of the list and detail pages on
// dataset.Standard (10,000 users, 1,000 groups, 5,000 projects, 100,000
// memberships, 200,000 grants, 10,000 tokens) in SQLite, for a signed-in
// administrator, without the network. The target is under 50 ms a page.
func BenchmarkPages(b *testing.B) {
	ctx := context.Background()
	set, err := dataset.Generate(dataset.Standard, 1)
	if err != nil {
		b.Fatal(err)
	}
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "g.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := dataset.Load(ctx, db, set); err != nil {
		b.Fatal(err)
	}
	st, err := state.New(ctx, db, state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, state.NewUser{Login: "bench-admin", Name: "Bench", Password: adminPassword}); err != nil {
		b.Fatal(err)
	}
	if err := st.AddMember(ctx, identity.GroupAdministrators, "bench-admin"); err != nil {
		b.Fatal(err)
	}
	api := webapi.New(st, webapi.Options{Logger: slog.New(slog.DiscardHandler)})
	pages, err := New(st, api, Options{})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	pages.Register(mux)
	rec := httptest.NewRecorder()
	login := httptest.NewRequest(http.MethodPost, "/api/authentication/login", strings.NewReader(url.Values{"login": {"bench-admin"}, "password": {adminPassword}}.Encode()))
	login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	mux.ServeHTTP(rec, login)
	if rec.Code != 200 {
		b.Fatalf("sign-in: %d", rec.Code)
	}
	cookies := rec.Result().Cookies()
	group := set.Snapshot.Groups[len(set.Snapshot.Groups)/2].Name
	project := set.Snapshot.Projects[len(set.Snapshot.Projects)/2].Key
	user := set.Snapshot.Users[len(set.Snapshot.Users)/2].Login
	for _, path := range []string{
		"/users", "/users?p=150", "/users?q=" + url.QueryEscape(user[:3]), "/users/" + url.PathEscape(user),
		"/groups", "/groups/" + url.PathEscape(group),
		"/projects", "/projects?p=90", "/projects/" + url.PathEscape(project), "/permissions",
		"/templates?pattern=" + url.QueryEscape(".*1.*"), "/org-tokens", "/audit", "/explain?permission=scan&projectKey=" + url.QueryEscape(project),
	} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			for _, c := range cookies {
				req.AddCookie(c)
			}
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				mux.ServeHTTP(w, req)
				if w.status != 200 {
					b.Fatalf("GET %s: %d", path, w.status)
				}
			}
		})
	}
}

// discardWriter keeps only the status, so the benchmark measures the
// server's work rather than a recorder's.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return len(b), nil
}
func (w *discardWriter) WriteHeader(s int) { w.status = s }
