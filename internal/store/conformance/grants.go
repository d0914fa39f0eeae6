package conformance

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var grantTests = []test{
	{"AddIdempotent", testAddGrantIdempotent},
	{"AddMany", testAddGrants},
	{"Remove", testRemoveGrant},
	{"ListFilters", testListGrantsFilters},
	{"DeleteProjectGrants", testDeleteProjectGrants},
}

// grantFixture holds the subjects and projects grants are given to.
type grantFixture struct {
	alice, bob      identity.User
	devs            identity.Group
	private, public identity.Project
}

func newGrantFixture(t *testing.T, s store.Store) grantFixture {
	t.Helper()
	return grantFixture{
		alice:   newUser(t, s, "alice"),
		bob:     newUser(t, s, "bob"),
		devs:    newGroup(t, s, "devs"),
		private: newProject(t, s, "private", identity.Private),
		public:  newProject(t, s, "public", identity.Public),
	}
}

func testAddGrantIdempotent(t *testing.T, s store.Store) {
	f := newGrantFixture(t, s)
	cases := []struct {
		name  string
		grant identity.Grant
	}{
		{"global to user", identity.Grant{Subject: identity.UserSubject(f.alice.ID), Permission: identity.PermAdmin}},
		{"global to group", identity.Grant{Subject: identity.GroupSubject(f.devs.ID), Permission: identity.PermScan}},
		{"global to anyone", identity.Grant{Subject: identity.Anyone, Permission: identity.PermProvisioning}},
		{"project to user", identity.Grant{Subject: identity.UserSubject(f.alice.ID), ProjectID: f.private.ID, Permission: identity.PermUser}},
		{"project to group", identity.Grant{Subject: identity.GroupSubject(f.devs.ID), ProjectID: f.private.ID, Permission: identity.PermCodeViewer}},
		{"project to anyone", identity.Grant{Subject: identity.Anyone, ProjectID: f.public.ID, Permission: identity.PermIssueAdmin}},
	}
	var want []identity.Grant
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkTwice(t, "AddGrant", s, func(tx store.Tx) (bool, error) { return tx.AddGrant(t.Context(), tc.grant) })
		})
		want = append(want, tc.grant)
	}
	got, err := s.ListGrants(t.Context(), store.GrantFilter{})
	noErr(t, "ListGrants", err)
	checkGrants(t, "grants after adding each twice", got, want)
}

// testAddGrants adds many grants in one call, more than one statement
// holds: those held already are skipped, the others reported, and a
// second call adds nothing.
func testAddGrants(t *testing.T, s store.Store) {
	f := newGrantFixture(t, s)
	held := identity.Grant{Subject: identity.UserSubject(f.alice.ID), ProjectID: f.private.ID, Permission: identity.PermScan}
	addGrants(t, s, held)
	gs := []identity.Grant{held, {Subject: identity.GroupSubject(f.devs.ID), Permission: identity.PermScan}}
	// 2,500 user grants on a project: ids need no user row, as AddGrant's.
	for i := range 2500 {
		gs = append(gs, identity.Grant{Subject: identity.UserSubject(f.bob.ID + 1 + int64(i)), ProjectID: f.public.ID, Permission: identity.PermIssueAdmin})
	}
	unique := slices.Clone(gs)
	// A grant twice in one call, in two chunks of SQLite's insert, is one.
	gs = append(gs, gs[5])
	for i, want := range [][]identity.Grant{unique[1:], nil} {
		var added []identity.Grant
		write(t, s, func(tx store.Tx) error {
			var err error
			added, err = tx.AddGrants(t.Context(), gs)
			return err
		})
		checkGrants(t, fmt.Sprintf("AddGrants call %d", i+1), added, want)
	}
	got, err := s.ListGrants(t.Context(), store.GrantFilter{})
	noErr(t, "ListGrants", err)
	checkGrants(t, "grants after AddGrants", got, unique)
	write(t, s, func(tx store.Tx) error {
		added, err := tx.AddGrants(t.Context(), nil)
		if len(added) != 0 {
			t.Errorf("AddGrants(nil) added %v", added)
		}
		return err
	})
}

func testRemoveGrant(t *testing.T, s store.Store) {
	f := newGrantFixture(t, s)
	global := identity.Grant{Subject: identity.GroupSubject(f.devs.ID), Permission: identity.PermScan}
	project := identity.Grant{Subject: identity.GroupSubject(f.devs.ID), ProjectID: f.private.ID, Permission: identity.PermScan}
	anyone := identity.Grant{Subject: identity.Anyone, ProjectID: f.public.ID, Permission: identity.PermScan}
	addGrants(t, s, global, project, anyone)

	for _, g := range []identity.Grant{project, anyone} {
		checkTwice(t, "RemoveGrant("+grantKey(g)+")", s, func(tx store.Tx) (bool, error) { return tx.RemoveGrant(t.Context(), g) })
	}
	got, err := s.ListGrants(t.Context(), store.GrantFilter{})
	noErr(t, "ListGrants", err)
	// The same permission of the same subject globally is another grant.
	checkGrants(t, "grants after RemoveGrant", got, []identity.Grant{global})
}

