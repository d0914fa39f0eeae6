package authz

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/token"
)

// fixture is a small world: ids are fixed so tests read plainly.
//
//	users: 1 alice (admin via sonar-administrators), 2 bob (dev), 3 carol (no groups), 4 dave (deactivated)
//	groups: 10 sonar-administrators, 11 sonar-users, 12 devs
//	projects: 100 "web" private, 101 "docs" public, 102 "lib" private
type fixture struct {
	ix      *Index
	clock   *atomic.Int64
	secrets map[string]string // token name → secret
}

func (f *fixture) advance(d time.Duration) { f.clock.Add(int64(d)) }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clock := &atomic.Int64{}
	clock.Store(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano())
	f := &fixture{clock: clock, secrets: map[string]string{}}
	f.ix = NewIndex(func() time.Time { return time.Unix(0, clock.Load()) })
	snap := store.Snapshot{
		Users: []identity.User{
			{ID: 1, Login: "alice", Active: true},
			{ID: 2, Login: "bob", Active: true},
			{ID: 3, Login: "carol", Active: true},
			{ID: 4, Login: "dave", Active: false},
		},
		Groups: []identity.Group{
			{ID: 10, Name: identity.GroupAdministrators},
			{ID: 11, Name: identity.GroupUsers},
			{ID: 12, Name: "devs"},
		},
		Memberships: []identity.Membership{{UserID: 1, GroupID: 10}, {UserID: 2, GroupID: 12}, {UserID: 4, GroupID: 10}},
		Projects: []identity.Project{
			{ID: 100, Key: "web", Visibility: identity.Private},
			{ID: 101, Key: "docs", Visibility: identity.Public},
			{ID: 102, Key: "lib", Visibility: identity.Private},
		},
		Grants: []identity.Grant{
			{Subject: identity.GroupSubject(10), Permission: identity.PermAdmin},
			{Subject: identity.GroupSubject(12), ProjectID: 100, Permission: identity.PermScan},
			{Subject: identity.GroupSubject(12), ProjectID: 100, Permission: identity.PermUser},
			{Subject: identity.GroupSubject(11), ProjectID: 102, Permission: identity.PermUser},
			{Subject: identity.UserSubject(3), ProjectID: 101, Permission: identity.PermIssueAdmin},
			{Subject: identity.Anyone, ProjectID: 101, Permission: identity.PermScan},
		},
		TokenProjects: map[int64][]int64{},
	}
	add := func(tk identity.Token, projects ...int64) {
		secret, hash, err := token.Generate(tk.Type)
		if err != nil {
			t.Fatal(err)
		}
		tk.Hash = hash[:]
		snap.Tokens = append(snap.Tokens, tk)
		snap.TokenProjects[tk.ID] = projects
		f.secrets[tk.Name] = secret
	}
	add(identity.Token{ID: 1, Name: "alice-user", Type: identity.TokenUser, UserID: 1})
	add(identity.Token{ID: 2, Name: "bob-user", Type: identity.TokenUser, UserID: 2})
	add(identity.Token{ID: 3, Name: "bob-global", Type: identity.TokenGlobalAnalysis, UserID: 2})
	add(identity.Token{ID: 4, Name: "bob-project-web", Type: identity.TokenProjectAnalysis, UserID: 2, ProjectID: 100})
	add(identity.Token{ID: 5, Name: "dave-user", Type: identity.TokenUser, UserID: 4})
	add(identity.Token{ID: 6, Name: "org-explicit", Type: identity.TokenOrganization, Permissions: []identity.Permission{identity.PermScan}}, 100)
	add(identity.Token{ID: 7, Name: "org-all", Type: identity.TokenOrganization, Permissions: []identity.Permission{identity.PermScan, identity.PermUser}, Scope: identity.TokenScope{Set: identity.SetAll}})
	add(identity.Token{ID: 8, Name: "org-public", Type: identity.TokenOrganization, Permissions: []identity.Permission{identity.PermScan}, Scope: identity.TokenScope{Set: identity.SetPublic}})
	add(identity.Token{ID: 9, Name: "org-private", Type: identity.TokenOrganization, Permissions: []identity.Permission{identity.PermScan}, Scope: identity.TokenScope{Set: identity.SetPrivate}})
	add(identity.Token{ID: 10, Name: "org-pattern", Type: identity.TokenOrganization, Permissions: []identity.Permission{identity.PermScan}, Scope: identity.TokenScope{Patterns: []string{`team-a\..*`}}})
	add(identity.Token{ID: 11, Name: "org-union", Type: identity.TokenOrganization, Permissions: []identity.Permission{identity.PermScan}, Scope: identity.TokenScope{Set: identity.SetPublic, Patterns: []string{`li.`}}}, 100)
	add(identity.Token{ID: 12, Name: "expiring", Type: identity.TokenUser, UserID: 2, ExpiresAt: time.Unix(0, clock.Load()).Add(time.Hour)})
	add(identity.Token{ID: 13, Name: "scim", Type: identity.TokenSCIM, SCIMScopes: []string{"users:read"}})
	if err := f.ix.Load(snap); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) principal(t *testing.T, name string) Principal {
	t.Helper()
	if strings.HasPrefix(name, "user:") {
		var id int64
		fmt.Sscan(strings.TrimPrefix(name, "user:"), &id)
		return Principal{UserID: id}
	}
	p, _, err := f.ix.Resolve(f.secrets[name])
	if err != nil {
		t.Fatalf("Resolve(%s): %v", name, err)
	}
	return p
}

