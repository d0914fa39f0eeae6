package webapi

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/dataset"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// authzFixture is a small instance: alice scans "app" through group devs,
// bob has nothing, "site" is public, and an org token covers "app".
type authzFixture struct {
	s                   *testServer
	alice, bob          string // user token secrets
	aliceTokenID, orgID string
}

func newAuthzFixture(t *testing.T) authzFixture {
	t.Helper()
	s := newTestServer(t)
	s.lockDown()
	ctx := context.Background()
	alice, aliceTok := orgTokUser(t, s, "alice")
	_, bobTok := orgTokUser(t, s, "bob")
	app, err := s.st.CreateProject(ctx, identity.Project{Key: "app", Name: "App", Visibility: identity.Private}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.CreateProject(ctx, identity.Project{Key: "site", Name: "Site", Visibility: identity.Public}, 0); err != nil {
		t.Fatal(err)
	}
	devs, err := s.st.CreateGroup(ctx, identity.Group{Name: "devs"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.AddMember(ctx, "devs", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.st.AddGrant(ctx, identity.Grant{Subject: identity.GroupSubject(devs.ID), ProjectID: app.ID, Permission: identity.PermScan}); err != nil {
		t.Fatal(err)
	}
	p, err := s.st.Authenticate(aliceTok)
	if err != nil {
		t.Fatal(err)
	}
	_, org, err := s.st.GenerateOrgToken(ctx, state.OrgTokenSpec{Name: "org", Permissions: []identity.Permission{identity.PermScan}, Projects: []int64{app.ID}})
	if err != nil {
		t.Fatal(err)
	}
	_ = alice
	return authzFixture{s: s, alice: aliceTok, bob: bobTok, aliceTokenID: idString(p.TokenID), orgID: idString(org.ID)}
}

func TestAuthzCheck(t *testing.T) {
	f := newAuthzFixture(t)
	cases := []struct {
		name    string
		cred    cred
		params  []string
		status  int
		allowed bool
		reason  string // substring of the reason, or of the error message
	}{
		{"group grant", bearer(f.alice), []string{"permission", "scan", "projectKey", "app"}, 200, true, "through group devs"},
		{"no grant", bearer(f.bob), []string{"permission", "scan", "projectKey", "app"}, 200, false, "You're not authorized to run analysis"},
		{"public browse", bearer(f.bob), []string{"permission", "user", "projectKey", "site"}, 200, true, "public"},
		{"global question", bearer(f.bob), []string{"permission", "admin"}, 200, false, "denied"},
		{"admin globally", asAdmin, []string{"permission", "admin"}, 200, true, "sonar-administrators"},
		{"admin asks about a token", asAdmin, []string{"permission", "scan", "projectKey", "app", "tokenId", f.orgID}, 200, true, "organization token"},
		{"admin asks about a user token", asAdmin, []string{"permission", "admin", "projectKey", "app", "tokenId", f.aliceTokenID}, 200, false, "denied: no grant of 'admin' on project 'app' to user alice"},
		{"unknown project", bearer(f.alice), []string{"permission", "scan", "projectKey", "nope"}, 404, false, "Project 'nope' not found"},
		{"project permission globally", bearer(f.alice), []string{"permission", "codeviewer"}, 400, false, "not a global permission"},
		{"global permission on a project", bearer(f.alice), []string{"permission", "gateadmin", "projectKey", "app"}, 400, false, "not a project permission"},
		{"unknown permission", bearer(f.alice), []string{"permission", "root", "projectKey", "app"}, 400, false, "Value of parameter 'permission'"},
		{"missing permission", bearer(f.alice), []string{"projectKey", "app"}, 400, false, "The 'permission' parameter is missing"},
		{"tokenId by non-admin", bearer(f.alice), []string{"permission", "scan", "tokenId", f.orgID}, 403, false, "Insufficient privileges"},
		{"unknown tokenId", asAdmin, []string{"permission", "scan", "tokenId", "987654"}, 404, false, "not found"},
		{"bad tokenId", asAdmin, []string{"permission", "scan", "tokenId", "x"}, 400, false, "tokenId"},
		{"anonymous", cred{}, []string{"permission", "scan"}, 401, false, "Authentication is required"},
		{"bad token", bearer("gtu_nope"), []string{"permission", "scan"}, 401, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.s.get("api/authz/check", tc.cred, tc.params...).must(t, tc.status)
			if tc.status != 200 {
				if msg := r.errMsg(t); !strings.Contains(msg, tc.reason) {
					t.Fatalf("message %q, want it to contain %q", msg, tc.reason)
				}
				return
			}
			var out authzCheckJSON
			r.json(t, &out)
			if out.Allowed != tc.allowed || !strings.Contains(out.Reason, tc.reason) || out.Permission != tc.params[1] {
				t.Fatalf("got %+v, want allowed=%v and a reason containing %q", out, tc.allowed, tc.reason)
			}
		})
	}
	// Decisions are counted.
	r := f.s.get("metrics", cred{}).must(t, 200)
	if !regexp.MustCompile(`gatehouse_authz_decisions_total\{credential="[a-z_]+",result="allowed"\} [1-9]`).Match(r.body) {
		t.Fatal("no decision metric")
	}
}

func TestAuthzExplain(t *testing.T) {
	f := newAuthzFixture(t)
	cases := []struct {
		name    string
		cred    cred
		params  []string
		allowed bool
		kinds   string // chain link kinds
		missing string
	}{
		{"through a group", bearer(f.alice), []string{"permission", "scan", "projectKey", "app"}, true, "token user group grant", ""},
		{"missing grant", bearer(f.bob), []string{"permission", "scan", "projectKey", "app"}, false, "token user", "no grant of 'scan'"},
		{"org token scope", asAdmin, []string{"permission", "scan", "projectKey", "app", "tokenId", f.orgID}, true, "token scope grant", ""},
		{"org token out of scope", asAdmin, []string{"permission", "scan", "projectKey", "site", "tokenId", f.orgID}, false, "token", "outside the token's project scope"},
		{"password user", asAdmin, []string{"permission", "admin"}, true, "user group grant", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out authzExplainJSON
			f.s.get("api/authz/explain", tc.cred, tc.params...).must(t, 200).json(t, &out)
			var kinds []string
			for _, l := range out.Chain {
				kinds = append(kinds, l.Kind)
			}
			if out.Allowed != tc.allowed || strings.Join(kinds, " ") != tc.kinds || !strings.Contains(out.Missing, tc.missing) || (tc.missing == "") != (out.Missing == "") {
				t.Fatalf("got %+v", out)
			}
		})
	}
	f.s.get("api/authz/explain", bearer(f.alice), "permission", "scan", "projectKey", "nope").must(t, 404)
	f.s.get("api/authz/explain", bearer(f.alice), "permission", "scan", "tokenId", f.orgID).must(t, 403)
}

// authzBenchAPI serves dataset.Standard (loaded into SQLite) through the
// Web API, in process, and returns its requests' secrets and keys.
func authzBenchAPI(b *testing.B) (*API, []string, []string) {
	b.Helper()
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
	var secrets, keys []string
	for i, t := range set.Snapshot.Tokens {
		if t.Type == identity.TokenUser {
			secrets = append(secrets, set.Secrets[i])
		}
	}
	for _, p := range set.Snapshot.Projects {
		keys = append(keys, p.Key)
	}
	return New(st, Options{}), secrets, keys
}

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the server's work rather than a recorder's.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkAuthzCheck measures one api/authz/check request through the
// whole Web API (routing, parameters, token resolution, decision, reason,
// JSON, metrics) without the network, on dataset.Standard.
func BenchmarkAuthzCheck(b *testing.B) {
	api, secrets, keys := authzBenchAPI(b)
	h := api.Handler()
	rng := rand.New(rand.NewPCG(1, 2))
	reqs := make([]*http.Request, 4096)
	for i := range reqs {
		r := httptest.NewRequest("GET", "/api/authz/check?permission=scan&projectKey="+url.QueryEscape(keys[rng.IntN(len(keys))]), nil)
		r.Header.Set("Authorization", "Bearer "+secrets[rng.IntN(len(secrets))])
		reqs[i] = r
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		// ServeHTTP parses the query into r.Form; a fresh shallow copy
		// keeps each iteration's parsing work.
		r := *reqs[i&(len(reqs)-1)]
		r.Form = nil
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, &r)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

// TestAuthzReasonMatchesIndex pins the hot path's own wording of reasons to
// the index's: identical for every reason it writes itself but a missing
// grant, which leaves out the list of groups.
func TestAuthzReasonMatchesIndex(t *testing.T) {
	f := newAuthzFixture(t)
	ix := f.s.st.Index()
	var principals []authz.Principal
	for _, secret := range []string{f.alice, f.bob} {
		p, err := f.s.st.Authenticate(secret)
		if err != nil {
			t.Fatal(err)
		}
		principals = append(principals, p)
	}
	orgID, _ := strconv.ParseInt(f.orgID, 10, 64)
	org, err := ix.TokenPrincipal(orgID)
	if err != nil {
		t.Fatal(err)
	}
	// gus holds global scan and a direct grant on app.
	gus, _ := orgTokUser(t, f.s, "gus")
	app, err := f.s.st.Store().GetProjectByKey(context.Background(), "app")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []identity.Grant{
		{Subject: identity.UserSubject(gus.ID), Permission: identity.PermScan},
		{Subject: identity.UserSubject(gus.ID), ProjectID: app.ID, Permission: identity.PermIssueAdmin},
	} {
		if err := f.s.st.AddGrant(context.Background(), g); err != nil {
			t.Fatal(err)
		}
	}
	principals = append(principals, org, authz.Principal{UserID: 1}, authz.Principal{UserID: gus.ID})
	seen := map[authz.Reason]bool{}
	for _, p := range principals {
		for _, key := range []string{"", "app", "site"} {
			for _, perm := range authzPermissionValues {
				d := ix.Decide(p, identity.Permission(perm), key)
				if d.Reason == authz.ReasonInvalidPermission {
					continue
				}
				seen[d.Reason] = true
				got := f.s.api.authzReason(p, identity.Permission(perm), key, d)
				_, want := ix.ReasonText(p, identity.Permission(perm), key)
				if d.Reason == authz.ReasonNoGrant {
					prefix, _, _ := strings.Cut(want, "to any of its groups")
					if !strings.HasPrefix(got, prefix) {
						t.Errorf("%+v %s %q: %q, want it to start with %q", p, perm, key, got, prefix)
					}
					continue
				}
				if got != want {
					t.Errorf("%+v %s %q: %q, want %q", p, perm, key, got, want)
				}
			}
		}
	}
	for _, r := range []authz.Reason{authz.ReasonNoGrant, authz.ReasonUserGrant, authz.ReasonGroupGrant, authz.ReasonPublicProject, authz.ReasonGlobalScan, authz.ReasonTokenScope} {
		if !seen[r] {
			t.Errorf("reason %d not exercised", r)
		}
	}
}
