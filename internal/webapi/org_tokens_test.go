package webapi

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// orgTokProjects creates projects key-0000… through the state, as fixtures.
func orgTokProjects(t *testing.T, s *testServer, prefix string, n int, vis identity.Visibility) []string {
	t.Helper()
	keys := make([]string, n)
	ps := make([]identity.Project, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%05d", prefix, i)
		ps[i] = identity.Project{Key: keys[i], Name: "Project " + keys[i], Visibility: vis}
	}
	// A template without grants for these keys keeps the fixture small.
	if _, err := s.st.CreateTemplate(context.Background(), identity.Template{Name: "fixtures " + prefix, KeyPattern: prefix + "-.*"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.CreateProjects(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	return keys
}

// orgTokUser creates an active user and a user token for it.
func orgTokUser(t *testing.T, s *testServer, login string) (identity.User, string) {
	t.Helper()
	ctx := context.Background()
	u, err := s.st.CreateUser(ctx, state.NewUser{Login: login, Name: "User " + login, Password: login + "-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := s.st.GenerateUserToken(ctx, state.NewUserToken{UserID: u.ID, Name: "t", Type: identity.TokenUser})
	if err != nil {
		t.Fatal(err)
	}
	return u, secret
}

// orgTokGenerate generates an organization token through the API.
func orgTokGenerate(t *testing.T, s *testServer, kv ...string) orgTokenJSON {
	t.Helper()
	var out orgTokenJSON
	s.post("api/organization_tokens/generate", asAdmin, kv...).must(t, 200).json(t, &out)
	return out
}

// orgTokCheck asks api/authz/check with the token's bearer.
// orgTokCheck asks api/authz/check with the token itself. A project outside
// the token's scope is hidden from it (404, as if missing): that is a no.
func orgTokCheck(t *testing.T, s *testServer, secret, perm, key string) bool {
	t.Helper()
	r := s.get("api/authz/check", bearer(secret), "permission", perm, "projectKey", key)
	if r.status == 404 && r.errMsg(t) == "Project '"+key+"' not found" {
		if _, err := s.st.Store().GetProjectByKey(context.Background(), key); err != nil {
			t.Fatalf("project %s does not exist: the check proves nothing", key)
		}
		return false
	}
	var out authzCheckJSON
	r.must(t, 200).json(t, &out)
	return out.Allowed
}

func TestOrgTokenGenerate(t *testing.T) {
	s := newTestServer(t)
	orgTokProjects(t, s, "gen", 3, identity.Private)
	_, userTok := orgTokUser(t, s, "bob")
	now := s.st.Now()
	tomorrow := now.UTC().AddDate(0, 0, 1).Format(sonarDate)
	cases := []struct {
		name   string
		cred   cred
		params []string
		status int
		msg    string
		check  func(t *testing.T, out orgTokenJSON)
	}{
		{name: "defaults to scan", params: []string{"name", "a", "projectSet", "all"}, status: 200, check: func(t *testing.T, out orgTokenJSON) {
			// The three gen-* projects are every project of the instance.
			if strings.Join(out.Permissions, ",") != "scan" || out.Scope.ProjectSet != "all" || out.Scope.ProjectCount != 3 || out.Scope.ExplicitProjectCount != 0 || out.Scope.ProjectPatterns == nil {
				t.Fatalf("got %+v", out)
			}
			if !strings.HasPrefix(out.Token, "gto_") || out.ExpirationDate != nil || out.ID == "" || out.CreatedBy != "user:admin" {
				t.Fatalf("got %+v", out)
			}
			if _, err := time.Parse(sonarTime, out.CreatedAt); err != nil {
				t.Fatalf("createdAt %q: %v", out.CreatedAt, err)
			}
		}},
		{name: "explicit projects", params: []string{"name", "b", "projects", "gen-00000, gen-00002", "permissions", "scan,user"}, status: 200, check: func(t *testing.T, out orgTokenJSON) {
			if out.Scope.ProjectCount != 2 || out.Scope.ProjectSet != "" || strings.Join(out.Permissions, ",") != "scan,user" {
				t.Fatalf("got %+v", out)
			}
		}},
		{name: "patterns repeat", params: []string{"name", "c", "projectPattern", "gen-0000[01]", "projectPattern", "other-.*"}, status: 200, check: func(t *testing.T, out orgTokenJSON) {
			if strings.Join(out.Scope.ProjectPatterns, " ") != "gen-0000[01] other-.*" {
				t.Fatalf("got %+v", out.Scope)
			}
		}},
		{name: "union of kinds", params: []string{"name", "d", "projectSet", "public", "projectPattern", "x.*", "projects", "gen-00001"}, status: 200, check: func(t *testing.T, out orgTokenJSON) {
			if out.Scope.ProjectSet != "public" || out.Scope.ProjectCount != 1 || len(out.Scope.ProjectPatterns) != 1 {
				t.Fatalf("got %+v", out.Scope)
			}
		}},
		{name: "preset 30d", params: []string{"name", "e", "projectSet", "private", "expiresIn", "30d"}, status: 200, check: func(t *testing.T, out orgTokenJSON) {
			exp, err := time.Parse(sonarTime, *out.ExpirationDate)
			if err != nil || exp.Sub(now) < 30*24*time.Hour-time.Minute || exp.Sub(now) > 30*24*time.Hour+time.Minute {
				t.Fatalf("expirationDate %v (%v), now %v", exp, err, now)
			}
		}},
		{name: "preset 365d", params: []string{"name", "e2", "projectSet", "all", "expiresIn", "365d"}, status: 200, check: func(t *testing.T, out orgTokenJSON) {
			if out.ExpirationDate == nil || !strings.HasPrefix(*out.ExpirationDate, now.UTC().AddDate(0, 0, 365).Format(sonarDate)) {
				t.Fatalf("expirationDate %v", out.ExpirationDate)
			}
		}},
		{name: "custom date", params: []string{"name", "f", "projectSet", "all", "expirationDate", tomorrow}, status: 200, check: func(t *testing.T, out orgTokenJSON) {
			if out.ExpirationDate == nil || *out.ExpirationDate != tomorrow+"T00:00:00+0000" {
				t.Fatalf("expirationDate %v", out.ExpirationDate)
			}
		}},
		{name: "duplicate name", params: []string{"name", "a", "projectSet", "all"}, status: 400, msg: "A token with name 'a' already exists"},
		{name: "missing name", params: []string{"projectSet", "all"}, status: 400, msg: "The 'name' parameter is missing"},
		{name: "unknown project", params: []string{"name", "g", "projects", "gen-00000,nope"}, status: 404, msg: "Project 'nope' not found"},
		{name: "global permission", params: []string{"name", "g", "projectSet", "all", "permissions", "gateadmin"}, status: 400, msg: "Value of parameter 'permissions' (gateadmin) must be one of: [admin, codeviewer, issueadmin, securityhotspotadmin, scan, user]"},
		{name: "no scope", params: []string{"name", "g"}, status: 400, msg: "An organization token needs a project scope: projects, projectPattern or projectSet"},
		{name: "bad project set", params: []string{"name", "g", "projectSet", "some"}, status: 400},
		{name: "bad pattern", params: []string{"name", "g", "projectPattern", "("}, status: 400},
		{name: "both expiries", params: []string{"name", "g", "projectSet", "all", "expiresIn", "30d", "expirationDate", tomorrow}, status: 400, msg: "Parameters 'expiresIn' and 'expirationDate' cannot be used together"},
		{name: "past date", params: []string{"name", "g", "projectSet", "all", "expirationDate", now.UTC().Format(sonarDate)}, status: 400},
		{name: "bad date", params: []string{"name", "g", "projectSet", "all", "expirationDate", "31/12/2099"}, status: 400},
		{name: "bad preset", params: []string{"name", "g", "projectSet", "all", "expiresIn", "7d"}, status: 400},
		{name: "not admin", cred: bearer(userTok), params: []string{"name", "g", "projectSet", "all"}, status: 403},
		{name: "anonymous", cred: cred{}, params: []string{"name", "g", "projectSet", "all"}, status: 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cred
			if c.bearer == "" && tc.name != "anonymous" {
				c = asAdmin
			}
			r := s.post("api/organization_tokens/generate", c, tc.params...).must(t, tc.status)
			if tc.msg != "" {
				if got := r.errMsg(t); got != tc.msg {
					t.Fatalf("message %q, want %q", got, tc.msg)
				}
			}
			if tc.check != nil {
				var out orgTokenJSON
				r.json(t, &out)
				tc.check(t, out)
			}
		})
	}
}

func TestOrgTokenScopes(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	for _, p := range []identity.Project{
		{Key: "pub-a", Name: "A", Visibility: identity.Public},
		{Key: "priv-b", Name: "B", Visibility: identity.Private},
		{Key: "team-x", Name: "X", Visibility: identity.Private},
	} {
		if _, err := s.st.CreateProject(ctx, p, 0); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		params  []string
		allowed map[string]bool // project key → scan allowed; "later" is created after the token
	}{
		{"all", []string{"projectSet", "all"}, map[string]bool{"pub-a": true, "priv-b": true, "team-x": true, "later": true}},
		{"public", []string{"projectSet", "public"}, map[string]bool{"pub-a": true, "priv-b": false, "team-x": false, "later": false}},
		{"private", []string{"projectSet", "private"}, map[string]bool{"pub-a": false, "priv-b": true, "team-x": true, "later": true}},
		{"pattern", []string{"projectPattern", "team-.*", "projectPattern", "later"}, map[string]bool{"pub-a": false, "priv-b": false, "team-x": true, "later": true}},
		{"explicit", []string{"projects", "priv-b"}, map[string]bool{"pub-a": false, "priv-b": true, "team-x": false, "later": false}},
		{"union", []string{"projectSet", "public", "projects", "priv-b"}, map[string]bool{"pub-a": true, "priv-b": true, "team-x": false, "later": false}},
	}
	secrets := map[string]string{}
	for _, tc := range cases {
		secrets[tc.name] = orgTokGenerate(t, s, append([]string{"name", tc.name}, tc.params...)...).Token
	}
	// Created after every token: scope "all" (and a pattern) must cover it.
	if _, err := s.st.CreateProject(ctx, identity.Project{Key: "later", Name: "Later", Visibility: identity.Private}, 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for key, want := range tc.allowed {
				if got := orgTokCheck(t, s, secrets[tc.name], "scan", key); got != want {
					t.Errorf("scan on %s: %v, want %v", key, got, want)
				}
			}
			// The token only carries scan; and never a global permission.
			if orgTokCheck(t, s, secrets[tc.name], "admin", "priv-b") {
				t.Error("admin allowed")
			}
			var out authzCheckJSON
			s.get("api/authz/check", bearer(secrets[tc.name]), "permission", "scan").must(t, 200).json(t, &out)
			if out.Allowed {
				t.Error("global scan allowed")
			}
		})
	}
}

func TestOrgTokenPolicy(t *testing.T) {
	s := newTestServer(t)
	s.post("api/settings/set_token_policy", asAdmin, "maxLifetime", "ORGANIZATION_TOKEN=90").must(t, 204)
	cases := []struct {
		name   string
		params []string
		status int
	}{
		{"over the maximum", []string{"expiresIn", "365d"}, 400},
		{"at the maximum", []string{"expiresIn", "90d"}, 200},
		{"under the maximum", []string{"expiresIn", "30d"}, 200},
		{"never expiring", nil, 400},
		{"custom date beyond", []string{"expirationDate", s.st.Now().UTC().AddDate(0, 0, 120).Format(sonarDate)}, 400},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			params := append([]string{"name", fmt.Sprint("p", i), "projectSet", "all"}, tc.params...)
			s.post("api/organization_tokens/generate", asAdmin, params...).must(t, tc.status)
		})
	}
}

