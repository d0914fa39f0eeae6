package webapi

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// v2 sends a v2 API request with a JSON body (none when body is "").
func (s *testServer) v2(method, path string, c cred, body string) response {
	s.t.Helper()
	ct := "application/json"
	if method == http.MethodPatch {
		ct = "application/merge-patch+json"
	}
	return s.v2With(method, path, c, body, ct)
}

func (s *testServer) v2With(method, path string, c cred, body, contentType string) response {
	s.t.Helper()
	var r io.Reader = http.NoBody
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.srv.URL+"/"+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	switch {
	case c.bearer != "":
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	case c.login != "":
		req.SetBasicAuth(c.login, c.pw)
	}
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	if c.xsrf != "" {
		req.Header.Set(xsrfHeader, c.xsrf)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{status: resp.StatusCode, body: b, header: resp.Header, cookies: resp.Cookies()}
}

// v2Message returns the v2 error message, failing unless the body is
// exactly {"message": "..."}.
func (r response) v2Message(t *testing.T) string {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	msg, ok := m["message"].(string)
	if !ok || len(m) != 1 || msg == "" {
		t.Fatalf("not a v2 error: %s", r.body)
	}
	return msg
}

type v2UserAnswer struct {
	ID               string   `json:"id"`
	Login            string   `json:"login"`
	Name             string   `json:"name"`
	Email            *string  `json:"email"`
	Active           bool     `json:"active"`
	Local            bool     `json:"local"`
	Managed          bool     `json:"managed"`
	ExternalLogin    string   `json:"externalLogin"`
	ExternalProvider string   `json:"externalProvider"`
	ScmAccounts      []string `json:"scmAccounts"`
}

type v2UsersAnswer struct {
	Users []v2UserAnswer `json:"users"`
	Page  v2Page         `json:"page"`
}

// TestV2Users drives api/v2/users-management/users from an empty store and
// checks each change through the v1 API too: one implementation.
func TestV2Users(t *testing.T) {
	s := newTestServer(t)
	const users = "api/v2/users-management/users"
	var ann v2UserAnswer
	s.v2("POST", users, asAdmin, `{"login":"ann","name":"Ann","email":"ann@corp.example","password":"ann-password-1","scmAccounts":["ann-gh"]}`).must(t, 200).json(t, &ann)
	if ann.ID == "" || ann.Login != "ann" || !ann.Local || !ann.Active || ann.Email == nil || *ann.Email != "ann@corp.example" || !slices.Equal(ann.ScmAccounts, []string{"ann-gh"}) {
		t.Fatalf("created %+v", ann)
	}
	var sso v2UserAnswer
	s.v2("POST", users, asAdmin, `{"login":"sso-bob","name":"Bob","local":false}`).must(t, 200).json(t, &sso)
	if sso.Local || sso.ExternalProvider != "sonarqube" {
		t.Fatalf("non-local %+v", sso)
	}
	// v1 sees them.
	s.get("api/users/search", cred{login: "ann", pw: "ann-password-1"}).must(t, 200)

	for _, tc := range []struct {
		name, method, path, body string
		c                        cred
		status                   int
		msg                      string
	}{
		{"anonymous", "GET", users, "", cred{}, 401, "Authentication is required"},
		{"create, not admin", "POST", users, `{"login":"x1","name":"X","password":"x-password-123"}`, cred{login: "ann", pw: "ann-password-1"}, 403, "Insufficient privileges"},
		{"no body", "POST", users, "", asAdmin, 400, "The request body is missing: send a JSON object"},
		{"not JSON", "POST", users, `login=x`, asAdmin, 400, ""},
		{"two objects", "POST", users, `{"login":"x2","name":"X","password":"x-password-123"}{}`, asAdmin, 400, "The request body must be one JSON object"},
		{"wrong type", "POST", users, `{"login":7,"name":"X"}`, asAdmin, 400, "The 'login' field has the wrong type: string expected"},
		{"missing login", "POST", users, `{"name":"X","password":"x-password-123"}`, asAdmin, 400, "The 'login' parameter is missing"},
		{"short login", "POST", users, `{"login":"x","name":"X","password":"x-password-123"}`, asAdmin, 400, "'login' length (1) is shorter than the minimum authorized (2)"},
		{"no password", "POST", users, `{"login":"x3","name":"X"}`, asAdmin, 400, "Password is mandatory and must not be empty"},
		{"password, not local", "POST", users, `{"login":"x4","name":"X","local":false,"password":"x-password-123"}`, asAdmin, 400, "Password should only be set on local user"},
		{"duplicate", "POST", users, `{"login":"ann","name":"X","password":"x-password-123"}`, asAdmin, 400, "An active user with login 'ann' already exists"},
		{"unknown id", "GET", users + "/999", "", asAdmin, 404, "User '999' not found"},
		{"bad id", "GET", users + "/abc", "", asAdmin, 404, "User 'abc' not found"},
		{"patch null name", "PATCH", users + "/" + ann.ID, `{"name":null}`, asAdmin, 400, "The 'name' field cannot be null"},
		{"patch not an object", "PATCH", users + "/" + ann.ID, `[1]`, asAdmin, 400, ""},
		{"patch unknown provider", "PATCH", users + "/" + ann.ID, `{"externalProvider":"github"}`, asAdmin, 400, "Value of parameter 'externalProvider' (github) must be one of: []"},
		{"delete self", "DELETE", users + "/1", "", asAdmin, 400, "Self-deactivation is not possible"},
		{"bad page size", "GET", users + "?pageSize=501", "", asAdmin, 400, "'pageSize' value (501) must be less than 500"},
		{"unknown v2 path", "GET", "api/v2/nope", "", asAdmin, 404, "Unknown url : /api/v2/nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.v2(tc.method, tc.path, tc.c, tc.body).must(t, tc.status)
			if msg := r.v2Message(t); tc.msg != "" && msg != tc.msg {
				t.Fatalf("message %q, want %q", msg, tc.msg)
			}
		})
	}
	s.v2With("POST", users, asAdmin, `{"login":"x5","name":"X","password":"x-password-123"}`, "text/plain").must(t, 415)

	t.Run("search", func(t *testing.T) {
		var out v2UsersAnswer
		s.v2("GET", users+"?pageSize=2", asAdmin, "").must(t, 200).json(t, &out)
		if out.Page != (v2Page{PageIndex: 1, PageSize: 2, Total: 3}) || len(out.Users) != 2 {
			t.Fatalf("page 1: %+v", out)
		}
		s.v2("GET", users+"?q=corp.example", asAdmin, "").must(t, 200).json(t, &out)
		if len(out.Users) != 1 || out.Users[0].Login != "ann" {
			t.Fatalf("q: %+v", out)
		}
		// Others see no e-mail, and cannot search by it.
		var brief struct {
			Users []map[string]any `json:"users"`
		}
		s.v2("GET", users+"?q=sso", cred{login: "ann", pw: "ann-password-1"}, "").must(t, 200).json(t, &brief)
		if len(brief.Users) != 1 || brief.Users[0]["email"] != nil || brief.Users[0]["local"] != nil {
			t.Fatalf("brief: %v", brief)
		}
		s.v2("GET", users+"?managed=true", asAdmin, "").must(t, 400)
	})

	t.Run("patch", func(t *testing.T) {
		var got v2UserAnswer
		s.v2("PATCH", users+"/"+ann.ID, asAdmin, `{"name":"Ann B","email":null,"scmAccounts":null,"login":"ann.b"}`).must(t, 200).json(t, &got)
		if got.Name != "Ann B" || got.Email != nil || len(got.ScmAccounts) != 0 || got.Login != "ann.b" || got.ID != ann.ID {
			t.Fatalf("patched %+v", got)
		}
		// Absent fields are left as they are.
		s.v2("PATCH", users+"/"+ann.ID, asAdmin, `{"email":"b@corp.example"}`).must(t, 200).json(t, &got)
		if got.Name != "Ann B" || got.Email == nil || *got.Email != "b@corp.example" {
			t.Fatalf("second patch %+v", got)
		}
		s.api.opts.IdentityProviders = []IdentityProvider{{Key: "saml", Name: "SSO"}}
		s.v2("PATCH", users+"/"+sso.ID, asAdmin, `{"externalProvider":"saml","externalLogin":"bob@corp"}`).must(t, 200).json(t, &got)
		if got.Local || got.ExternalProvider != "saml" || got.ExternalLogin != "bob@corp" {
			t.Fatalf("moved %+v", got)
		}
		// v1 sees the rename and the move.
		var search struct {
			Users []userJSON `json:"users"`
		}
		s.get("api/users/search", asAdmin, "q", "ann.b").must(t, 200).json(t, &search)
		if len(search.Users) != 1 || search.Users[0].Name != "Ann B" {
			t.Fatalf("v1 after patch: %+v", search.Users)
		}
	})

	t.Run("delete", func(t *testing.T) {
		s.v2("DELETE", users+"/"+ann.ID, asAdmin, "").must(t, 204)
		var got v2UserAnswer
		s.v2("GET", users+"/"+ann.ID, asAdmin, "").must(t, 200).json(t, &got)
		if got.Active || got.Email != nil {
			t.Fatalf("deactivated %+v", got)
		}
		var out v2UsersAnswer
		s.v2("GET", users+"?active=false", asAdmin, "").must(t, 200).json(t, &out)
		if len(out.Users) != 1 || out.Users[0].ID != ann.ID {
			t.Fatalf("inactive %+v", out)
		}
		s.v2("PATCH", users+"/"+ann.ID, asAdmin, `{"name":"Z"}`).must(t, 404)
		s.v2("DELETE", users+"/"+sso.ID+"?anonymize=true", asAdmin, "").must(t, 204)
		s.v2("GET", users+"/"+sso.ID, asAdmin, "").must(t, 200).json(t, &got)
		if !strings.HasPrefix(got.Login, "sq-removed-") {
			t.Fatalf("anonymized %+v", got)
		}
	})
}

