package state

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Reused password checks (issue 7 item 9). A script on basic auth sends
// its login and password with every request; checking each with argon2id
// would hold a KDF slot per request, and eight in parallel exhaust the
// slots (503 "Too many sign-ins at once"). A verified login and password
// are therefore remembered for a short time as a keyed hash — HMAC-SHA256
// under a key drawn at start-up and never stored, so memory holds nothing
// a password can be recovered or tested from offline. A request with the
// same pair then signs in from memory. Any change of the user's row (a new
// password, a deactivation, a rename) and any sign-out of the user drop
// its entries, on every replica, from the change log.

// MaxPasswordReuse bounds how long a verified password is reused.
const MaxPasswordReuse = time.Minute

// maxReused bounds the entries held: past it, expired ones are swept and,
// should none be, a new pair is not remembered (it is checked each time).
const maxReused = 10_000

type reuseEntry struct {
	userID int64
	until  time.Time
}

type passwordReuse struct {
	key [32]byte
	ttl time.Duration

	mu sync.Mutex
	// gen counts drops: a check that began before a drop must not
	// remember its verdict, which may predate the change that dropped it.
	gen uint64
	m   map[[sha256.Size]byte]reuseEntry
}

func newPasswordReuse(ttl time.Duration) *passwordReuse {
	r := &passwordReuse{ttl: min(ttl, MaxPasswordReuse), m: map[[sha256.Size]byte]reuseEntry{}}
	_, _ = rand.Read(r.key[:])
	return r
}

func (r *passwordReuse) sum(login, pw string) (out [sha256.Size]byte) {
	h := hmac.New(sha256.New, r.key[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(login)))
	h.Write(n[:])
	h.Write([]byte(login))
	h.Write([]byte(pw))
	h.Sum(out[:0])
	return out
}

func (r *passwordReuse) get(k [sha256.Size]byte, now time.Time) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[k]
	if !ok {
		return 0, false
	}
	if !now.Before(e.until) {
		delete(r.m, k)
		return 0, false
	}
	return e.userID, true
}

func (r *passwordReuse) generation() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen
}

// put remembers a verified pair unless a drop happened since gen was read.
func (r *passwordReuse) put(k [sha256.Size]byte, userID int64, now time.Time, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gen != r.gen {
		return
	}
	if _, ok := r.m[k]; !ok && len(r.m) >= maxReused {
		for key, e := range r.m {
			if !now.Before(e.until) {
				delete(r.m, key)
			}
		}
		if len(r.m) >= maxReused {
			return
		}
	}
	r.m[k] = reuseEntry{userID: userID, until: now.Add(r.ttl)}
}

// drop forgets the entries of the users whose row or sessions changes
// name.
func (r *passwordReuse) drop(changes []store.Change) {
	var users map[int64]bool
	for _, c := range changes {
		if c.Kind == store.ChangeUser || c.Kind == store.ChangeUserSessions {
			if users == nil {
				users = map[int64]bool{}
			}
			users[c.ID] = true
		}
	}
	if users == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	for k, e := range r.m {
		if users[e.userID] {
			delete(r.m, k)
		}
	}
}

// dropAll forgets every entry (a rebuild: what changed is unknown).
func (r *passwordReuse) dropAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	clear(r.m)
}

// SignInReusing is [State.SignIn] for a credential sent with every request
// (basic auth): a login and password verified less than the reuse period
// ago (Options.PasswordReuse) sign in from memory, without the KDF, the
// throttle's store read or an audit event; the first request of each
// period is a full, throttled and audited sign-in. Only local password
// users are remembered: a directory decides on its own passwords.
func (s *State) SignInReusing(ctx context.Context, login, pw, addr string) (authz.Principal, error) {
	return s.reusing(login, pw, func() (authz.Principal, identity.User, error) { return s.SignIn(ctx, login, pw, addr) })
}

// CheckPasswordReusing is [State.CheckPassword] with the reuse of
// [State.SignInReusing], for an adapter that throttles sign-ins itself.
func (s *State) CheckPasswordReusing(ctx context.Context, login, pw string) (authz.Principal, error) {
	return s.reusing(login, pw, func() (authz.Principal, identity.User, error) { return s.CheckPassword(ctx, login, pw) })
}

// reusing signs in from memory when it can, else by check, remembering a
// local password user's success.
func (s *State) reusing(login, pw string, check func() (authz.Principal, identity.User, error)) (authz.Principal, error) {
	if s.reuse == nil || !identity.ValidText(login) || !identity.ValidText(pw) {
		p, _, err := check()
		return p, err
	}
	k := s.reuse.sum(login, pw)
	if uid, ok := s.reuse.get(k, s.now()); ok {
		// The index has the last word: a user deactivated or renamed on a
		// replica whose change has not been applied here yet is refused
		// by the same rule as everywhere.
		if p, err := s.index.UserPrincipal(uid); err == nil && s.index.Login(uid) == login {
			return p, nil
		}
	}
	gen := s.reuse.generation()
	p, u, err := check()
	if err != nil {
		return p, err
	}
	if u.Source == identity.SourceLocal && u.Provider == "" && u.PasswordHash != "" && s.directory(u.Source) == nil {
		s.reuse.put(k, u.ID, s.now(), gen)
	}
	return p, nil
}

// dropReused forgets the reused passwords of the users changes name.
func (s *State) dropReused(changes []store.Change) {
	if s.reuse != nil {
		s.reuse.drop(changes)
	}
}