func TestOrgTokenRotate(t *testing.T) {
	s := newTestServer(t)
	orgTokProjects(t, s, "rot", 1, identity.Private)
	cases := []struct {
		name     string
		grace    string
		oldValid bool
		status   int
	}{
		{"immediately", "0", false, 200},
		{"default is immediate", "", false, 200},
		{"grace period", "3600", true, 200},
		{"negative", "-1", true, 400},
		{"too long", "2592001", true, 400},
		{"not a number", "soon", true, 400},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := orgTokGenerate(t, s, "name", fmt.Sprint("r", i), "projectSet", "all")
			params := []string{"id", tok.ID}
			if tc.grace != "" {
				params = append(params, "gracePeriod", tc.grace)
			}
			r := s.post("api/organization_tokens/rotate", asAdmin, params...).must(t, tc.status)
			if tc.status != 200 {
				if !orgTokCheck(t, s, tok.Token, "scan", "rot-00000") {
					t.Fatal("old secret stopped working after a refused rotation")
				}
				return
			}
			var out orgTokenJSON
			r.json(t, &out)
			if out.Token == "" || out.Token == tok.Token || out.ID != tok.ID {
				t.Fatalf("rotate answered %+v", out)
			}
			if !orgTokCheck(t, s, out.Token, "scan", "rot-00000") {
				t.Fatal("new secret refused")
			}
			old := s.get("api/authz/check", bearer(tok.Token), "permission", "scan", "projectKey", "rot-00000")
			if got := old.status == 200; got != tc.oldValid {
				t.Fatalf("old secret: status %d, want valid=%v", old.status, tc.oldValid)
			}
			// CI tooling verifies a token with api/authentication/validate.
			for secret, want := range map[string]bool{out.Token: true, tok.Token: tc.oldValid} {
				var v struct {
					Valid bool `json:"valid"`
				}
				s.get("api/authentication/validate", bearer(secret)).must(t, 200).json(t, &v)
				if v.Valid != want {
					t.Fatalf("validate: %v, want %v", v.Valid, want)
				}
			}
		})
	}
	s.post("api/organization_tokens/rotate", asAdmin, "id", "999999").must(t, 404)
}

