package webapi

// Replays of issue #6: each client starts from a fresh instance exactly as
// it finds it (the administrator the first start creates, nothing granted
// beyond the defaults), and does only what the client itself does.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestCompatFreshInstance replays the Terraform provider against a fresh
// instance: analysis tokens at once, a non-local user, deactivation, and a
// client without credentials on the probes.
func TestCompatFreshInstance(t *testing.T) {
	tfEachCred(t, func(t *testing.T, s *testServer, tf *tfClient) {
		t.Run("analysis tokens at once", func(t *testing.T) {
			tf.do(t, tfPost("api/projects/create", http.StatusOK, "name", "Scanned", "project", "fresh-scanned"), nil)
			for _, kv := range [][]string{
				{"name", "fresh-global", "type", "GLOBAL_ANALYSIS_TOKEN"},
				{"name", "fresh-project", "type", "PROJECT_ANALYSIS_TOKEN", "projectKey", "fresh-scanned"},
			} {
				var tok tfToken
				tf.do(t, tfPost("api/user_tokens/generate", http.StatusOK, kv...), &tok)
				if tok.Token == "" || tok.Type != kv[3] {
					t.Fatalf("%v: %+v", kv, tok)
				}
			}
			var show tfGetProject
			tf.do(t, tfGet("api/components/show", "component", "fresh-scanned"), &show)
			if show.Component.Visibility != "public" {
				t.Fatalf("a project created without visibility is %q, want public", show.Component.Visibility)
			}
		})
		t.Run("non-local user", func(t *testing.T) {
			var created tfCreateUserResponse
			tf.do(t, tfPost("api/users/create", http.StatusOK, "login", "tf-sso", "name", "SSO User", "email", "sso@corp.example", "local", "false"), &created)
			if created.User.IsLocal || created.User.Login != "tf-sso" {
				t.Fatalf("created %+v", created.User)
			}
			u, ok := tfFindUser(t, tf, "tf-sso")
			if !ok || u.IsLocal || u.Email != "sso@corp.example" {
				t.Fatalf("read %+v", u)
			}
			tf.do(t, tfPost("api/users/update", http.StatusOK, "login", "tf-sso", "name", "SSO User 2", "email", "sso@corp.example"), nil)
			var gone tfCreateUserResponse
			tf.do(t, tfPost("api/users/deactivate", http.StatusOK, "login", "tf-sso"), &gone)
			if gone.User.IsActive || gone.User.Email != "" {
				t.Fatalf("deactivated %+v", gone.User)
			}
			if _, ok := tfFindUser(t, tf, "tf-sso"); ok {
				t.Fatal("a deactivated user is still listed")
			}
		})
	})
	t.Run("no credentials", func(t *testing.T) {
		s := newTestServer(t)
		// url.UserPassword("", "") makes Go's client send "Basic Og==".
		anon := tfNewClient(t, s, "", "")
		anon.do(t, tfGet("api/system/status"), nil)
		anon.do(t, tfGet("api/server/version"), nil)
		anon.do(t, tfGet("api/users/identity_providers"), nil)
		var v struct {
			Valid bool `json:"valid"`
		}
		anon.do(t, tfGet("api/authentication/validate"), &v)
		if v.Valid {
			t.Fatal("no credentials are valid")
		}
		anon.do(t, tfPost("api/authentication/login", http.StatusOK, "login", "admin", "password", adminPassword), nil)
		anon.do(t, tfPost("api/authentication/logout", http.StatusOK), nil)
		if counted := s.signInFailures(); counted != 0 {
			t.Fatalf("%d failed sign-ins counted for a client without credentials", counted)
		}
	})
}

// The client's shapes of the actions issue #6 adds.

type gcUsersCurrent struct {
	ID                          string          `json:"id,omitempty"`
	IsLoggedIn                  bool            `json:"isLoggedIn,omitempty"`
	Login                       string          `json:"login,omitempty"`
	Name                        string          `json:"name,omitempty"`
	Email                       string          `json:"email,omitempty"`
	Avatar                      string          `json:"avatar,omitempty"`
	Local                       bool            `json:"local,omitempty"`
	ExternalIdentity            string          `json:"externalIdentity,omitempty"`
	ExternalProvider            string          `json:"externalProvider,omitempty"`
	Groups                      []string        `json:"groups,omitempty"`
	ScmAccounts                 []string        `json:"scmAccounts,omitempty"`
	Permissions                 gcPermissions   `json:"permissions,omitzero"`
	Homepage                    gcHomepage      `json:"homepage,omitzero"`
	UsingSonarLintConnectedMode bool            `json:"usingSonarLintConnectedMode,omitempty"`
	DismissedNotices            map[string]bool `json:"dismissedNotices,omitempty"`
}

