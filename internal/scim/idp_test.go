package scim_test

import (
	"strings"
	"testing"
)

// The conversations below replay each IdP's documented request sequence
// (shared/reference/scim-idp-requests.md) over HTTP.

func TestEntraWithoutFlag(t *testing.T) {
	e := newEnv(t)
	// Test connection: a random guid finds nothing, 200 with an empty list.
	l := e.do("GET", "/Users?filter="+q(`userName eq "c8a1e2d4-0000-4e4e-9d5e-1e2d3c4b5a69"`), nil).must(t, 200).list(t)
	if l.TotalResults != 0 || len(l.Resources) != 0 {
		t.Fatalf("test connection: %+v", l)
	}
	e.do("GET", "/Schemas", nil).must(t, 200)
	// Create user, then find it by userName, externalId (quoted and not)
	// and work e-mail.
	u := e.do("POST", "/Users", entraUser("jyoung@contoso.test", "jyoung")).must(t, 201).doc(t)
	id := u["id"].(string)
	for _, f := range []string{`userName eq "jyoung@contoso.test"`, `externalId eq "jyoung"`, `externalId eq jyoung`, `emails[type eq "work"].value eq "jyoung@contoso.test"`, `userName eq "jyoung@contoso.test" and active eq true`} {
		l := e.do("GET", "/Users?filter="+q(f), nil).must(t, 200).list(t)
		if l.TotalResults != 1 || l.Resources[0]["id"] != id {
			t.Fatalf("filter %s: %+v", f, l)
		}
	}
	// Update, one op per attribute, capitalised ops.
	e.do("PATCH", "/Users/"+id, patch(
		op("Replace", "name.familyName", "Young"),
		op("Replace", `emails[type eq "work"].value`, "jy@contoso.test"),
		op("Add", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "43"),
		op("Add", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "u-1"),
		op("Replace", "displayName", "Jo Young"),
	)).must(t, 200)
	got := e.do("GET", "/Users/"+id, nil).must(t, 200).doc(t)
	if got["displayName"] != "Jo Young" || email(got) != "jy@contoso.test" {
		t.Fatalf("after update: %v", got)
	}
	// Soft delete with a string boolean, then reactivate.
	e.do("PATCH", "/Users/"+id, patch(op("Replace", "active", "False"))).must(t, 200)
	if e.do("GET", "/Users/"+id, nil).must(t, 200).doc(t)["active"] != false {
		t.Fatal("not deactivated")
	}
	e.do("PATCH", "/Users/"+id, patch(op("Replace", "active", "True"))).must(t, 200)
	// Groups: create with the Microsoft schema URN, find by displayName
	// without members, add members one PATCH each, remove one listed member.
	g := e.do("POST", "/Groups", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"},
		"externalId":  "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
		"displayName": "grp_all@contoso.test",
	}).must(t, 201).doc(t)
	gid := g["id"].(string)
	gl := e.do("GET", "/Groups?excludedAttributes=members&filter="+q(`displayName eq "grp_all@contoso.test"`), nil).must(t, 200).list(t)
	if gl.TotalResults != 1 || gl.Resources[0]["members"] != nil {
		t.Fatalf("group lookup: %+v", gl)
	}
	e.do("GET", "/Groups/"+gid+"?excludedAttributes=members", nil).must(t, 200)
	other := e.do("POST", "/Users", entraUser("other@contoso.test", "other")).must(t, 201).doc(t)["id"].(string)
	e.do("PATCH", "/Groups/"+gid, patch(op("Add", "members", []any{map[string]any{"$ref": nil, "value": id}}))).must(t, 204)
	e.do("PATCH", "/Groups/"+gid, patch(op("Add", "members", []any{map[string]any{"$ref": nil, "value": other}}))).must(t, 204)
	e.do("PATCH", "/Groups/"+gid, patch(op("Remove", "members", []any{map[string]any{"value": other}}))).must(t, 204)
	if m := members(t, e, gid); len(m) != 1 || m[0] != id {
		t.Fatalf("remove with a value array must remove only the listed member: %v", m)
	}
	e.do("PATCH", "/Groups/"+gid, patch(op("Replace", "displayName", "grp_everyone@contoso.test"))).must(t, 204)
	e.do("DELETE", "/Groups/"+gid, nil).must(t, 204)
	e.do("GET", "/Groups/"+gid, nil).scimErr(t, 404, "")
	// Hard delete 30 days later.
	e.do("DELETE", "/Users/"+id, nil).must(t, 204)
	if e.do("GET", "/Users/"+id, nil).must(t, 200).doc(t)["active"] != false {
		t.Fatal("a deleted user is kept, deactivated")
	}
}

