package state

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore/sqltest"
)

const (
	attacker = "203.0.113.7"
	owner    = "198.51.100.2"
)

// signInResult sorts an attempt's outcome: ok, failed (checked and wrong),
// throttled (refused unchecked, with its wait) or another error.
func signInResult(t *testing.T, s *State, e *env, login, pw, addr string) (string, time.Duration) {
	t.Helper()
	_, _, err := s.SignIn(e.ctx, login, pw, addr)
	switch {
	case err == nil:
		return "ok", 0
	case errors.Is(err, identity.ErrUnauthenticated):
		return "failed", 0
	case errors.Is(err, identity.ErrThrottled):
		return "throttled", identity.RetryAfter(err)
	}
	t.Fatalf("SignIn(%s from %s) = %v", login, addr, err)
	return "", 0
}

// TestSignInBackoff walks a login at one address through its free
// failures, the doubling waits, their cap and the forgetting.
func TestSignInBackoff(t *testing.T) {
	e := newEnv(t)
	e.user("admin")
	good := "a-long-password-admin"
	p := e.s.throttle.policy
	try := func(pw string) (string, time.Duration) { return signInResult(t, e.s, e, "admin", pw, attacker) }
	for i := range p.FreeFailures {
		if got, _ := try("wrong"); got != "failed" {
			t.Fatalf("free failure %d: %s", i+1, got)
		}
	}
	wait := p.Backoff
	for step := range 14 {
		got, retry := try("wrong")
		if got != "throttled" || retry != wait {
			t.Fatalf("step %d: %s, retry after %v; want throttled for %v", step, got, retry, wait)
		}
		// Even the right password waits: the address has failed.
		if got, _ := try(good); got != "throttled" {
			t.Fatalf("step %d: right password from the failing address: %s", step, got)
		}
		e.advance(wait)
		if got, _ := try("wrong"); got != "failed" {
			t.Fatalf("step %d: after the wait: %s", step, got)
		}
		wait = min(2*wait, p.MaxBackoff)
	}
	if wait != p.MaxBackoff {
		t.Fatalf("wait after 14 steps = %v, want the cap %v", wait, p.MaxBackoff)
	}
	// A quiet period forgets the failures: the free ones are back.
	e.advance(p.Forget + time.Second)
	for i := range p.FreeFailures {
		if got, _ := try("wrong"); got != "failed" {
			t.Fatalf("after forgetting, failure %d: %s", i+1, got)
		}
	}
	e.advance(p.Backoff)
	if got, _ := try(good); got != "ok" {
		t.Fatalf("right password after the wait: %s", got)
	}
	// A success clears the login's failures at that address.
	recs, err := e.db.SignInFailures(e.ctx, []string{pairKeyOf("admin", attacker)})
	if err != nil || len(recs) != 0 {
		t.Fatalf("records after a success = %v, %v; want none", recs, err)
	}
	for i := range p.FreeFailures {
		if got, _ := try("wrong"); got != "failed" {
			t.Fatalf("after a success, failure %d: %s", i+1, got)
		}
	}
}

func pairKeyOf(login, addr string) string { k, _ := throttleKeys(login, addr); return k }

// TestSignInOwnerNotLockedOut: an attacker hammering admin from one
// address is throttled; the owner, from an address that has not failed,
// signs in at once, and a mistyped password of theirs costs them nothing
// of the attacker's count.
func TestSignInOwnerNotLockedOut(t *testing.T) {
	e := newEnv(t)
	e.user("admin")
	good := "a-long-password-admin"
	for range 40 {
		signInResult(t, e.s, e, "admin", "guess", attacker)
	}
	if got, _ := signInResult(t, e.s, e, "admin", good, attacker); got != "throttled" {
		t.Fatalf("attacker with the right password: %s, want throttled", got)
	}
	if got, _ := signInResult(t, e.s, e, "admin", "typo", owner); got != "failed" {
		t.Fatalf("owner's typo: %s, want failed", got)
	}
	if got, _ := signInResult(t, e.s, e, "admin", good, owner); got != "ok" {
		t.Fatalf("owner from another address: %s, want ok", got)
	}
}

