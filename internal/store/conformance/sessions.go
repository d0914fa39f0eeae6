package conformance

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var sessionTests = []test{
	{"CreateGetList", testSessionCreateGetList},
	{"HashUnique", testSessionHashUnique},
	{"Delete", testSessionDelete},
	{"DeleteUserSessions", testSessionDeleteUser},
	{"TouchAndExpire", testSessionTouchExpire},
	{"Snapshot", testSessionSnapshot},
	{"Refused", testSessionRefused},
}

func newSession(u identity.User, secret string, expires time.Time) identity.Session {
	return identity.Session{UserID: u.ID, Hash: hashOf(secret), CreatedAt: at(0), ExpiresAt: expires}
}

// testSessionCreateGetList checks that a session reads back as written and
// that a user's listing holds its live sessions only, by id.
func testSessionCreateGetList(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustCreate(t, s, identity.User{Login: "alice", Name: "Alice", Source: identity.SourceLocal, Active: true}, store.Tx.CreateUser)
	bob := mustCreate(t, s, identity.User{Login: "bob", Name: "Bob", Source: identity.SourceLocal, Active: true}, store.Tx.CreateUser)
	one := mustCreate(t, s, newSession(alice, "one", at(24*time.Hour)), store.Tx.CreateSession)
	if one.ID == 0 {
		t.Fatal("CreateSession left the id zero")
	}
	two := mustCreate(t, s, newSession(alice, "two", at(48*time.Hour)), store.Tx.CreateSession)
	mustCreate(t, s, newSession(alice, "old", at(time.Hour)), store.Tx.CreateSession)
	mustCreate(t, s, newSession(bob, "bobs", at(24*time.Hour)), store.Tx.CreateSession)

	got, err := s.GetSession(ctx, one.ID)
	noErr(t, "GetSession", err)
	assertEqual(t, "session read back", one, got)
	got, err = s.GetSessionByHash(ctx, hashOf("two"))
	noErr(t, "GetSessionByHash", err)
	assertEqual(t, "session read back by its hash", two, got)
	checkNotFound(t, []missingCall{
		{"GetSessionByHash of an unknown hash", func() error { _, err := s.GetSessionByHash(ctx, hashOf("nobody")); return err }},
		{"GetSessionByHash of no hash", func() error { _, err := s.GetSessionByHash(ctx, nil); return err }},
		{"GetSession of an unknown id", func() error { _, err := s.GetSession(ctx, 9999); return err }},
	})

	list, err := s.ListSessions(ctx, alice.ID, at(2*time.Hour))
	noErr(t, "ListSessions", err)
	if len(list) != 2 || list[0].ID != one.ID || list[1].ID != two.ID {
		t.Fatalf("alice's live sessions = %+v, want %d and %d", list, one.ID, two.ID)
	}
	assertEqual(t, "listed session", two, list[1])

	filled := mustCreate(t, s, identity.Session{UserID: bob.ID, Hash: hashOf("filled"), ExpiresAt: at(time.Hour)}, store.Tx.CreateSession)
	checkFilled(t, "CreatedAt", filled.CreatedAt, time.Now())
	got, err = s.GetSession(ctx, filled.ID)
	noErr(t, "GetSession", err)
	assertEqual(t, "session with a filled-in creation time", filled, got)
}

// testSessionHashUnique checks that two sessions cannot share a hash.
func testSessionHashUnique(t *testing.T, s store.Store) {
	alice := mustCreate(t, s, identity.User{Login: "alice", Name: "Alice", Source: identity.SourceLocal, Active: true}, store.Tx.CreateUser)
	mustCreate(t, s, newSession(alice, "same", at(time.Hour)), store.Tx.CreateSession)
	err := tryCreate(t, s, newSession(alice, "same", at(2*time.Hour)), store.Tx.CreateSession)
	wantErrIs(t, "a second session with the same hash", err, identity.ErrAlreadyExists)
}

// testSessionDelete checks that deleting a session removes it alone and
// that deleting a missing one is not found.
func testSessionDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustCreate(t, s, identity.User{Login: "alice", Name: "Alice", Source: identity.SourceLocal, Active: true}, store.Tx.CreateUser)
	one := mustCreate(t, s, newSession(alice, "one", at(time.Hour)), store.Tx.CreateSession)
	two := mustCreate(t, s, newSession(alice, "two", at(time.Hour)), store.Tx.CreateSession)
	write(t, s, func(tx store.Tx) error { return tx.DeleteSession(ctx, one.ID) })
	list, err := s.ListSessions(ctx, alice.ID, at(0))
	noErr(t, "ListSessions", err)
	if len(list) != 1 || list[0].ID != two.ID {
		t.Fatalf("after deleting %d alice has %+v, want only %d", one.ID, list, two.ID)
	}
	checkNotFound(t, []missingCall{
		{"GetSession of a deleted session", func() error { _, err := s.GetSession(ctx, one.ID); return err }},
		{"DeleteSession twice", func() error {
			return s.Tx(ctx, func(tx store.Tx) error { return tx.DeleteSession(ctx, one.ID) })
		}},
		{"TouchSession of a deleted session", func() error {
			return s.Tx(ctx, func(tx store.Tx) error { return tx.TouchSession(ctx, one.ID, at(time.Minute)) })
		}},
	})
}

