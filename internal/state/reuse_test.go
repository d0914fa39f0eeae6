package state

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore/sqltest"
)

// holdKDF takes every password-hash slot of s until the test ends, so
// that any sign-in that needs a hash fails with ErrBusy: what still signs
// in, signs in from memory.
func holdKDF(t *testing.T, s *State) (release func()) {
	t.Helper()
	for range cap(s.kdf) {
		s.kdf <- struct{}{}
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		for range cap(s.kdf) {
			<-s.kdf
		}
	}
	t.Cleanup(release)
	return release
}

// TestPasswordReuse checks issue 7 item 9 on one replica: a verified
// password is reused without the KDF, within its period only, and a new
// password, a deactivation or a sign-out drop it at once.
func TestPasswordReuse(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	ctx := WithActor(t.Context(), Actor{Name: "user:test"})
	s, err := New(ctx, sqltest.SQLite(t), Options{Now: clock.now})
	noErr(t, err)
	user(t, ctx, s, "alice")
	user(t, ctx, s, "bob")
	const pw = "a-long-password-alice"
	signIn := func(login, pw string) error { _, err := s.SignInReusing(ctx, login, pw, "192.0.2.1"); return err }
	reused := func(login, pw string) bool {
		t.Helper()
		release := holdKDF(t, s)
		defer release()
		err := signIn(login, pw)
		if err != nil && !errors.Is(err, ErrBusy) {
			t.Fatalf("sign-in with the KDF held: %v", err)
		}
		return err == nil
	}

	if reused("alice", pw) {
		t.Fatal("a first sign-in was not checked")
	}
	noErr(t, signIn("alice", pw))
	if !reused("alice", pw) {
		t.Fatal("a verified password is not reused")
	}
	if reused("alice", "a-long-password-wrong") || reused("bob", pw) {
		t.Fatal("another password or another login is reused")
	}
	clock.advance(MaxPasswordReuse)
	if reused("alice", pw) {
		t.Fatal("a password is reused past its period")
	}

	// Each change drops the reused password at once; whether the
	// password then still signs in is the change's business.
	step := func(what, login, pw string, change func(), worksAfter bool) {
		t.Helper()
		noErr(t, signIn(login, pw))
		if !reused(login, pw) {
			t.Fatalf("%s: not reused before the change", what)
		}
		change()
		if reused(login, pw) {
			t.Fatalf("%s: reused after the change", what)
		}
		if err := signIn(login, pw); (err == nil) != worksAfter {
			t.Fatalf("%s: sign-in after the change: %v, want it to work: %v", what, err, worksAfter)
		}
	}
	const pw2 = "a-long-password-alice-2"
	step("new password", "alice", pw, func() { noErr(t, s.SetPassword(ctx, "alice", pw2, nil)) }, false)
	step("sign-out", "alice", pw2, func() { _, err := s.SignOutUser(ctx, "alice"); noErr(t, err) }, true)
	step("rename", "alice", pw2, func() {
		login := "alice2"
		_, err := s.UpdateUser(ctx, "alice", UserUpdate{Login: &login})
		noErr(t, err)
	}, false)
	step("deactivation", "alice2", pw2, func() { _, err := s.DeactivateUser(ctx, "alice2"); noErr(t, err) }, false)
}

// TestPasswordReuseOff checks that a negative period turns reuse off.
func TestPasswordReuseOff(t *testing.T) {
	ctx := WithActor(t.Context(), Actor{Name: "user:test"})
	s, err := New(ctx, sqltest.SQLite(t), Options{PasswordReuse: -1})
	noErr(t, err)
	user(t, ctx, s, "alice")
	_, err = s.SignInReusing(ctx, "alice", "a-long-password-alice", "192.0.2.1")
	noErr(t, err)
	holdKDF(t, s)
	if _, err := s.SignInReusing(ctx, "alice", "a-long-password-alice", "192.0.2.1"); !errors.Is(err, ErrBusy) {
		t.Fatalf("with reuse off a second sign-in gave %v, want the KDF (ErrBusy)", err)
	}
}

// TestPasswordReuseAcrossReplicas checks that a change on replica A drops
// B's reused password within a second.
func TestPasswordReuseAcrossReplicas(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			r := newReplicas(t, be.open(t, 2), nil)
			r.runB()
			ctx, a, b := r.ctx, r.a, r.b
			user(t, ctx, a, "root")
			noErr(t, a.AddMember(ctx, identity.GroupAdministrators, "root"))
			alice := user(t, ctx, a, "alice")
			held := func(pw string) bool { _, ok := b.reuse.get(b.reuse.sum("alice", pw), time.Now()); return ok }
			step := func(what, pw string, change func()) {
				t.Helper()
				// B's index shows a peer's change before B drops the reused
				// passwords it names (apply first, so no check between the
				// two can remember a stale verdict): wait for B's revision,
				// set after both.
				r.seenOnB("alice's last change", func() bool {
					return r.userMayOnB(alice.ID, identity.PermScan, "") && b.repl.revision.Load() >= a.repl.revision.Load()
				})
				if _, err := b.SignInReusing(ctx, "alice", pw, "192.0.2.1"); err != nil {
					t.Fatalf("%s: sign-in on B: %v", what, err)
				}
				if !held(pw) {
					t.Fatalf("%s: B does not hold alice's verified password", what)
				}
				change()
				r.seenOnB(what+" on A dropping B's reused password", func() bool { return !held(pw) })
			}
			step("a sign-out", "a-long-password-alice", func() { _, err := a.SignOutUser(ctx, "alice"); noErr(t, err) })
			step("a new password", "a-long-password-alice", func() { noErr(t, a.SetPassword(ctx, "alice", "a-long-password-new", nil)) })
			step("a deactivation", "a-long-password-new", func() { _, err := a.DeactivateUser(ctx, "alice"); noErr(t, err) })
			if _, err := b.SignInReusing(ctx, "alice", "a-long-password-new", "192.0.2.1"); !errors.Is(err, identity.ErrUnauthenticated) {
				t.Fatalf("a deactivated user's password on B: %v", err)
			}
		})
	}
}
