package state

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore/sqltest"
)

// writerEffects names every method of store.Writer by whether changeTx
// records it in the change log. A method added to the interface fails this
// test until it is placed: a write that a decision depends on must be
// recorded, or the other replicas never learn of it.
var writerEffects = map[string]bool{
	"CreateUser": true, "UpdateUser": true,
	"CreateGroup": true, "UpdateGroup": true, "DeleteGroup": true,
	"AddMember": true, "AddMembers": true, "RemoveMember": true,
	"CreateProject": true, "UpdateProject": true, "DeleteProject": true,
	"AddGrant": true, "AddGrants": true, "RemoveGrant": true, "DeleteProjectGrants": true,
	"CreateToken": true, "UpdateToken": true, "DeleteToken": true,
	"AddTokenProjects": true, "RemoveTokenProjects": true,
	"CreateSession": true, "DeleteSession": true, "DeleteUserSessions": true,

	// No decision depends on these: templates act through the grants
	// they create, settings are read from the store when used.
	// Every replica refuses an expired session by its own clock.
	"TouchUserToken": false, "TouchUserLogin": false, "TouchToken": false,
	"TouchSession": false, "DeleteExpiredSessions": false,
	"CreateTemplate": false, "UpdateTemplate": false, "DeleteTemplate": false,
	"AppendAudit": false, "AppendAudits": false, "CreateSyncRun": false, "UpdateSyncRun": false,
	"SetSetting": false, "BumpRevision": false, "LogChanges": false, "PruneChanges": false,
	// The sign-in throttle reads its records from the store at each attempt.
	"AddSignInFailure": false, "ClearSignInFailures": false, "PruneSignInFailures": false,
	"CreateSSOConnection": false, "UpdateSSOConnection": false, "DeleteSSOConnection": false,
}

func TestChangeTxCoversWriter(t *testing.T) {
	writer := reflect.TypeFor[store.Writer]()
	// Methods changeTx declares itself have a pointer receiver, so the
	// value type's method set lacks them; the ones it passes through are
	// promoted from the embedded store.Tx and present on both.
	value := reflect.TypeFor[changeTx]()
	for i := range writer.NumMethod() {
		name := writer.Method(i).Name
		recorded, known := writerEffects[name]
		if !known {
			t.Errorf("store.Writer.%s is new: decide whether a decision depends on it; if so record it in changeTx (propagation.go), and list it in writerEffects", name)
			continue
		}
		_, promoted := value.MethodByName(name)
		if recorded && promoted {
			t.Errorf("changeTx does not record %s", name)
		}
		if !recorded && !promoted {
			t.Errorf("changeTx declares %s, listed as not recorded", name)
		}
	}
	if len(writerEffects) != writer.NumMethod() {
		t.Errorf("writerEffects lists %d methods, store.Writer has %d", len(writerEffects), writer.NumMethod())
	}
}

// replicas are two coordinators over one database, each with its own
// connection(s), as two processes sharing PostgreSQL or a SQLite file.
type replicas struct {
	t    *testing.T
	ctx  context.Context
	a, b *State
}

func newReplicas(t *testing.T, dbs []*sqlstore.Store, wrapB func(store.Store) store.Store) *replicas {
	t.Helper()
	ctx := WithActor(t.Context(), Actor{Name: "user:test"})
	a, err := New(ctx, dbs[0], Options{})
	if err != nil {
		t.Fatal(err)
	}
	var dbB store.Store = dbs[1]
	if wrapB != nil {
		dbB = wrapB(dbB)
	}
	b, err := New(ctx, dbB, Options{SyncInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return &replicas{t: t, ctx: ctx, a: a, b: b}
}

// runB runs B's background work until the test ends.
func (r *replicas) runB() {
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.b.Run(ctx) }()
	r.t.Cleanup(func() { cancel(); <-done })
}

// seenOnB waits until ok holds on B, at most a second (SPEC §8).
func (r *replicas) seenOnB(what string, ok func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: not seen by the other replica within 1 s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling with a deadline
	}
}

func (r *replicas) mayOnB(secret string, perm identity.Permission, key string) bool {
	p, err := r.b.Authenticate(secret)
	return err == nil && r.b.Index().Decide(p, perm, key).Allowed
}

func (r *replicas) userMayOnB(userID int64, perm identity.Permission, key string) bool {
	p, err := r.b.Index().UserPrincipal(userID)
	return err == nil && r.b.Index().Decide(p, perm, key).Allowed
}