// testSessionDeleteUser checks that ending a user's sessions ends all of
// them, no other user's, and counts them.
func testSessionDeleteUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustCreate(t, s, identity.User{Login: "alice", Name: "Alice", Source: identity.SourceLocal, Active: true}, store.Tx.CreateUser)
	bob := mustCreate(t, s, identity.User{Login: "bob", Name: "Bob", Source: identity.SourceLocal, Active: true}, store.Tx.CreateUser)
	for _, secret := range []string{"a1", "a2", "a3"} {
		mustCreate(t, s, newSession(alice, secret, at(time.Hour)), store.Tx.CreateSession)
	}
	bobs := mustCreate(t, s, newSession(bob, "b1", at(time.Hour)), store.Tx.CreateSession)
	var n int
	write(t, s, func(tx store.Tx) error { var err error; n, err = tx.DeleteUserSessions(ctx, alice.ID); return err })
	if n != 3 {
		t.Errorf("DeleteUserSessions reported %d, want 3", n)
	}
	write(t, s, func(tx store.Tx) error { var err error; n, err = tx.DeleteUserSessions(ctx, alice.ID); return err })
	if n != 0 {
		t.Errorf("DeleteUserSessions of a user without sessions reported %d, want 0", n)
	}
	if list, err := s.ListSessions(ctx, alice.ID, at(0)); err != nil || len(list) != 0 {
		t.Errorf("alice's sessions after DeleteUserSessions = %+v, %v; want none", list, err)
	}
	if _, err := s.GetSession(ctx, bobs.ID); err != nil {
		t.Errorf("bob's session after alice's were ended: %v", err)
	}
}

// testSessionTouchExpire checks last-seen times and the sweep of expired
// sessions.
func testSessionTouchExpire(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustCreate(t, s, identity.User{Login: "alice", Name: "Alice", Source: identity.SourceLocal, Active: true}, store.Tx.CreateUser)
	short := mustCreate(t, s, newSession(alice, "short", at(time.Hour)), store.Tx.CreateSession)
	long := mustCreate(t, s, newSession(alice, "long", at(3*time.Hour)), store.Tx.CreateSession)
	write(t, s, func(tx store.Tx) error { return tx.TouchSession(ctx, long.ID, at(10*time.Minute)) })
	got, err := s.GetSession(ctx, long.ID)
	noErr(t, "GetSession", err)
	if !got.LastSeenAt.Equal(at(10 * time.Minute)) {
		t.Errorf("LastSeenAt = %v, want %v", got.LastSeenAt, at(10*time.Minute))
	}
	var n int
	write(t, s, func(tx store.Tx) error {
		var err error
		n, err = tx.DeleteExpiredSessions(ctx, at(time.Hour))
		return err
	})
	if n != 1 {
		t.Errorf("DeleteExpiredSessions at the first expiry deleted %d, want 1", n)
	}
	checkNotFound(t, []missingCall{{"the expired session", func() error { _, err := s.GetSession(ctx, short.ID); return err }}})
	if _, err := s.GetSession(ctx, long.ID); err != nil {
		t.Errorf("the live session after the sweep: %v", err)
	}
	if list, err := s.ListSessions(ctx, alice.ID, at(3*time.Hour)); err != nil || len(list) != 0 {
		t.Errorf("sessions listed at their expiry = %+v, %v; want none", list, err)
	}
}

// testSessionSnapshot checks that the snapshot holds the live sessions.
func testSessionSnapshot(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	alice := mustCreate(t, s, identity.User{Login: "alice", Name: "Alice", Source: identity.SourceLocal, Active: true}, store.Tx.CreateUser)
	live := mustCreate(t, s, identity.Session{UserID: alice.ID, Hash: hashOf("live"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, store.Tx.CreateSession)
	mustCreate(t, s, identity.Session{UserID: alice.ID, Hash: hashOf("gone"), CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}, store.Tx.CreateSession)
	snap, err := s.Snapshot(ctx)
	noErr(t, "Snapshot", err)
	if len(snap.Sessions) != 1 {
		t.Fatalf("snapshot sessions = %+v, want only the live one", snap.Sessions)
	}
	assertEqual(t, "snapshot session", live, snap.Sessions[0])
}

// testSessionRefused checks that a session without a hash or an expiry,
// or of no user, is refused.
func testSessionRefused(t *testing.T, s store.Store) {
	alice := mustCreate(t, s, identity.User{Login: "alice", Name: "Alice", Source: identity.SourceLocal, Active: true}, store.Tx.CreateUser)
	wantErrIs(t, "a session without a hash", tryCreate(t, s, identity.Session{UserID: alice.ID, ExpiresAt: at(time.Hour)}, store.Tx.CreateSession), identity.ErrInvalid)
	wantErrIs(t, "a session without an expiry", tryCreate(t, s, identity.Session{UserID: alice.ID, Hash: hashOf("x")}, store.Tx.CreateSession), identity.ErrInvalid)
	if err := tryCreate(t, s, identity.Session{UserID: alice.ID + 1000, Hash: hashOf("y"), ExpiresAt: at(time.Hour)}, store.Tx.CreateSession); err == nil {
		t.Error("a session of a user that does not exist was stored")
	}
}