func TestDecide(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		principal string
		perm      identity.Permission
		project   string
		allowed   bool
		reason    Reason
	}{
		// Users and their groups.
		{"user:1", identity.PermAdmin, "", true, ReasonGroupGrant},
		{"user:2", identity.PermAdmin, "", false, ReasonNoGrant},
		{"user:2", identity.PermScan, "web", true, ReasonGroupGrant},
		{"user:3", identity.PermScan, "web", false, ReasonNoGrant},
		{"user:3", identity.PermUser, "lib", true, ReasonGroupGrant}, // sonar-users, implicit member
		{"user:3", identity.PermIssueAdmin, "docs", true, ReasonUserGrant},
		// Global admin implies nothing on projects (SonarQube semantics).
		{"user:1", identity.PermAdmin, "web", false, ReasonNoGrant},
		{"user:1", identity.PermUser, "web", false, ReasonNoGrant},
		// Public projects: browse and code viewing are implicit; Anyone grants count.
		{"user:3", identity.PermUser, "docs", true, ReasonPublicProject},
		{"user:3", identity.PermCodeViewer, "docs", true, ReasonPublicProject},
		{"user:3", identity.PermScan, "docs", true, ReasonAnyoneGrant},
		{"user:3", identity.PermAdmin, "docs", false, ReasonNoGrant},
		// Deactivated users can do nothing, even public browse.
		{"user:4", identity.PermAdmin, "", false, ReasonInactiveUser},
		{"user:4", identity.PermUser, "docs", false, ReasonInactiveUser},
		{"user:99", identity.PermUser, "docs", false, ReasonUnknownPrincipal},
		// Bad questions.
		{"user:1", identity.PermUser, "nope", false, ReasonUnknownProject},
		{"user:1", identity.PermCodeViewer, "", false, ReasonInvalidPermission},
		{"user:1", identity.PermProvisioning, "web", false, ReasonInvalidPermission},
		// User token: the user's rights, capped by nothing.
		{"alice-user", identity.PermAdmin, "", true, ReasonGroupGrant},
		{"bob-user", identity.PermScan, "web", true, ReasonGroupGrant},
		// Global analysis token: scan and provisioning only.
		{"bob-global", identity.PermScan, "web", true, ReasonGroupGrant},
		{"bob-global", identity.PermUser, "web", false, ReasonTokenCapped},
		{"bob-global", identity.PermAdmin, "", false, ReasonTokenCapped},
		// Project analysis token: scan and browse on its one project.
		{"bob-project-web", identity.PermScan, "web", true, ReasonGroupGrant},
		{"bob-project-web", identity.PermUser, "web", true, ReasonGroupGrant},
		{"bob-project-web", identity.PermScan, "docs", false, ReasonTokenCapped},
		{"bob-project-web", identity.PermScan, "", false, ReasonTokenCapped},
		// Organization tokens: their permissions on their scope, no user behind.
		{"org-explicit", identity.PermScan, "web", true, ReasonTokenScope},
		{"org-explicit", identity.PermScan, "lib", false, ReasonOutOfScope},
		{"org-explicit", identity.PermUser, "web", false, ReasonTokenCapped},
		{"org-explicit", identity.PermScan, "", false, ReasonTokenCapped},
		{"org-all", identity.PermScan, "lib", true, ReasonTokenScope},
		{"org-all", identity.PermUser, "docs", true, ReasonTokenScope},
		{"org-all", identity.PermAdmin, "lib", false, ReasonTokenCapped},
		{"org-public", identity.PermScan, "docs", true, ReasonTokenScope},
		{"org-public", identity.PermScan, "web", false, ReasonOutOfScope},
		{"org-private", identity.PermScan, "web", true, ReasonTokenScope},
		{"org-private", identity.PermScan, "docs", false, ReasonOutOfScope},
		{"org-pattern", identity.PermScan, "web", false, ReasonOutOfScope},
		{"org-union", identity.PermScan, "web", true, ReasonTokenScope},  // explicit
		{"org-union", identity.PermScan, "docs", true, ReasonTokenScope}, // public set
		{"org-union", identity.PermScan, "lib", true, ReasonTokenScope},  // pattern
		// SCIM tokens carry no platform permission.
		{"scim", identity.PermScan, "web", false, ReasonTokenCapped},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%s/%s/%s", tc.principal, tc.perm, tc.project)
		t.Run(name, func(t *testing.T) {
			d := f.ix.Decide(f.principal(t, tc.principal), tc.perm, tc.project)
			if d.Allowed != tc.allowed || d.Reason != tc.reason {
				t.Fatalf("Decide = %+v, want allowed=%v reason=%v", d, tc.allowed, tc.reason)
			}
		})
	}
}

