package webapi

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// currentAnswer is api/users/current as SonarQube's web app reads it.
type currentAnswer struct {
	IsLoggedIn       bool     `json:"isLoggedIn"`
	Login            string   `json:"login"`
	Name             string   `json:"name"`
	Local            *bool    `json:"local"`
	ExternalIdentity string   `json:"externalIdentity"`
	ExternalProvider string   `json:"externalProvider"`
	Groups           []string `json:"groups"`
	ScmAccounts      []string `json:"scmAccounts"`
	Permissions      struct {
		Global []string `json:"global"`
	} `json:"permissions"`
	Homepage *struct {
		Type      string `json:"type"`
		Component string `json:"component"`
	} `json:"homepage"`
	UsingSonarLint   *bool           `json:"usingSonarLintConnectedMode"`
	DismissedNotices map[string]bool `json:"dismissedNotices"`
}

func current(t *testing.T, s *testServer, c cred) currentAnswer {
	t.Helper()
	var out currentAnswer
	s.get("api/users/current", c).must(t, 200).json(t, &out)
	return out
}

func TestUsersCurrent(t *testing.T) {
	s := newTestServer(t)
	anon := current(t, s, cred{})
	if anon.IsLoggedIn || anon.Login != "" || len(anon.Permissions.Global) != 0 || anon.Groups == nil {
		t.Fatalf("anonymous: %+v", anon)
	}
	me := current(t, s, asAdmin)
	if !me.IsLoggedIn || me.Login != "admin" || me.Name != "Administrator" || me.Local == nil || !*me.Local ||
		me.ExternalIdentity != "admin" || me.ExternalProvider != "sonarqube" || me.UsingSonarLint == nil || *me.UsingSonarLint {
		t.Fatalf("admin: %+v", me)
	}
	if !slices.Equal(me.Groups, []string{"sonar-administrators", "sonar-users"}) || me.ScmAccounts == nil {
		t.Fatalf("admin groups %v, scm %v", me.Groups, me.ScmAccounts)
	}
	// A fresh instance's defaults, as SonarQube's.
	if want := []string{"admin", "gateadmin", "profileadmin", "provisioning", "scan"}; !slices.Equal(me.Permissions.Global, want) {
		t.Fatalf("global permissions %v, want %v", me.Permissions.Global, want)
	}
	if me.Homepage == nil || me.Homepage.Type != "PROJECTS" {
		t.Fatalf("default homepage %+v", me.Homepage)
	}
	if len(me.DismissedNotices) == 0 || slices.Contains(slices.Collect(maps.Values(me.DismissedNotices)), true) {
		t.Fatalf("dismissed notices %v", me.DismissedNotices)
	}
	// A plain user of a fresh instance may scan and create projects.
	s.createUser("ann")
	ann := cred{login: "ann", pw: "ann-password-1"}
	if got := current(t, s, ann).Permissions.Global; !slices.Equal(got, []string{"provisioning", "scan"}) {
		t.Fatalf("ann's global permissions %v", got)
	}
}