type gcPermissions struct {
	Global []string `json:"global,omitempty"`
}

type gcHomepage struct {
	Type      string `json:"type,omitempty"`
	Component string `json:"component,omitempty"`
	Branch    string `json:"branch,omitempty"`
}

type gcIdentityProviders struct {
	IdentityProviders []struct {
		Key             string `json:"key,omitempty"`
		Name            string `json:"name,omitempty"`
		IconPath        string `json:"iconPath,omitempty"`
		BackgroundColor string `json:"backgroundColor,omitempty"`
		HelpMessage     string `json:"helpMessage,omitempty"`
	} `json:"identityProviders,omitempty"`
}

type gcSearchMyProjects struct {
	Paging   gcPaging `json:"paging,omitzero"`
	Projects []struct {
		Key              string   `json:"key,omitempty"`
		Name             string   `json:"name,omitempty"`
		Description      string   `json:"description,omitempty"`
		LastAnalysisDate string   `json:"lastAnalysisDate,omitempty"`
		QualityGate      string   `json:"qualityGate,omitempty"`
		Links            []string `json:"links,omitempty"`
	} `json:"projects,omitempty"`
}

type gcScannableProjects struct {
	Projects []struct {
		Key  string `json:"key,omitempty"`
		Name string `json:"name,omitempty"`
	} `json:"projects,omitempty"`
}

type gcProjectTags struct {
	Tags []string `json:"tags,omitempty"`
}

type gcSystemInfo struct {
	Health       string   `json:"Health,omitempty"`
	HealthCauses []string `json:"Health Causes,omitempty"`
	System       struct {
		ServerID                           string `json:"Server ID,omitempty"`
		Version                            string `json:"Version,omitempty"`
		Edition                            string `json:"Edition,omitempty"`
		HighAvailability                   bool   `json:"High Availability,omitempty"`
		ExternalUsersAndGroupsProvisioning string `json:"External Users and Groups Provisioning,omitempty"`
		ForceAuthentication                bool   `json:"Force authentication,omitempty"`
	} `json:"System,omitzero"`
}