// user creates a user on s.
func user(t *testing.T, ctx context.Context, s *State, login string) identity.User {
	t.Helper()
	u, err := s.CreateUser(ctx, NewUser{Login: login, Name: login, Password: "a-long-password-" + login})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var backends = []struct {
	name string
	open func(testing.TB, int) []*sqlstore.Store
}{{"sqlite", sqltest.SQLiteReplicas}, {"postgres", sqltest.PostgresReplicas}}

// TestPropagationDeltas checks that every kind of change a decision depends
// on reaches the other replica within a second as a delta: its index is
// never rebuilt.
func TestPropagationDeltas(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			r := newReplicas(t, be.open(t, 2), nil)
			r.runB()
			testDeltas(t, r)
		})
	}
}

func testDeltas(t *testing.T, r *replicas) {
	ctx, a, b := r.ctx, r.a, r.b
	reloads := b.Replication().FullReloads
	if reloads != 1 {
		t.Fatalf("B rebuilt its index %d times at start-up, want 1", reloads)
	}
	if d := b.Replication().LastRebuildDuration; d <= 0 {
		t.Errorf("B's start-up rebuild took %v, want it measured", d)
	}

	user(t, ctx, a, "root")
	noErr(t, a.AddMember(ctx, identity.GroupAdministrators, "root"))
	alice := user(t, ctx, a, "alice")
	bob := user(t, ctx, a, "bob")
	noErr(t, a.AddMember(ctx, identity.GroupAdministrators, "alice"))

	// Token creation.
	secret, tok, err := a.GenerateUserToken(ctx, NewUserToken{UserID: alice.ID, Name: "t", Type: identity.TokenUser})
	noErr(t, err)
	r.seenOnB("a token created on A", func() bool { return r.mayOnB(secret, identity.PermAdmin, "") })

	// Membership removal.
	noErr(t, a.RemoveMember(ctx, identity.GroupAdministrators, "alice"))
	r.seenOnB("a removal from sonar-administrators", func() bool { return !r.mayOnB(secret, identity.PermAdmin, "") })

	// Revocation.
	noErr(t, a.RevokeToken(ctx, tok.ID))
	r.seenOnB("a revocation", func() bool { _, err := b.Authenticate(secret); return err != nil })

	// Project visibility: bob holds no grant, so only a public project is
	// browsable to him.
	web, err := a.CreateProject(ctx, identity.Project{Key: "web", Name: "Web", Visibility: identity.Private}, 0)
	noErr(t, err)
	r.seenOnB("a project created on A with the default template's grants", func() bool { return r.userMayOnB(bob.ID, identity.PermUser, "web") })
	// Grant removal: sonar-users' grants from the default template (all of
	// them: a project going private keeps its permission holders browsing).
	users, err := a.Store().GetGroupByName(ctx, identity.GroupUsers)
	noErr(t, err)
	for _, perm := range []identity.Permission{identity.PermUser, identity.PermCodeViewer, identity.PermIssueAdmin, identity.PermSecurityHotspotAdmin} {
		noErr(t, a.RemoveGrant(ctx, identity.Grant{Subject: identity.GroupSubject(users.ID), ProjectID: web.ID, Permission: perm}))
	}
	r.seenOnB("the template's browse grant removed", func() bool { return !r.userMayOnB(bob.ID, identity.PermUser, "web") })
	noErr(t, a.SetVisibility(ctx, "web", identity.Public))
	r.seenOnB("a project made public", func() bool { return r.userMayOnB(bob.ID, identity.PermUser, "web") })
	noErr(t, a.SetVisibility(ctx, "web", identity.Private))
	r.seenOnB("a project made private", func() bool { return !r.userMayOnB(bob.ID, identity.PermUser, "web") })

	// A direct grant, a group grant and a group's deletion.
	noErr(t, a.AddGrant(ctx, identity.Grant{Subject: identity.UserSubject(bob.ID), ProjectID: web.ID, Permission: identity.PermScan}))
	r.seenOnB("a project grant", func() bool { return r.userMayOnB(bob.ID, identity.PermScan, "web") })
	devs, err := a.CreateGroup(ctx, identity.Group{Name: "devs"})
	noErr(t, err)
	noErr(t, a.AddGrant(ctx, identity.Grant{Subject: identity.GroupSubject(devs.ID), Permission: identity.PermGateAdmin}))
	noErr(t, a.AddMember(ctx, "devs", "bob"))
	r.seenOnB("a group's global grant", func() bool { return r.userMayOnB(bob.ID, identity.PermGateAdmin, "") })
	noErr(t, a.DeleteGroup(ctx, "devs"))
	r.seenOnB("a group's deletion", func() bool { return !r.userMayOnB(bob.ID, identity.PermGateAdmin, "") })

	// Organization tokens: creation and a change of their scope.
	orgSecret, org, err := a.GenerateOrgToken(ctx, OrgTokenSpec{Name: "ci", Permissions: []identity.Permission{identity.PermScan}, Projects: []int64{web.ID}, Patterns: []string{`other\..*`}})
	noErr(t, err)
	r.seenOnB("an organization token", func() bool { return r.mayOnB(orgSecret, identity.PermScan, "web") })
	_, err = a.UpdateOrgToken(ctx, org.ID, OrgTokenUpdate{RemoveProjects: []int64{web.ID}})
	noErr(t, err)
	r.seenOnB("an organization token's scope", func() bool { return !r.mayOnB(orgSecret, identity.PermScan, "web") })

	// Deactivation: the user's tokens and password sessions stop at once.
	bobSecret, _, err := a.GenerateUserToken(ctx, NewUserToken{UserID: bob.ID, Name: "b", Type: identity.TokenUser})
	noErr(t, err)
	r.seenOnB("bob's token", func() bool { return r.mayOnB(bobSecret, identity.PermScan, "web") })
	_, err = a.DeactivateUser(ctx, "bob")
	noErr(t, err)
	r.seenOnB("a deactivation", func() bool {
		_, terr := b.Authenticate(bobSecret)
		_, perr := b.Index().UserPrincipal(bob.ID)
		return terr != nil && perr != nil
	})

	// Project deletion.
	noErr(t, a.DeleteProject(ctx, "web"))
	r.seenOnB("a project's deletion", func() bool { return b.Index().Stats().Projects == 0 })

	rs := b.Replication()
	if rs.FullReloads != reloads {
		t.Errorf("B rebuilt its index %d times to follow A, want only deltas", rs.FullReloads-reloads)
	}
	if rs.DeltaBatches == 0 || rs.DeltaChanges == 0 {
		t.Errorf("B applied %d delta batches (%d changes), want some", rs.DeltaBatches, rs.DeltaChanges)
	}
	if rs.LastDeltaDuration <= 0 {
		t.Errorf("B's last catch-up took %v, want it measured", rs.LastDeltaDuration)
	}
	if a, b := a.Index().Stats(), b.Index().Stats(); a != b {
		t.Errorf("indexes differ: A %+v, B %+v", a, b)
	}
	r.seenOnB("B caught up", func() bool { rs := b.Replication(); return rs.Behind == 0 && rs.Revision == a.Replication().Revision })
}