func TestV2GroupsAndMemberships(t *testing.T) {
	s := newTestServer(t)
	const groups, memberships = "api/v2/authorizations/groups", "api/v2/authorizations/group-memberships"
	s.createUser("ann")
	var ann v2UserAnswer
	var list v2UsersAnswer
	s.v2("GET", "api/v2/users-management/users?q=ann", asAdmin, "").must(t, 200).json(t, &list)
	ann = list.Users[0]

	type group struct {
		ID          string  `json:"id"`
		Name        string  `json:"name"`
		Description *string `json:"description"`
		Managed     bool    `json:"managed"`
		Default     bool    `json:"default"`
	}
	var devs group
	s.v2("POST", groups, asAdmin, `{"name":"devs","description":"Developers"}`).must(t, 200).json(t, &devs)
	if devs.ID == "" || devs.Name != "devs" || devs.Description == nil || *devs.Description != "Developers" || devs.Default {
		t.Fatalf("created %+v", devs)
	}
	var search struct {
		Groups []group `json:"groups"`
		Page   v2Page  `json:"page"`
	}
	s.v2("GET", groups, asAdmin, "").must(t, 200).json(t, &search)
	if search.Page.Total != 3 {
		t.Fatalf("fresh instance groups + devs: %+v", search)
	}
	usersID := ""
	for _, g := range search.Groups {
		if g.Name == "sonar-users" {
			usersID = g.ID
			if !g.Default {
				t.Fatalf("sonar-users %+v", g)
			}
		}
	}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"create Anyone", "POST", groups, `{"name":"Anyone"}`, 400, ""},
		{"create without name", "POST", groups, `{"description":"x"}`, 400, "The 'name' field is missing"},
		{"create duplicate", "POST", groups, `{"name":"devs"}`, 400, ""},
		{"patch default group", "PATCH", groups + "/" + usersID, `{"name":"all"}`, 400, "Default group 'sonar-users' cannot be used to perform this action"},
		{"delete default group", "DELETE", groups + "/" + usersID, "", 400, "Default group 'sonar-users' cannot be used to perform this action"},
		{"unknown group", "GET", groups + "/12345", "", 404, "Group '12345' not found"},
		{"membership, unknown user", "POST", memberships, `{"groupId":"` + devs.ID + `","userId":"777"}`, 404, "User '777' not found"},
		{"membership, missing group", "POST", memberships, `{"userId":"` + ann.ID + `"}`, 400, "The 'groupId' field is missing"},
		{"membership, sonar-users", "POST", memberships, `{"groupId":"` + usersID + `","userId":"` + ann.ID + `"}`, 400, ""},
		{"delete unknown membership", "DELETE", memberships + "/" + devs.ID + "-" + ann.ID, "", 404, "Group membership '" + devs.ID + "-" + ann.ID + "' not found"},
		{"delete malformed membership", "DELETE", memberships + "/x", "", 404, "Group membership 'x' not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.v2(tc.method, tc.path, asAdmin, tc.body).must(t, tc.status)
			if msg := r.v2Message(t); tc.msg != "" && msg != tc.msg {
				t.Fatalf("message %q, want %q", msg, tc.msg)
			}
		})
	}

	var m v2MembershipJSON
	s.v2("POST", memberships, asAdmin, `{"groupId":"`+devs.ID+`","userId":"`+ann.ID+`"}`).must(t, 200).json(t, &m)
	if m.ID != devs.ID+"-"+ann.ID || m.GroupID != devs.ID || m.UserID != ann.ID {
		t.Fatalf("membership %+v", m)
	}
	// The same state as v1's.
	var members struct {
		Users []groupUserJSON `json:"users"`
	}
	s.get("api/user_groups/users", asAdmin, "name", "devs").must(t, 200).json(t, &members)
	if len(members.Users) != 1 || members.Users[0].Login != "ann" {
		t.Fatalf("v1 members %+v", members)
	}
	var ms struct {
		GroupMemberships []v2MembershipJSON `json:"groupMemberships"`
		Page             v2Page             `json:"page"`
	}
	for _, q := range []string{"?userId=" + ann.ID, "?groupId=" + devs.ID} {
		s.v2("GET", memberships+q, asAdmin, "").must(t, 200).json(t, &ms)
		if len(ms.GroupMemberships) != 1 || ms.GroupMemberships[0] != m || ms.Page.Total != 1 {
			t.Fatalf("memberships%s: %+v", q, ms)
		}
	}
	s.v2("GET", groups+"?userId="+ann.ID, asAdmin, "").must(t, 200).json(t, &search)
	if names := []string{search.Groups[0].Name, search.Groups[len(search.Groups)-1].Name}; search.Page.Total != 2 || !slices.Contains(names, "devs") || !slices.Contains(names, "sonar-users") {
		t.Fatalf("ann's groups %+v", search)
	}
	s.v2("GET", "api/v2/users-management/users?groupId="+devs.ID, asAdmin, "").must(t, 200).json(t, &list)
	if len(list.Users) != 1 || list.Users[0].Login != "ann" {
		t.Fatalf("users in devs %+v", list)
	}
	s.v2("GET", "api/v2/users-management/users?groupId!="+devs.ID, asAdmin, "").must(t, 200).json(t, &list)
	if len(list.Users) != 1 || list.Users[0].Login != "admin" {
		t.Fatalf("users not in devs %+v", list)
	}

	var patched group
	s.v2("PATCH", groups+"/"+devs.ID, asAdmin, `{"name":"developers","description":null}`).must(t, 200).json(t, &patched)
	if patched.Name != "developers" || patched.Description != nil || patched.ID != devs.ID {
		t.Fatalf("patched %+v", patched)
	}
	s.v2("DELETE", memberships+"/"+m.ID, asAdmin, "").must(t, 204)
	s.v2("DELETE", memberships+"/"+m.ID, asAdmin, "").must(t, 404)
	s.v2("DELETE", groups+"/"+devs.ID, asAdmin, "").must(t, 204)
	s.v2("GET", groups+"/"+devs.ID, asAdmin, "").must(t, 404)
	s.get("api/user_groups/search", asAdmin, "q", "developers").must(t, 200)
}

