package webapi

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
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
	if !strings.Contains(string(r.body), `gatehouse_authz_decisions_total{result="allowed"}`) {
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
