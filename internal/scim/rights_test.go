package scim_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestSeed001GroupSync drives every step of the Entra group sync that failed
// in seed 001 ("Insufficient scope (need get:groups)") with a default token,
// then shows what a narrowed token answers.
func TestSeed001GroupSync(t *testing.T) {
	e := newEnv(t)
	tok := e.generateToken("entra", "") // default: every scope
	do := func(method, path string, body any) resp { return e.doAs(tok, method, "/scim/v2"+path, body) }
	uid := do("POST", "/Users", entraUser("member@xxxxxx.test", "m-1")).must(t, 201).doc(t)["id"].(string)
	// The group already exists in Gatehouse: Entra matches it by displayName.
	if _, err := e.st.CreateGroup(t.Context(), identity.Group{Name: "grp_all@xxxxxx.com"}); err != nil {
		t.Fatal(err)
	}
	l := do("GET", "/Groups?excludedAttributes=members&filter="+q(`displayName eq "grp_all@xxxxxx.com"`), nil).must(t, 200).list(t)
	if l.TotalResults != 1 {
		t.Fatalf("%+v", l)
	}
	gid := l.Resources[0]["id"].(string)
	do("GET", "/Groups/"+gid+"?excludedAttributes=members", nil).must(t, 200)
	do("PATCH", "/Groups/"+gid, patch(op("Add", "members", []any{map[string]any{"value": uid}}))).must(t, 204)
	do("PATCH", "/Groups/"+gid, patch(op("Replace", "externalId", "entra-grp-all"))).must(t, 204)
	if m := members(t, e, gid); len(m) != 1 {
		t.Fatalf("%v", m)
	}
	g, _ := e.st.Store().GetGroupByName(t.Context(), "grp_all@xxxxxx.com")
	if g.Source != identity.SourceSCIM {
		t.Fatalf("the group is taken over by SCIM: %+v", g)
	}
	// A token narrowed to users only: the group lookup names the scope and
	// the fix.
	narrow := e.generateToken("users-only", "users:read,users:write")
	d := e.doAs(narrow, "GET", "/scim/v2/Groups?filter="+q(`displayName eq "grp_all@xxxxxx.com"`), nil).scimErr(t, 403, "")
	if detail := d["detail"].(string); !strings.Contains(detail, "groups:read") || !strings.Contains(detail, "api/scim_tokens/generate") {
		t.Fatalf("detail %q", detail)
	}
	// Tokens are listed and revoked through the Web API.
	var search struct {
		ScimTokens []struct {
			ID     string   `json:"id"`
			Name   string   `json:"name"`
			Scopes []string `json:"scopes"`
			Token  string   `json:"token"`
		} `json:"scimTokens"`
	}
	e.webapi("GET", "api/scim_tokens/search", nil, "").must(t, 200).decode(t, &search)
	var narrowID string
	for _, s := range search.ScimTokens {
		if s.Token != "" {
			t.Fatal("search shows a secret")
		}
		if s.Name == "entra" && len(s.Scopes) != 4 {
			t.Fatalf("default scopes %v", s.Scopes)
		}
		if s.Name == "users-only" {
			narrowID = s.ID
		}
	}
	e.webapi("POST", "api/scim_tokens/revoke", url.Values{"id": {narrowID}}, "").must(t, 204)
	e.doAs(narrow, "GET", "/scim/v2/Users", nil).scimErr(t, 401, "")
	// A SCIM token is refused on the Web API, a user token on SCIM.
	e.webapi("GET", "api/users/search", nil, tok).must(t, 403)
}

