package webapi

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// tokensFixture has alice (scan on project "app" only), bob (global scan) and
// carol (no scan).
func tokensFixture(t *testing.T) *testServer {
	t.Helper()
	s := newTestServer(t)
	s.lockDown()
	for _, l := range []string{"alice", "bob", "carol"} {
		s.createUser(l)
	}
	ctx := context.Background()
	p, err := s.st.CreateProject(ctx, identity.Project{Key: "app", Name: "The App"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.CreateProject(ctx, identity.Project{Key: "other", Name: "Other"}, 0); err != nil {
		t.Fatal(err)
	}
	alice, _ := s.st.Store().GetUserByLogin(ctx, "alice")
	bob, _ := s.st.Store().GetUserByLogin(ctx, "bob")
	for _, g := range []identity.Grant{
		{Subject: identity.UserSubject(alice.ID), ProjectID: p.ID, Permission: identity.PermScan},
		{Subject: identity.UserSubject(bob.ID), Permission: identity.PermScan},
	} {
		if err := s.st.AddGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func tokensGenerate(t *testing.T, s *testServer, c cred, kv ...string) map[string]any {
	t.Helper()
	var out map[string]any
	s.post("api/user_tokens/generate", c, kv...).must(t, 200).json(t, &out)
	if !identDateRe.MatchString(out["createdAt"].(string)) {
		t.Fatalf("createdAt %v", out["createdAt"])
	}
	return out
}

func TestUserTokensGenerate(t *testing.T) {
	s := tokensFixture(t)
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(sonarDate)

	t.Run("user token for oneself", func(t *testing.T) {
		out := tokensGenerate(t, s, userCred("carol"), "name", "laptop")
		identWantKeys(t, "token", out, "login", "name", "token", "createdAt", "type")
		if out["login"] != "carol" || out["type"] != "USER_TOKEN" {
			t.Fatalf("token %v", out)
		}
		// Bearer and basic-with-empty-password both work.
		s.get("api/user_tokens/search", bearer(out["token"].(string))).must(t, 200)
		s.get("api/user_tokens/search", cred{basicToken: out["token"].(string)}).must(t, 200)
	})
	t.Run("expiring token", func(t *testing.T) {
		out := tokensGenerate(t, s, userCred("carol"), "name", "short-lived", "expirationDate", tomorrow)
		identWantKeys(t, "token", out, "login", "name", "token", "createdAt", "type", "expirationDate")
		if out["expirationDate"] != tomorrow+"T00:00:00+0000" {
			t.Fatalf("expirationDate %v", out["expirationDate"])
		}
	})
	t.Run("admin for another user", func(t *testing.T) {
		out := tokensGenerate(t, s, asAdmin, "login", "carol", "name", "given")
		if out["login"] != "carol" {
			t.Fatalf("token %v", out)
		}
	})
	t.Run("name is trimmed", func(t *testing.T) {
		if out := tokensGenerate(t, s, userCred("carol"), "name", "  spaced  "); out["name"] != "spaced" {
			t.Fatalf("name %q", out["name"])
		}
	})
	t.Run("global analysis token", func(t *testing.T) {
		out := tokensGenerate(t, s, userCred("bob"), "name", "ci", "type", "GLOBAL_ANALYSIS_TOKEN")
		if out["type"] != "GLOBAL_ANALYSIS_TOKEN" {
			t.Fatalf("token %v", out)
		}
		// A capped token cannot mint a wider one.
		s.post("api/user_tokens/generate", bearer(out["token"].(string)), "name", "escape").must(t, 403)
	})
	t.Run("project analysis token", func(t *testing.T) {
		out := tokensGenerate(t, s, userCred("alice"), "name", "ci", "type", "PROJECT_ANALYSIS_TOKEN", "projectKey", "app")
		identWantKeys(t, "token", out, "login", "name", "token", "createdAt", "type", "projectKey")
		if out["projectKey"] != "app" {
			t.Fatalf("token %v", out)
		}
		// Global scan covers every project.
		tokensGenerate(t, s, userCred("bob"), "name", "ci-other", "type", "PROJECT_ANALYSIS_TOKEN", "projectKey", "other")
	})

	s.expectRefusals(t, http.MethodPost, "api/user_tokens/generate", []refusal{
		{"unauthenticated", cred{}, []string{"name", "x"}, 401, "Authentication is required"},
		{"missing name", userCred("carol"), nil, 400, "The 'name' parameter is missing"},
		{"name too long", userCred("carol"), []string{"name", string(make([]rune, 101))}, 400, "'name' length (101) is longer than the maximum authorized (100)"},
		{"bad type", userCred("carol"), []string{"name", "x", "type", "ORGANIZATION_TOKEN"}, 400, "Value of parameter 'type' (ORGANIZATION_TOKEN) must be one of: [USER_TOKEN, GLOBAL_ANALYSIS_TOKEN, PROJECT_ANALYSIS_TOKEN]"},
		{"another user, not admin", userCred("carol"), []string{"login", "alice", "name", "x"}, 403, "Insufficient privileges"},
		{"unknown user", asAdmin, []string{"login", "nobody", "name", "x"}, 404, "User with login 'nobody' doesn't exist"},
		{"duplicate name", userCred("carol"), []string{"name", "laptop"}, 400, "A user token for login 'carol' and name 'laptop' already exists"},
		{"bad date", userCred("carol"), []string{"name", "x", "expirationDate", "2030/01/01"}, 400, "Supplied date format for parameter expirationDate is wrong. Please supply date in the ISO 8601 date format (YYYY-MM-DD)"},
		{"date today", userCred("carol"), []string{"name", "x", "expirationDate", time.Now().UTC().Format(sonarDate)}, 400, "The minimum value for parameter expirationDate is " + tomorrow + "."},
		{"global analysis without scan", userCred("carol"), []string{"name", "x", "type", "GLOBAL_ANALYSIS_TOKEN"}, 403, "Insufficient privileges"},
		{"global analysis with project scan only", userCred("alice"), []string{"name", "x", "type", "GLOBAL_ANALYSIS_TOKEN"}, 403, "Insufficient privileges"},
		{"global analysis for another user", asAdmin, []string{"login", "bob", "name", "x", "type", "GLOBAL_ANALYSIS_TOKEN"}, 400, "A Global Analysis Token cannot be generated for another user."},
		{"project analysis without projectKey", userCred("alice"), []string{"name", "x", "type", "PROJECT_ANALYSIS_TOKEN"}, 400, "A projectKey is needed when creating Project Analysis Token"},
		{"project analysis of unknown project", userCred("alice"), []string{"name", "x", "type", "PROJECT_ANALYSIS_TOKEN", "projectKey", "nope"}, 404, "Project key 'nope' not found"},
		{"project analysis without scan there", userCred("alice"), []string{"name", "x", "type", "PROJECT_ANALYSIS_TOKEN", "projectKey", "other"}, 403, "Insufficient privileges"},
		{"project analysis for another user", asAdmin, []string{"login", "alice", "name", "x", "type", "PROJECT_ANALYSIS_TOKEN", "projectKey", "app"}, 400, "A Project Analysis Token cannot be generated for another user."},
	})

	t.Run("policy", func(t *testing.T) {
		if err := s.st.SetTokenPolicy(context.Background(), state.TokenPolicy{MaxLifetimeDays: map[identity.TokenType]int{identity.TokenUser: 30}}); err != nil {
			t.Fatal(err)
		}
		s.post("api/user_tokens/generate", userCred("carol"), "name", "forever").must(t, 400)
		s.post("api/user_tokens/generate", userCred("carol"), "name", "too-long", "expirationDate", time.Now().UTC().AddDate(0, 0, 60).Format(sonarDate)).must(t, 400)
		tokensGenerate(t, s, userCred("carol"), "name", "in-policy", "expirationDate", tomorrow)
	})
}

func TestUserTokensSearchRevoke(t *testing.T) {
	s := tokensFixture(t)
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(sonarDate)
	userTok := tokensGenerate(t, s, userCred("alice"), "name", "a-user")["token"].(string)
	tokensGenerate(t, s, userCred("alice"), "name", "b-project", "type", "PROJECT_ANALYSIS_TOKEN", "projectKey", "app", "expirationDate", tomorrow)
	if _, _, err := s.st.GenerateOrgToken(context.Background(), state.OrgTokenSpec{Name: "org", Permissions: []identity.Permission{identity.PermScan}, Set: identity.SetAll}); err != nil {
		t.Fatal(err)
	}
	// A use is recorded in the background.
	s.get("api/user_tokens/search", bearer(userTok)).must(t, 200)

	search := func(c cred, kv ...string) map[string]any {
		var out map[string]any
		s.get("api/user_tokens/search", c, kv...).must(t, 200).json(t, &out)
		return out
	}
	t.Run("shape", func(t *testing.T) {
		out := search(userCred("alice"))
		identWantKeys(t, "answer", out, "login", "userTokens")
		toks := out["userTokens"].([]any)
		if out["login"] != "alice" || len(toks) != 2 {
			t.Fatalf("answer %v", out)
		}
		user, project := toks[0].(map[string]any), toks[1].(map[string]any)
		delete(user, "lastConnectionDate") // recorded asynchronously; checked below
		identWantKeys(t, "user token", user, "name", "createdAt", "type", "isExpired")
		identWantKeys(t, "project token", project, "name", "createdAt", "type", "project", "expirationDate", "isExpired")
		identWantKeys(t, "project", project["project"].(map[string]any), "key", "name")
		if project["type"] != "PROJECT_ANALYSIS_TOKEN" || project["isExpired"] != false || project["project"].(map[string]any)["name"] != "The App" {
			t.Fatalf("project token %v", project)
		}
		for _, tok := range toks {
			for _, k := range []string{"createdAt", "expirationDate"} {
				if v, ok := tok.(map[string]any)[k]; ok && !identDateRe.MatchString(v.(string)) {
					t.Fatalf("%s %v", k, v)
				}
			}
		}
	})
	t.Run("last connection", func(t *testing.T) {
		deadline := time.Now().Add(5 * time.Second)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			tok := search(asAdmin, "login", "alice")["userTokens"].([]any)[0].(map[string]any)
			if v, ok := tok["lastConnectionDate"].(string); ok {
				if !identDateRe.MatchString(v) {
					t.Fatalf("lastConnectionDate %q", v)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("token use never recorded")
			}
			<-tick.C
		}
	})
	t.Run("admin lists another user's", func(t *testing.T) {
		if out := search(asAdmin, "login", "alice"); len(out["userTokens"].([]any)) != 2 {
			t.Fatalf("answer %v", out)
		}
	})
	t.Run("organization tokens never appear", func(t *testing.T) {
		if out := search(asAdmin); len(out["userTokens"].([]any)) != 0 {
			t.Fatalf("admin's tokens %v", out)
		}
	})
	for _, tc := range []struct {
		name, path string
		c          cred
		kv         []string
		status     int
		msg        string
	}{
		{"search unauthenticated", "search", cred{}, nil, 401, "Authentication is required"},
		{"search another user, not admin", "search", userCred("carol"), []string{"login", "alice"}, 403, "Insufficient privileges"},
		{"search unknown user", "search", asAdmin, []string{"login", "nobody"}, 404, "User with login 'nobody' doesn't exist"},
		{"revoke unauthenticated", "revoke", cred{}, []string{"name", "a-user"}, 401, "Authentication is required"},
		{"revoke missing name", "revoke", userCred("alice"), nil, 400, "The 'name' parameter is missing"},
		{"revoke another user, not admin", "revoke", userCred("carol"), []string{"login", "alice", "name", "a-user"}, 403, "Insufficient privileges"},
		{"revoke unknown user", "revoke", asAdmin, []string{"login", "nobody", "name", "a-user"}, 404, "User with login 'nobody' doesn't exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.path == "search" {
				r = s.get("api/user_tokens/search", tc.c, tc.kv...)
			} else {
				r = s.post("api/user_tokens/revoke", tc.c, tc.kv...)
			}
			if got := r.must(t, tc.status).errMsg(t); got != tc.msg {
				t.Fatalf("message %q, want %q", got, tc.msg)
			}
		})
	}
	t.Run("revoke", func(t *testing.T) {
		s.post("api/user_tokens/revoke", userCred("alice"), "name", "a-user").must(t, 204)
		s.get("api/user_tokens/search", bearer(userTok)).must(t, 401)
		// Revoking is idempotent, as in SonarQube.
		s.post("api/user_tokens/revoke", userCred("alice"), "name", "a-user").must(t, 204)
		s.post("api/user_tokens/revoke", asAdmin, "login", "alice", "name", "b-project").must(t, 204)
		if out := search(userCred("alice")); len(out["userTokens"].([]any)) != 0 {
			t.Fatalf("tokens left %v", out)
		}
		// The name is free again.
		tokensGenerate(t, s, userCred("alice"), "name", "a-user")
	})
}