// TestPropagationGap checks that a replica whose missing revisions were
// pruned from the log rebuilds its index and converges, and goes back to
// deltas afterwards.
func TestPropagationGap(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			dbs := be.open(t, 2)
			r := newReplicas(t, dbs, nil)
			ctx, a, b := r.ctx, r.a, r.b
			user(t, ctx, a, "root")
			noErr(t, a.AddMember(ctx, identity.GroupAdministrators, "root"))
			alice := user(t, ctx, a, "alice")
			secret, _, err := a.GenerateUserToken(ctx, NewUserToken{UserID: alice.ID, Name: "t", Type: identity.TokenUser})
			noErr(t, err)
			rev := a.Replication().Revision
			noErr(t, dbs[0].Tx(ctx, func(tx store.Tx) error { _, err := tx.PruneChanges(ctx, rev); return err }))

			before := b.Replication().FullReloads
			b.syncPeers(ctx)
			if _, err := b.Authenticate(secret); err != nil {
				t.Fatalf("after the gap B refuses a token made on A: %v", err)
			}
			if got := b.Replication().FullReloads - before; got != 1 {
				t.Fatalf("B rebuilt %d times across a pruned gap, want 1", got)
			}
			if got, want := b.Replication().Revision, rev; got != want {
				t.Fatalf("B at revision %d after the rebuild, want %d", got, want)
			}

			noErr(t, a.AddMember(ctx, identity.GroupAdministrators, "alice"))
			b.syncPeers(ctx)
			if !r.mayOnB(secret, identity.PermAdmin, "") {
				t.Fatal("B missed a membership added after the rebuild")
			}
			if got := b.Replication().FullReloads - before; got != 1 {
				t.Fatalf("B rebuilt %d times, want deltas after the gap", got)
			}
		})
	}
}

// gatedStore holds Snapshot until released, so that a test can act while a
// rebuild is under way.
type gatedStore struct {
	store.Store
	arm     chan struct{} // receives once per snapshot to hold
	entered chan struct{}
	release chan struct{}
}

func (g *gatedStore) Snapshot(ctx context.Context) (store.Snapshot, error) {
	select {
	case <-g.arm:
		g.entered <- struct{}{}
		<-g.release
	default:
	}
	return g.Store.Snapshot(ctx)
}