func testListGrantsFilters(t *testing.T, s store.Store) {
	f := newGrantFixture(t, s)
	var (
		aliceAdmin        = identity.Grant{Subject: identity.UserSubject(f.alice.ID), Permission: identity.PermAdmin}
		devsScan          = identity.Grant{Subject: identity.GroupSubject(f.devs.ID), Permission: identity.PermScan}
		anyoneProvision   = identity.Grant{Subject: identity.Anyone, Permission: identity.PermProvisioning}
		alicePrivateUser  = identity.Grant{Subject: identity.UserSubject(f.alice.ID), ProjectID: f.private.ID, Permission: identity.PermUser}
		alicePrivateAdmin = identity.Grant{Subject: identity.UserSubject(f.alice.ID), ProjectID: f.private.ID, Permission: identity.PermAdmin}
		devsPrivateViewer = identity.Grant{Subject: identity.GroupSubject(f.devs.ID), ProjectID: f.private.ID, Permission: identity.PermCodeViewer}
		bobPublicIssues   = identity.Grant{Subject: identity.UserSubject(f.bob.ID), ProjectID: f.public.ID, Permission: identity.PermIssueAdmin}
		anyonePublicScan  = identity.Grant{Subject: identity.Anyone, ProjectID: f.public.ID, Permission: identity.PermScan}
	)
	all := []identity.Grant{aliceAdmin, devsScan, anyoneProvision, alicePrivateUser, alicePrivateAdmin, devsPrivateViewer, bobPublicIssues, anyonePublicScan}
	addGrants(t, s, all...)

	alice, devs, anyone := identity.UserSubject(f.alice.ID), identity.GroupSubject(f.devs.ID), identity.Anyone
	cases := []struct {
		name   string
		filter store.GrantFilter
		want   []identity.Grant
	}{
		{"no filter", store.GrantFilter{}, all},
		{"user subject", store.GrantFilter{Subject: &alice}, []identity.Grant{aliceAdmin, alicePrivateUser, alicePrivateAdmin}},
		{"group subject", store.GrantFilter{Subject: &devs}, []identity.Grant{devsScan, devsPrivateViewer}},
		{"anyone subject", store.GrantFilter{Subject: &anyone}, []identity.Grant{anyoneProvision, anyonePublicScan}},
		{"global only", store.GrantFilter{ProjectID: new(int64(0))}, []identity.Grant{aliceAdmin, devsScan, anyoneProvision}},
		{"one project", store.GrantFilter{ProjectID: &f.private.ID}, []identity.Grant{alicePrivateUser, alicePrivateAdmin, devsPrivateViewer}},
		{"permission", store.GrantFilter{Permission: identity.PermScan}, []identity.Grant{devsScan, anyonePublicScan}},
		{"permission both global and on a project", store.GrantFilter{Permission: identity.PermAdmin}, []identity.Grant{aliceAdmin, alicePrivateAdmin}},
		{"user globally", store.GrantFilter{Subject: &alice, ProjectID: new(int64(0))}, []identity.Grant{aliceAdmin}},
		{"permission on a project", store.GrantFilter{ProjectID: &f.private.ID, Permission: identity.PermAdmin}, []identity.Grant{alicePrivateAdmin}},
		{"anyone on a project", store.GrantFilter{Subject: &anyone, ProjectID: &f.public.ID}, []identity.Grant{anyonePublicScan}},
		{"no match", store.GrantFilter{Subject: &devs, ProjectID: &f.public.ID}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListGrants(t.Context(), tc.filter)
			noErr(t, "ListGrants", err)
			checkGrants(t, "ListGrants", got, tc.want)
		})
	}
}

func testDeleteProjectGrants(t *testing.T, s store.Store) {
	f := newGrantFixture(t, s)
	kept := []identity.Grant{
		{Subject: identity.UserSubject(f.alice.ID), Permission: identity.PermAdmin},
		{Subject: identity.Anyone, ProjectID: f.public.ID, Permission: identity.PermScan},
	}
	addGrants(t, s,
		identity.Grant{Subject: identity.UserSubject(f.alice.ID), ProjectID: f.private.ID, Permission: identity.PermAdmin},
		identity.Grant{Subject: identity.GroupSubject(f.devs.ID), ProjectID: f.private.ID, Permission: identity.PermUser},
	)
	addGrants(t, s, kept...)

	write(t, s, func(tx store.Tx) error { return tx.DeleteProjectGrants(t.Context(), f.private.ID) })

	got, err := s.ListGrants(t.Context(), store.GrantFilter{})
	noErr(t, "ListGrants", err)
	checkGrants(t, "grants after DeleteProjectGrants", got, kept)
	if _, err := s.GetProject(t.Context(), f.private.ID); err != nil {
		t.Errorf("GetProject after DeleteProjectGrants: %v; the project itself must stay", err)
	}
}
