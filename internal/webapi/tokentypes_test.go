package webapi

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// TestTokenTypesOnlyNarrow checks what each token type may reach: a SCIM
// token no Web API action, an organization token only the actions marked
// for it, an analysis token none of its user's self-service actions, even
// when its user is an administrator.
func TestTokenTypesOnlyNarrow(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	admin, err := s.st.Store().GetUserByLogin(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	s.post("api/projects/create", asAdmin, "project", "web", "name", "Web").must(t, 200)
	s.post("api/permissions/add_user", asAdmin, "login", "admin", "permission", "scan").must(t, 204)
	web, _ := s.st.Store().GetProjectByKey(ctx, "web")
	gen := func(typ identity.TokenType) string {
		t.Helper()
		secret, _, err := s.st.GenerateUserToken(ctx, state.NewUserToken{UserID: admin.ID, Name: string(typ), Type: typ, ProjectID: map[bool]int64{true: web.ID}[typ == identity.TokenProjectAnalysis]})
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	org, _, err := s.st.GenerateOrgToken(ctx, state.OrgTokenSpec{Name: "org", Permissions: []identity.Permission{identity.PermScan, identity.PermUser}, Set: identity.SetAll})
	if err != nil {
		t.Fatal(err)
	}
	scim, _, err := s.st.GenerateSCIMToken(ctx, "scim", nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{
		"user":    gen(identity.TokenUser),
		"global":  gen(identity.TokenGlobalAnalysis),
		"project": gen(identity.TokenProjectAnalysis),
		"org":     org,
		"scim":    scim,
	}
	cases := []struct {
		token, method, path string
		params              []string
		status              int
	}{
		{"user", "GET", "api/users/search", nil, 200},
		{"user", "GET", "api/user_tokens/search", nil, 200},
		{"user", "POST", "api/user_groups/create", []string{"name", "by-user-token"}, 200}, // its admin user
		{"global", "GET", "api/authz/check", []string{"permission", "scan", "projectKey", "web"}, 200},
		{"global", "GET", "api/user_tokens/search", nil, 403},
		{"global", "POST", "api/user_tokens/revoke", []string{"name", "user"}, 403},
		{"global", "POST", "api/users/change_password", []string{"login", "admin", "password", "another-password-1", "previousPassword", adminPassword}, 403},
		{"global", "POST", "api/user_groups/create", []string{"name", "by-analysis-token"}, 403}, // admin capped away
		{"project", "GET", "api/user_tokens/search", nil, 403},
		{"project", "POST", "api/users/update", []string{"login", "admin", "name", "Renamed"}, 403},
		{"project", "GET", "api/components/show", []string{"component", "web"}, 200},
		{"org", "GET", "api/authz/check", []string{"permission", "scan", "projectKey", "web"}, 200},
		{"org", "GET", "api/projects/search", nil, 200},
		{"org", "GET", "api/components/show", []string{"component", "web"}, 200},
		{"org", "GET", "api/users/search", nil, 403},
		{"org", "GET", "api/user_groups/search", nil, 403},
		{"org", "GET", "api/user_tokens/search", nil, 403},
		{"org", "GET", "api/authentication/validate", nil, 200},
		{"scim", "GET", "api/users/search", nil, 403},
		{"scim", "GET", "api/authz/check", []string{"permission", "scan", "projectKey", "web"}, 403},
		{"scim", "GET", "api/system/status", nil, 200}, // public probes stay public
	}
	for _, tc := range cases {
		t.Run(tc.token+" "+tc.path, func(t *testing.T) {
			r := s.do(tc.method, tc.path, bearer(tokens[tc.token]), values(tc.params...))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
		})
	}
}

// TestCheckHidesUnseenProjects checks that api/authz/check answers the same
// 404 for a project the caller cannot see as for a missing one, while an
// administrator and callers who can see it get the decision.
func TestCheckHidesUnseenProjects(t *testing.T) {
	s := newTestServer(t)
	s.lockDown()
	ctx := context.Background()
	// An empty template for the private project: the default one would let
	// every user (sonar-users) browse it.
	if _, err := s.st.CreateTemplate(ctx, identity.Template{Name: "none", KeyPattern: "secret-.*"}); err != nil {
		t.Fatal(err)
	}
	s.post("api/projects/create", asAdmin, "project", "secret-app", "name", "Secret", "visibility", "private").must(t, 200)
	s.post("api/projects/create", asAdmin, "project", "docs", "name", "Docs", "visibility", "public").must(t, 200)
	if _, err := s.st.CreateUser(ctx, state.NewUser{Login: "mallory", Name: "Mallory", Password: "mallory-password-1"}); err != nil {
		t.Fatal(err)
	}
	mallory := bearer(s.tokenFor("mallory"))
	org, _, err := s.st.GenerateOrgToken(ctx, state.OrgTokenSpec{Name: "docs-only", Permissions: []identity.Permission{identity.PermScan}, Patterns: []string{"docs"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		cred   cred
		key    string
		status int
	}{
		{"user, unseen private project", mallory, "secret-app", 404},
		{"user, missing project", mallory, "no-such-app", 404},
		{"user, public project", mallory, "docs", 200},
		{"org token, out of scope", bearer(org), "secret-app", 404},
		{"org token, in scope", bearer(org), "docs", 200},
		{"admin, private project", asAdmin, "secret-app", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.get("api/authz/check", tc.cred, "permission", "admin", "projectKey", tc.key)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 404 && r.errMsg(t) != "Project '"+tc.key+"' not found" {
				t.Fatalf("message %q", r.errMsg(t))
			}
		})
	}
}