func TestOrgTokenLifecycle(t *testing.T) {
	s := newTestServer(t)
	keys := orgTokProjects(t, s, "life", 4, identity.Private)
	tok := orgTokGenerate(t, s, "name", "ci", "projects", keys[0], "description", "for CI")
	other := orgTokGenerate(t, s, "name", "deploy", "projectSet", "all")
	_, userTok := orgTokUser(t, s, "carol")
	userP, err := s.st.Authenticate(userTok)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("update", func(t *testing.T) {
		var out orgTokenJSON
		s.post("api/organization_tokens/update", asAdmin, "id", tok.ID, "name", "ci-main", "permissions", "scan,codeviewer",
			"addProjects", keys[1]+","+keys[2], "removeProjects", keys[0], "projectPattern", "zzz.*").must(t, 200).json(t, &out)
		if out.Name != "ci-main" || out.Token != "" || out.Scope.ProjectCount != 2 || strings.Join(out.Permissions, ",") != "scan,codeviewer" ||
			out.Description != "for CI" || len(out.Scope.ProjectPatterns) != 1 {
			t.Fatalf("update answered %+v", out)
		}
		if orgTokCheck(t, s, tok.Token, "scan", keys[0]) || !orgTokCheck(t, s, tok.Token, "codeviewer", keys[2]) {
			t.Fatal("the edit did not reach decisions")
		}
		// Replacing the list, clearing patterns, adding a set.
		s.post("api/organization_tokens/update", asAdmin, "id", tok.ID, "projects", keys[3], "projectPattern", "", "projectSet", "public").must(t, 200).json(t, &out)
		if out.Scope.ProjectCount != 1 || len(out.Scope.ProjectPatterns) != 0 || out.Scope.ProjectSet != "public" {
			t.Fatalf("update answered %+v", out.Scope)
		}
	})
	t.Run("update errors", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			params []string
			status int
		}{
			{"unknown id", []string{"id", "424242"}, 404},
			{"not an org token", []string{"id", idString(userP.TokenID)}, 404},
			{"unknown added project", []string{"id", tok.ID, "addProjects", "nope"}, 404},
			{"duplicate name", []string{"id", tok.ID, "name", "deploy"}, 400},
			{"empty scope", []string{"id", tok.ID, "projects", "", "projectSet", ""}, 400},
			{"global permission", []string{"id", tok.ID, "permissions", "provisioning"}, 400},
			{"bad id", []string{"id", "x"}, 400},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s.post("api/organization_tokens/update", asAdmin, tc.params...).must(t, tc.status)
			})
		}
	})
	t.Run("search", func(t *testing.T) {
		var out struct {
			Paging paging         `json:"paging"`
			Tokens []orgTokenJSON `json:"organizationTokens"`
		}
		r := s.get("api/organization_tokens/search", asAdmin).must(t, 200)
		r.json(t, &out)
		if out.Paging.Total != 2 || len(out.Tokens) != 2 {
			t.Fatalf("search answered %s", r.body)
		}
		if strings.Contains(string(r.body), tok.Token) || strings.Contains(string(r.body), `"token"`) {
			t.Fatalf("search shows a secret: %s", r.body)
		}
		s.get("api/organization_tokens/search", asAdmin, "q", "deplo").must(t, 200).json(t, &out)
		if out.Paging.Total != 1 || out.Tokens[0].Name != "deploy" {
			t.Fatalf("q=deplo: %+v", out)
		}
		s.get("api/organization_tokens/search", asAdmin, "ps", "1", "p", "2").must(t, 200).json(t, &out)
		if out.Paging != (paging{PageIndex: 2, PageSize: 1, Total: 2}) || len(out.Tokens) != 1 {
			t.Fatalf("paging: %+v", out.Paging)
		}
		s.get("api/organization_tokens/search", bearer(userTok)).must(t, 403)
	})
	t.Run("revoke", func(t *testing.T) {
		s.post("api/organization_tokens/revoke", asAdmin, "id", other.ID).must(t, 204)
		s.get("api/authz/check", bearer(other.Token), "permission", "scan", "projectKey", keys[0]).must(t, 401)
		s.post("api/organization_tokens/revoke", asAdmin, "id", other.ID).must(t, 404)
		s.get("api/organization_tokens/show", asAdmin, "id", other.ID).must(t, 404)
		s.post("api/organization_tokens/revoke", asAdmin).must(t, 400)
		s.get("api/organization_tokens/revoke", asAdmin, "id", tok.ID).must(t, 405)
	})
}