// TestGoClientFreshInstance replays the Go client's calls of issue #6 on a
// fresh instance; every answer decodes into the client's types with no key
// left over.
func TestGoClientFreshInstance(t *testing.T) {
	s := newTestServer(t)
	gc := gcNewClient(s, "admin", adminPassword)
	s.api.opts.IdentityProviders = []IdentityProvider{{Key: "saml", Name: "Company SSO", IconPath: "/images/saml.svg", BackgroundColor: "#236a97"}}
	gc.do(t, gcPost("users/create", &gcUsersCreate{}, "login", "ada", "name", "Ada", "email", "ada@corp.example", "password", "ada-password-1"))
	ada := gcNewClient(s, "ada", "ada-password-1")

	var cur gcUsersCurrent
	ada.do(t, gcGet("users/current", &cur))
	if !cur.IsLoggedIn || cur.Login != "ada" || !slices.Equal(cur.Permissions.Global, []string{"provisioning", "scan"}) || cur.Homepage.Type != "PROJECTS" {
		t.Fatalf("current %+v", cur)
	}
	// A fresh user creates a project and an analysis token for it at once.
	ada.do(t, gcPost("projects/create", &gcProjectsCreate{}, "name", "Ada's", "project", "ada-app"))
	ada.do(t, gcPost("user_tokens/generate", &gcUserTokensGenerate{}, "name", "ci", "type", "PROJECT_ANALYSIS_TOKEN", "projectKey", "ada-app"))
	ada.do(t, gcPost("users/set_homepage", nil, "type", "PROJECT", "component", "ada-app"))
	ada.do(t, gcPost("users/dismiss_notice", nil, "notice", "educationPrinciples"))
	ada.do(t, gcPost("users/dismiss_notice", nil, "notice", "educationPrinciples"))
	ada.do(t, gcGet("users/current", &cur))
	if cur.Homepage.Component != "ada-app" || !cur.DismissedNotices["educationPrinciples"] {
		t.Fatalf("preferences %+v", cur)
	}
	var idps gcIdentityProviders
	gcNewClient(s, "", "").do(t, gcGet("users/identity_providers", &idps))
	if len(idps.IdentityProviders) != 1 || idps.IdentityProviders[0].Key != "saml" {
		t.Fatalf("identity providers %+v", idps)
	}

	var mine gcSearchMyProjects
	gc.do(t, gcPost("permissions/add_user", nil, "login", "ada", "permission", "admin", "projectKey", "ada-app"))
	ada.do(t, gcGet("projects/search_my_projects", &mine))
	if len(mine.Projects) != 1 || mine.Projects[0].Key != "ada-app" {
		t.Fatalf("my projects %+v", mine)
	}
	var scannable gcScannableProjects
	ada.do(t, gcGet("projects/search_my_scannable_projects", &scannable, "q", "ada"))
	if len(scannable.Projects) != 1 {
		t.Fatalf("scannable %+v", scannable)
	}
	gc.do(t, gcPost("project_tags/set", nil, "project", "ada-app", "tags", "go,team-a"))
	var tags gcProjectTags
	ada.do(t, gcGet("project_tags/search", &tags, "q", "team"))
	if !slices.Equal(tags.Tags, []string{"team-a"}) {
		t.Fatalf("tags %+v", tags)
	}
	gc.do(t, gcPost("projects/update_default_visibility", nil, "projectVisibility", "private"))
	var created gcProjectsCreate
	gc.do(t, gcPost("projects/create", &created, "name", "Quiet", "project", "quiet"))
	if created.Project.Visibility != "private" {
		t.Fatalf("after update_default_visibility: %+v", created.Project)
	}

	gc.do(t, gcPost("users/create", &gcUsersCreate{}, "login", "sso-bea", "name", "Bea", "local", "false"))
	gc.do(t, gcPost("users/update_identity_provider", nil, "login", "sso-bea", "newExternalProvider", "saml", "newExternalIdentity", "bea@corp"))
	var search gcUsersSearch
	gc.do(t, gcGet("users/search", &search, "q", "sso-bea"))
	if len(search.Users) != 1 || search.Users[0].Local || search.Users[0].ExternalProvider != "saml" || search.Users[0].ExternalIdentity != "bea@corp" {
		t.Fatalf("moved user %+v", search.Users)
	}
	var gone gcUsersDeactivate
	gc.do(t, gcPost("users/deactivate", &gone, "login", "ada"))
	if gone.User.Active || gone.User.Login != "ada" {
		t.Fatalf("deactivated %+v", gone.User)
	}
	gc.do(t, gcGet("users/search", &search, "deactivated", "true", "q", "ada@corp"))
	if len(search.Users) != 0 {
		t.Fatalf("a deactivated user found by its e-mail: %+v", search.Users)
	}

	var info gcSystemInfo
	gc.do(t, gcGet("system/info", &info))
	if info.System.Version != Version {
		t.Fatalf("info %+v", info)
	}
	// users/current of a caller without credentials (no header: "Basic
	// Og==" is refused there, as SonarQube refuses it) carries only keys
	// of the type, as every answer above.
	r := s.get("api/users/current", cred{}).must(t, 200)
	var anon gcUsersCurrent
	r.json(t, &anon)
	if extra := gcSchema(t, r.body, &anon); anon.IsLoggedIn || len(extra) != 0 {
		t.Fatalf("anonymous current %+v, keys beyond the type %v", anon, extra)
	}
	gc.checkUnmapped(t, map[string][]string{})
	ada.checkUnmapped(t, map[string][]string{})
}