// TestRebuildOffLock checks that while a replica rebuilds its index,
// decisions keep answering and its own writes go on, and that the swapped-in
// index holds both its own and the peer's writes made meanwhile.
func TestRebuildOffLock(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			gate := &gatedStore{arm: make(chan struct{}, 1), entered: make(chan struct{}), release: make(chan struct{})}
			r := newReplicas(t, be.open(t, 2), func(s store.Store) store.Store { gate.Store = s; return gate })
			ctx, a, b := r.ctx, r.a, r.b
			user(t, ctx, a, "root")
			noErr(t, a.AddMember(ctx, identity.GroupAdministrators, "root"))
			alice := user(t, ctx, a, "alice")
			noErr(t, a.AddMember(ctx, identity.GroupAdministrators, "alice"))
			secret, _, err := a.GenerateUserToken(ctx, NewUserToken{UserID: alice.ID, Name: "t", Type: identity.TokenUser})
			noErr(t, err)
			b.syncPeers(ctx)

			gate.arm <- struct{}{}
			done := make(chan error, 1)
			go func() { done <- b.Reload(ctx) }()
			<-gate.entered
			// The rebuild is under way: decisions answer, B writes, A writes.
			if !r.mayOnB(secret, identity.PermAdmin, "") {
				t.Fatal("a decision during the rebuild was wrong")
			}
			carol := user(t, ctx, b, "carol")
			carolSecret, _, err := b.GenerateUserToken(ctx, NewUserToken{UserID: carol.ID, Name: "c", Type: identity.TokenUser})
			noErr(t, err)
			noErr(t, a.RemoveMember(ctx, identity.GroupAdministrators, "alice"))
			if _, err := b.Authenticate(carolSecret); err != nil {
				t.Fatalf("B's own token during its rebuild: %v", err)
			}
			close(gate.release)
			noErr(t, <-done)

			if _, err := b.Authenticate(carolSecret); err != nil {
				t.Fatalf("B's token made during the rebuild is lost after the swap: %v", err)
			}
			b.syncPeers(ctx)
			if r.mayOnB(secret, identity.PermAdmin, "") {
				t.Fatal("A's removal made during B's rebuild is lost on B")
			}
			if a, b := a.Index().Stats(), b.Index().Stats(); a != b {
				t.Errorf("indexes differ after the rebuild: A %+v, B %+v", a, b)
			}
		})
	}
}

// TestPropagationNotified checks that on PostgreSQL a replica learns of a
// peer's write from the store's notification, not from its poll: B polls
// once an hour here.
func TestPropagationNotified(t *testing.T) {
	dbs := sqltest.PostgresReplicas(t, 2)
	ctx := WithActor(t.Context(), Actor{Name: "user:test"})
	a, err := New(ctx, dbs[0], Options{})
	noErr(t, err)
	b, err := New(ctx, dbs[1], Options{SyncInterval: time.Hour})
	noErr(t, err)
	r := &replicas{t: t, ctx: ctx, a: a, b: b}
	r.runB()
	alice := user(t, ctx, a, "alice")
	secret, tok, err := a.GenerateUserToken(ctx, NewUserToken{UserID: alice.ID, Name: "t", Type: identity.TokenUser})
	noErr(t, err)
	r.seenOnB("a token created on A, notified", func() bool { _, err := b.Authenticate(secret); return err == nil })
	noErr(t, a.RevokeToken(ctx, tok.ID))
	r.seenOnB("a revocation, notified", func() bool { _, err := b.Authenticate(secret); return err != nil })
	if got := b.Replication().FullReloads; got != 1 {
		t.Errorf("B rebuilt %d times, want only its start-up", got)
	}
}

// TestPruneLog checks that Run's pruning keeps the last ChangeLogKeep
// revisions of the change log.
func TestPruneLog(t *testing.T) {
	db := sqltest.SQLite(t)
	ctx := WithActor(t.Context(), Actor{Name: "user:test"})
	s, err := New(ctx, db, Options{ChangeLogKeep: 2})
	noErr(t, err)
	for _, login := range []string{"a1", "a2", "a3", "a4"} {
		user(t, ctx, s, login)
	}
	rev := s.Replication().Revision
	s.pruneLog(ctx)
	got, err := db.ListChanges(ctx, 0, 0)
	noErr(t, err)
	if len(got) != 2 || got[0].Revision != rev-1 || got[1].Revision != rev {
		t.Fatalf("after pruning at revision %d the log holds %+v, want revisions %d and %d", rev, got, rev-1, rev)
	}
}
