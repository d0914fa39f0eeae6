package provision

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

const gl = identity.SourceGitLab

// world is a small store state: ids are fixed so that expectations can
// name them.
func world() Current {
	return Current{
		Users: []identity.User{
			{ID: 1, Login: "admin", Name: "Admin", Source: identity.SourceLocal, Active: true},
			{ID: 2, Login: "alice", Name: "Alice", Email: "a@x", ExternalID: "u-a", Source: gl, Active: true},
			{ID: 3, Login: "bob", Name: "Bob", ExternalID: "u-b", Source: gl, Active: true},
			{ID: 4, Login: "carol", Name: "Carol", ExternalID: "u-c", Source: gl, Active: false},
			{ID: 5, Login: "dave", Name: "Dave", ExternalID: "s-d", Source: identity.SourceSCIM, Active: true},
		},
		Groups: []identity.Group{
			{ID: 10, Name: identity.GroupAdministrators, Source: identity.SourceLocal},
			{ID: 11, Name: identity.GroupUsers, Source: identity.SourceLocal},
			{ID: 12, Name: "acme", ExternalID: "g-1", Source: gl},
			{ID: 13, Name: "acme/old", ExternalID: "g-2", Source: gl},
			{ID: 14, Name: "local-team", Source: identity.SourceLocal},
		},
		Memberships: []identity.Membership{
			{UserID: 1, GroupID: 10},
			{UserID: 2, GroupID: 12},
			{UserID: 3, GroupID: 13},
			{UserID: 2, GroupID: 14}, // manual membership of a provisioned user
			{UserID: 1, GroupID: 12}, // a local user added to a managed group by hand
		},
		Projects: []identity.Project{
			{ID: 100, Key: "web", Name: "Web", Visibility: identity.Private, Source: gl, ExternalID: "p-1"},
			{ID: 101, Key: "local-proj", Name: "Local", Visibility: identity.Private, Source: identity.SourceLocal},
		},
		Grants: []identity.Grant{
			{Subject: identity.UserSubject(2), ProjectID: 100, Permission: identity.PermScan},
			{Subject: identity.UserSubject(2), ProjectID: 101, Permission: identity.PermAdmin}, // manual, local project
			{Subject: identity.UserSubject(1), ProjectID: 100, Permission: identity.PermAdmin}, // local user
			{Subject: identity.GroupSubject(10), Permission: identity.PermAdmin},               // global
		},
	}
}

// same is the snapshot that matches world exactly.
func same() Snapshot {
	return Snapshot{
		Users: []User{
			{ExternalID: "u-a", Login: "alice", Name: "Alice", Email: "a@x", Active: true},
			{ExternalID: "u-b", Login: "bob", Name: "Bob", Active: true},
			{ExternalID: "u-c", Login: "carol", Name: "Carol", Active: false},
		},
		Groups:      []Group{{ExternalID: "g-1", Name: "acme"}, {ExternalID: "g-2", Name: "acme/old"}},
		Memberships: []Membership{{"u-a", "g-1"}, {"u-b", "g-2"}},
		// The hand-made membership of admin in acme is the source's to
		// remove: managed groups are read-only.
		ManagesProjects: true,
		Projects:        []Project{{ExternalID: "p-1", Key: "web", Name: "Web", Visibility: identity.Private}},
		Permissions:     []ProjectPermission{{"u-a", "p-1", identity.PermScan}},
	}
}

