package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// SignInPolicy is the throttle of password sign-ins. Failures are counted
// per login at one client address and per address over every login, in
// the store, so every replica sees them. Past its free failures a key
// waits before each further attempt, Backoff after the first and twice as
// long after each next failure, up to MaxBackoff. No login is ever locked
// as a whole: a login's owner signing in from an address that has not
// failed is not slowed by an attacker elsewhere.
type SignInPolicy struct {
	// FreeFailures is how many failures a login may have from one address
	// before it waits (5 when 0).
	FreeFailures int
	// AddressFreeFailures is how many failures an address may have over
	// every login before it waits (50 when 0).
	AddressFreeFailures int
	// Backoff is the first wait (1 s when 0).
	Backoff time.Duration
	// MaxBackoff caps the wait (15 min when 0).
	MaxBackoff time.Duration
	// Forget is how long a key's failures are kept after its last one
	// (1 h when 0, never less than MaxBackoff).
	Forget time.Duration
}

// DefaultSignInPolicy is the policy of a zero SignInPolicy.
var DefaultSignInPolicy = SignInPolicy{FreeFailures: 5, AddressFreeFailures: 50, Backoff: time.Second, MaxBackoff: 15 * time.Minute, Forget: time.Hour}

func (p SignInPolicy) withDefaults() SignInPolicy {
	d := DefaultSignInPolicy
	if p.FreeFailures <= 0 {
		p.FreeFailures = d.FreeFailures
	}
	if p.AddressFreeFailures <= 0 {
		p.AddressFreeFailures = d.AddressFreeFailures
	}
	if p.Backoff <= 0 {
		p.Backoff = d.Backoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = d.MaxBackoff
	}
	p.MaxBackoff = max(p.MaxBackoff, p.Backoff)
	if p.Forget <= 0 {
		p.Forget = d.Forget
	}
	p.Forget = max(p.Forget, p.MaxBackoff)
	return p
}

// delay is how long a key with count failures waits after its last one.
func (p SignInPolicy) delay(count, free int) time.Duration {
	if count < free {
		return 0
	}
	d := p.Backoff
	for i := free; i < count && d < p.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, p.MaxBackoff)
}

// inFlightWait is the wait of an attempt refused because the last
// attempts its key allows are being checked: their verdict decides.
const inFlightWait = time.Second

// wait is how long an attempt on a key must wait: its stored record, and
// the attempts this replica is checking on it now, which count as failures
// until they are decided — so parallel guesses get no more checks than
// sequential ones.
func (p SignInPolicy) wait(rec store.SignInFailure, inFlight, free int, now time.Time) time.Duration {
	count := p.live(rec, now)
	if count+inFlight < free {
		return 0
	}
	if inFlight > 0 {
		return inFlightWait
	}
	return max(rec.Last.Add(p.delay(count, free)).Sub(now), 0)
}

// live is the count of rec, or 0 once forgotten (as the store forgets:
// its last failure more than Forget ago).
func (p SignInPolicy) live(rec store.SignInFailure, now time.Time) int {
	if rec.Last.Before(now.Add(-p.Forget)) {
		return 0
	}
	return rec.Count
}

// throttleStripes spreads the throttle's lock over addresses: both keys of
// an attempt share their address's stripe.
const throttleStripes = 64

// maxNoted bounds the memory of audited refusals per stripe.
const maxNoted = 4096

type throttle struct {
	policy  SignInPolicy
	stripes [throttleStripes]throttleStripe
}

type throttleStripe struct {
	// mu is held from reading a key's record to counting the attempt in
	// flight, and when an attempt ends: a decision never misses an
	// attempt that is being checked or a failure that was just stored.
	mu       sync.Mutex
	inFlight map[string]int
	// noted is until when a key's refusals are audited already: one event
	// per wait, not one per refused request (they cost no hash, so they
	// come fast, and must not become a write each).
	noted map[string]time.Time
}

func newThrottle(p SignInPolicy) *throttle {
	t := &throttle{policy: p.withDefaults()}
	for i := range t.stripes {
		t.stripes[i].inFlight = map[string]int{}
		t.stripes[i].noted = map[string]time.Time{}
	}
	return t
}

func (t *throttle) stripe(addr string) *throttleStripe {
	h := fnv.New32a()
	_, _ = h.Write([]byte(addr))
	return &t.stripes[h.Sum32()%throttleStripes]
}

func (st *throttleStripe) release(keys ...string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.releaseLocked(keys...)
}

func (st *throttleStripe) releaseLocked(keys ...string) {
	for _, k := range keys {
		if st.inFlight[k]--; st.inFlight[k] <= 0 {
			delete(st.inFlight, k)
		}
	}
}

// note reports whether a refusal of key should be audited, and marks the
// wait as audited.
func (st *throttleStripe) note(key string, now time.Time, wait time.Duration) bool {
	if until, ok := st.noted[key]; ok && now.Before(until) {
		return false
	}
	if len(st.noted) >= maxNoted {
		for k, until := range st.noted {
			if !now.Before(until) {
				delete(st.noted, k)
			}
		}
		if len(st.noted) >= maxNoted {
			clear(st.noted)
		}
	}
	st.noted[key] = now.Add(wait)
	return true
}

