package state

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// env is a State over a fresh SQLite store with a settable clock.
type env struct {
	t     *testing.T
	ctx   context.Context
	db    store.Store
	s     *State
	clock *atomic.Int64
}

func (e *env) advance(d time.Duration) { e.clock.Add(int64(d)) }

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := WithActor(t.Context(), Actor{Name: "user:test", RequestID: "req-1"})
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "g.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return newEnvOn(t, ctx, db)
}

func newEnvOn(t *testing.T, ctx context.Context, db store.Store) *env {
	t.Helper()
	clock := &atomic.Int64{}
	clock.Store(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano())
	s, err := New(ctx, db, Options{Now: func() time.Time { return time.Unix(0, clock.Load()).UTC() }})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, db: db, s: s, clock: clock}
}

func (e *env) user(login string, groups ...string) identity.User {
	e.t.Helper()
	u, err := e.s.CreateUser(e.ctx, NewUser{Login: login, Name: login, Password: "a-long-password-" + login})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, g := range groups {
		if _, err := e.s.Store().GetGroupByName(e.ctx, g); errors.Is(err, identity.ErrNotFound) {
			if _, err := e.s.CreateGroup(e.ctx, identity.Group{Name: g}); err != nil {
				e.t.Fatal(err)
			}
		}
		if err := e.s.AddMember(e.ctx, g, login); err != nil {
			e.t.Fatal(err)
		}
	}
	return u
}

