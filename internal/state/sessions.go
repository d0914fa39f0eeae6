package state

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/token"
)

// Sessions live in the store (hashed, like tokens) and in the index, and
// reach the other replicas through the change log like any write: a restart
// signs nobody out, and ending a session on one replica ends it on all
// within the propagation bound. Resolving a cookie reads only memory.

// DefaultSessionTTL is how long a sign-in lasts when the caller sets none.
const DefaultSessionTTL = 24 * time.Hour

// sessionView is what the audit log records of a session: never its secret.
type sessionView struct {
	Session   int64  `json:"session"`
	ExpiresAt string `json:"expiresAt,omitempty"`
}

// StartSession signs an active user in for ttl (DefaultSessionTTL when 0)
// and returns the session's secret, the cookie value; only its hash is
// stored. It records the user's last sign-in in the same transaction.
func (s *State) StartSession(ctx context.Context, userID int64, ttl time.Duration) (string, identity.Session, error) {
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", identity.Session{}, err
	}
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	hash := token.HashOf(secret)
	var out identity.Session
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		// Read in the write: a deactivation that committed since the
		// password was checked refuses the session.
		u, err := tx.GetUser(ctx, userID)
		if errors.Is(err, identity.ErrNotFound) || (err == nil && !u.Active) {
			return audit{}, nil, errBadCredentials
		} else if err != nil {
			return audit{}, nil, err
		}
		now := s.now()
		out, err = tx.CreateSession(ctx, identity.Session{UserID: userID, Hash: hash[:], CreatedAt: now, ExpiresAt: now.Add(ttl)})
		if err != nil {
			return audit{}, nil, err
		}
		if err := tx.TouchUserLogin(ctx, userID, now); err != nil {
			return audit{}, nil, err
		}
		sess := out
		apply := func() {
			if err := s.index.PutSession(sess); err != nil {
				s.log.Error("index a new session", "session", sess.ID, "err", err)
			}
		}
		return audit{Action: "session.start", Target: "user:" + u.Login, After: sessionView{Session: out.ID, ExpiresAt: out.ExpiresAt.UTC().Format(time.RFC3339)}}, apply, nil
	})
	if err != nil {
		return "", identity.Session{}, err
	}
	return secret, out, nil
}

// AuthenticateSession resolves a session cookie from memory: the session
// must be live and its user active. Its use is recorded in the store at
// most once a minute, in the background.
func (s *State) AuthenticateSession(secret string) (authz.Principal, error) {
	p, id, touch, err := s.index.SessionOf(secret)
	if err != nil {
		return p, err
	}
	if p.Freshness() != nil {
		s.Freshen(context.Background(), p)
	}
	if touch {
		select {
		case s.touches <- tokenUse{sessionID: id, at: s.now()}:
		default: // the recorder is behind; a later use will be recorded
		}
	}
	return p, nil
}

// EndSession signs a session out (its cookie); an unknown or ended session
// is no error. The audit names the session's user as the actor when ctx
// carries none (a sign-out needs no other credential).
func (s *State) EndSession(ctx context.Context, secret string) error {
	if secret == "" || !identity.ValidText(secret) {
		return nil
	}
	id, userID, ok := s.index.SessionUser(secret)
	if !ok {
		// The store too: a session made on another replica a moment ago
		// may not have reached this one yet.
		hash := token.HashOf(secret)
		sess, err := s.store.GetSessionByHash(ctx, hash[:])
		if errors.Is(err, identity.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		id, userID = sess.ID, sess.UserID
	}
	login := s.index.Login(userID)
	if act := ActorFrom(ctx); act.UserID == 0 {
		ctx = WithActor(ctx, Actor{Name: "user:" + login, UserID: userID, RequestID: act.RequestID, ClientAddress: act.ClientAddress})
	}
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		err := tx.DeleteSession(ctx, id)
		if errors.Is(err, identity.ErrNotFound) {
			return audit{}, func() { s.index.RemoveSession(id) }, nil // ended meanwhile
		} else if err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "session.end", Target: "user:" + login, Before: sessionView{Session: id}}, func() { s.index.RemoveSession(id) }, nil
	})
}

// SignOutUser ends every session of a user on every replica (an
// administrator's "sign out everywhere") and returns how many it ended.
func (s *State) SignOutUser(ctx context.Context, login string) (int, error) {
	var n int
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		u, err := getUser(ctx, tx, login)
		if err != nil {
			return audit{}, nil, err
		}
		apply, ended, err := s.endUserSessions(ctx, tx, u.ID)
		if err != nil {
			return audit{}, nil, err
		}
		n = ended
		return audit{Action: "user.sign_out", Target: "user:" + login, After: map[string]int{"sessionsEnded": ended}}, apply, nil
	})
	return n, err
}

// endUserSessions ends every session of a user inside a write (sign-out,
// a new password, a deactivation) and returns its index change.
func (s *State) endUserSessions(ctx context.Context, tx store.Tx, userID int64) (func(), int, error) {
	n, err := tx.DeleteUserSessions(ctx, userID)
	if err != nil {
		return nil, 0, err
	}
	return func() { s.index.RemoveUserSessions(userID) }, n, nil
}

// sweepSessions forgets expired sessions, in memory and in the store. No
// replica needs telling: every one refuses an expired session by its clock.
func (s *State) sweepSessions(ctx context.Context) {
	s.index.SweepSessions()
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		_, err := tx.DeleteExpiredSessions(ctx, s.now())
		return err
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("delete expired sessions", "err", err)
	}
}
