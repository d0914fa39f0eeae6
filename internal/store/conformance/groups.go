package conformance

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var groupTests = []test{
	{"CreateAndGet", testGroupCreateAndGet},
	{"Update", testGroupUpdate},
	{"UniqueName", testGroupUniqueName},
	{"NotFound", testGroupNotFound},
	{"DeleteCascades", testGroupDeleteCascades},
	{"ListFilters", testListGroupsFilters},
	{"ListPaging", testListGroupsPaging},
	{"CountMembers", testCountMembers},
}

var membershipTests = []test{
	{"AddIdempotent", testAddMemberIdempotent},
	{"AddMany", testAddMembers},
	{"RemoveReportsAbsent", testRemoveMember},
	{"List", testListMemberships},
}

func testGroupCreateAndGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	start := time.Now()
	in := identity.Group{Name: "developers", Description: "Everyone who writes code", Source: identity.SourceLocal}
	created := mustCreate(t, s, in, store.Tx.CreateGroup)
	if created.ID <= 0 {
		t.Fatalf("CreateGroup assigned id %d, want > 0", created.ID)
	}
	checkFilled(t, "CreateGroup CreatedAt", created.CreatedAt, start)
	checkFilled(t, "CreateGroup UpdatedAt", created.UpdatedAt, start)
	want := in
	want.ID, want.CreatedAt, want.UpdatedAt = created.ID, created.CreatedAt, created.UpdatedAt
	assertEqual(t, "CreateGroup result", want, created)

	got, err := s.GetGroup(ctx, created.ID)
	noErr(t, "GetGroup", err)
	assertEqual(t, "GetGroup", want, got)
	got, err = s.GetGroupByName(ctx, "developers")
	noErr(t, "GetGroupByName", err)
	assertEqual(t, "GetGroupByName", want, got)

	// Given timestamps are kept.
	managed := identity.Group{Name: "ops", Source: identity.SourceSCIM, ExternalID: "e9e30dba", CreatedAt: at(0), UpdatedAt: at(time.Minute)}
	created = mustCreate(t, s, managed, store.Tx.CreateGroup)
	managed.ID = created.ID
	got, err = s.GetGroup(ctx, created.ID)
	noErr(t, "GetGroup", err)
	assertEqual(t, "GetGroup of a group created with timestamps", managed, got)
}

func testGroupUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := mustCreate(t, s, identity.Group{Name: "devs", Description: "old", Source: identity.SourceLocal, CreatedAt: at(0), UpdatedAt: at(0)}, store.Tx.CreateGroup)
	g.Name = "developers"
	g.Description = "new"
	g.Source = identity.SourceGitLab
	g.ExternalID = "gl-group-12"
	g.UpdatedAt = at(time.Hour)
	mustUpdate(t, s, g, store.Tx.UpdateGroup)

	got, err := s.GetGroup(ctx, g.ID)
	noErr(t, "GetGroup after update", err)
	g.UpdatedAt = got.UpdatedAt // whether UpdateGroup stamps its own is not specified
	assertEqual(t, "GetGroup after update", g, got)
	_, err = s.GetGroupByName(ctx, "devs")
	wantErrIs(t, "GetGroupByName(old name)", err, identity.ErrNotFound)
	got, err = s.GetGroupByName(ctx, "developers")
	noErr(t, "GetGroupByName(new name)", err)
	if got.ID != g.ID {
		t.Errorf("GetGroupByName(new name) returned group %d, want %d", got.ID, g.ID)
	}
}