func TestGlobalScanImpliesProjectScan(t *testing.T) {
	f := newFixture(t)
	p := Principal{UserID: 3}
	if f.ix.Decide(p, identity.PermScan, "lib").Allowed {
		t.Fatal("carol can scan lib before any grant")
	}
	f.ix.AddGrant(identity.Grant{Subject: identity.UserSubject(3), Permission: identity.PermScan})
	if d := f.ix.Decide(p, identity.PermScan, "lib"); !d.Allowed || d.Reason != ReasonGlobalScan {
		t.Fatalf("after global scan: %+v", d)
	}
	if f.ix.Decide(p, identity.PermUser, "lib").Allowed != true { // via sonar-users
		t.Fatal("browse via sonar-users lost")
	}
}

// The core promise: a write that removes a right is seen by the next decision.
func TestRemovalSeenByNextDecision(t *testing.T) {
	f := newFixture(t)
	p := f.principal(t, "alice-user")
	if !f.ix.Decide(p, identity.PermAdmin, "").Allowed {
		t.Fatal("alice's token is not admin")
	}
	f.ix.RemoveMember(1, 10)
	if d := f.ix.Decide(p, identity.PermAdmin, ""); d.Allowed {
		t.Fatalf("alice's token still admin after leaving sonar-administrators: %+v", d)
	}
	f.ix.AddMember(1, 10)
	if !f.ix.Decide(p, identity.PermAdmin, "").Allowed {
		t.Fatal("alice's token not admin after re-joining")
	}

	// Deactivation refuses every token of the user at once.
	bob := f.principal(t, "bob-user")
	f.ix.PutUser(identity.User{ID: 2, Login: "bob", Active: false})
	for _, name := range []string{"bob-user", "bob-global", "bob-project-web", "expiring"} {
		if _, _, err := f.ix.Resolve(f.secrets[name]); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Errorf("Resolve(%s) after deactivation = %v, want unauthenticated", name, err)
		}
	}
	if d := f.ix.Decide(bob, identity.PermScan, "web"); d.Allowed || d.Reason != ReasonInactiveUser {
		t.Fatalf("decision with a principal resolved before deactivation: %+v", d)
	}

	// Revocation.
	f.ix.RemoveToken(6)
	if _, _, err := f.ix.Resolve(f.secrets["org-explicit"]); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("revoked token resolves: %v", err)
	}
	// Deleting the group behind a grant.
	carol := Principal{UserID: 3}
	f.ix.DeleteGroup(11)
	if f.ix.Decide(carol, identity.PermUser, "lib").Allowed {
		t.Fatal("grant of a deleted group still counts")
	}
}