// TestV2SessionNeedsXSRF: a cookie-authenticated PATCH or DELETE needs the
// XSRF header like a POST.
func TestV2SessionNeedsXSRF(t *testing.T) {
	s := newTestServer(t)
	cookies, xsrf := authnLogin(t, s, "admin", adminPassword)
	var g v2GroupJSON
	s.v2("POST", "api/v2/authorizations/groups", cred{cookies: cookies, xsrf: xsrf}, `{"name":"ops"}`).must(t, 200).json(t, &g)
	for _, m := range []string{"PATCH", "DELETE"} {
		body := ""
		if m == "PATCH" {
			body = `{"name":"ops2"}`
		}
		s.v2(m, "api/v2/authorizations/groups/"+g.ID, cred{cookies: cookies}, body).must(t, 403)
	}
	s.v2("PATCH", "api/v2/authorizations/groups/"+g.ID, cred{cookies: cookies, xsrf: xsrf}, `{"name":"ops2"}`).must(t, 200)
}

// TestV2NeverServerError throws malformed requests at every v2 route.
func TestV2NeverServerError(t *testing.T) {
	s := newTestServer(t)
	bodies := []string{"", "{", "null", "[]", `"x"`, `{"login":{}}`, `{"name":["a"]}`, `{"groupId":1,"userId":true}`, `{"scmAccounts":"x"}`, strings.Repeat("[", 10000), `{"login":"` + strings.Repeat("x", 5000) + `"}`, "{\"name\":\"a\x00b\"}"}
	ids := []string{"0", "-1", "abc", "99999999999999999999", "1-", "-", "1-2-3", "%00"}
	for _, rt := range s.api.v2 {
		paths := []string{rt.Pattern}
		if strings.Contains(rt.Pattern, "{id}") {
			paths = nil
			for _, id := range ids {
				paths = append(paths, strings.Replace(rt.Pattern, "{id}", id, 1))
			}
		}
		for _, p := range paths {
			for _, b := range bodies {
				r := s.v2(rt.Method, p+"?pageIndex=x&pageSize=0&q=%FF&active=maybe", asAdmin, b)
				if r.status >= 500 {
					t.Errorf("%s %s %.40q: %d %s", rt.Method, p, b, r.status, r.body)
				}
				var m map[string]any
				if r.status >= 400 && (json.Unmarshal(r.body, &m) != nil || m["message"] == nil) {
					t.Errorf("%s %s: error without the v2 shape: %s", rt.Method, p, r.body)
				}
			}
		}
	}
}