func logins(us []identity.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Login)
	}
	return out
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Snapshot)
		opts  PlanOptions
		check func(t *testing.T, p Plan)
	}{
		{
			name: "matching snapshot changes only the hand-made membership in a managed group",
			check: func(t *testing.T, p Plan) {
				if p.Changes() != 1 || len(p.RemoveMembers) != 1 || p.RemoveMembers[0] != (identity.Membership{UserID: 1, GroupID: 12}) {
					t.Fatalf("plan = %+v", p)
				}
			},
		},
		{
			name: "new user, group, membership, project and permission",
			edit: func(s *Snapshot) {
				s.Users = append(s.Users, User{ExternalID: "u-e", Login: "erin", Name: "Erin", Active: true})
				s.Groups = append(s.Groups, Group{ExternalID: "g-3", Name: "acme/new"})
				s.Memberships = append(s.Memberships, Membership{"u-e", "g-3"})
				s.Projects = append(s.Projects, Project{ExternalID: "p-2", Key: "api", Visibility: "internal"})
				s.Permissions = append(s.Permissions, ProjectPermission{"u-e", "p-2", identity.PermScan})
			},
			check: func(t *testing.T, p Plan) {
				if !slices.Equal(logins(p.CreateUsers), []string{"erin"}) || len(p.CreateGroups) != 1 || p.CreateGroups[0].Name != "acme/new" {
					t.Fatalf("plan = %+v", p)
				}
				if !slices.Contains(p.AddMembers, MemberRef{"erin", "acme/new"}) {
					t.Fatalf("add members = %v", p.AddMembers)
				}
				if len(p.CreateProjects) != 1 || p.CreateProjects[0].Visibility != identity.Private || p.CreateProjects[0].Name != "api" {
					t.Fatalf("internal must map to private, name default to key: %+v", p.CreateProjects)
				}
				if !slices.Contains(p.Grant, GrantRef{"erin", "api", identity.PermScan}) {
					t.Fatalf("grant = %v", p.Grant)
				}
			},
		},
		{
			name: "user gone from the source is deactivated, never deleted",
			edit: func(s *Snapshot) { s.Users = s.Users[:1]; s.Memberships = s.Memberships[:1] },
			check: func(t *testing.T, p Plan) {
				if !slices.Equal(logins(p.DeactivateUsers), []string{"bob"}) || p.DeactivateUsers[0].Active {
					t.Fatalf("deactivate = %v", p.DeactivateUsers)
				}
			},
		},
		{
			name: "disabled at the source is deactivated; enabled again is reactivated",
			edit: func(s *Snapshot) { s.Users[1].Active = false; s.Users[2].Active = true },
			check: func(t *testing.T, p Plan) {
				if !slices.Equal(logins(p.DeactivateUsers), []string{"bob"}) || !slices.Equal(logins(p.ReactivateUsers), []string{"carol"}) {
					t.Fatalf("plan = %+v", p)
				}
			},
		},
		{
			name: "renamed user and e-mail change are updates by external id",
			edit: func(s *Snapshot) { s.Users[0].Login, s.Users[0].Email = "alice2", "new@x" },
			check: func(t *testing.T, p Plan) {
				if len(p.UpdateUsers) != 1 || p.UpdateUsers[0].ID != 2 || p.UpdateUsers[0].Login != "alice2" {
					t.Fatalf("update = %+v", p.UpdateUsers)
				}
				if len(p.AddMembers) != 0 || len(p.RemoveMembers) != 1 || len(p.Grant) != 0 || len(p.Revoke) != 0 {
					t.Fatalf("a rename must keep memberships and grants: %+v", p)
				}
			},
		},
		{
			name: "a source that gives no e-mail keeps the stored one",
			edit: func(s *Snapshot) { s.Users[0].Email = "" },
			check: func(t *testing.T, p Plan) {
				if len(p.UpdateUsers) != 0 {
					t.Fatalf("update = %+v", p.UpdateUsers)
				}
			},
		},
		{
			name: "login taken by another source is skipped with a warning",
			edit: func(s *Snapshot) { s.Users = append(s.Users, User{ExternalID: "u-x", Login: "dave", Active: true}) },
			check: func(t *testing.T, p Plan) {
				if len(p.CreateUsers) != 0 || !hasWarning(p, `"dave"`) {
					t.Fatalf("plan = %+v", p)
				}
			},
		},
		{
			name: "group renamed at the source, group no longer allowed removed",
			edit: func(s *Snapshot) {
				s.Groups = []Group{{ExternalID: "g-1", Name: "acme-renamed"}}
				s.Memberships = s.Memberships[:1]
			},
			check: func(t *testing.T, p Plan) {
				if len(p.UpdateGroups) != 1 || p.UpdateGroups[0].Name != "acme-renamed" || p.UpdateGroups[0].ID != 12 {
					t.Fatalf("update = %+v", p.UpdateGroups)
				}
				if len(p.RemoveGroups) != 1 || p.RemoveGroups[0].ID != 13 {
					t.Fatalf("remove = %+v", p.RemoveGroups)
				}
			},
		},
		{
			name: "group name taken by a local group is skipped, unless existing groups are used",
			edit: func(s *Snapshot) {
				s.Groups = append(s.Groups, Group{ExternalID: "g-9", Name: "local-team"})
				s.Memberships = append(s.Memberships, Membership{"u-b", "g-9"})
			},
			check: func(t *testing.T, p Plan) {
				if len(p.CreateGroups) != 0 || len(p.AddMembers) != 0 || !hasWarning(p, "local-team") {
					t.Fatalf("plan = %+v", p)
				}
			},
		},
		{
			name: "existing groups used (LDAP): membership in the local group managed",
			opts: PlanOptions{Policy: Policy{UseExistingGroups: true}},
			edit: func(s *Snapshot) {
				s.Groups = append(s.Groups, Group{ExternalID: "g-9", Name: "local-team"})
				s.Memberships = append(s.Memberships, Membership{"u-b", "g-9"})
			},
			check: func(t *testing.T, p Plan) {
				if len(p.CreateGroups) != 0 || !slices.Contains(p.AddMembers, MemberRef{"bob", "local-team"}) {
					t.Fatalf("plan = %+v", p)
				}
			},
		},
		{
			name: "source owns all memberships (LDAP): manual membership removed",
			opts: PlanOptions{Policy: Policy{OwnAllMemberships: true}},
			check: func(t *testing.T, p Plan) {
				if !slices.Contains(p.RemoveMembers, identity.Membership{UserID: 2, GroupID: 14}) {
					t.Fatalf("remove = %+v", p.RemoveMembers)
				}
			},
		},
		{
			name: "first run resets manual memberships and project permissions of provisioned users",
			opts: PlanOptions{FirstRun: true},
			check: func(t *testing.T, p Plan) {
				if !slices.Contains(p.RemoveMembers, identity.Membership{UserID: 2, GroupID: 14}) {
					t.Fatalf("remove = %+v", p.RemoveMembers)
				}
				if len(p.Revoke) != 1 || p.Revoke[0].ProjectID != 101 {
					t.Fatalf("revoke = %+v", p.Revoke)
				}
			},
		},
		{
			name: "later runs keep manual memberships and permissions outside the source",
			check: func(t *testing.T, p Plan) {
				if slices.Contains(p.RemoveMembers, identity.Membership{UserID: 2, GroupID: 14}) || len(p.Revoke) != 0 {
					t.Fatalf("plan = %+v", p)
				}
			},
		},
		{
			name: "permission removed at the source is revoked; local users' and global grants untouched",
			edit: func(s *Snapshot) { s.Permissions = nil },
			opts: PlanOptions{FirstRun: true},
			check: func(t *testing.T, p Plan) {
				for _, g := range p.Revoke {
					if g.Subject.ID == 1 || g.Global() {
						t.Fatalf("revoked a local or global grant: %+v", g)
					}
				}
				if len(p.Revoke) != 2 {
					t.Fatalf("revoke = %+v", p.Revoke)
				}
			},
		},
		{
			name: "visibility change; implicit permissions on public projects not granted",
			edit: func(s *Snapshot) {
				s.Projects[0].Visibility = identity.Public
				s.Permissions = append(s.Permissions, ProjectPermission{"u-a", "p-1", identity.PermUser}, ProjectPermission{"u-a", "p-1", identity.PermCodeViewer})
			},
			check: func(t *testing.T, p Plan) {
				if len(p.UpdateProjects) != 1 || p.UpdateProjects[0].Visibility != identity.Public || len(p.Grant) != 0 {
					t.Fatalf("plan = %+v", p)
				}
			},
		},
		{
			name: "project key taken by a local project is skipped",
			edit: func(s *Snapshot) { s.Projects = append(s.Projects, Project{ExternalID: "p-9", Key: "local-proj"}) },
			check: func(t *testing.T, p Plan) {
				if len(p.CreateProjects) != 0 || !hasWarning(p, "local-proj") {
					t.Fatalf("plan = %+v", p)
				}
			},
		},
		{
			name: "a source that manages no projects touches no grant",
			edit: func(s *Snapshot) { s.ManagesProjects, s.Projects, s.Permissions = false, nil, nil },
			opts: PlanOptions{FirstRun: true},
			check: func(t *testing.T, p Plan) {
				if len(p.Revoke)+len(p.Grant)+len(p.CreateProjects) != 0 {
					t.Fatalf("plan = %+v", p)
				}
			},
		},
		{
			name: "invalid and duplicate entries are warnings",
			edit: func(s *Snapshot) {
				s.Users = append(s.Users, User{ExternalID: "u-a", Login: "twin", Active: true}, User{ExternalID: "", Login: "noid", Active: true}, User{ExternalID: "u-z", Login: "", Active: true})
				s.Groups = append(s.Groups, Group{ExternalID: "g-z", Name: ""})
			},
			check: func(t *testing.T, p Plan) {
				if len(p.CreateUsers)+len(p.CreateGroups) != 0 || len(p.Warnings) != 4 {
					t.Fatalf("plan = %+v, warnings %q", p, p.Warnings)
				}
			},
		},
		{
			name: "sonar-users named by the source is ignored",
			edit: func(s *Snapshot) {
				s.Groups = append(s.Groups, Group{ExternalID: "g-u", Name: identity.GroupUsers})
				s.Memberships = append(s.Memberships, Membership{"u-a", "g-u"})
			},
			check: func(t *testing.T, p Plan) {
				if p.Changes() != 1 {
					t.Fatalf("plan = %+v", p)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snap := same()
			if tc.edit != nil {
				tc.edit(&snap)
			}
			tc.opts.Source = gl
			cur := world()
			p := MakePlan(cur, snap, tc.opts)
			tc.check(t, p)
			// Pure and order-independent: a shuffled snapshot plans the same.
			slices.Reverse(snap.Users)
			slices.Reverse(snap.Groups)
			if again := MakePlan(cur, snap, tc.opts); again.Changes() != p.Changes() {
				t.Fatalf("plan depends on order: %d vs %d changes", again.Changes(), p.Changes())
			}
		})
	}
}

