package webapi

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// identDateRe is SonarQube's datetime format: no colon in the offset.
var identDateRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}$`)

// identKeys returns the sorted keys of a JSON object.
func identKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func identWantKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := identKeys(m); !slices.Equal(got, want) {
		t.Fatalf("%s keys = %v, want %v", what, got, want)
	}
}

// identManagedUser creates a user the SCIM connector manages.
func identManagedUser(t *testing.T, s *testServer, login string) identity.User {
	t.Helper()
	ctx := state.WithActor(context.Background(), state.Actor{Name: "connector:scim", Source: identity.SourceSCIM})
	u, err := s.st.CreateUser(ctx, state.NewUser{Login: login, Name: "Managed " + login, Email: login + "@idp.example", Source: identity.SourceSCIM, ExternalID: "ext-" + login})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// identManagedGroup creates a group the SCIM connector manages.
func identManagedGroup(t *testing.T, s *testServer, name string) {
	t.Helper()
	ctx := state.WithActor(context.Background(), state.Actor{Name: "connector:scim", Source: identity.SourceSCIM})
	if _, err := s.st.CreateGroup(ctx, identity.Group{Name: name, Source: identity.SourceSCIM}); err != nil {
		t.Fatal(err)
	}
}

func userCred(login string) cred { return cred{login: login, pw: login + "-password-1"} }

// identSearchUser returns the one user api/users/search answers for q.
func identSearchUser(t *testing.T, s *testServer, c cred, q string, kv ...string) map[string]any {
	t.Helper()
	var out struct {
		Paging map[string]any   `json:"paging"`
		Users  []map[string]any `json:"users"`
	}
	s.get("api/users/search", c, append([]string{"q", q}, kv...)...).must(t, 200).json(t, &out)
	for _, u := range out.Users {
		if u["login"] == q {
			return u
		}
	}
	t.Fatalf("user %q not in %v", q, out.Users)
	return nil
}

func TestUsersCreate(t *testing.T) {
	s := newTestServer(t)
	s.createUser("bob")
	s.createUser("gone")
	s.post("api/users/deactivate", asAdmin, "login", "gone").must(t, 200)
	identManagedUser(t, s, "scim.old")
	ctx := state.WithActor(context.Background(), state.Actor{Name: "connector:scim", Source: identity.SourceSCIM})
	if _, err := s.st.SetUserActive(ctx, "scim.old", false); err != nil {
		t.Fatal(err)
	}

	s.expectRefusals(t, http.MethodPost, "api/users/create", []refusal{
		{"unauthenticated", cred{}, []string{"login", "x1", "name", "X", "password", "password-12345"}, 401, "Authentication is required"},
		{"not admin", userCred("bob"), []string{"login", "x1", "name", "X", "password", "password-12345"}, 403, "Insufficient privileges"},
		{"missing login", asAdmin, []string{"name", "X", "password", "password-12345"}, 400, "The 'login' parameter is missing"},
		{"missing name", asAdmin, []string{"login", "x1", "password", "password-12345"}, 400, "The 'name' parameter is missing"},
		{"missing password", asAdmin, []string{"login", "x1", "name", "X"}, 400, "Password is mandatory and must not be empty"},
		{"login too short", asAdmin, []string{"login", "x", "name", "X", "password", "password-12345"}, 400, "'login' length (1) is shorter than the minimum authorized (2)"},
		{"bad login", asAdmin, []string{"login", "-x1", "name", "X", "password", "password-12345"}, 400, "Login should contain only letters, numbers, and .-_@"},
		{"short password", asAdmin, []string{"login", "x1", "name", "X", "password", "short"}, 400, "Password must be at least 12 characters long"},
		{"bad email", asAdmin, []string{"login", "x1", "name", "X", "password", "password-12345", "email", "nope"}, 400, "Email 'nope' is not valid"},
		{"not local, with a password", asAdmin, []string{"login", "x1", "name", "X", "local", "false", "password", "x-password-123"}, 400, "Password should only be set on local user"},
		{"not local with password", asAdmin, []string{"login", "x1", "name", "X", "local", "false", "password", "password-12345"}, 400, "Password should only be set on local user"},
		{"active duplicate", asAdmin, []string{"login", "bob", "name", "Bob", "password", "password-12345"}, 400, "An active user with login 'bob' already exists"},
		{"reactivate managed", asAdmin, []string{"login", "scim.old", "name", "Mine", "password", "password-12345"}, 400, managedMsg(identity.SourceSCIM, "Operation not allowed when the instance is externally managed.")},
	})

	t.Run("success", func(t *testing.T) {
		var out map[string]map[string]any
		s.post("api/users/create", asAdmin, "login", "carol", "name", "Carol", "email", "carol@example.com",
			"password", "carol-password-1", "scmAccount", "carol-gh", "scmAccount", "c@example.com").must(t, 200).json(t, &out)
		u := out["user"]
		identWantKeys(t, "created user", u, "login", "name", "email", "scmAccounts", "active", "local")
		if u["login"] != "carol" || u["active"] != true || u["local"] != true || len(u["scmAccounts"].([]any)) != 2 {
			t.Fatalf("user %v", u)
		}
		// The password works.
		s.get("api/user_tokens/search", cred{login: "carol", pw: "carol-password-1"}).must(t, 200)
	})
	t.Run("without email", func(t *testing.T) {
		var out map[string]map[string]any
		s.post("api/users/create", asAdmin, "login", "dave", "name", "Dave", "password", "dave-password-1").must(t, 200).json(t, &out)
		identWantKeys(t, "created user", out["user"], "login", "name", "scmAccounts", "active", "local")
	})
	t.Run("reactivate", func(t *testing.T) {
		var out map[string]map[string]any
		s.post("api/users/create", asAdmin, "login", "gone", "name", "Back", "password", "back-password-1").must(t, 200).json(t, &out)
		if out["user"]["active"] != true || out["user"]["name"] != "Back" {
			t.Fatalf("user %v", out["user"])
		}
		s.get("api/user_tokens/search", cred{login: "gone", pw: "back-password-1"}).must(t, 200)
	})
}

func TestUsersSearch(t *testing.T) {
	s := newTestServer(t)
	s.createUser("alice")
	s.createUser("bob")
	s.post("api/users/update", asAdmin, "login", "alice", "email", "Alice@Example.com", "scmAccount", "alice-gh").must(t, 200)
	s.post("api/user_groups/create", asAdmin, "name", "devs").must(t, 200)
	s.post("api/user_groups/add_user", asAdmin, "name", "devs", "login", "alice").must(t, 204)
	s.userToken("alice", "t1")
	// A sign-in gives alice a last connection date.
	authnLogin(t, s, "alice", "alice-password-1")

	t.Run("admin sees details", func(t *testing.T) {
		u := identSearchUser(t, s, asAdmin, "alice")
		identWantKeys(t, "user", u, "login", "name", "active", "email", "groups", "tokensCount", "local",
			"externalIdentity", "externalProvider", "avatar", "lastConnectionDate", "managed", "scmAccounts")
		if !identDateRe.MatchString(u["lastConnectionDate"].(string)) {
			t.Fatalf("lastConnectionDate %q", u["lastConnectionDate"])
		}
		if got := u["groups"].([]any); len(got) != 2 || got[0] != "devs" || got[1] != identity.GroupUsers {
			t.Fatalf("groups %v", got)
		}
		if u["tokensCount"] != 1.0 || u["managed"] != false || u["local"] != true || u["externalIdentity"] != "alice" || u["externalProvider"] != "sonarqube" {
			t.Fatalf("user %v", u)
		}
		// Gravatar's key: MD5 of the lower-cased e-mail.
		if u["avatar"] != "c160f8cc69a4f0bf2b0362752353d060" {
			t.Fatalf("avatar %v", u["avatar"])
		}
	})
	t.Run("self sees details", func(t *testing.T) {
		u := identSearchUser(t, s, userCred("alice"), "alice")
		if _, ok := u["email"]; !ok {
			t.Fatalf("self view %v", u)
		}
	})
	t.Run("others see the public part", func(t *testing.T) {
		u := identSearchUser(t, s, userCred("bob"), "alice")
		identWantKeys(t, "user", u, "login", "name", "active", "local", "externalProvider", "avatar", "scmAccounts")
		u = identSearchUser(t, s, userCred("alice"), "bob")
		identWantKeys(t, "user", u, "login", "name", "active", "local", "externalProvider")
	})
	t.Run("paging", func(t *testing.T) {
		var out struct {
			Paging paging           `json:"paging"`
			Users  []map[string]any `json:"users"`
		}
		s.get("api/users/search", asAdmin, "p", "2", "ps", "2").must(t, 200).json(t, &out)
		if out.Paging != (paging{PageIndex: 2, PageSize: 2, Total: 3}) || len(out.Users) != 1 || out.Users[0]["login"] != "bob" {
			t.Fatalf("page %+v", out)
		}
	})
	t.Run("deactivated", func(t *testing.T) {
		s.createUser("gone")
		s.post("api/users/deactivate", asAdmin, "login", "gone").must(t, 200)
		var out struct {
			Users []map[string]any `json:"users"`
		}
		s.get("api/users/search", asAdmin, "deactivated", "true").must(t, 200).json(t, &out)
		if len(out.Users) != 1 || out.Users[0]["login"] != "gone" || out.Users[0]["active"] != false {
			t.Fatalf("deactivated %v", out.Users)
		}
	})

	s.expectRefusals(t, http.MethodGet, "api/users/search", []refusal{
		{"unauthenticated", cred{}, nil, 401, "Authentication is required"},
		{"q too short", asAdmin, []string{"q", "a"}, 400, "'q' length (1) is shorter than the minimum authorized (2)"},
		{"ps too large", asAdmin, []string{"ps", "501"}, 400, "'ps' value (501) must be less than 500"},
		{"bad deactivated", asAdmin, []string{"deactivated", "maybe"}, 400, "Value of parameter 'deactivated' (maybe) must be one of: [true, false, yes, no]"},
		{"managed on an unmanaged instance", asAdmin, []string{"managed", "false"}, 400, "The 'managed' parameter is only available for managed instances."},
		{"admin-only filter", userCred("bob"), []string{"lastConnectedAfter", "2020-01-01T00:00:00+0100"}, 403, "parameter lastConnectedAfter requires Administer System permission."},
		{"admin-only external identity", userCred("bob"), []string{"externalIdentity", "x"}, 403, "parameter externalIdentity requires Administer System permission."},
		{"bad date", asAdmin, []string{"lastConnectedAfter", "yesterday"}, 400, "'yesterday' cannot be parsed as either a date or date+time"},
	})

	t.Run("date filters", func(t *testing.T) {
		logins := func(kv ...string) []string {
			var out struct {
				Users []struct{ Login string } `json:"users"`
			}
			s.get("api/users/search", asAdmin, kv...).must(t, 200).json(t, &out)
			var ls []string
			for _, u := range out.Users {
				ls = append(ls, u.Login)
			}
			return ls
		}
		// Only alice signed in interactively; the others never connected.
		if got := logins("lastConnectedAfter", "2000-01-01"); !slices.Equal(got, []string{"alice"}) {
			t.Fatalf("after: %v", got)
		}
		if got := logins("lastConnectedBefore", "2000-01-01T00:00:00+0000"); !slices.Equal(got, []string{"admin", "bob"}) {
			t.Fatalf("before: %v", got)
		}
		if got := logins("slLastConnectedAfter", "2000-01-01"); len(got) != 0 {
			t.Fatalf("sonarlint after: %v", got)
		}
	})

	t.Run("managed instance", func(t *testing.T) {
		identManagedUser(t, s, "scim.user")
		u := identSearchUser(t, s, asAdmin, "scim.user")
		if u["managed"] != true || u["local"] != false || u["externalIdentity"] != "ext-scim.user" || u["externalProvider"] != "scim" {
			t.Fatalf("managed user %v", u)
		}
		var out struct {
			Users []struct{ Login string } `json:"users"`
		}
		s.get("api/users/search", asAdmin, "managed", "true").must(t, 200).json(t, &out)
		if len(out.Users) != 1 || out.Users[0].Login != "scim.user" {
			t.Fatalf("managed=true: %v", out.Users)
		}
		s.get("api/users/search", asAdmin, "externalIdentity", "ext-scim.user").must(t, 200).json(t, &out)
		if len(out.Users) != 1 || out.Users[0].Login != "scim.user" {
			t.Fatalf("externalIdentity: %v", out.Users)
		}
	})
}

func TestUsersUpdate(t *testing.T) {
	s := newTestServer(t)
	s.createUser("alice")
	s.createUser("bob")
	identManagedUser(t, s, "scim.user")

	t.Run("success", func(t *testing.T) {
		var out map[string]map[string]any
		s.post("api/users/update", asAdmin, "login", "alice", "name", "Alice A.", "email", "a@example.com", "scmAccount", "a1").must(t, 200).json(t, &out)
		u := out["user"]
		identWantKeys(t, "updated user", u, "login", "name", "email", "active", "local", "externalIdentity", "externalProvider", "groups", "scmAccounts")
		if u["name"] != "Alice A." || u["email"] != "a@example.com" || len(u["scmAccounts"].([]any)) != 1 {
			t.Fatalf("user %v", u)
		}
		// An empty email clears it; absent fields stay.
		s.post("api/users/update", asAdmin, "login", "alice", "email", "").must(t, 200).json(t, &out)
		if _, ok := out["user"]["email"]; ok || out["user"]["name"] != "Alice A." {
			t.Fatalf("user %v", out["user"])
		}
	})
	s.expectRefusals(t, http.MethodPost, "api/users/update", []refusal{
		{"unauthenticated", cred{}, []string{"login", "alice", "name", "X"}, 401, "Authentication is required"},
		{"not admin", userCred("bob"), []string{"login", "alice", "name", "X"}, 403, "Insufficient privileges"},
		{"missing login", asAdmin, []string{"name", "X"}, 400, "The 'login' parameter is missing"},
		{"unknown login", asAdmin, []string{"login", "nobody", "name", "X"}, 404, "User 'nobody' doesn't exist"},
		{"bad email", asAdmin, []string{"login", "alice", "email", "nope"}, 400, "Email 'nope' is not valid"},
		{"managed name", asAdmin, []string{"login", "scim.user", "name", "Mine"}, 400, managedMsg(identity.SourceSCIM, "It is not allowed to update name/email for this user")},
	})
}

func TestUsersDeactivate(t *testing.T) {
	s := newTestServer(t)
	s.createUser("alice")
	s.createUser("bob")
	identManagedUser(t, s, "scim.user")
	tok := s.userToken("alice", "ci")
	cookies, _ := authnLogin(t, s, "alice", "alice-password-1")

	s.expectRefusals(t, http.MethodPost, "api/users/deactivate", []refusal{
		{"unauthenticated", cred{}, []string{"login", "alice"}, 401, "Authentication is required"},
		{"not admin", userCred("bob"), []string{"login", "alice"}, 403, "Insufficient privileges"},
		{"missing login", asAdmin, nil, 400, "The 'login' parameter is missing"},
		{"unknown login", asAdmin, []string{"login", "nobody"}, 404, "User 'nobody' doesn't exist"},
		{"self", asAdmin, []string{"login", "admin"}, 400, "Self-deactivation is not possible"},
		{"managed", asAdmin, []string{"login", "scim.user"}, 400, managedMsg(identity.SourceSCIM, "Operation not allowed when the instance is externally managed.")},
	})

	t.Run("success", func(t *testing.T) {
		s.get("api/user_tokens/search", bearer(tok)).must(t, 200)
		var out map[string]map[string]any
		s.post("api/users/deactivate", asAdmin, "login", "alice").must(t, 200).json(t, &out)
		u := out["user"]
		identWantKeys(t, "deactivated user", u, "login", "name", "active", "local", "externalIdentity", "externalProvider", "groups", "scmAccounts")
		if u["active"] != false {
			t.Fatalf("user %v", u)
		}
		s.get("api/user_tokens/search", bearer(tok)).must(t, 401)
		if authnValid(t, s, cred{cookies: cookies}) {
			t.Fatal("session of a deactivated user still valid")
		}
		// Deactivating twice is harmless.
		s.post("api/users/deactivate", asAdmin, "login", "alice").must(t, 200)
	})
	t.Run("anonymize", func(t *testing.T) {
		s.post("api/users/anonymize", asAdmin, "login", "bob").must(t, 400)
		var out map[string]map[string]any
		s.post("api/users/deactivate", asAdmin, "login", "bob", "anonymize", "true").must(t, 200).json(t, &out)
		login, _ := out["user"]["login"].(string)
		if !strings.HasPrefix(login, "sq-removed-") || out["user"]["name"] != login {
			t.Fatalf("anonymized %v", out["user"])
		}
		s.post("api/users/anonymize", asAdmin, "login", "alice").must(t, 204)
		s.post("api/users/anonymize", asAdmin, "login", "alice").must(t, 404)
	})
}

func TestUsersChangePassword(t *testing.T) {
	s := newTestServer(t)
	s.createUser("alice")
	s.createUser("bob")
	identManagedUser(t, s, "scim.user")

	s.expectRefusals(t, http.MethodPost, "api/users/change_password", []refusal{
		{"unauthenticated", cred{}, []string{"login", "alice", "password", "new-password-123"}, 401, "Authentication is required"},
		{"another user, not admin", userCred("bob"), []string{"login", "alice", "password", "new-password-123"}, 403, "Insufficient privileges"},
		{"self without previous", userCred("alice"), []string{"login", "alice", "password", "new-password-123"}, 400, "The 'previousPassword' parameter is missing"},
		{"self, wrong previous", userCred("alice"), []string{"login", "alice", "password", "new-password-123", "previousPassword", "wrong-password"}, 400, "Incorrect password"},
		{"self, same password", userCred("alice"), []string{"login", "alice", "password", "alice-password-1", "previousPassword", "alice-password-1"}, 400, "Password must be different from old password"},
		{"too short", asAdmin, []string{"login", "alice", "password", "short"}, 400, "'password' length (5) is shorter than the minimum authorized (12)"},
		{"unknown user", asAdmin, []string{"login", "nobody", "password", "new-password-123"}, 404, "User with login 'nobody' has not been found"},
		{"managed user", asAdmin, []string{"login", "scim.user", "password", "new-password-123"}, 400, managedMsg(identity.SourceSCIM, "Password cannot be changed when external authentication is used")},
	})
	t.Run("self", func(t *testing.T) {
		cookies, _ := authnLogin(t, s, "alice", "alice-password-1")
		s.post("api/users/change_password", userCred("alice"), "login", "alice", "password", "alice-password-2", "previousPassword", "alice-password-1").must(t, 204)
		s.get("api/user_tokens/search", userCred("alice")).must(t, 401)
		s.get("api/user_tokens/search", cred{login: "alice", pw: "alice-password-2"}).must(t, 200)
		if authnValid(t, s, cred{cookies: cookies}) {
			t.Fatal("session survived a password change")
		}
	})
	t.Run("admin for another user", func(t *testing.T) {
		s.post("api/users/change_password", asAdmin, "login", "bob", "password", "bob-password-22").must(t, 204)
		s.get("api/user_tokens/search", cred{login: "bob", pw: "bob-password-22"}).must(t, 200)
	})
}

func TestUsersGroups(t *testing.T) {
	s := newTestServer(t)
	s.createUser("alice")
	s.post("api/user_groups/create", asAdmin, "name", "devs", "description", "Developers").must(t, 200)
	s.post("api/user_groups/create", asAdmin, "name", "ops").must(t, 200)
	s.post("api/user_groups/add_user", asAdmin, "name", "devs", "login", "alice").must(t, 204)

	names := func(kv ...string) []string {
		var out struct {
			Paging paging           `json:"paging"`
			Groups []map[string]any `json:"groups"`
		}
		s.get("api/users/groups", asAdmin, append([]string{"login", "alice"}, kv...)...).must(t, 200).json(t, &out)
		var ns []string
		for _, g := range out.Groups {
			ns = append(ns, g["name"].(string))
		}
		if out.Paging.Total < len(ns) {
			t.Fatalf("paging %+v for %v", out.Paging, ns)
		}
		return ns
	}
	for _, tc := range []struct {
		name string
		kv   []string
		want []string
	}{
		{"selected by default", nil, []string{"devs", "sonar-users"}},
		{"deselected", []string{"selected", "deselected"}, []string{"ops", "sonar-administrators"}},
		{"all", []string{"selected", "all"}, []string{"devs", "ops", "sonar-administrators", "sonar-users"}},
		{"query", []string{"selected", "all", "q", "SONAR"}, []string{"sonar-administrators", "sonar-users"}},
		{"page", []string{"selected", "all", "ps", "1", "p", "2"}, []string{"ops"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(tc.kv...); !slices.Equal(got, tc.want) {
				t.Fatalf("groups %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("shape", func(t *testing.T) {
		var out struct {
			Groups []map[string]any `json:"groups"`
		}
		s.get("api/users/groups", asAdmin, "login", "alice").must(t, 200).json(t, &out)
		identWantKeys(t, "group", out.Groups[0], "id", "name", "description", "selected", "default")
		if out.Groups[1]["default"] != true || out.Groups[1]["selected"] != true {
			t.Fatalf("sonar-users %v", out.Groups[1])
		}
	})
	s.get("api/users/groups", asAdmin, "login", "nobody").must(t, 404)
	s.get("api/users/groups", asAdmin).must(t, 400)
	s.get("api/users/groups", userCred("alice"), "login", "alice").must(t, 403)
}

func TestUsersUpdateLogin(t *testing.T) {
	s := newTestServer(t)
	s.createUser("alice")
	s.createUser("bob")
	identManagedUser(t, s, "scim.user")
	tok := s.userToken("alice", "ci")

	s.post("api/users/update_login", asAdmin, "login", "alice", "newLogin", "alice2").must(t, 204)
	var out struct {
		Login string `json:"login"`
	}
	s.get("api/user_tokens/search", bearer(tok)).must(t, 200).json(t, &out)
	if out.Login != "alice2" {
		t.Fatalf("token owner login %q", out.Login)
	}
	for _, tc := range []struct {
		name   string
		kv     []string
		status int
		msg    string
	}{
		{"taken", []string{"login", "alice2", "newLogin", "bob"}, 400, "A user with login 'bob' already exists"},
		{"unknown", []string{"login", "nobody", "newLogin", "x2"}, 404, "User 'nobody' doesn't exist"},
		{"managed", []string{"login", "scim.user", "newLogin", "x2"}, 400, managedMsg(identity.SourceSCIM, "Operation not allowed when the instance is externally managed.")},
		{"missing newLogin", []string{"login", "bob"}, 400, "The 'newLogin' parameter is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.post("api/users/update_login", asAdmin, tc.kv...).must(t, tc.status).errMsg(t); got != tc.msg {
				t.Fatalf("message %q, want %q", got, tc.msg)
			}
		})
	}
}
