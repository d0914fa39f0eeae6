package state

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore/sqltest"
)

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestSessionsAcrossReplicas checks issue 7's sessions on two replicas over
// one database: a session started on A works on B and after a restart; an
// administrator's sign-out, a new password or a deactivation on A ends the
// user's sessions on B within a second; a reactivated login starts with
// none of its old sessions.
func TestSessionsAcrossReplicas(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			dbs := be.open(t, 2)
			r := newReplicas(t, dbs, nil)
			r.runB()
			ctx, a, b := r.ctx, r.a, r.b
			user(t, ctx, a, "root")
			noErr(t, a.AddMember(ctx, identity.GroupAdministrators, "root"))
			alice := user(t, ctx, a, "alice")
			bob := user(t, ctx, a, "bob")
			works := func(s *State, secret string) bool {
				p, err := s.AuthenticateSession(secret)
				return err == nil && p.UserID == alice.ID
			}

			start := func() string {
				t.Helper()
				secret, sess, err := a.StartSession(ctx, alice.ID, time.Hour)
				noErr(t, err)
				if sess.UserID != alice.ID || !sess.ExpiresAt.After(time.Now()) {
					t.Fatalf("session %+v", sess)
				}
				if !works(a, secret) {
					t.Fatal("a session does not work on the replica that started it")
				}
				r.seenOnB("a session started on A", func() bool { return works(b, secret) })
				return secret
			}

			// Sign-out everywhere; bob's session is untouched.
			first, second := start(), start()
			bobs, _, err := a.StartSession(ctx, bob.ID, time.Hour)
			noErr(t, err)
			n, err := a.SignOutUser(ctx, "alice")
			noErr(t, err)
			if n != 2 {
				t.Errorf("SignOutUser ended %d sessions, want 2", n)
			}
			if works(a, first) || works(a, second) {
				t.Fatal("a signed-out session works on A")
			}
			r.seenOnB("an administrator's sign-out", func() bool { return !works(b, first) && !works(b, second) })
			r.seenOnB("bob's session", func() bool { _, err := b.AuthenticateSession(bobs); return err == nil })

			// A restart: a new coordinator over the same store.
			kept := start()
			restarted, err := New(ctx, dbs[0], Options{})
			noErr(t, err)
			if !works(restarted, kept) {
				t.Fatal("a restart signed alice out")
			}

			// Sign-out of one session on B reaches A's store at once.
			noErr(t, b.EndSession(ctx, kept))
			if works(b, kept) {
				t.Fatal("a session works after its sign-out")
			}
			a.syncPeers(ctx)
			if works(a, kept) {
				t.Fatal("a session ended on B works on A after catching up")
			}

			// A new password.
			s := start()
			noErr(t, a.SetPassword(ctx, "alice", "another-long-password", nil))
			r.seenOnB("a password change", func() bool { return !works(b, s) })

			// Deactivation, then the login re-created (reactivated).
			s = start()
			_, err = a.DeactivateUser(ctx, "alice")
			noErr(t, err)
			r.seenOnB("a deactivation", func() bool { return !works(b, s) })
			again, err := a.CreateUser(ctx, NewUser{Login: "alice", Name: "Alice again", Password: "a-long-password-again"})
			noErr(t, err)
			if again.ID != alice.ID {
				t.Fatalf("re-created alice has id %d, want %d reactivated", again.ID, alice.ID)
			}
			noErr(t, b.Reload(ctx))
			for _, old := range []string{first, second, kept, s} {
				if works(a, old) || works(b, old) {
					t.Fatal("a re-created login inherits an old session")
				}
			}
			if left, err := dbs[0].ListSessions(ctx, alice.ID, time.Now()); err != nil || len(left) != 0 {
				t.Fatalf("alice's stored sessions after the deactivation: %+v, %v", left, err)
			}

			// The writes are audited, never with a secret.
			for _, action := range []string{"session.start", "session.end", "user.sign_out"} {
				evs, n, err := dbs[0].ListAudit(ctx, store.AuditFilter{Action: action})
				noErr(t, err)
				if n == 0 {
					t.Errorf("no %s audit event", action)
				}
				for _, e := range evs {
					for _, secret := range []string{first, second, kept, s, bobs} {
						if strings.Contains(e.Before+e.After, secret) {
							t.Fatalf("audit event %s holds a session secret", action)
						}
					}
				}
			}
			if a, b := a.Index().Stats(), b.Index().Stats(); a != b {
				t.Errorf("indexes differ: A %+v, B %+v", a, b)
			}
		})
	}
}

// TestSessionExpiry checks that a session ends at its expiry by the
// clock, and that the sweep forgets it in memory and in the store.
func TestSessionExpiry(t *testing.T) {
	db := sqltest.SQLite(t)
	clock := &fakeClock{t: time.Now()}
	ctx := WithActor(t.Context(), Actor{Name: "user:test"})
	s, err := New(ctx, db, Options{Now: clock.now})
	noErr(t, err)
	alice := user(t, ctx, s, "alice")
	secret, sess, err := s.StartSession(ctx, alice.ID, time.Hour)
	noErr(t, err)
	if _, err := s.AuthenticateSession(secret); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Hour)
	if _, err := s.AuthenticateSession(secret); err == nil {
		t.Fatal("a session works at its expiry")
	}
	s.sweepSessions(ctx)
	if got := s.Index().Stats().Sessions; got != 0 {
		t.Errorf("%d sessions in memory after the sweep", got)
	}
	if _, err := db.GetSession(ctx, sess.ID); err == nil {
		t.Error("the expired session is still stored after the sweep")
	}
}
