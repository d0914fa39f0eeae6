package scim

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// FuzzFilter: no filter makes the parser, the rewrites or the translation
// panic; every refusal is a SCIM 400.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`userName eq "bjensen"`, `externalId eq jyoung`, `emails[type eq "work"].value eq "x@y"`,
		`name.familyName co "O'Malley"`, `userName sw "J"`, `title pr`, `meta.lastModified gt "2011-05-13T04:42:34Z"`,
		`title pr and userType eq "Employee"`, `userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
		`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
		`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1"`, `active eq "False"`,
		`id eq "u-1"`, `members[value eq "u-1"]`, `((((userName eq "a"))))`, `userName eq "a\"b"`, `]`, `[`, `"`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseFilter(s)
		if err != nil {
			if toError(err).Status != 400 {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		for _, rt := range []*resourceType{usersType, groupsType} {
			if _, err := (translator{rt: rt}).cond(e); err != nil && toError(err).Status != 400 {
				t.Fatalf("%q: %v", s, err)
			}
		}
		_, _ = matches(e, map[string]any{"value": "x", "type": "work", "primary": true})
	})
}

// FuzzPatchPath: no PATCH path panics when applied to a user or a group.
func FuzzPatchPath(f *testing.F) {
	for _, s := range []string{
		`members`, `members[value eq "u-1"]`, `emails[type eq "work"].value`, `name.familyName`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`, `displayName`, `active`,
		`members[value eq "u-1"].display`, `emails[`, `urn:x:y`, `id`, `meta.created`, ``, `name.givenName.x`,
	} {
		f.Add(s, "add")
		f.Add(s, "remove")
	}
	f.Fuzz(func(t *testing.T, path, o string) {
		ops := []patchOp{{Op: o, Path: path, Value: []any{map[string]any{"value": "u-1"}}}, {Op: o, Path: path, Value: "x"}}
		for _, op := range ops {
			doc := map[string]any{"userName": "a", "emails": []any{map[string]any{"value": "a@b", "type": "work"}}}
			if err := patchDoc(usersType, doc, []patchOp{op}); err != nil && toError(err).Status >= 500 {
				t.Fatalf("%q: %v", path, err)
			}
			_, err := groupEdit(identity.Group{Name: "g"}, []patchOp{op}, func() ([]map[string]any, error) {
				return []map[string]any{{"value": "u-1", "display": "a"}}, nil
			})
			if err != nil && toError(err).Status >= 500 {
				t.Fatalf("%q: %v", path, err)
			}
		}
	})
}