// TestSignInAddressLimit sprays many logins from one address: past the
// address's free failures every login waits there, elsewhere none does.
func TestSignInAddressLimit(t *testing.T) {
	e := newEnv(t)
	e.user("carol")
	p := e.s.throttle.policy
	for i := range p.AddressFreeFailures {
		if got, _ := signInResult(t, e.s, e, fmt.Sprintf("user%d", i), "x", attacker); got != "failed" {
			t.Fatalf("spray %d: %s", i, got)
		}
	}
	if got, _ := signInResult(t, e.s, e, "carol", "a-long-password-carol", attacker); got != "throttled" {
		t.Fatalf("another login from the spraying address: %s, want throttled", got)
	}
	if got, _ := signInResult(t, e.s, e, "carol", "a-long-password-carol", owner); got != "ok" {
		t.Fatalf("from another address: %s, want ok", got)
	}
}

// TestSignInParallelGuesses races guesses at one login from one address:
// exactly FreeFailures of them are checked, however many run at once.
func TestSignInParallelGuesses(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(testing.TB, int) []*sqlstore.Store
	}{
		{"SQLite", sqltest.SQLiteReplicas},
		{"Postgres", sqltest.PostgresReplicas},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dbs := tc.open(t, 1)
			e := newEnvOn(t, WithActor(t.Context(), Actor{Name: "anonymous", RequestID: "req-p"}), dbs[0])
			e.user("admin")
			// Slots for every check that may run: a busy refusal is not
			// what this test counts.
			e.s.kdf = make(chan struct{}, 16)
			const guesses = 24
			var (
				mu      sync.Mutex
				results = map[string]int{}
				wg      sync.WaitGroup
				start   = make(chan struct{})
			)
			for range guesses {
				wg.Go(func() {
					<-start
					_, _, err := e.s.SignIn(e.ctx, "admin", "guess", attacker)
					kind := "other: " + fmt.Sprint(err)
					switch {
					case errors.Is(err, identity.ErrUnauthenticated):
						kind = "failed"
					case errors.Is(err, identity.ErrThrottled):
						kind = "throttled"
					}
					mu.Lock()
					results[kind]++
					mu.Unlock()
				})
			}
			close(start)
			wg.Wait()
			free := e.s.throttle.policy.FreeFailures
			if results["failed"] != free || results["throttled"] != guesses-free {
				t.Fatalf("%d parallel guesses: %v; want %d checked and failed, the rest throttled", guesses, results, free)
			}
			recs, err := e.db.SignInFailures(e.ctx, []string{pairKeyOf("admin", attacker)})
			if err != nil || recs[pairKeyOf("admin", attacker)].Count != free {
				t.Fatalf("stored count = %v, %v; want %d", recs, err, free)
			}
			failures, _, err := e.db.ListAudit(e.ctx, store.AuditFilter{Action: "signin.failure"})
			if err != nil || len(failures) != free {
				t.Fatalf("signin.failure events = %d, %v; want %d", len(failures), err, free)
			}
		})
	}
}

// TestSignInSharedByReplicas: failures counted on one replica throttle
// the other, which holds no memory of them.
func TestSignInSharedByReplicas(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(testing.TB, int) []*sqlstore.Store
	}{
		{"SQLite", sqltest.SQLiteReplicas},
		{"Postgres", sqltest.PostgresReplicas},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dbs := tc.open(t, 2)
			a := newEnvOn(t, t.Context(), dbs[0])
			a.user("admin")
			b := newEnvOn(t, t.Context(), dbs[1])
			b.clock = a.clock // one clock for both
			b.s.now = a.s.now
			for i := range a.s.throttle.policy.FreeFailures {
				s, e := a, a
				if i%2 == 1 {
					s, e = b, b
				}
				if got, _ := signInResult(t, s.s, e, "admin", "guess", attacker); got != "failed" {
					t.Fatalf("failure %d: %s", i+1, got)
				}
			}
			for _, r := range []*env{a, b} {
				if got, _ := signInResult(t, r.s, r, "admin", "a-long-password-admin", attacker); got != "throttled" {
					t.Fatalf("after the free failures, split over the replicas: %s, want throttled", got)
				}
			}
		})
	}
}

