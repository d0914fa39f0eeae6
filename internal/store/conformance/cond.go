package conformance

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var condTests = []test{
	{"users", testCondUsers},
	{"groups", testCondGroups},
	{"paging with skip", testCondSkip},
	{"untranslatable", testCondInvalid},
}

func cmp(op store.CondOp, f store.Field, v any) store.Cond {
	return store.Cond{Op: op, Field: f, Value: v}
}

func fold(c store.Cond) store.Cond { c.Fold = true; return c }

func testCondUsers(t *testing.T, s store.Store) {
	users := seedUsers(t, s)
	devs := newGroup(t, s, "devs")
	addMembers(t, s, identity.Membership{UserID: users["bob"].ID, GroupID: devs.ID}, identity.Membership{UserID: users["dave"].ID, GroupID: devs.ID})
	all := []string{"alice", "bob", "carol", "dave", "erin", "svc_ci", "svc-ci"}
	where := func(c store.Cond) store.UserFilter { return store.UserFilter{Where: &c} }
	and := func(cs ...store.Cond) store.Cond { return store.Cond{Op: store.OpAnd, Sub: cs} }
	or := func(cs ...store.Cond) store.Cond { return store.Cond{Op: store.OpOr, Sub: cs} }
	not := func(c store.Cond) store.Cond { return store.Cond{Op: store.OpNot, Sub: []store.Cond{c}} }
	checkListCases(t, "ListUsers", []listCase[store.UserFilter]{
		{"login eq exact", where(cmp(store.OpEq, store.FieldLogin, "Alice")), nil},
		{"login eq folded", where(fold(cmp(store.OpEq, store.FieldLogin, "ALICE"))), []string{"alice"}},
		{"login ne", where(cmp(store.OpNe, store.FieldLogin, "alice")), all[1:]},
		{"email co folded", where(fold(cmp(store.OpContains, store.FieldEmail, "example.COM"))), []string{"alice", "carol"}},
		{"email co exact", where(cmp(store.OpContains, store.FieldEmail, "EXAMPLE")), []string{"carol"}},
		{"login sw literal underscore", where(fold(cmp(store.OpStartsWith, store.FieldLogin, "svc_"))), []string{"svc_ci"}},
		{"login sw exact", where(cmp(store.OpStartsWith, store.FieldLogin, "svc")), []string{"svc_ci", "svc-ci"}},
		{"name ew exact", where(cmp(store.OpEndsWith, store.FieldName, "Builder")), []string{"bob"}},
		{"name ew exact other case", where(cmp(store.OpEndsWith, store.FieldName, "builder")), nil},
		{"name ew longer than value", where(cmp(store.OpEndsWith, store.FieldName, "xxDave")), nil},
		{"name ew folded", where(fold(cmp(store.OpEndsWith, store.FieldName, "BUILDER"))), []string{"bob"}},
		{"external id present", where(cmp(store.OpPresent, store.FieldExternalID, nil)), []string{"bob", "carol", "dave", "svc-ci"}},
		{"email present", where(cmp(store.OpPresent, store.FieldEmail, nil)), []string{"alice", "bob", "carol", "erin"}},
		{"active", where(cmp(store.OpEq, store.FieldActive, false)), []string{"carol", "erin"}},
		{"login gt", where(cmp(store.OpGt, store.FieldLogin, "dave")), []string{"erin", "svc_ci", "svc-ci"}},
		{"login le", where(cmp(store.OpLe, store.FieldLogin, "bob")), []string{"alice", "bob"}},
		{"id eq", where(cmp(store.OpEq, store.FieldID, users["erin"].ID)), []string{"erin"}},
		{"group member", where(cmp(store.OpEq, store.FieldGroup, devs.ID)), []string{"bob", "dave"}},
		{"in some group", where(cmp(store.OpPresent, store.FieldGroup, nil)), []string{"bob", "dave"}},
		{"created before the epoch", where(cmp(store.OpLt, store.FieldCreated, at(-1000000000000))), nil},
		{"and", where(and(cmp(store.OpEq, store.FieldActive, true), fold(cmp(store.OpContains, store.FieldLogin, "svc")))), []string{"svc_ci", "svc-ci"}},
		{"or", where(or(cmp(store.OpEq, store.FieldLogin, "alice"), cmp(store.OpEq, store.FieldExternalID, "gl-7"))), []string{"alice", "carol"}},
		{"not", where(not(cmp(store.OpEq, store.FieldActive, true))), []string{"carol", "erin"}},
		{"nested", where(and(or(cmp(store.OpEq, store.FieldLogin, "bob"), cmp(store.OpEq, store.FieldLogin, "carol")), not(cmp(store.OpEq, store.FieldActive, false)))), []string{"bob"}},
		{"empty and", where(and()), all},
		{"empty or", where(or()), nil},
		{"with fixed filter", store.UserFilter{Active: new(true), Where: &store.Cond{Op: store.OpPresent, Field: store.FieldExternalID}}, []string{"bob", "dave", "svc-ci"}},
	}, userLogin, s.ListUsers)
}

func testCondGroups(t *testing.T, s store.Store) {
	u := newUser(t, s, "alice")
	a := mustCreate(t, s, identity.Group{Name: "Admins", Source: identity.SourceSCIM, ExternalID: "g-1"}, store.Tx.CreateGroup)
	newGroup(t, s, "devs")
	addMembers(t, s, identity.Membership{UserID: u.ID, GroupID: a.ID})
	where := func(c store.Cond) store.GroupFilter { return store.GroupFilter{Where: &c} }
	checkListCases(t, "ListGroups", []listCase[store.GroupFilter]{
		{"name eq folded", where(fold(cmp(store.OpEq, store.FieldName, "admins"))), []string{"Admins"}},
		{"name eq exact", where(cmp(store.OpEq, store.FieldName, "admins")), nil},
		{"external id", where(cmp(store.OpEq, store.FieldExternalID, "g-1")), []string{"Admins"}},
		{"member", where(cmp(store.OpEq, store.FieldMember, u.ID)), []string{"Admins"}},
		{"has members", where(cmp(store.OpPresent, store.FieldMember, nil)), []string{"Admins"}},
		{"id", where(cmp(store.OpEq, store.FieldID, a.ID)), []string{"Admins"}},
	}, groupName, s.ListGroups)
}

func testCondSkip(t *testing.T, s store.Store) {
	seedUsers(t, s)
	got, total, err := s.ListUsers(t.Context(), store.UserFilter{Page: store.Page{Size: 2, Skip: 3}})
	noErr(t, "ListUsers", err)
	assertEqual(t, "total", 7, total)
	checkKeys(t, "ListUsers skip 3", got, userLogin, []string{"dave", "erin"})
}

func testCondInvalid(t *testing.T, s store.Store) {
	for _, c := range []store.Cond{
		cmp(store.OpContains, store.FieldActive, true),
		cmp(store.OpEq, store.FieldLogin, int64(1)),
		cmp(store.OpEq, store.FieldMember, int64(1)), // a groups' field on users
		{Op: store.OpNot},
	} {
		_, _, err := s.ListUsers(t.Context(), store.UserFilter{Where: &c})
		wantErrIs(t, "ListUsers", err, identity.ErrInvalid)
	}
}