func testGroupUniqueName(t *testing.T, s store.Store) {
	ctx := t.Context()
	devs := newGroup(t, s, "devs")
	ops := newGroup(t, s, "ops")

	err := tryCreate(t, s, identity.Group{Name: "devs", Source: identity.SourceSCIM}, store.Tx.CreateGroup)
	wantErrIs(t, "CreateGroup with a taken name", err, identity.ErrAlreadyExists)

	renamed := ops
	renamed.Name = devs.Name
	err = tryUpdate(t, s, renamed, store.Tx.UpdateGroup)
	wantErrIs(t, "UpdateGroup to a taken name", err, identity.ErrAlreadyExists)

	groups, total, err := s.ListGroups(ctx, store.GroupFilter{})
	noErr(t, "ListGroups", err)
	checkKeys(t, "ListGroups after refused writes", groups, groupName, []string{"devs", "ops"})
	if total != 2 {
		t.Errorf("ListGroups total = %d, want 2", total)
	}
}

func testGroupNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := newGroup(t, s, "devs")
	missing := g.ID + 1000
	checkNotFound(t, []missingCall{
		{"GetGroup", func() error { _, err := s.GetGroup(ctx, missing); return err }},
		{"GetGroupByName", func() error { _, err := s.GetGroupByName(ctx, "ghosts"); return err }},
		{"UpdateGroup", func() error {
			return tryUpdate(t, s, identity.Group{ID: missing, Name: "ghosts", Source: identity.SourceLocal}, store.Tx.UpdateGroup)
		}},
	})
}

func testGroupDeleteCascades(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	devs := newGroup(t, s, "devs")
	ops := newGroup(t, s, "ops")
	app := newProject(t, s, "app", identity.Private)
	kept := []identity.Grant{
		{Subject: identity.GroupSubject(ops.ID), Permission: identity.PermAdmin},
		{Subject: identity.UserSubject(alice.ID), Permission: identity.PermScan},
		{Subject: identity.UserSubject(alice.ID), ProjectID: app.ID, Permission: identity.PermUser},
	}
	addMembers(t, s, identity.Membership{UserID: alice.ID, GroupID: devs.ID}, identity.Membership{UserID: bob.ID, GroupID: devs.ID}, identity.Membership{UserID: alice.ID, GroupID: ops.ID})
	addGrants(t, s,
		identity.Grant{Subject: identity.GroupSubject(devs.ID), Permission: identity.PermScan},
		identity.Grant{Subject: identity.GroupSubject(devs.ID), ProjectID: app.ID, Permission: identity.PermCodeViewer},
	)
	addGrants(t, s, kept...)

	write(t, s, func(tx store.Tx) error { return tx.DeleteGroup(ctx, devs.ID) })

	_, err := s.GetGroup(ctx, devs.ID)
	wantErrIs(t, "GetGroup of the deleted group", err, identity.ErrNotFound)
	ms, err := s.ListMemberships(ctx, 0, 0)
	noErr(t, "ListMemberships", err)
	checkMemberships(t, "memberships after DeleteGroup", ms, []identity.Membership{{UserID: alice.ID, GroupID: ops.ID}})
	grants, err := s.ListGrants(ctx, store.GrantFilter{})
	noErr(t, "ListGrants", err)
	checkGrants(t, "grants after DeleteGroup", grants, kept)
	counts, err := s.CountMembers(ctx, []int64{devs.ID, ops.ID})
	noErr(t, "CountMembers", err)
	if counts[devs.ID] != 0 || counts[ops.ID] != 1 {
		t.Errorf("CountMembers after DeleteGroup = %v, want %d:0 %d:1", counts, devs.ID, ops.ID)
	}
}

// seedGroups creates the population of the group listing tests.
func seedGroups(t *testing.T, s store.Store) {
	t.Helper()
	fixtures := []identity.Group{
		{Name: "developers", Description: "All developers", Source: identity.SourceLocal},
		{Name: "Dev Ops", Source: identity.SourceSCIM, ExternalID: "scim-g1"},
		{Name: "team_a", Source: identity.SourceGitLab, ExternalID: "gl-group-3"},
		{Name: "teamXa", Source: identity.SourceLDAP, ExternalID: "cn=teamXa"},
		{Name: "qa", Description: "Testers", Source: identity.SourceLocal},
	}
	createAll(t, s, fixtures, store.Tx.CreateGroup)
}