func TestEntraWithFlag(t *testing.T) {
	e := newEnv(t)
	id := e.doAs(e.token, "POST", "/scim/v2/Users?aadOptscim062020", entraUser("amy@contoso.test", "amy")).must(t, 201).doc(t)["id"].(string)
	e.do("PATCH", "/Users/"+id+"?aadOptscim062020", patch(op("replace", "", map[string]any{
		"displayName": "Amy Pond", "name.givenName": "Amy", "name.familyName": "Pond",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "7",
		"active": false,
	}))).must(t, 200)
	got := e.do("GET", "/Users/"+id, nil).must(t, 200).doc(t)
	if got["displayName"] != "Amy Pond" || got["active"] != false {
		t.Fatalf("dotted path-less replace: %v", got)
	}
	gid := e.do("POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "ops"}).must(t, 201).doc(t)["id"].(string)
	b := e.do("POST", "/Users", entraUser("bob@contoso.test", "bob")).must(t, 201).doc(t)["id"].(string)
	// Several membership changes in one PATCH (the gallery asks for it).
	e.do("PATCH", "/Groups/"+gid, patch(op("add", "members", []any{map[string]any{"value": id}, map[string]any{"value": b}}))).must(t, 204)
	e.do("PATCH", "/Groups/"+gid, patch(op("remove", `members[value eq "`+b+`"]`, nil))).must(t, 204)
	if m := members(t, e, gid); len(m) != 1 || m[0] != id {
		t.Fatalf("members %v", m)
	}
}

func TestOktaPUTApp(t *testing.T) {
	e := newEnv(t)
	e.ua = "Okta SCIM Client 1.0.0"
	l := e.do("GET", "/Users?filter="+q(`userName eq "dana@okta.test"`)+"&startIndex=1&count=100", nil).must(t, 200).list(t)
	if l.TotalResults != 0 || l.StartIndex != 1 {
		t.Fatalf("%+v", l)
	}
	body := map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "dana@okta.test",
		"name": map[string]any{"givenName": "Dana", "familyName": "Scully"}, "emails": []any{map[string]any{"primary": true, "value": "dana@okta.test", "type": "work"}},
		"displayName": "Dana Scully", "externalId": "00u1", "groups": []any{}, "password": "s3cret-Passw0rd", "active": true,
	}
	u := e.do("POST", "/Users", body).must(t, 201).doc(t)
	id := u["id"].(string)
	e.do("POST", "/Users", body).scimErr(t, 409, "uniqueness")
	// The uppercased lookup of Okta's spec test.
	if l := e.do("GET", "/Users?filter="+q(`userName eq "DANA@OKTA.TEST"`)+"&startIndex=1&count=100", nil).must(t, 200).list(t); l.TotalResults != 1 {
		t.Fatalf("userName is case-insensitive: %+v", l)
	}
	// Import by pages of 100.
	e.do("GET", "/Users?startIndex=1&count=100", nil).must(t, 200).list(t)
	// PUT for everything after a GET, deactivation included.
	cur := e.do("GET", "/Users/"+id, nil).must(t, 200).doc(t)
	cur["displayName"] = "Dana K. Scully"
	e.do("PUT", "/Users/"+id, cur).must(t, 200)
	cur["active"] = false
	cur["groups"] = []any{}
	got := e.do("PUT", "/Users/"+id, cur).must(t, 200).doc(t)
	if got["active"] != false || got["displayName"] != "Dana K. Scully" {
		t.Fatalf("PUT: %v", got)
	}
	// Unknown id: 404 with a SCIM body; no token: 401 with one.
	e.do("GET", "/Users/u-999999", nil).scimErr(t, 404, "")
	e.doAs("", "GET", "/scim/v2/Users", nil).scimErr(t, 401, "")
	// application/json is accepted on POST.
	r := e.doAs(e.token, "POST", "/scim/v2/Users", map[string]any{"userName": "json@okta.test"}, "Content-Type", "application/json")
	r.must(t, 201)
}