// TestSignInAudit checks the events of a failure, a refusal (once per
// wait, however many refused attempts) and a success.
func TestSignInAudit(t *testing.T) {
	e := newEnv(t)
	e.user("admin")
	ctx := WithActor(t.Context(), Actor{Name: "anonymous", RequestID: "req-a"})
	p := e.s.throttle.policy
	for range p.FreeFailures {
		_, _, _ = e.s.SignIn(ctx, "admin", "guess", attacker)
	}
	_, _, _ = e.s.SignIn(ctx, "nobody", "guess", owner)
	for range 10 {
		_, _, _ = e.s.SignIn(ctx, "admin", "guess", attacker)
	}
	if _, _, err := e.s.SignIn(ctx, "admin", "a-long-password-admin", owner); err != nil {
		t.Fatal(err)
	}
	count := func(action, actor, target string) int {
		t.Helper()
		evs, _, err := e.db.ListAudit(ctx, store.AuditFilter{Action: action})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs {
			if ev.Actor == actor && ev.Target == target && ev.RequestID == "req-a" {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		action, actor, target string
		want                  int
	}{
		{"signin.failure", "anonymous", "user:admin", p.FreeFailures},
		{"signin.failure", "anonymous", "unknown-login", 1},
		{"signin.throttled", "anonymous", "user:admin", 1},
		{"signin.success", "user:admin", "user:admin", 1},
	} {
		if got := count(c.action, c.actor, c.target); got != c.want {
			t.Errorf("%s by %s on %s: %d events, want %d", c.action, c.actor, c.target, got, c.want)
		}
	}
	// The next wait is audited again.
	e.advance(p.Backoff)
	_, _, _ = e.s.SignIn(ctx, "admin", "guess", attacker)
	_, _, _ = e.s.SignIn(ctx, "admin", "guess", attacker)
	if got := count("signin.throttled", "anonymous", "user:admin"); got != 2 {
		t.Errorf("refusals after the next failure: %d events, want 2", got)
	}
}

// TestSignInSuccessWritesNoRecord: a success without earlier failures
// leaves the throttle's table alone (only its audit event is written).
func TestSignInSuccessWritesNoRecord(t *testing.T) {
	e := newEnv(t)
	e.user("admin")
	if got, _ := signInResult(t, e.s, e, "admin", "a-long-password-admin", owner); got != "ok" {
		t.Fatal(got)
	}
	pair, addr := throttleKeys("admin", owner)
	if recs, err := e.db.SignInFailures(e.ctx, []string{pair, addr}); err != nil || len(recs) != 0 {
		t.Fatalf("records = %v, %v; want none", recs, err)
	}
}

// TestSignInDirectoryThrottled: directory (LDAP) sign-ins share the
// throttle; a directory that is down is not counted as a guess.
func TestSignInDirectoryThrottled(t *testing.T) {
	e, d := ldapEnv(t)
	d.put("svc", "svc-pw")
	d.setDown(true)
	for range e.s.throttle.policy.FreeFailures + 2 {
		if _, _, err := e.s.SignIn(e.ctx, "svc", "wrong", attacker); !errors.Is(err, identity.ErrUnavailable) {
			t.Fatalf("directory down: %v, want unavailable", err)
		}
	}
	d.setDown(false)
	for i := range e.s.throttle.policy.FreeFailures {
		if got, _ := signInResult(t, e.s, e, "svc", "wrong", attacker); got != "failed" {
			t.Fatalf("directory failure %d: %s", i+1, got)
		}
	}
	if got, _ := signInResult(t, e.s, e, "svc", "svc-pw", attacker); got != "throttled" {
		t.Fatalf("directory user after the free failures: %s, want throttled", got)
	}
	if got, _ := signInResult(t, e.s, e, "svc", "svc-pw", owner); got != "ok" {
		t.Fatalf("directory user from another address: %s, want ok", got)
	}
}