func testListGroupsFilters(t *testing.T, s store.Store) {
	seedGroups(t, s)
	checkListCases(t, "ListGroups", []listCase[store.GroupFilter]{
		{"no filter", store.GroupFilter{}, []string{"developers", "Dev Ops", "team_a", "teamXa", "qa"}},
		{"query case-insensitive", store.GroupFilter{Query: "DEV"}, []string{"developers", "Dev Ops"}},
		{"query underscore is literal", store.GroupFilter{Query: "team_"}, []string{"team_a"}},
		{"query ignores description", store.GroupFilter{Query: "Testers"}, nil},
		{"managed", store.GroupFilter{Managed: new(true)}, []string{"Dev Ops", "team_a", "teamXa"}},
		{"not managed", store.GroupFilter{Managed: new(false)}, []string{"developers", "qa"}},
		{"source", store.GroupFilter{Source: identity.SourceLDAP}, []string{"teamXa"}},
		{"external id", store.GroupFilter{ExternalID: "gl-group-3"}, []string{"team_a"}},
		{"query and managed", store.GroupFilter{Query: "dev", Managed: new(true)}, []string{"Dev Ops"}},
	}, groupName, s.ListGroups)
}

func testListGroupsPaging(t *testing.T, s store.Store) {
	seedGroups(t, s)
	ctx := t.Context()
	checkPaging(t, "ListGroups", 2, []string{"developers", "Dev Ops", "team_a", "teamXa", "qa"}, groupName,
		func(p store.Page) ([]identity.Group, int, error) {
			return s.ListGroups(ctx, store.GroupFilter{Page: p})
		})
	checkPaging(t, "ListGroups managed", 2, []string{"Dev Ops", "team_a", "teamXa"}, groupName,
		func(p store.Page) ([]identity.Group, int, error) {
			return s.ListGroups(ctx, store.GroupFilter{Managed: new(true), Page: p})
		})
}

func testCountMembers(t *testing.T, s store.Store) {
	ctx := t.Context()
	var users []identity.User
	for i := range 3 {
		users = append(users, newUser(t, s, fmt.Sprintf("user%d", i)))
	}
	big := newGroup(t, s, "big")
	small := newGroup(t, s, "small")
	empty := newGroup(t, s, "empty")
	ms := []identity.Membership{{UserID: users[0].ID, GroupID: small.ID}}
	for _, u := range users {
		ms = append(ms, identity.Membership{UserID: u.ID, GroupID: big.ID})
	}
	addMembers(t, s, ms...)

	counts, err := s.CountMembers(ctx, []int64{big.ID, small.ID, empty.ID})
	noErr(t, "CountMembers", err)
	// A group without members may be absent from the map or counted as 0.
	want := map[int64]int{big.ID: 3, small.ID: 1, empty.ID: 0}
	for id, n := range want {
		if counts[id] != n {
			t.Errorf("CountMembers()[%d] = %d, want %d (whole result %v)", id, counts[id], n, counts)
		}
	}
	counts, err = s.CountMembers(ctx, []int64{small.ID})
	noErr(t, "CountMembers(one group)", err)
	if counts[small.ID] != 1 {
		t.Errorf("CountMembers(small) = %v, want %d:1", counts, small.ID)
	}
}

func testAddMemberIdempotent(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice")
	devs := newGroup(t, s, "devs")

	checkTwice(t, "AddMember", s, func(tx store.Tx) (bool, error) { return tx.AddMember(ctx, alice.ID, devs.ID) })
	ms, err := s.ListMemberships(ctx, 0, 0)
	noErr(t, "ListMemberships", err)
	checkMemberships(t, "memberships after adding twice", ms, []identity.Membership{{UserID: alice.ID, GroupID: devs.ID}})
}