func TestScopeFollowsNewProjects(t *testing.T) {
	f := newFixture(t)
	f.ix.PutProject(identity.Project{ID: 200, Key: "team-a.api", Visibility: identity.Private})
	f.ix.PutProject(identity.Project{ID: 201, Key: "later-public", Visibility: identity.Public})
	cases := []struct {
		token, project string
		allowed        bool
	}{
		{"org-all", "team-a.api", true},
		{"org-all", "later-public", true},
		{"org-pattern", "team-a.api", true},
		{"org-private", "team-a.api", true},
		{"org-public", "later-public", true},
		{"org-public", "team-a.api", false},
		{"org-explicit", "team-a.api", false},
	}
	for _, tc := range cases {
		if got := f.ix.Decide(f.principal(t, tc.token), identity.PermScan, tc.project).Allowed; got != tc.allowed {
			t.Errorf("%s on %s = %v, want %v", tc.token, tc.project, got, tc.allowed)
		}
	}
	// Visibility changes move projects between the public and private sets.
	f.ix.PutProject(identity.Project{ID: 201, Key: "later-public", Visibility: identity.Private})
	if f.ix.Decide(f.principal(t, "org-public"), identity.PermScan, "later-public").Allowed {
		t.Error("org-public still covers a project made private")
	}
	// A deleted project leaves every scope.
	f.ix.DeleteProject(100)
	if d := f.ix.Decide(f.principal(t, "org-explicit"), identity.PermScan, "web"); d.Allowed {
		t.Errorf("deleted project still in scope: %+v", d)
	}
	if _, _, err := f.ix.Resolve(f.secrets["bob-project-web"]); err == nil {
		t.Error("project analysis token of a deleted project still resolves")
	}
}

func TestOrganizationTokenOverTenThousandProjects(t *testing.T) {
	ix := NewIndex(nil)
	var snap store.Snapshot
	var ids []int64
	for i := 1; i <= 12_000; i++ {
		snap.Projects = append(snap.Projects, identity.Project{ID: int64(i), Key: fmt.Sprintf("p-%05d", i), Visibility: identity.Private})
		if i <= 10_000 {
			ids = append(ids, int64(i))
		}
	}
	secret, hash, _ := token.Generate(identity.TokenOrganization)
	snap.Tokens = []identity.Token{{ID: 1, Name: "big", Type: identity.TokenOrganization, Hash: hash[:], Permissions: []identity.Permission{identity.PermScan}}}
	snap.TokenProjects = map[int64][]int64{1: ids}
	if err := ix.Load(snap); err != nil {
		t.Fatal(err)
	}
	p, _, err := ix.Resolve(secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key     string
		allowed bool
	}{{"p-00001", true}, {"p-05000", true}, {"p-10000", true}, {"p-10001", false}, {"p-12000", false}} {
		if got := ix.Decide(p, identity.PermScan, tc.key).Allowed; got != tc.allowed {
			t.Errorf("%s: %v, want %v", tc.key, got, tc.allowed)
		}
	}
	if n := len(ix.ProjectsInScope(1)); n != 10_000 {
		t.Errorf("ProjectsInScope = %d projects, want 10000", n)
	}
	ix.RemoveTokenProjects(1, []int64{5000})
	ix.AddTokenProjects(1, []int64{12000})
	if ix.Decide(p, identity.PermScan, "p-05000").Allowed || !ix.Decide(p, identity.PermScan, "p-12000").Allowed {
		t.Error("explicit list edits not seen")
	}
}