// gcV2 sends a v2 request as the client's V2 builder does: a JSON body,
// Content-Type application/json (merge-patch for PATCH), basic auth.
func gcV2(t *testing.T, s *testServer, method, path string, body any, out any) int {
	t.Helper()
	var r io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.srv.URL+"/api/v2/"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		ct := "application/json"
		if method == http.MethodPatch {
			ct = "application/merge-patch+json"
		}
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth("admin", adminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode < 300 {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields() // a strict client
		if err := dec.Decode(out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

type gcV2User struct {
	ID                          string   `json:"id"`
	Login                       string   `json:"login"`
	Name                        string   `json:"name"`
	Email                       *string  `json:"email"`
	Active                      bool     `json:"active"`
	Local                       bool     `json:"local"`
	Managed                     bool     `json:"managed"`
	ExternalLogin               string   `json:"externalLogin"`
	ExternalProvider            string   `json:"externalProvider"`
	ExternalID                  string   `json:"externalId"`
	Avatar                      *string  `json:"avatar"`
	SonarQubeLastConnectionDate *string  `json:"sonarQubeLastConnectionDate"`
	SonarLintLastConnectionDate *string  `json:"sonarLintLastConnectionDate"`
	ScmAccounts                 []string `json:"scmAccounts"`
}

type gcV2Page struct {
	PageIndex int `json:"pageIndex"`
	PageSize  int `json:"pageSize"`
	Total     int `json:"total"`
}

type gcV2Group struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
	Managed     bool    `json:"managed"`
	Default     bool    `json:"default"`
}

type gcV2Membership struct {
	ID      string `json:"id"`
	GroupID string `json:"groupId"`
	UserID  string `json:"userId"`
}

// TestGoClientV2Identity replays the v2 identity calls from a fresh
// instance, decoding strictly.
func TestGoClientV2Identity(t *testing.T) {
	s := newTestServer(t)
	var u gcV2User
	if st := gcV2(t, s, "POST", "users-management/users", map[string]any{"login": "v2-ann", "name": "Ann", "email": "ann@corp.example", "password": "ann-password-12"}, &u); st != 200 || u.ID == "" || !u.Local {
		t.Fatalf("create user: %d %+v", st, u)
	}
	var users struct {
		Users []gcV2User `json:"users"`
		Page  gcV2Page   `json:"page"`
	}
	if st := gcV2(t, s, "GET", "users-management/users?q=v2-&pageIndex=1&pageSize=10", nil, &users); st != 200 || len(users.Users) != 1 || users.Page != (gcV2Page{1, 10, 1}) {
		t.Fatalf("search users: %d %+v", st, users)
	}
	if st := gcV2(t, s, "PATCH", "users-management/users/"+u.ID, map[string]any{"name": "Ann B", "email": nil}, &u); st != 200 || u.Name != "Ann B" || u.Email != nil {
		t.Fatalf("patch user: %d %+v", st, u)
	}
	var g gcV2Group
	if st := gcV2(t, s, "POST", "authorizations/groups", map[string]any{"name": "v2-devs"}, &g); st != 200 || g.ID == "" {
		t.Fatalf("create group: %d %+v", st, g)
	}
	var groups struct {
		Groups []gcV2Group `json:"groups"`
		Page   gcV2Page    `json:"page"`
	}
	if st := gcV2(t, s, "GET", "authorizations/groups?q=v2", nil, &groups); st != 200 || len(groups.Groups) != 1 {
		t.Fatalf("search groups: %d %+v", st, groups)
	}
	var m gcV2Membership
	if st := gcV2(t, s, "POST", "authorizations/group-memberships", map[string]any{"groupId": g.ID, "userId": u.ID}, &m); st != 200 || m.ID == "" {
		t.Fatalf("membership: %d %+v", st, m)
	}
	var ms struct {
		GroupMemberships []gcV2Membership `json:"groupMemberships"`
		Page             gcV2Page         `json:"page"`
	}
	if st := gcV2(t, s, "GET", "authorizations/group-memberships?groupId="+g.ID, nil, &ms); st != 200 || len(ms.GroupMemberships) != 1 || ms.GroupMemberships[0] != m {
		t.Fatalf("memberships: %d %+v", st, ms)
	}
	var e struct {
		Message string `json:"message"`
	}
	if st := gcV2(t, s, "GET", "users-management/users/0", nil, nil); st != 404 {
		t.Fatalf("unknown user: %d", st)
	}
	for _, step := range []struct{ method, path string }{
		{"DELETE", "authorizations/group-memberships/" + m.ID},
		{"DELETE", "authorizations/groups/" + g.ID},
		{"DELETE", "users-management/users/" + u.ID},
	} {
		if st := gcV2(t, s, step.method, step.path, nil, nil); st != 204 {
			t.Fatalf("%s %s: %d", step.method, step.path, st)
		}
	}
	if st := gcV2(t, s, "DELETE", "authorizations/groups/"+g.ID, nil, &e); st != 404 {
		t.Fatalf("deleted twice: %d", st)
	}
	// The v1 API sees the v2 deactivation at once.
	var v1 struct {
		Users []userJSON `json:"users"`
	}
	s.get("api/users/search", asAdmin, "deactivated", "true", "q", "v2-ann").must(t, 200).json(t, &v1)
	if len(v1.Users) != 1 || v1.Users[0].Active || strings.Contains(string(mustJSON(t, v1)), "ann@corp") {
		t.Fatalf("v1 after v2 delete: %+v", v1.Users)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