// TestOrgTokenManyProjects covers SPEC §3's "thousands must work": a token
// over 5,000 explicit projects is created in one POST body, listed page by
// page and edited, without any error.
func TestOrgTokenManyProjects(t *testing.T) {
	s := newTestServer(t)
	const n = 5000
	keys := orgTokProjects(t, s, "big", n, identity.Private)
	tok := orgTokGenerate(t, s, "name", "big", "projects", strings.Join(keys, ","))
	if tok.Scope.ProjectCount != n {
		t.Fatalf("projectCount %d", tok.Scope.ProjectCount)
	}
	if !orgTokCheck(t, s, tok.Token, "scan", keys[n-1]) {
		t.Fatal("last project refused")
	}

	type show struct {
		orgTokenJSON
		Projects []orgTokenProjectRef `json:"projects"`
		Paging   paging               `json:"paging"`
	}
	seen := map[string]bool{}
	for p := 1; p <= n/500; p++ {
		var out show
		s.get("api/organization_tokens/show", asAdmin, "id", tok.ID, "p", fmt.Sprint(p), "ps", "500").must(t, 200).json(t, &out)
		if out.Paging.Total != n || len(out.Projects) != 500 || out.Name != "big" || out.Token != "" {
			t.Fatalf("page %d: paging %+v, %d projects", p, out.Paging, len(out.Projects))
		}
		for _, pr := range out.Projects {
			seen[pr.Key] = true
		}
	}
	if len(seen) != n {
		t.Fatalf("pages listed %d distinct projects, want %d", len(seen), n)
	}
	s.get("api/organization_tokens/show", asAdmin, "id", tok.ID, "ps", "501").must(t, 400)

	more := orgTokProjects(t, s, "more", 1000, identity.Private)
	var out orgTokenJSON
	s.do("POST", "api/organization_tokens/update", asAdmin, url.Values{
		"id": {tok.ID}, "addProjects": {strings.Join(more, ",")}, "removeProjects": {strings.Join(keys[:2000], ",")},
	}).must(t, 200).json(t, &out)
	if out.Scope.ProjectCount != n+1000-2000 {
		t.Fatalf("after edit: projectCount %d", out.Scope.ProjectCount)
	}
	if orgTokCheck(t, s, tok.Token, "scan", keys[0]) || !orgTokCheck(t, s, tok.Token, "scan", more[999]) {
		t.Fatal("the edit did not reach decisions")
	}
}