func hasWarning(p Plan, sub string) bool {
	for _, w := range p.Warnings {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

func TestGuard(t *testing.T) {
	cur := Current{}
	for i := range 100 {
		cur.Users = append(cur.Users, identity.User{ID: int64(i + 1), Source: gl, Active: true})
		cur.Memberships = append(cur.Memberships, identity.Membership{UserID: int64(i + 1), GroupID: 1})
	}
	cur.Groups = []identity.Group{{ID: 1, Name: "g", Source: gl}}
	deact := func(n int) *Plan {
		p := &Plan{}
		for i := range n {
			p.DeactivateUsers = append(p.DeactivateUsers, cur.Users[i])
		}
		return p
	}
	remove := func(n int) *Plan {
		p := &Plan{}
		p.RemoveMembers = append(p.RemoveMembers, cur.Memberships[:n]...)
		return p
	}
	tests := []struct {
		name  string
		guard Guard
		plan  *Plan
		ok    bool
	}{
		{"10% deactivations pass", Guard{}, deact(10), true},
		{"11% deactivations abort", Guard{}, deact(11), false},
		{"configured share", Guard{MaxDeactivateShare: 0.5}, deact(50), true},
		{"11% removals abort", Guard{}, remove(11), false},
		{"removing the group counts its memberships", Guard{}, &Plan{RemoveGroups: cur.Groups}, false},
		{"small changes under the floor pass", Guard{MaxDeactivateShare: 0.01}, deact(5), true},
		{"no floor", Guard{MaxDeactivateShare: 0.01, Floor: -1}, deact(2), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.guard.Check(cur, tc.plan, string(gl))
			if (err == nil) != tc.ok {
				t.Fatalf("Check = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "force") {
				t.Fatalf("the refusal must say how to proceed: %v", err)
			}
		})
	}
}

// TestPlanPermissionsMatchesReference compares the plan's permission diff
// (integer-keyed, merged) with the rule written plainly, on random states:
// grants wanted and not held are granted in project, login, permission
// order; held and not wanted are revoked, in the store's order, when the
// source owns them.
func TestPlanPermissionsMatchesReference(t *testing.T) {
	perms := identity.ProjectPermissions
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 7))
		var cur Current
		var snap Snapshot
		snap.ManagesProjects = true
		for i := range 12 {
			src := gl
			if i%4 == 3 {
				src = identity.SourceLocal
			}
			cur.Users = append(cur.Users, identity.User{ID: int64(i + 1), Login: fmt.Sprintf("u%02d", i), Name: "n", ExternalID: fmt.Sprintf("x%d", i), Source: src, Active: true})
			if src == gl && r.IntN(5) > 0 {
				snap.Users = append(snap.Users, User{ExternalID: fmt.Sprintf("x%d", i), Login: fmt.Sprintf("u%02d", i), Name: "n", Active: true})
			}
		}
		for i := range 8 {
			src, vis := gl, identity.Private
			if i%3 == 2 {
				src = identity.SourceLocal
			}
			if r.IntN(3) == 0 {
				vis = identity.Public
			}
			key := fmt.Sprintf("p%d", 7-i) // ids and keys in opposite orders
			cur.Projects = append(cur.Projects, identity.Project{ID: int64(100 + i), Key: key, Name: key, Visibility: vis, Source: src, ExternalID: fmt.Sprintf("e%d", i)})
			if src == gl {
				snap.Projects = append(snap.Projects, Project{ExternalID: fmt.Sprintf("e%d", i), Key: key, Name: key, Visibility: vis})
			}
		}
		for range 60 {
			u, p, perm := cur.Users[r.IntN(len(cur.Users))], cur.Projects[r.IntN(len(cur.Projects))], perms[r.IntN(len(perms))]
			if r.IntN(2) == 0 {
				cur.Grants = append(cur.Grants, identity.Grant{Subject: identity.UserSubject(u.ID), ProjectID: p.ID, Permission: perm})
			} else {
				snap.Permissions = append(snap.Permissions, ProjectPermission{UserExternalID: u.ExternalID, ProjectExternalID: p.ExternalID, Permission: perm})
			}
		}
		first := seed%2 == 0
		got := MakePlan(cur, snap, PlanOptions{Source: gl, FirstRun: first})

		// The reference, from the plan's own view of users and projects.
		pl := planner{cur: cur, snap: snap, opts: PlanOptions{Source: gl, FirstRun: first}, src: gl}
		pl.users()
		pl.groups()
		pl.memberships()
		pl.projects()
		want := map[GrantRef]bool{}
		for _, p := range snap.Permissions {
			login, ok1 := pl.loginOf[p.UserExternalID]
			key, ok2 := pl.projectOf[p.ProjectExternalID]
			if ok1 && ok2 && !(pl.publicKey[key] && p.Permission.ImplicitOnPublic()) {
				want[GrantRef{Login: login, Project: key, Permission: p.Permission}] = true
			}
		}
		byID := map[int64]identity.User{}
		for _, u := range cur.Users {
			byID[u.ID] = u
		}
		proj := map[int64]identity.Project{}
		for _, p := range cur.Projects {
			proj[p.ID] = p
		}
		have := map[GrantRef]bool{}
		var revoke []identity.Grant
		for _, g := range cur.Grants {
			u, p := byID[g.Subject.ID], proj[g.ProjectID]
			ref := GrantRef{Login: u.Login, Project: p.Key, Permission: g.Permission}
			have[ref] = true
			if !want[ref] && u.Source == gl && (p.Source == gl || first) {
				revoke = append(revoke, g)
			}
		}
		var grant []GrantRef
		for ref := range want {
			if !have[ref] {
				grant = append(grant, ref)
			}
		}
		slices.SortFunc(grant, func(a, b GrantRef) int {
			return cmp.Or(strings.Compare(a.Project, b.Project), strings.Compare(a.Login, b.Login), strings.Compare(string(a.Permission), string(b.Permission)))
		})
		if !slices.Equal(got.Grant, grant) {
			t.Errorf("seed %d: grants\n got %v\nwant %v", seed, got.Grant, grant)
		}
		if !slices.Equal(got.Revoke, revoke) {
			t.Errorf("seed %d: revocations\n got %v\nwant %v", seed, got.Revoke, revoke)
		}
	}
}