func TestResolve(t *testing.T) {
	f := newFixture(t)
	good := f.secrets["bob-user"]
	unknown, _, _ := token.Generate(identity.TokenUser)
	// A global-analysis secret whose hash is stored as a user token.
	mismatched, hash, _ := token.Generate(identity.TokenGlobalAnalysis)
	if err := f.ix.PutToken(identity.Token{ID: 50, Name: "odd", Type: identity.TokenUser, UserID: 2, Hash: hash[:]}, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, secret string
		want         error
	}{
		{"valid", good, nil},
		{"bad checksum", good[:10] + otherChar(good[10]) + good[11:], token.ErrChecksum},
		{"malformed", "squ_abc", token.ErrMalformed},
		{"unknown", unknown, identity.ErrUnauthenticated},
		{"deactivated owner", f.secrets["dave-user"], identity.ErrUnauthenticated},
		{"prefix of another type than stored", mismatched, identity.ErrUnauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.ix.Resolve(tc.secret)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Resolve = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestExpiryAndRotationGrace(t *testing.T) {
	f := newFixture(t)
	if _, _, err := f.ix.Resolve(f.secrets["expiring"]); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	p := f.principal(t, "expiring")
	f.advance(time.Hour)
	_, _, err := f.ix.Resolve(f.secrets["expiring"])
	if !errors.Is(err, identity.ErrUnauthenticated) || !strings.Contains(err.Error(), "The token expired on 2026-11-25") {
		t.Fatalf("after expiry: %v", err)
	}
	if d := f.ix.Decide(p, identity.PermScan, "web"); d.Allowed || d.Reason != ReasonTokenExpired {
		t.Fatalf("decision after expiry: %+v", d)
	}

	// Rotation: the old secret works during the grace period only.
	old := f.secrets["org-all"]
	newSecret, newHash, _ := token.Generate(identity.TokenOrganization)
	_, oldHash, _ := token.Parse(old)
	rotated := identity.Token{ID: 7, Name: "org-all", Type: identity.TokenOrganization, Hash: newHash[:], PrevHash: oldHash[:],
		PrevValidUntil: f.ix.now().Add(10 * time.Minute), Permissions: []identity.Permission{identity.PermScan}, Scope: identity.TokenScope{Set: identity.SetAll}}
	if err := f.ix.PutToken(rotated, nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{old, newSecret} {
		if _, _, err := f.ix.Resolve(s); err != nil {
			t.Fatalf("during grace: %v", err)
		}
	}
	f.advance(10 * time.Minute)
	if _, _, err := f.ix.Resolve(old); err == nil {
		t.Fatal("old secret works after the grace period")
	}
	if _, _, err := f.ix.Resolve(newSecret); err != nil {
		t.Fatalf("new secret after grace: %v", err)
	}
}

func TestTouchAtMostOncePerMinute(t *testing.T) {
	f := newFixture(t)
	secret := f.secrets["bob-user"]
	touches := 0
	for range 180 { // three minutes, one call a second
		if _, touch, err := f.ix.Resolve(secret); err != nil {
			t.Fatal(err)
		} else if touch {
			touches++
		}
		f.advance(time.Second)
	}
	if touches != 3 {
		t.Fatalf("%d touches in three minutes, want 3", touches)
	}
}

func TestExplain(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		principal, project string
		perm               identity.Permission
		allowed            bool
		chain              string // kinds and names, joined
		missing            string
	}{
		{"alice-user", "", identity.PermAdmin, true, "token:alice-user user:alice group:sonar-administrators grant:admin", ""},
		{"bob-user", "web", identity.PermScan, true, "token:bob-user user:bob group:devs grant:scan", ""},
		{"bob-user", "lib", identity.PermScan, false, "token:bob-user user:bob", "no grant of 'scan' on project 'lib' to user bob, to any of its groups (sonar-users, devs), or to Anyone"},
		{"user:3", "docs", identity.PermUser, true, "user:carol project:docs", ""},
		{"org-explicit", "lib", identity.PermScan, false, "token:org-explicit", "project 'lib' is outside the token's project scope"},
		{"org-all", "lib", identity.PermScan, true, "token:org-all scope:lib grant:scan", ""},
		{"bob-global", "web", identity.PermUser, false, "token:bob-global user:bob", "a global analysis token only carries scan and global provisioning"},
		{"user:4", "", identity.PermAdmin, false, "user:dave", "user dave is deactivated"},
	}
	for _, tc := range cases {
		t.Run(tc.principal+"/"+string(tc.perm)+"/"+tc.project, func(t *testing.T) {
			e := f.ix.Explain(f.principal(t, tc.principal), tc.perm, tc.project)
			var parts []string
			for _, l := range e.Chain {
				parts = append(parts, l.Kind+":"+l.Name)
			}
			if e.Allowed != tc.allowed || strings.Join(parts, " ") != tc.chain || e.Missing != tc.missing {
				t.Fatalf("Explain = allowed %v chain %q missing %q\nwant allowed %v chain %q missing %q", e.Allowed, strings.Join(parts, " "), e.Missing, tc.allowed, tc.chain, tc.missing)
			}
			if e.Reason == "" {
				t.Fatal("no reason text")
			}
		})
	}
	if _, reason := f.ix.ReasonText(f.principal(t, "bob-user"), identity.PermScan, "lib"); !strings.HasPrefix(reason, ScanDenied) {
		t.Errorf("scan denial reason %q does not use SonarQube's message", reason)
	}
}

func TestHasGlobalHolderWithout(t *testing.T) {
	f := newFixture(t)
	admins := identity.GroupSubject(10)
	cases := []struct {
		name string
		w    Without
		want bool
	}{
		{"no change", Without{}, true},
		{"alice deactivated", Without{User: 1}, false}, // dave is in the group but inactive
		{"alice leaves admins", Without{Membership: identity.Membership{UserID: 1, GroupID: 10}}, false},
		{"group loses admin", Without{Grant: &admins}, false},
		{"bob deactivated", Without{User: 2}, true},
	}
	for _, tc := range cases {
		if got := f.ix.HasGlobalHolderWithout(identity.PermAdmin, tc.w); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestStoredBadPatternFailsClosed loads a token whose pattern no longer
// compiles: the index loads, and the pattern covers nothing.
func TestStoredBadPatternFailsClosed(t *testing.T) {
	ix := NewIndex(nil)
	secret, hash, _ := token.Generate(identity.TokenOrganization)
	err := ix.Load(store.Snapshot{
		Projects: []identity.Project{{ID: 1, Key: "web", Visibility: identity.Private}},
		Tokens: []identity.Token{{ID: 1, Name: "old", Type: identity.TokenOrganization, Hash: hash[:],
			Permissions: []identity.Permission{identity.PermScan}, Scope: identity.TokenScope{Patterns: []string{"web)|(x", "w.*"}}}},
	})
	if err != nil {
		t.Fatalf("Load with a stale pattern: %v", err)
	}
	p, _, err := ix.Resolve(secret)
	if err != nil {
		t.Fatal(err)
	}
	if !ix.Decide(p, identity.PermScan, "web").Allowed {
		t.Fatal("the valid pattern beside the stale one stopped working")
	}
}

func TestKeysMatching(t *testing.T) {
	ix := NewIndex(nil)
	for i, k := range []string{"team-a.web", "team-a.api", "team-b.api", "other"} {
		ix.PutProject(identity.Project{ID: int64(300 + i), Key: k, Visibility: identity.Private})
	}
	for _, tc := range []struct {
		name, pattern string
		limit         int
		keys          []string
		total         int
	}{
		{"prefix, sorted", `team-a\..*`, 10, []string{"team-a.api", "team-a.web"}, 2},
		{"cut at the limit, total counts all", `.*\.api`, 1, []string{"team-a.api"}, 2},
		{"whole key only", `team`, 10, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			re, err := identity.CompileKeyPattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			keys, total := ix.KeysMatching(re, tc.limit)
			if !slices.Equal(keys, tc.keys) || total != tc.total {
				t.Fatalf("KeysMatching(%s) = %v, %d; want %v, %d", tc.pattern, keys, total, tc.keys, tc.total)
			}
		})
	}
}

// TestMemberships lists the explicit memberships held in memory, of a user
// and of a group, as the store would (the answer of a committed write that
// cannot re-read them).
func TestMemberships(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name            string
		userID, groupID int64
		want            []identity.Membership
	}{
		{"a user's", 1, 0, []identity.Membership{{UserID: 1, GroupID: 10}}},
		{"a user without groups", 3, 0, nil},
		{"a group's, deactivated members included", 0, 10, []identity.Membership{{UserID: 1, GroupID: 10}, {UserID: 4, GroupID: 10}}},
		{"sonar-users is implicit", 0, 11, nil},
		{"unknown user", 99, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.ix.Memberships(tc.userID, tc.groupID); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("Memberships(%d, %d) = %v, want %v", tc.userID, tc.groupID, got, tc.want)
			}
		})
	}
}

// otherChar is a token character other than c: a one-character typo that
// stays within the alphabet (flipping a bit of 'z' gives '{', a malformed
// token rather than a bad checksum).
func otherChar(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

// TestGrantedProjectKeys: the projects named by explicit grants, confirmed
// by decisions; incomplete where grants cannot tell.
func TestGrantedProjectKeys(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		who      string
		perm     identity.Permission
		want     []string
		complete bool
	}{
		{"user:3", identity.PermIssueAdmin, []string{"docs"}, true}, // carol's own grant
		{"user:2", identity.PermIssueAdmin, nil, true},              // bob: none
		{"user:4", identity.PermIssueAdmin, nil, true},              // dave: inactive
		{"bob-global", identity.PermIssueAdmin, nil, true},          // a global analysis token is capped
		{"user:2", identity.PermScan, nil, false},                   // scan may come from the global permission
		{"user:2", identity.PermUser, nil, false},                   // browse is implicit on public projects
		{"org-all", identity.PermIssueAdmin, nil, false},            // an organization token's scope decides
		{"user:1", identity.PermProvisioning, nil, false},           // not a project permission
		{"user:99", identity.PermIssueAdmin, nil, true},             // unknown user
	} {
		t.Run(tc.who+" "+string(tc.perm), func(t *testing.T) {
			keys, complete := f.ix.GrantedProjectKeys(f.principal(t, tc.who), tc.perm)
			slices.Sort(keys)
			if complete != tc.complete || !slices.Equal(keys, tc.want) {
				t.Fatalf("GrantedProjectKeys = %v, %v; want %v, %v", keys, complete, tc.want, tc.complete)
			}
		})
	}
}