// TestRightsFollowSCIM: membership removal, deactivation and deletion by
// the IdP are refused at the very next decision, over HTTP.
func TestRightsFollowSCIM(t *testing.T) {
	e := newEnv(t)
	ctx := state.WithActor(t.Context(), state.Actor{Name: "user:admin"})
	uid := e.do("POST", "/Users", entraUser("dev@corp.test", "dev")).must(t, 201).doc(t)["id"].(string)
	gid := e.do("POST", "/Groups", map[string]any{"displayName": "scanners"}).must(t, 201).doc(t)["id"].(string)
	e.do("PATCH", "/Groups/"+gid, patch(op("Add", "members", []any{map[string]any{"value": uid}}))).must(t, 204)
	e.webapi("POST", "api/projects/create", url.Values{"project": {"app"}, "name": {"App"}, "visibility": {"private"}}, "").must(t, 200)
	e.webapi("POST", "api/permissions/add_group", url.Values{"groupName": {"scanners"}, "permission": {"scan"}, "projectKey": {"app"}}, "").must(t, 204)
	// sonar-users holds global scan on a fresh store: take it away so the
	// group is the only source of the right.
	e.webapi("POST", "api/permissions/remove_group", url.Values{"groupName": {"sonar-users"}, "permission": {"scan"}}, "").must(t, 204)
	u, err := e.st.Store().GetUserByLogin(ctx, "dev@corp.test")
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := e.st.GenerateUserToken(ctx, state.NewUserToken{UserID: u.ID, Name: "ci", Type: identity.TokenUser})
	if err != nil {
		t.Fatal(err)
	}
	check := func() bool {
		t.Helper()
		var out struct{ Allowed bool }
		e.webapi("GET", "api/authz/check", url.Values{"permission": {"scan"}, "projectKey": {"app"}}, secret).must(t, 200).decode(t, &out)
		return out.Allowed
	}
	if !check() {
		t.Fatal("scan through the SCIM group must be allowed")
	}
	e.do("PATCH", "/Groups/"+gid, patch(op("remove", `members[value eq "`+uid+`"]`, nil))).must(t, 204)
	if check() {
		t.Fatal("the next decision after the IdP removed the member must refuse")
	}
	e.do("PATCH", "/Groups/"+gid, patch(op("Add", "members", []any{map[string]any{"value": uid}}))).must(t, 204)
	if !check() {
		t.Fatal("re-added")
	}
	// active=false (string): every token of the user is refused.
	e.do("PATCH", "/Users/"+uid, patch(op("Replace", "active", "False"))).must(t, 200)
	e.webapi("GET", "api/authz/check", url.Values{"permission": {"scan"}, "projectKey": {"app"}}, secret).must(t, 401)
	// DELETE keeps the user, deactivated, for audit.
	e.do("PATCH", "/Users/"+uid, patch(op("replace", "", map[string]any{"active": true}))).must(t, 200)
	e.do("DELETE", "/Users/"+uid, nil).must(t, 204)
	if u, err := e.st.Store().GetUserByLogin(ctx, "dev@corp.test"); err != nil || u.Active {
		t.Fatalf("deleted user: %+v %v", u, err)
	}
	// SCIM-managed users and groups are read-only through the SonarQube
	// API (SPEC §6).
	e.do("POST", "/Users", entraUser("other@corp.test", "other")).must(t, 201)
	r := e.webapi("POST", "api/users/update", url.Values{"login": {"other@corp.test"}, "name": {"Hacked"}}, "")
	r.must(t, 400)
	r = e.webapi("POST", "api/user_groups/add_user", url.Values{"name": {"scanners"}, "login": {"admin"}}, "")
	r.must(t, 400)
	// Every SCIM change is audited with the SCIM token as actor.
	evs, _, err := e.st.Store().ListAudit(ctx, store.AuditFilter{Target: "group:scanners"})
	if err != nil || len(evs) == 0 {
		t.Fatalf("audit %v %v", evs, err)
	}
	for _, ev := range evs {
		if ev.Action != "permission.add" && ev.Action != "permission.remove" && !strings.HasPrefix(ev.Actor, "token:") {
			b, _ := json.Marshal(ev)
			t.Fatalf("SCIM change without the token as actor: %s", b)
		}
	}
}