func testRemoveMember(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice")
	devs := newGroup(t, s, "devs")
	ops := newGroup(t, s, "ops")
	addMembers(t, s, identity.Membership{UserID: alice.ID, GroupID: devs.ID}, identity.Membership{UserID: alice.ID, GroupID: ops.ID})

	checkTwice(t, "RemoveMember", s, func(tx store.Tx) (bool, error) { return tx.RemoveMember(ctx, alice.ID, devs.ID) })
	ms, err := s.ListMemberships(ctx, 0, 0)
	noErr(t, "ListMemberships", err)
	checkMemberships(t, "memberships after RemoveMember", ms, []identity.Membership{{UserID: alice.ID, GroupID: ops.ID}})
}

func testListMemberships(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	carol := newUser(t, s, "carol")
	devs := newGroup(t, s, "devs")
	ops := newGroup(t, s, "ops")
	all := []identity.Membership{
		{UserID: alice.ID, GroupID: devs.ID},
		{UserID: alice.ID, GroupID: ops.ID},
		{UserID: bob.ID, GroupID: devs.ID},
	}
	addMembers(t, s, all...)

	cases := []struct {
		name            string
		userID, groupID int64
		want            []identity.Membership
	}{
		{"all", 0, 0, all},
		{"by user", alice.ID, 0, all[:2]},
		{"by group", 0, devs.ID, []identity.Membership{all[0], all[2]}},
		{"by user and group", bob.ID, devs.ID, all[2:]},
		{"user and group not linked", bob.ID, ops.ID, nil},
		{"user without groups", carol.ID, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListMemberships(ctx, tc.userID, tc.groupID)
			noErr(t, "ListMemberships", err)
			checkMemberships(t, "ListMemberships", got, tc.want)
		})
	}
}

// checkMemberships fails the test unless got holds exactly want, in any order.
func checkMemberships(t *testing.T, what string, got, want []identity.Membership) {
	t.Helper()
	key := func(m identity.Membership) string { return fmt.Sprintf("user %d in group %d", m.UserID, m.GroupID) }
	checkKeys(t, what, got, key, keysOf(want, key))
}

// checkGrants fails the test unless got holds exactly want, in any order.
func checkGrants(t *testing.T, what string, got, want []identity.Grant) {
	t.Helper()
	checkKeys(t, what, got, grantKey, keysOf(want, grantKey))
}

func grantKey(g identity.Grant) string {
	return fmt.Sprintf("%s %d: %s on project %d", g.Subject.Kind, g.Subject.ID, g.Permission, g.ProjectID)
}

// testAddMembers adds many users in one call: new members are reported,
// existing members and unknown ids are skipped, and a second call adds
// nothing.
func testAddMembers(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newUser(t, s, "alice")
	bob := newUser(t, s, "bob")
	carol := newUser(t, s, "carol")
	devs := newGroup(t, s, "devs")
	ops := newGroup(t, s, "ops")
	addMembers(t, s, identity.Membership{UserID: alice.ID, GroupID: devs.ID}, identity.Membership{UserID: carol.ID, GroupID: ops.ID})

	exist, err := s.ExistingUsers(ctx, []int64{alice.ID, bob.ID, carol.ID + 1000})
	noErr(t, "ExistingUsers", err)
	if !exist[alice.ID] || !exist[bob.ID] || exist[carol.ID+1000] {
		t.Fatalf("ExistingUsers = %v", exist)
	}
	for i, want := range [][]int64{{bob.ID, carol.ID}, nil} {
		var added []int64
		write(t, s, func(tx store.Tx) error {
			var err error
			added, err = tx.AddMembers(ctx, devs.ID, []int64{alice.ID, bob.ID, carol.ID, carol.ID + 1000})
			return err
		})
		slices.Sort(added)
		if !slices.Equal(added, want) {
			t.Errorf("AddMembers call %d added %v, want %v", i+1, added, want)
		}
	}
	ms, err := s.ListMemberships(ctx, 0, devs.ID)
	noErr(t, "ListMemberships", err)
	checkMemberships(t, "memberships after AddMembers", ms, []identity.Membership{{UserID: alice.ID, GroupID: devs.ID}, {UserID: bob.ID, GroupID: devs.ID}, {UserID: carol.ID, GroupID: devs.ID}})
}
