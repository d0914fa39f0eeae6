package state

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// TestReplicasSeeEachOthersWrites runs two coordinators over one database, as
// two replicas share PostgreSQL, and checks SPEC §8: a write on one replica
// reaches the other's decisions within 1 s, and a replica that writes after
// missing a peer's write does not lose the peer's change.
func TestReplicasSeeEachOthersWrites(t *testing.T) {
	ctx := WithActor(t.Context(), Actor{Name: "user:test"})
	path := filepath.Join(t.TempDir(), "shared.db")
	open := func() *State {
		db, err := sqlstore.OpenSQLite(ctx, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		s, err := New(ctx, db, Options{SyncInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := open(), open()
	runB, stopB := context.WithCancel(ctx)
	go b.Run(runB)

	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen by the other replica within 1 s", what)
			}
			time.Sleep(5 * time.Millisecond) // polling with a deadline
		}
	}
	decideOnB := func(secret string, perm identity.Permission, key string) bool {
		p, err := b.Authenticate(secret)
		return err == nil && b.Index().Decide(p, perm, key).Allowed
	}

	if _, err := a.CreateUser(ctx, NewUser{Login: "root", Name: "Root", Password: "root-password-1"}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddMember(ctx, identity.GroupAdministrators, "root"); err != nil {
		t.Fatal(err)
	}
	alice, err := a.CreateUser(ctx, NewUser{Login: "alice", Name: "Alice", Password: "alice-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AddMember(ctx, identity.GroupAdministrators, "alice"); err != nil {
		t.Fatal(err)
	}
	secret, _, err := a.GenerateUserToken(ctx, NewUserToken{UserID: alice.ID, Name: "t", Type: identity.TokenUser})
	if err != nil {
		t.Fatal(err)
	}
	eventually("a token and a membership created on A", func() bool { return decideOnB(secret, identity.PermAdmin, "") })

	if err := a.RemoveMember(ctx, identity.GroupAdministrators, "alice"); err != nil {
		t.Fatal(err)
	}
	eventually("removal from sonar-administrators on A", func() bool { return !decideOnB(secret, identity.PermAdmin, "") })

	// B stops watching; A writes; then B writes something unrelated. B's
	// write notices the gap in the counter and B's index gains A's change
	// at once, without waiting for a poll.
	stopB()
	web, err := a.CreateProject(ctx, identity.Project{Key: "web", Name: "Web"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AddGrant(ctx, identity.Grant{Subject: identity.UserSubject(alice.ID), ProjectID: web.ID, Permission: identity.PermScan}); err != nil {
		t.Fatal(err)
	}
	if decideOnB(secret, identity.PermScan, "web") {
		t.Fatal("B saw A's grant without syncing: the test proves nothing")
	}
	if _, err := b.CreateGroup(ctx, identity.Group{Name: "unrelated"}); err != nil {
		t.Fatal(err)
	}
	if !decideOnB(secret, identity.PermScan, "web") {
		t.Fatal("B's own write lost A's earlier grant")
	}
	// And A, which wrote nothing since, learns of B's group on its next
	// sync.
	runA, stopA := context.WithCancel(ctx)
	defer stopA()
	go a.Run(runA)
	eventually("a group created on B", func() bool {
		return a.Index().Stats().Groups == b.Index().Stats().Groups
	})
}

// TestStartDoesNotWrite checks that starting on an existing store writes
// nothing: a write would bump the revision and make every peer reload.
func TestStartDoesNotWrite(t *testing.T) {
	e := newEnv(t)
	e.user("root", identity.GroupAdministrators)
	before, err := e.db.Revision(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	newEnvOn(t, e.ctx, e.db)
	if after, _ := e.db.Revision(e.ctx); after != before {
		t.Fatalf("revision %d → %d across a restart", before, after)
	}
}