func TestUsersHomepageAndNotices(t *testing.T) {
	s := newTestServer(t)
	s.createUser("ann")
	ann := cred{login: "ann", pw: "ann-password-1"}
	s.post("api/projects/create", asAdmin, "project", "secret", "name", "Secret", "visibility", "private").must(t, 200)
	s.post("api/permissions/remove_group", asAdmin, "groupName", "sonar-users", "permission", "user", "projectKey", "secret").must(t, 204)
	s.post("api/projects/create", ann, "project", "mine", "name", "Mine").must(t, 200)
	s.expectRefusals(t, "POST", "api/users/set_homepage", []refusal{
		{"anonymous", cred{}, []string{"type", "PROJECTS"}, 401, "Authentication is required"},
		{"missing type", ann, nil, 400, "The 'type' parameter is missing"},
		{"bad type", ann, []string{"type", "MY_ISSUES"}, 400, ""},
		{"project without component", ann, []string{"type", "PROJECT"}, 400, "Type PROJECT requires a parameter 'component'"},
		{"component where none belongs", ann, []string{"type", "ISSUES", "component", "mine"}, 400, "Parameter 'component' must not be provided when type is 'ISSUES'"},
		{"unknown project", ann, []string{"type", "PROJECT", "component", "nope"}, 404, "Component key 'nope' not found"},
		{"project ann cannot browse", ann, []string{"type", "PROJECT", "component", "secret"}, 404, "Component key 'secret' not found"},
		{"no portfolios", ann, []string{"type", "PORTFOLIO", "component", "mine"}, 404, "Component key 'mine' not found"},
	})
	s.expectRefusals(t, "POST", "api/users/dismiss_notice", []refusal{
		{"anonymous", cred{}, []string{"notice", "sonarlintAd"}, 401, "Authentication is required"},
		{"unknown notice", ann, []string{"notice", "nope"}, 400, ""},
	})
	s.post("api/users/set_homepage", ann, "type", "PROJECT", "component", "mine").must(t, 204)
	for range 2 { // idempotent
		s.post("api/users/dismiss_notice", ann, "notice", "sonarlintAd").must(t, 204)
	}
	got := current(t, s, ann)
	if got.Homepage == nil || got.Homepage.Type != "PROJECT" || got.Homepage.Component != "mine" {
		t.Fatalf("homepage %+v", got.Homepage)
	}
	if !got.DismissedNotices["sonarlintAd"] || got.DismissedNotices["educationPrinciples"] {
		t.Fatalf("notices %v", got.DismissedNotices)
	}
	// Per user: the admin's are untouched.
	if adm := current(t, s, asAdmin); adm.Homepage.Type != "PROJECTS" || adm.DismissedNotices["sonarlintAd"] {
		t.Fatalf("admin's preferences changed: %+v", adm)
	}
	s.post("api/users/set_homepage", ann, "type", "ISSUES").must(t, 204)
	if got := current(t, s, ann); got.Homepage.Type != "ISSUES" || got.Homepage.Component != "" || !got.DismissedNotices["sonarlintAd"] {
		t.Fatalf("after a second homepage: %+v", got)
	}
}

func TestUsersIdentityProviders(t *testing.T) {
	s := newTestServer(t)
	var out struct {
		IdentityProviders []IdentityProvider `json:"identityProviders"`
	}
	s.get("api/users/identity_providers", cred{}).must(t, 200).json(t, &out)
	if out.IdentityProviders == nil || len(out.IdentityProviders) != 0 {
		t.Fatalf("fresh instance providers %s", s.get("api/users/identity_providers", cred{}).body)
	}
	// Nothing configured: no provider can be named.
	s.createUser("ann")
	s.post("api/users/update_identity_provider", asAdmin, "login", "ann", "newExternalProvider", "saml").must(t, 400)

	s.api.opts.IdentityProviders = []IdentityProvider{{Key: "saml", Name: "Company SSO", IconPath: "/images/saml.png", BackgroundColor: "#444444"}}
	s.get("api/users/identity_providers", cred{}).must(t, 200).json(t, &out)
	if len(out.IdentityProviders) != 1 || out.IdentityProviders[0].Key != "saml" {
		t.Fatalf("providers %+v", out.IdentityProviders)
	}
	s.createUser("bob")
	s.expectRefusals(t, "POST", "api/users/update_identity_provider", []refusal{
		{"not admin", cred{login: "bob", pw: "bob-password-1"}, []string{"login", "ann", "newExternalProvider", "saml"}, 403, "Insufficient privileges"},
		{"unknown provider", asAdmin, []string{"login", "ann", "newExternalProvider", "github"}, 400, "Value of parameter 'newExternalProvider' (github) must be one of: [saml]"},
		{"unknown user", asAdmin, []string{"login", "nobody", "newExternalProvider", "saml"}, 404, "User 'nobody' doesn't exist"},
		{"missing provider", asAdmin, []string{"login", "ann"}, 400, "The 'newExternalProvider' parameter is missing"},
	})
	s.post("api/users/update_identity_provider", asAdmin, "login", "ann", "newExternalProvider", "saml", "newExternalIdentity", "ann@corp").must(t, 204)
	var search struct {
		Users []userJSON `json:"users"`
	}
	s.get("api/users/search", asAdmin, "q", "ann").must(t, 200).json(t, &search)
	if len(search.Users) != 1 || search.Users[0].Local || search.Users[0].ExternalProvider != "saml" || search.Users[0].ExternalIdentity != "ann@corp" {
		t.Fatalf("ann after the move: %+v", search.Users)
	}
	// The password no longer signs ann in.
	s.get("api/users/search", cred{login: "ann", pw: "ann-password-1"}).must(t, 401)
}

