package scim_test

import (
	"strings"
	"testing"
)

// TestBadInput: each malformed request gets the right SCIM 4xx, never a 5xx.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	uid := e.do("POST", "/Users", map[string]any{"userName": "target"}).must(t, 201).doc(t)["id"].(string)
	gid := e.do("POST", "/Groups", map[string]any{"displayName": "target"}).must(t, 201).doc(t)["id"].(string)
	deep := strings.Repeat("(", 40) + `userName eq "x"` + strings.Repeat(")", 40)
	many := strings.Repeat(`userName eq "x" or `, 100) + `userName eq "y"`
	cases := []struct {
		name, method, path string
		body               any
		status             int
		scimType           string
	}{
		{"malformed JSON", "POST", "/Users", `{"userName": `, 400, "invalidSyntax"},
		{"JSON array body", "POST", "/Users", `[]`, 400, "invalidSyntax"},
		{"two JSON values", "POST", "/Users", `{"userName":"a1"} {}`, 400, "invalidSyntax"},
		{"unknown attribute", "POST", "/Users", map[string]any{"userName": "u1", "favouriteColour": "blue"}, 400, "invalidValue"},
		{"unknown extension", "POST", "/Users", map[string]any{"userName": "u1", "urn:example:ext": map[string]any{}}, 400, "invalidValue"},
		{"wrong schemas", "POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "userName": "u1"}, 400, "invalidValue"},
		{"schemas not an array", "POST", "/Users", map[string]any{"schemas": "x", "userName": "u1"}, 400, "invalidValue"},
		{"missing userName", "POST", "/Users", map[string]any{"displayName": "x"}, 400, "invalidValue"},
		{"userName not a string", "POST", "/Users", map[string]any{"userName": 12}, 400, "invalidValue"},
		{"invalid login", "POST", "/Users", map[string]any{"userName": "white space"}, 400, "invalidValue"},
		{"active not a boolean", "POST", "/Users", map[string]any{"userName": "u2", "active": "perhaps"}, 400, "invalidValue"},
		{"group without displayName", "POST", "/Groups", map[string]any{"members": []any{}}, 400, "invalidValue"},
		{"member is a group", "POST", "/Groups", map[string]any{"displayName": "nest", "members": []any{map[string]any{"value": gid}}}, 400, "invalidValue"},
		{"member unknown", "POST", "/Groups", map[string]any{"displayName": "nest", "members": []any{map[string]any{"value": "u-99999"}}}, 400, "invalidValue"},
		{"members not an array", "POST", "/Groups", map[string]any{"displayName": "nest", "members": "u-1"}, 400, "invalidValue"},
		{"invalid filter", "GET", "/Users?filter=" + q(`userName eq`), nil, 400, "invalidFilter"},
		{"unterminated string", "GET", "/Users?filter=" + q(`userName eq "x`), nil, 400, "invalidFilter"},
		{"unknown filter attribute", "GET", "/Users?filter=" + q(`shoeSize eq "9"`), nil, 400, "invalidFilter"},
		{"unstored filter attribute", "GET", "/Users?filter=" + q(`title eq "x"`), nil, 400, "invalidFilter"},
		{"deeply nested filter", "GET", "/Users?filter=" + q(deep), nil, 400, "invalidFilter"},
		{"too many comparisons", "GET", "/Users?filter=" + q(many), nil, 400, "invalidFilter"},
		{"oversized filter", "GET", "/Users?filter=" + q(strings.Repeat("a", 5000)), nil, 400, "invalidFilter"},
		{"bad date in filter", "GET", "/Users?filter=" + q(`meta.created gt "yesterday"`), nil, 400, "invalidFilter"},
		{"bad operator for active", "GET", "/Users?filter=" + q(`active co "t"`), nil, 400, "invalidFilter"},
		{"NUL byte in filter", "GET", "/Users?filter=" + q("userName eq \"a\x00\""), nil, 400, "invalidFilter"},
		{"NUL byte in body", "POST", "/Users", "{\"userName\":\"a\u0000b\"}", 400, ""},
		{"raw NUL byte in body", "POST", "/Users", "{\"userName\":\"a\x00b\"}", 400, "invalidSyntax"},
		{"NUL byte in a group name", "POST", "/Groups", "{\"displayName\":\"a\u0000b\"}", 400, ""},
		{"NUL byte in a PATCH value", "PATCH", "/Groups/" + gid, patch(op("replace", "displayName", "a\x00b")), 400, ""},
		{"invalid UTF-8 in filter", "GET", "/Users?filter=" + q("userName eq \"a\xffb\""), nil, 400, ""},
		{"invalid UTF-8 in group filter", "GET", "/Groups?filter=" + q("displayName eq \"\xc3\""), nil, 400, ""},
		{"count not a number", "GET", "/Users?count=many", nil, 400, "invalidValue"},
		{"startIndex not a number", "GET", "/Users?startIndex=x", nil, 400, "invalidValue"},
		{"user id of a group", "GET", "/Users/" + gid, nil, 404, ""},
		{"group id of a user", "GET", "/Groups/" + uid, nil, 404, ""},
		{"numeric id", "GET", "/Users/1", nil, 404, ""},
		{"nested resource path", "GET", "/Users/" + uid + "/x", nil, 404, ""},
		{"unknown endpoint", "GET", "/Widgets", nil, 404, ""},
		{"bulk", "POST", "/Bulk", map[string]any{}, 501, ""},
		{"wrong method", "DELETE", "/Users", nil, 405, ""},
		{"wrong content type", "POST", "/Users", nil, 415, ""},
		{"PATCH without Operations", "PATCH", "/Users/" + uid, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}}, 400, "invalidValue"},
		{"PATCH with wrong schemas", "PATCH", "/Users/" + uid, map[string]any{"schemas": []string{"urn:x"}, "Operations": []any{}}, 400, "invalidValue"},
		{"PATCH op not an object", "PATCH", "/Users/" + uid, map[string]any{"Operations": []any{"add"}}, 400, "invalidSyntax"},
		{"PATCH add without value", "PATCH", "/Users/" + uid, patch(op("add", "displayName", nil)), 400, "invalidValue"},
		{"PATCH path-less with a string", "PATCH", "/Users/" + uid, patch(op("replace", "", "x")), 400, "invalidValue"},
		{"PATCH members with a filter on add", "PATCH", "/Groups/" + gid, patch(op("add", `members[value eq "x"]`, []any{})), 400, "invalidPath"},
		{"PATCH member sub-attribute", "PATCH", "/Groups/" + gid, patch(op("replace", `members[value eq "x"].display`, "y")), 400, "mutability"},
		{"PATCH remove displayName", "PATCH", "/Groups/" + gid, patch(op("remove", "displayName", nil)), 400, "mutability"},
		{"PATCH unknown group attribute", "PATCH", "/Groups/" + gid, patch(op("replace", "colour", "red")), 400, "invalidPath"},
		{"PATCH deeply nested path", "PATCH", "/Users/" + uid, patch(op("remove", "emails["+deep+"]", nil)), 400, "invalidPath"},
		{"oversized body", "POST", "/Users", `{"userName":"` + strings.Repeat("a", 5<<20) + `"}`, 413, "tooMany"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r resp
			if tc.name == "wrong content type" {
				r = e.do(tc.method, tc.path, "userName=x", "Content-Type", "application/x-www-form-urlencoded")
			} else {
				r = e.do(tc.method, tc.path, tc.body)
			}
			r.scimErr(t, tc.status, tc.scimType)
		})
	}
	t.Run("huge startIndex is past the end", func(t *testing.T) {
		for _, si := range []string{"2147483648", "9223372036854775807", "99999999999999999999999"} {
			if got := e.do("GET", "/Users?startIndex="+si, nil).must(t, 200).list(t); len(got.Resources) != 0 {
				t.Fatalf("startIndex=%s answered %d resources", si, len(got.Resources))
			}
		}
	})
	t.Run("huge count is lowered to maxResults", func(t *testing.T) {
		for _, c := range []string{"100000", "99999999999999999999999", "-5"} {
			e.do("GET", "/Users?count="+c, nil).must(t, 200).list(t)
		}
	})
}
