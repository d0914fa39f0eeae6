package ui

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gitlabconn "github.com/gatehouse-dev/gatehouse/internal/connector/gitlab"
	ldapconn "github.com/gatehouse-dev/gatehouse/internal/connector/ldap"
	"github.com/gatehouse-dev/gatehouse/internal/dataset"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
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
	// The provisioning pages over an engine with both pull sources, as
	// the server wires it, and a history of 150 GitLab runs to page.
	eng, err := provision.New(ctx, st, map[identity.Source]provision.SourceConfig{
		identity.SourceLDAP:   {Connector: ldapconn.Connector{}},
		identity.SourceGitLab: {Connector: gitlabconn.Connector{}},
	}, provision.Config{})
	if err != nil {
		b.Fatal(err)
	}
	for range 150 {
		if err := db.Tx(ctx, func(tx store.Tx) error {
			_, err := tx.CreateSyncRun(ctx, identity.SyncRun{Source: identity.SourceGitLab, Trigger: identity.TriggerSchedule, Status: identity.SyncSuccess,
				StartedAt: time.Now().Add(-time.Minute), FinishedAt: time.Now(), Counts: identity.SyncCounts{UsersCreated: 3, MembershipsAdded: 12}})
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	// 100,000 audit events (the data set has none) and an organization
	// token over every project.
	for i := range 100 {
		events := make([]identity.AuditEvent, 1000)
		for j := range events {
			n := i*1000 + j
			events[j] = identity.AuditEvent{Time: time.Now().Add(-time.Duration(n) * time.Second), Actor: "user:u" + strconv.Itoa(n%500),
				Action: "group.add_user", Target: "group:g" + strconv.Itoa(n%1000), After: `{"login":"u1"}`}
		}
		if err := db.Tx(ctx, func(tx store.Tx) error { return tx.AppendAudits(ctx, events) }); err != nil {
			b.Fatal(err)
		}
	}
	_, orgTok, err := st.GenerateOrgToken(ctx, state.OrgTokenSpec{Name: "ci-all", Permissions: []identity.Permission{identity.PermScan}, Set: identity.SetAll})
	if err != nil {
		b.Fatal(err)
	}
	// A group of every user: its page pages 10,000 members.
	if _, err := st.CreateGroup(ctx, identity.Group{Name: "everyone-explicit"}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < len(set.Snapshot.Users); i += state.MaxBulkItems {
		var ms []state.MemberChange
		for _, u := range set.Snapshot.Users[i:min(i+state.MaxBulkItems, len(set.Snapshot.Users))] {
			ms = append(ms, state.MemberChange{Group: "everyone-explicit", Login: u.Login})
		}
		if _, err := st.AddMembers(ctx, ms, state.BulkOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	tmpls, err := db.ListTemplates(ctx)
	if err != nil || len(tmpls) == 0 {
		b.Fatalf("templates: %v %v", tmpls, err)
	}
	if _, err := st.CreateSSOConnection(ctx, state.SSOConnectionInput{Name: "okta", Protocol: identity.SSOOIDC,
		Settings: identity.SSOSettings{DisplayName: "Okta", Enabled: true, Issuer: "https://idp.example.com", ClientID: "gatehouse"}}); err != nil {
		b.Fatal(err)
	}
	api := webapi.New(st, webapi.Options{Logger: slog.New(slog.DiscardHandler)})
	pages, err := New(st, api, Options{Provisioner: eng})
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
		"/account/tokens", "/account/projects", "/provisioning/scim", "/provisioning/gitlab", "/provisioning/gitlab?p=3", "/provisioning/gitlab/status",
		"/provisioning/ldap", "/sso", "/sso/okta",
		"/audit?actor=" + url.QueryEscape("user:u7"), "/org-tokens/" + strconv.FormatInt(orgTok.ID, 10), "/org-tokens/" + strconv.FormatInt(orgTok.ID, 10) + "?p=20",
		"/templates/" + strconv.FormatInt(tmpls[0].ID, 10), "/groups/everyone-explicit", "/groups/everyone-explicit?p=100&q=user",
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