func TestOktaPatchApp(t *testing.T) {
	e := newEnv(t)
	id := e.do("POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "fox@okta.test", "active": true}).must(t, 201).doc(t)["id"].(string)
	e.do("PATCH", "/Users/"+id, patch(op("replace", "", map[string]any{"active": false}))).must(t, 200)
	if e.do("GET", "/Users/"+id, nil).doc(t)["active"] != false {
		t.Fatal("path-less active:false must deactivate")
	}
	e.do("PATCH", "/Users/"+id, patch(op("replace", "", map[string]any{"active": true}))).must(t, 200)
}

func TestOktaGroupPush(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for _, n := range []string{"u1@okta.test", "u2@okta.test", "u3@okta.test"} {
		ids = append(ids, e.do("POST", "/Users", map[string]any{"userName": n}).must(t, 201).doc(t)["id"].(string))
	}
	g := e.do("POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Engineering", "members": []any{}}).must(t, 201).doc(t)
	gid := g["id"].(string)
	// Rename re-sent with every membership change, path-less with id.
	e.do("PATCH", "/Groups/"+gid, patch(
		op("replace", "", map[string]any{"id": gid, "displayName": "Engineering"}),
		op("add", "members", []any{map[string]any{"value": ids[0], "display": "u1"}, map[string]any{"value": ids[1], "display": "u2"}}),
	)).must(t, 204)
	e.do("PATCH", "/Groups/"+gid, patch(
		op("replace", "", map[string]any{"id": gid, "displayName": "Eng"}),
		op("remove", `members[value eq "`+ids[0]+`"]`, nil),
		op("add", "members", []any{map[string]any{"value": ids[2]}}),
	)).must(t, 204)
	if m := members(t, e, gid); strings.Join(m, ",") != ids[1]+","+ids[2] {
		t.Fatalf("members %v", m)
	}
	e.do("PATCH", "/Groups/"+gid, patch(op("replace", "members", []any{map[string]any{"value": ids[0]}}))).must(t, 204)
	if m := members(t, e, gid); len(m) != 1 || m[0] != ids[0] {
		t.Fatalf("full replace: %v", m)
	}
	e.do("PATCH", "/Groups/"+gid, patch(op("replace", "members", []any{}))).must(t, 204)
	if m := members(t, e, gid); len(m) != 0 {
		t.Fatalf("empty push: %v", m)
	}
	if d := e.do("GET", "/Groups/"+gid, nil).doc(t); d["displayName"] != "Eng" {
		t.Fatalf("rename: %v", d)
	}
	e.do("DELETE", "/Groups/"+gid, nil).must(t, 204)
}

func TestJumpCloud(t *testing.T) {
	e := newEnv(t)
	for _, base := range []string{"/scim/v2/", "/scim/v2//", "/api/scim/v2/", "/api/scim/v2//"} {
		u := e.doAs(e.token, "POST", base+"Users", map[string]any{"userName": "jc-test-user", "emails": []any{map[string]any{"value": "jc@jumpcloud.test"}}}).must(t, 201).doc(t)
		if _, ok := u["id"].(string); !ok {
			t.Fatalf("id must be a string: %v", u)
		}
		g := e.doAs(e.token, "POST", base+"Groups", map[string]any{"displayName": "jc-test-group", "members": []any{map[string]any{"value": u["id"]}}}).must(t, 201).doc(t)
		e.doAs(e.token, "PATCH", base+"Groups/"+g["id"].(string), patch(op("replace", "displayName", "jc-test-group-2"))).must(t, 204)
		e.doAs(e.token, "DELETE", base+"Groups/"+g["id"].(string), nil).must(t, 204)
		e.doAs(e.token, "DELETE", base+"Users/"+u["id"].(string), nil).must(t, 204)
	}
	// An existing group with the same name is found and taken over.
	if err := e.st.AddMember(t.Context(), "sonar-administrators", "admin"); err != nil {
		t.Fatal(err)
	}
	l := e.doAs(e.token, "GET", "/scim/v2/Groups?filter="+q(`displayName eq "sonar-administrators"`), nil).must(t, 200).list(t)
	if l.TotalResults != 1 {
		t.Fatalf("%+v", l)
	}
}

// helpers

func op(o, path string, v any) map[string]any {
	m := map[string]any{"op": o}
	if path != "" {
		m["path"] = path
	}
	if v != nil {
		m["value"] = v
	}
	return m
}

func patch(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, o := range ops {
		list[i] = o
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": list}
}

func email(d map[string]any) string {
	es, _ := d["emails"].([]any)
	if len(es) == 0 {
		return ""
	}
	return es[0].(map[string]any)["value"].(string)
}

func members(t *testing.T, e *env, gid string) []string {
	t.Helper()
	d := e.do("GET", "/Groups/"+gid, nil).must(t, 200).doc(t)
	ms, _ := d["members"].([]any)
	out := []string{}
	for _, m := range ms {
		out = append(out, m.(map[string]any)["value"].(string))
	}
	return out
}