// TestOrgTokenProjectCount shows on a fresh instance that generate, search,
// show and update report the projects a token covers now — for a project
// set, patterns and an explicit list alike — and that show pages through
// exactly those projects.
func TestOrgTokenProjectCount(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	pub := orgTokProjects(t, s, "pub", 3, identity.Public)
	priv := orgTokProjects(t, s, "priv", 4, identity.Private)
	type show struct {
		orgTokenJSON
		Projects []orgTokenProjectRef `json:"projects"`
		Paging   paging               `json:"paging"`
	}
	cases := []struct {
		name     string
		params   []string
		want     []string // covered project keys, in creation (id) order
		explicit int
	}{
		{"all", []string{"projectSet", "all"}, append(append([]string{}, pub...), priv...), 0},
		{"public", []string{"projectSet", "public"}, pub, 0},
		{"private", []string{"projectSet", "private"}, priv, 0},
		{"pattern", []string{"projectPattern", "priv-0000[12]", "projectPattern", "pub-00000"}, []string{pub[0], priv[1], priv[2]}, 0},
		{"explicit", []string{"projects", priv[3] + "," + pub[1]}, []string{pub[1], priv[3]}, 2},
		{"union counted once", []string{"projectSet", "public", "projectPattern", "pub-.*", "projects", pub[0] + "," + priv[0]}, append(append([]string{}, pub...), priv[0]), 2},
		{"pattern matching nothing", []string{"projectPattern", "nothing-.*"}, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := orgTokGenerate(t, s, append([]string{"name", tc.name}, tc.params...)...)
			if tok.Scope.ProjectCount != len(tc.want) || tok.Scope.ExplicitProjectCount != tc.explicit {
				t.Fatalf("generate: projectCount %d, explicitProjectCount %d; want %d, %d", tok.Scope.ProjectCount, tok.Scope.ExplicitProjectCount, len(tc.want), tc.explicit)
			}
			var found struct {
				Tokens []orgTokenJSON `json:"organizationTokens"`
			}
			s.get("api/organization_tokens/search", asAdmin, "q", tc.name).must(t, 200).json(t, &found)
			if len(found.Tokens) == 0 || found.Tokens[0].Scope.ProjectCount != len(tc.want) {
				t.Fatalf("search: %+v", found.Tokens)
			}
			// Page by page, two at a time, then one page past the end.
			var got []string
			for p := 1; p <= len(tc.want)/2+1; p++ {
				var out show
				s.get("api/organization_tokens/show", asAdmin, "id", tok.ID, "p", fmt.Sprint(p), "ps", "2").must(t, 200).json(t, &out)
				if out.Paging != (paging{PageIndex: p, PageSize: 2, Total: len(tc.want)}) || out.Scope.ProjectCount != len(tc.want) {
					t.Fatalf("show page %d: paging %+v, projectCount %d", p, out.Paging, out.Scope.ProjectCount)
				}
				if len(out.Projects) > 2 || out.Projects == nil {
					t.Fatalf("show page %d: %d projects (nil: %v)", p, len(out.Projects), out.Projects == nil)
				}
				for _, pr := range out.Projects {
					got = append(got, pr.Key)
					if pr.Name != "Project "+pr.Key {
						t.Errorf("project %s named %q", pr.Key, pr.Name)
					}
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("show listed %v, want %v", got, tc.want)
			}
			var out show
			s.get("api/organization_tokens/show", asAdmin, "id", tok.ID, "explicit", "true", "ps", "500").must(t, 200).json(t, &out)
			if out.Paging.Total != tc.explicit || len(out.Projects) != tc.explicit {
				t.Fatalf("show explicit: paging %+v, %d projects", out.Paging, len(out.Projects))
			}
			s.get("api/organization_tokens/show", asAdmin, "id", tok.ID, "p", "9223372036854775807", "ps", "500").must(t, 200).json(t, &out)
			if len(out.Projects) != 0 || out.Paging.Total != len(tc.want) {
				t.Fatalf("show past the end: %+v", out)
			}
		})
	}

	t.Run("follows projects created and deleted", func(t *testing.T) {
		tok := orgTokGenerate(t, s, "name", "live", "projectSet", "private")
		count := func() int {
			var out show
			s.get("api/organization_tokens/show", asAdmin, "id", tok.ID).must(t, 200).json(t, &out)
			if out.Paging.Total != out.Scope.ProjectCount || len(out.Projects) != out.Paging.Total {
				t.Fatalf("show: paging %+v, projectCount %d, %d projects", out.Paging, out.Scope.ProjectCount, len(out.Projects))
			}
			return out.Scope.ProjectCount
		}
		if n := count(); n != len(priv) {
			t.Fatalf("projectCount %d, want %d", n, len(priv))
		}
		if _, err := s.st.CreateProject(ctx, identity.Project{Key: "priv-later", Name: "Later", Visibility: identity.Private}, 0); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != len(priv)+1 {
			t.Fatalf("after a new private project: projectCount %d, want %d", n, len(priv)+1)
		}
		if err := s.st.DeleteProject(ctx, priv[0]); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != len(priv) {
			t.Fatalf("after a deletion: projectCount %d, want %d", n, len(priv))
		}
		var out orgTokenJSON
		s.post("api/organization_tokens/update", asAdmin, "id", tok.ID, "projectSet", "public", "projects", priv[1]).must(t, 200).json(t, &out)
		if out.Scope.ProjectCount != len(pub)+1 || out.Scope.ExplicitProjectCount != 1 {
			t.Fatalf("update: %+v", out.Scope)
		}
	})
}