func (e *env) project(key string, vis identity.Visibility, creator int64) identity.Project {
	e.t.Helper()
	p, err := e.s.CreateProject(e.ctx, identity.Project{Key: key, Name: key, Visibility: vis}, creator)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// principal is u's principal, as its session would give it.
func (e *env) principal(u identity.User) authz.Principal {
	e.t.Helper()
	p, err := e.s.Index().UserPrincipal(u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) allowed(secret string, perm identity.Permission, key string) bool {
	e.t.Helper()
	p, err := e.s.Authenticate(secret)
	if err != nil {
		return false
	}
	return e.s.Index().Decide(p, perm, key).Allowed
}

// The acceptance test of SPEC §5 at the core: removing a user from
// sonar-administrators removes admin from its token on the next call;
// deactivating a user refuses all of its tokens at once.
func TestWritesSeenByNextDecision(t *testing.T) {
	e := newEnv(t)
	e.user("root", identity.GroupAdministrators) // keeps an administrator around
	alice := e.user("alice", identity.GroupAdministrators, "devs")
	web := e.project("web", identity.Private, 0)
	if err := e.s.AddGrant(e.ctx, identity.Grant{Subject: identity.GroupSubject(mustGroup(t, e, "devs").ID), ProjectID: web.ID, Permission: identity.PermScan}); err != nil {
		t.Fatal(err)
	}
	userTok, _, err := e.s.GenerateUserToken(e.ctx, NewUserToken{UserID: alice.ID, Name: "t1", Type: identity.TokenUser})
	if err != nil {
		t.Fatal(err)
	}
	scanTok, _, err := e.s.GenerateUserToken(e.ctx, NewUserToken{UserID: alice.ID, Name: "t2", Type: identity.TokenProjectAnalysis, ProjectID: web.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !e.allowed(userTok, identity.PermAdmin, "") {
		t.Fatal("token not admin while alice is in sonar-administrators")
	}
	if err := e.s.RemoveMember(e.ctx, identity.GroupAdministrators, "alice"); err != nil {
		t.Fatal(err)
	}
	if e.allowed(userTok, identity.PermAdmin, "") {
		t.Fatal("token still admin on the call after removal from sonar-administrators")
	}
	if !e.allowed(scanTok, identity.PermScan, "web") {
		t.Fatal("project token lost scan it still has")
	}
	if _, err := e.s.SetUserActive(e.ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{userTok, scanTok} {
		if _, err := e.s.Authenticate(tok); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Fatalf("token of a deactivated user: %v", err)
		}
	}
	// Tokens are kept for audit, revoked: reactivating the account must not
	// revive them.
	uid := alice.ID
	ts, _, err := e.s.Store().ListTokens(e.ctx, store.TokenFilter{UserID: &uid, IncludeRevoked: true})
	if err != nil || len(ts) != 2 || !ts[0].Revoked() || !ts[1].Revoked() {
		t.Fatalf("tokens of deactivated user: %+v, %v", ts, err)
	}
	// Local users also leave their groups (SonarQube semantics).
	if ms, _ := e.db.ListMemberships(e.ctx, alice.ID, 0); len(ms) != 0 {
		t.Fatalf("deactivated local user still in %d groups", len(ms))
	}
	if _, err := e.s.CreateUser(e.ctx, NewUser{Login: "alice", Name: "Alice", Password: "a-long-password-again"}); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{userTok, scanTok} {
		if _, err := e.s.Authenticate(tok); err == nil {
			t.Fatal("a token of the deactivated account works again after reactivation")
		}
	}
	if alicePrincipal, err := e.s.Index().UserPrincipal(alice.ID); err != nil || e.s.Index().Decide(alicePrincipal, identity.PermAdmin, "").Allowed {
		t.Fatalf("reactivated user regained admin: %v", err)
	}
	// A restart (index rebuilt from the store) agrees.
	e2 := newEnvOn(t, e.ctx, e.db)
	if _, err := e2.s.Authenticate(userTok); err == nil {
		t.Fatal("deactivated user's token works after reload")
	}
}

func mustGroup(t *testing.T, e *env, name string) identity.Group {
	g, err := e.s.Store().GetGroupByName(e.ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// failingAudit makes every AppendAudit and AppendAudits fail, to show that a change of rights
// and its audit event commit together or not at all.
type failingAudit struct{ store.Store }

func (f failingAudit) Tx(ctx context.Context, fn func(store.Tx) error) error {
	return f.Store.Tx(ctx, func(tx store.Tx) error { return fn(failingTx{tx}) })
}

type failingTx struct{ store.Tx }

func (failingTx) AppendAudit(context.Context, identity.AuditEvent) (identity.AuditEvent, error) {
	return identity.AuditEvent{}, errors.New("disk full")
}

func (failingTx) AppendAudits(context.Context, []identity.AuditEvent) error {
	return errors.New("disk full")
}

func TestWriteAndAuditAreAtomic(t *testing.T) {
	e := newEnv(t)
	e.user("root", identity.GroupAdministrators)
	bob := e.user("bob")
	tok, _, err := e.s.GenerateUserToken(e.ctx, NewUserToken{UserID: bob.ID, Name: "t", Type: identity.TokenUser})
	if err != nil {
		t.Fatal(err)
	}
	broken := newEnvOn(t, e.ctx, failingAudit{e.db})
	err = broken.s.AddMember(e.ctx, identity.GroupAdministrators, "bob")
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("AddMember with failing audit = %v", err)
	}
	ms, err := e.db.ListMemberships(e.ctx, bob.ID, 0)
	if err != nil || len(ms) != 0 {
		t.Fatalf("membership written without its audit event: %v %v", ms, err)
	}
	if broken.allowed(tok, identity.PermAdmin, "") {
		t.Fatal("index applied a write that did not commit")
	}
	// Every successful write has exactly its audit event, with actor and
	// request id.
	if err := e.s.AddMember(e.ctx, identity.GroupAdministrators, "bob"); err != nil {
		t.Fatal(err)
	}
	evs, _, err := e.db.ListAudit(e.ctx, store.AuditFilter{Action: "group.add_user", Target: "group:" + identity.GroupAdministrators})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 { // root and bob; none for the failed attempt
		t.Fatalf("%d add_user events, want 2", len(evs))
	}
	if evs[0].Actor != "user:test" || evs[0].RequestID != "req-1" || !strings.Contains(evs[0].After, `"bob"`) {
		t.Fatalf("audit event %+v", evs[0])
	}
}

func TestLastAdministratorIsKept(t *testing.T) {
	e := newEnv(t)
	root := e.user("root", identity.GroupAdministrators)
	admins := mustGroup(t, e, identity.GroupAdministrators)
	cases := []struct {
		name string
		do   func() error
	}{
		{"leave group", func() error { return e.s.RemoveMember(e.ctx, identity.GroupAdministrators, "root") }},
		{"deactivate", func() error { _, err := e.s.SetUserActive(e.ctx, "root", false); return err }},
		{"remove group grant", func() error {
			return e.s.RemoveGrant(e.ctx, identity.Grant{Subject: identity.GroupSubject(admins.ID), Permission: identity.PermAdmin})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, identity.ErrInvalid) {
				t.Fatalf("= %v, want a 400-kind refusal", err)
			}
		})
	}
	// With a second administrator the same changes are allowed.
	e.user("root2", identity.GroupAdministrators)
	if err := e.s.RemoveMember(e.ctx, identity.GroupAdministrators, "root"); err != nil {
		t.Fatal(err)
	}
	_ = root
}

func TestBuiltInGroups(t *testing.T) {
	e := newEnv(t)
	e.user("root", identity.GroupAdministrators)
	e.user("carol")
	cases := []struct {
		name string
		do   func() error
	}{
		{"join sonar-users", func() error { return e.s.AddMember(e.ctx, identity.GroupUsers, "carol") }},
		{"delete sonar-users", func() error { return e.s.DeleteGroup(e.ctx, identity.GroupUsers) }},
		{"rename sonar-administrators", func() error {
			n := "admins"
			_, err := e.s.UpdateGroup(e.ctx, identity.GroupAdministrators, GroupUpdate{Name: &n})
			return err
		}},
		{"create Anyone", func() error { _, err := e.s.CreateGroup(e.ctx, identity.Group{Name: "anyone"}); return err }},
		{"duplicate group", func() error { _, err := e.s.CreateGroup(e.ctx, identity.Group{Name: identity.GroupUsers}); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, identity.ErrInvalid) {
				t.Fatalf("= %v, want ErrInvalid", err)
			}
		})
	}
}

func TestManagedSources(t *testing.T) {
	e := newEnv(t)
	e.user("root", identity.GroupAdministrators)
	scim := WithActor(e.ctx, Actor{Name: "connector:scim", Source: identity.SourceSCIM})
	if _, err := e.s.CreateUser(scim, NewUser{Login: "sam", Name: "Sam", Source: identity.SourceSCIM, ExternalID: "x1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CreateGroup(scim, identity.Group{Name: "scim-devs", Source: identity.SourceSCIM}); err != nil {
		t.Fatal(err)
	}
	name := "Other"
	cases := []struct {
		name string
		ctx  context.Context
		do   func(ctx context.Context) error
		ok   bool
	}{
		{"local edits managed name", e.ctx, func(ctx context.Context) error {
			_, err := e.s.UpdateUser(ctx, "sam", UserUpdate{Name: &name})
			return err
		}, false},
		{"scim edits its user", scim, func(ctx context.Context) error {
			_, err := e.s.UpdateUser(ctx, "sam", UserUpdate{Name: &name})
			return err
		}, true},
		{"local deactivates managed user", e.ctx, func(ctx context.Context) error { _, err := e.s.SetUserActive(ctx, "sam", false); return err }, false},
		{"local joins managed group", e.ctx, func(ctx context.Context) error { return e.s.AddMember(ctx, "scim-devs", "root") }, false},
		{"scim joins its group", scim, func(ctx context.Context) error { return e.s.AddMember(ctx, "scim-devs", "sam") }, true},
		{"local deletes managed group", e.ctx, func(ctx context.Context) error { return e.s.DeleteGroup(ctx, "scim-devs") }, false},
		{"local creates scim user", e.ctx, func(ctx context.Context) error {
			_, err := e.s.CreateUser(ctx, NewUser{Login: "x2", Name: "X", Source: identity.SourceSCIM})
			return err
		}, false},
		{"local group stays editable", e.ctx, func(ctx context.Context) error {
			_, err := e.s.CreateGroup(ctx, identity.Group{Name: "local"})
			return err
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do(tc.ctx)
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, identity.ErrManaged) {
				t.Fatalf("= %v, want ok=%v (else ErrManaged)", err, tc.ok)
			}
		})
	}
}

func TestTemplatesOnProjectCreation(t *testing.T) {
	e := newEnv(t)
	e.lockDown()
	e.user("root", identity.GroupAdministrators)
	dev := e.user("dev", "team-a")
	teamA := mustGroup(t, e, "team-a")
	tpl, err := e.s.CreateTemplate(e.ctx, identity.Template{Name: "Team A", KeyPattern: `team-a\..*`})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range []identity.TemplateGrant{
		{Subject: identity.GroupSubject(teamA.ID), Permission: identity.PermScan},
		{Subject: identity.GroupSubject(teamA.ID), Permission: identity.PermUser},
		{Subject: identity.Subject{Kind: identity.SubjectCreator}, Permission: identity.PermAdmin},
	} {
		if err := e.s.EditTemplateGrant(e.ctx, tpl.ID, tg, true); err != nil {
			t.Fatal(err)
		}
	}
	other := e.user("other")
	matched := e.project("team-a.api", identity.Private, other.ID)
	unmatched := e.project("team-b.api", identity.Private, other.ID)
	pub := e.project("team-a.docs", identity.Public, 0)

	devP, _ := e.s.Index().UserPrincipal(dev.ID)
	otherP, _ := e.s.Index().UserPrincipal(other.ID)
	cases := []struct {
		name    string
		p       authz.Principal
		perm    identity.Permission
		key     string
		allowed bool
	}{
		{"pattern template gives team-a scan", devP, identity.PermScan, matched.Key, true},
		{"creator gets project admin", otherP, identity.PermAdmin, matched.Key, true},
		{"default template gives sonar-users browse", otherP, identity.PermUser, unmatched.Key, true},
		{"default template gives no scan", devP, identity.PermScan, unmatched.Key, false},
		{"default template gives creator nothing", otherP, identity.PermAdmin, unmatched.Key, false},
		{"pattern template on a public project", devP, identity.PermScan, pub.Key, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if d := e.s.Index().Decide(tc.p, tc.perm, tc.key); d.Allowed != tc.allowed {
				t.Fatalf("Decide = %+v, want allowed=%v", d, tc.allowed)
			}
		})
	}
	// Implicit rights were not written as grants on the public project.
	pid := pub.ID
	gs, err := e.db.ListGrants(e.ctx, store.GrantFilter{ProjectID: &pid})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.Permission.ImplicitOnPublic() {
			t.Errorf("implicit grant %+v stored on a public project", g)
		}
	}

	// Apply the default template to the matched project on demand: team-a
	// loses scan there, at once.
	def, err := e.s.DefaultTemplateID(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.ApplyTemplate(e.ctx, def, []int64{matched.ID}, true); err != nil || n != 1 {
		t.Fatalf("ApplyTemplate = %d, %v", n, err)
	}
	if e.s.Index().Decide(devP, identity.PermScan, matched.Key).Allowed {
		t.Fatal("scan kept after applying the default template")
	}
	// Bulk apply back, skipping a managed project.
	gl := WithActor(e.ctx, Actor{Name: "connector:gitlab", Source: identity.SourceGitLab})
	managed, err := e.s.CreateProject(gl, identity.Project{Key: "team-a.managed", Name: "m", Visibility: identity.Private, Source: identity.SourceGitLab}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.AddGrant(gl, identity.Grant{Subject: identity.UserSubject(other.ID), ProjectID: managed.ID, Permission: identity.PermIssueAdmin}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.ApplyTemplate(e.ctx, tpl.ID, []int64{matched.ID, unmatched.ID, managed.ID}, true); err != nil || n != 2 {
		t.Fatalf("bulk ApplyTemplate = %d, %v; want 2 (managed skipped)", n, err)
	}
	if !e.s.Index().Decide(devP, identity.PermScan, unmatched.Key).Allowed {
		t.Fatal("bulk apply not seen")
	}
	if !e.s.Index().Decide(otherP, identity.PermIssueAdmin, managed.Key).Allowed {
		t.Fatal("bulk apply touched a managed project")
	}
	if err := e.s.DeleteTemplate(e.ctx, def); !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("deleting the default template = %v", err)
	}
	if _, err := e.s.CreateTemplate(e.ctx, identity.Template{Name: "team a"}); !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("case-insensitive duplicate template name = %v", err)
	}
	if _, err := e.s.CreateTemplate(e.ctx, identity.Template{Name: "bad", KeyPattern: "("}); !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("bad pattern = %v", err)
	}
}

var _ = fmt.Sprint

// TestPasswordChecksAreBounded fills every argon2id slot and checks that a
// further sign-in is refused as busy instead of queueing without bound, and
// that an account without a password costs the same hash as one with.
func TestPasswordChecksAreBounded(t *testing.T) {
	e := newEnv(t)
	e.user("bob")
	for range cap(e.s.kdf) {
		e.s.kdf <- struct{}{}
	}
	_, _, err := e.s.CheckPassword(e.ctx, "bob", "a-long-password-bob")
	if !errors.Is(err, ErrBusy) || !errors.Is(err, identity.ErrUnavailable) {
		t.Fatalf("CheckPassword with every slot taken = %v, want ErrBusy", err)
	}
	for range cap(e.s.kdf) {
		<-e.s.kdf
	}
	if _, _, err := e.s.CheckPassword(e.ctx, "bob", "a-long-password-bob"); err != nil {
		t.Fatalf("after the slots freed: %v", err)
	}
	scim := WithActor(e.ctx, Actor{Name: "connector:scim", Source: identity.SourceSCIM})
	if _, err := e.s.CreateUser(scim, NewUser{Login: "sam", Name: "Sam", Source: identity.SourceSCIM}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.CheckPassword(e.ctx, "sam", ""); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("password sign-in of a managed user without password = %v", err)
	}
}

// TestVisibilityChanges follows SonarQube: going private drops Anyone's
// grants and gives browse and code viewing to every other holder; going
// public drops the grants of the now implicit permissions.
func TestVisibilityChanges(t *testing.T) {
	e := newEnv(t)
	bob := e.user("bob", "devs")
	carol := e.user("carol")
	devs := mustGroup(t, e, "devs")
	// An empty template, so that only the grants below exist on the project.
	if _, err := e.s.CreateTemplate(e.ctx, identity.Template{Name: "none", KeyPattern: "lib"}); err != nil {
		t.Fatal(err)
	}
	p := e.project("lib", identity.Public, 0)
	for _, g := range []identity.Grant{
		{Subject: identity.GroupSubject(devs.ID), ProjectID: p.ID, Permission: identity.PermScan},
		{Subject: identity.Anyone, ProjectID: p.ID, Permission: identity.PermIssueAdmin},
	} {
		if err := e.s.AddGrant(e.ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	// Adding an implicit right on a public project is a no-op, not an error.
	if err := e.s.AddGrant(e.ctx, identity.Grant{Subject: identity.UserSubject(carol.ID), ProjectID: p.ID, Permission: identity.PermUser}); err != nil {
		t.Fatalf("implicit add on public: %v", err)
	}
	if err := e.s.SetVisibility(e.ctx, "lib", identity.Private); err != nil {
		t.Fatal(err)
	}
	bobP, _ := e.s.Index().UserPrincipal(bob.ID)
	carolP, _ := e.s.Index().UserPrincipal(carol.ID)
	cases := []struct {
		name    string
		p       authz.Principal
		perm    identity.Permission
		allowed bool
	}{
		{"holder group keeps browsing", bobP, identity.PermUser, true},
		{"holder group keeps code viewing", bobP, identity.PermCodeViewer, true},
		{"holder group keeps scan", bobP, identity.PermScan, true},
		{"non-holder loses browsing", carolP, identity.PermUser, false},
		{"Anyone's grant is gone", carolP, identity.PermIssueAdmin, false},
	}
	for _, tc := range cases {
		if got := e.s.Index().Decide(tc.p, tc.perm, "lib").Allowed; got != tc.allowed {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.allowed)
		}
	}
	// And back to public: the explicit browse grants go, the rights stay implicit.
	if err := e.s.SetVisibility(e.ctx, "lib", identity.Public); err != nil {
		t.Fatal(err)
	}
	pid := p.ID
	gs, _ := e.db.ListGrants(e.ctx, store.GrantFilter{ProjectID: &pid})
	for _, g := range gs {
		if g.Permission.ImplicitOnPublic() {
			t.Errorf("implicit grant %+v kept on a public project", g)
		}
	}
	if !e.s.Index().Decide(carolP, identity.PermUser, "lib").Allowed {
		t.Error("browse not implicit again on the public project")
	}
}

// TestFreshInstanceDefaults: a new store gets SonarQube's default global
// permissions; a store that already has its built-ins is not written to
// (removed grants stay removed, the revision does not move).
func TestFreshInstanceDefaults(t *testing.T) {
	e := newEnv(t)
	want := map[string][]identity.Permission{
		identity.GroupAdministrators: {identity.PermAdmin, identity.PermGateAdmin, identity.PermProfileAdmin, identity.PermProvisioning},
		identity.GroupUsers:          {identity.PermProvisioning, identity.PermScan},
	}
	global := int64(0)
	for name, perms := range want {
		g := mustGroup(t, e, name)
		sub := identity.GroupSubject(g.ID)
		gs, err := e.db.ListGrants(e.ctx, store.GrantFilter{Subject: &sub, ProjectID: &global})
		if err != nil {
			t.Fatal(err)
		}
		var got []identity.Permission
		for _, gr := range gs {
			got = append(got, gr.Permission)
		}
		slices.Sort(got)
		wantSorted := slices.Sorted(slices.Values(perms))
		if !slices.Equal(got, wantSorted) {
			t.Errorf("%s holds %v, want %v", name, got, wantSorted)
		}
	}
	// Any user of a fresh instance may analyse and create projects.
	u := e.user("dora")
	p, err := e.s.Index().UserPrincipal(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, perm := range []identity.Permission{identity.PermScan, identity.PermProvisioning} {
		if !e.s.Index().Decide(p, perm, "").Allowed {
			t.Errorf("a new user lacks %s", perm)
		}
	}

	// Locked down, then restarted: the store is left as the admin made it.
	users := mustGroup(t, e, identity.GroupUsers)
	for _, perm := range want[identity.GroupUsers] {
		if err := e.s.RemoveGrant(e.ctx, identity.Grant{Subject: identity.GroupSubject(users.ID), Permission: perm}); err != nil {
			t.Fatal(err)
		}
	}
	rev, err := e.db.Revision(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Migrate(e.ctx); err != nil {
		t.Fatal(err)
	}
	again := newEnvOn(t, e.ctx, e.db)
	if got, err := again.db.Revision(e.ctx); err != nil || got != rev {
		t.Fatalf("revision %d (%v) after restart, want %d: an existing store was written", got, err, rev)
	}
	p, err = again.s.Index().UserPrincipal(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.s.Index().Decide(p, identity.PermScan, "").Allowed {
		t.Error("restart re-granted scan to sonar-users")
	}
}

// lockDown removes sonar-users' default global grants, as the README shows,
// for tests about project-level rights.
func (e *env) lockDown() {
	e.t.Helper()
	users := mustGroup(e.t, e, identity.GroupUsers)
	for _, perm := range []identity.Permission{identity.PermScan, identity.PermProvisioning} {
		if err := e.s.RemoveGrant(e.ctx, identity.Grant{Subject: identity.GroupSubject(users.ID), Permission: perm}); err != nil {
			e.t.Fatal(err)
		}
	}
}