func TestUsersCreateNonLocal(t *testing.T) {
	s := newTestServer(t)
	s.expectRefusals(t, "POST", "api/users/create", []refusal{
		{"password on a non-local user", asAdmin, []string{"login", "sso-ann", "name", "Ann", "local", "false", "password", "a-password-123"}, 400, "Password should only be set on local user"},
	})
	var out struct {
		User map[string]any `json:"user"`
	}
	s.post("api/users/create", asAdmin, "login", "sso-ann", "name", "Ann", "email", "ann@corp", "local", "false").must(t, 200).json(t, &out)
	if out.User["local"] != false || out.User["login"] != "sso-ann" || out.User["active"] != true {
		t.Fatalf("created %v", out.User)
	}
	var search struct {
		Users []userJSON `json:"users"`
	}
	s.get("api/users/search", asAdmin, "q", "sso-ann").must(t, 200).json(t, &search)
	if len(search.Users) != 1 || search.Users[0].Local || search.Users[0].ExternalProvider != "sonarqube" || search.Users[0].ExternalIdentity != "sso-ann" {
		t.Fatalf("search %+v", search.Users)
	}
	// No password signs it in, and none can be set.
	s.get("api/users/current", cred{login: "sso-ann", pw: ""}).must(t, 401)
	s.post("api/users/change_password", asAdmin, "login", "sso-ann", "password", "a-password-123").must(t, 400)
	// It stays editable, as in SonarQube: a non-local user is not managed.
	s.post("api/users/update", asAdmin, "login", "sso-ann", "name", "Ann B").must(t, 200)
}

// TestUsersDeactivateClearsEmail: as in SonarQube, deactivation clears the
// e-mail (anonymize also login and name), the answer has no email field,
// and the address no longer finds the user.
func TestUsersDeactivateClearsEmail(t *testing.T) {
	s := newTestServer(t)
	for _, l := range []string{"carl", "dina"} {
		s.post("api/users/create", asAdmin, "login", l, "name", "User "+l, "email", l+"@corp.example", "password", l+"-password-1").must(t, 200)
	}
	for _, tc := range []struct {
		login     string
		anonymize string
	}{{"carl", "false"}, {"dina", "true"}} {
		t.Run(tc.login, func(t *testing.T) {
			var out map[string]map[string]any
			s.post("api/users/deactivate", asAdmin, "login", tc.login, "anonymize", tc.anonymize).must(t, 200).json(t, &out)
			identWantKeys(t, "deactivated", out["user"], "login", "name", "active", "local", "externalIdentity", "externalProvider", "groups", "scmAccounts")
			login, _ := out["user"]["login"].(string)
			if (tc.anonymize == "true") != strings.HasPrefix(login, "sq-removed-") {
				t.Fatalf("login %q after anonymize=%s", login, tc.anonymize)
			}
			var search struct {
				Users []userJSON `json:"users"`
			}
			s.get("api/users/search", asAdmin, "deactivated", "true", "q", tc.login+"@corp").must(t, 200).json(t, &search)
			if len(search.Users) != 0 {
				t.Fatalf("found by its old e-mail: %+v", search.Users)
			}
			s.get("api/users/search", asAdmin, "deactivated", "true", "q", login).must(t, 200).json(t, &search)
			if len(search.Users) != 1 || search.Users[0].Email != "" {
				t.Fatalf("deactivated user %+v", search.Users)
			}
		})
	}
}