// throttleKeys are the store keys of a login at an address and of the
// address. They are hashed: a password typed into the login field must
// not be stored readable.
func throttleKeys(login, addr string) (pair, address string) {
	sum := func(parts ...string) string {
		h := sha256.New()
		for _, p := range parts {
			_, _ = h.Write([]byte(p))
			_, _ = h.Write([]byte{0})
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	return sum("login", addr, login), sum("address", addr)
}

// SignIn authenticates a password sign-in from client address addr, as
// CheckPassword does, under the throttle of [SignInPolicy]. Every password
// sign-in (the Web API's form and basic auth, local and directory users)
// comes through here. A refused attempt is an identity.ErrThrottled error
// carrying its wait (identity.RetryAfter). Success, failure and refusal are
// audit events (signin.success, signin.failure, signin.throttled). A
// failure costs one store write; a success one (its audit event, and
// clearing the failures of its login at that address, if any).
func (s *State) SignIn(ctx context.Context, login, pw, addr string) (authz.Principal, identity.User, error) {
	t := s.throttle
	pairKey, addrKey := throttleKeys(login, addr)
	st := t.stripe(addr)
	st.mu.Lock()
	recs, err := s.store.SignInFailures(ctx, []string{pairKey, addrKey})
	if err != nil {
		st.mu.Unlock()
		return authz.Principal{}, identity.User{}, err
	}
	now := s.now()
	wait := max(t.policy.wait(recs[pairKey], st.inFlight[pairKey], t.policy.FreeFailures, now),
		t.policy.wait(recs[addrKey], st.inFlight[addrKey], t.policy.AddressFreeFailures, now))
	if wait > 0 {
		audited := st.note(pairKey, now, wait)
		st.mu.Unlock()
		if audited {
			_, lerr := s.store.GetUserByLogin(ctx, login)
			s.auditSignIn(ctx, nil, audit{Action: "signin.throttled", Target: signInTarget(login, lerr == nil),
				After: map[string]any{"address": addr, "retryAfterSeconds": identity.RetrySeconds(wait)}})
		}
		return authz.Principal{}, identity.User{}, &identity.Error{Kind: identity.ErrThrottled, Retry: wait,
			Msg: "Too many failed sign-ins from this address. Please try again later."}
	}
	st.inFlight[pairKey]++
	st.inFlight[addrKey]++
	st.mu.Unlock()

	p, u, known, err := s.checkPassword(ctx, login, pw)
	switch {
	case errors.Is(err, identity.ErrUnauthenticated):
		// The failure is stored and the attempt stops counting in flight
		// under the stripe's lock, as decisions are made: a decision sees
		// the attempt once, in flight or stored, never neither nor both.
		st.mu.Lock()
		s.recordFailure(ctx, login, addr, known, pairKey, addrKey)
		st.releaseLocked(pairKey, addrKey)
		st.mu.Unlock()
		return authz.Principal{}, identity.User{}, err
	case err != nil:
		st.release(pairKey, addrKey)
		return authz.Principal{}, identity.User{}, err // busy, directory or store down: not a guess
	}
	st.release(pairKey, addrKey)
	failed := t.policy.live(recs[pairKey], now) > 0
	s.auditSignIn(ctx, func(tx store.Tx) error {
		if failed {
			_, err := tx.ClearSignInFailures(ctx, pairKey)
			return err
		}
		return nil
	}, audit{Action: "signin.success", Target: "user:" + u.Login, After: map[string]any{"address": addr}}, "user:"+u.Login)
	return p, u, nil
}

// recordFailure stores a failed attempt and its audit event. Should the
// store fail, the attempt still failed: the caller gets its 401, the log
// the cause.
func (s *State) recordFailure(ctx context.Context, login, addr string, known bool, pairKey, addrKey string) {
	now := s.now()
	forget := now.Add(-s.throttle.policy.Forget)
	after := map[string]any{"address": addr}
	s.auditSignIn(ctx, func(tx store.Tx) error {
		pair, err := tx.AddSignInFailure(ctx, pairKey, now, forget)
		if err != nil {
			return err
		}
		after["failures"] = pair.Count
		_, err = tx.AddSignInFailure(ctx, addrKey, now, forget)
		return err
	}, audit{Action: "signin.failure", Target: signInTarget(login, known), After: after})
}

// auditSignIn writes a sign-in's audit event, with fn's writes, in one
// transaction of its own: sign-ins change nothing a decision depends on,
// so they do not bump the revision (no replica catches up on them).
// actor, when given, replaces the context's (a sign-in that succeeded is
// its user's act).
func (s *State) auditSignIn(ctx context.Context, fn func(tx store.Tx) error, a audit, actor ...string) {
	if len(actor) > 0 {
		act := ActorFrom(ctx)
		act.Name = actor[0]
		ctx = WithActor(ctx, act)
	}
	err := s.store.Tx(context.WithoutCancel(ctx), func(tx store.Tx) error {
		if fn != nil {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return s.appendAudit(ctx, tx, a)
	})
	if err != nil {
		s.log.WarnContext(ctx, "record sign-in", "action", a.Action, "err", err)
	}
}

// signInTarget names the account a sign-in was for. A login that names
// no account is not recorded: it may be a password typed in the wrong
// field.
func signInTarget(login string, known bool) string {
	if !known {
		return "unknown-login"
	}
	return "user:" + login
}

// pruneSignIns deletes the failure records the policy has forgotten.
func (s *State) pruneSignIns(ctx context.Context) {
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		_, err := tx.PruneSignInFailures(ctx, s.now().Add(-s.throttle.policy.Forget))
		return err
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("prune sign-in failures", "err", err)
	}
}
