package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

const sessionCols = "id, user_id, hash, created_at, expires_at, last_seen_at"

func scanSession(sc scanner) (identity.Session, error) {
	var (
		s                       identity.Session
		created, expires, moved sql.NullInt64
	)
	if err := sc.Scan(&s.ID, &s.UserID, &s.Hash, &created, &expires, &moved); err != nil {
		return s, fmt.Errorf("scan session: %w", err)
	}
	s.Hash = normBlob(s.Hash)
	s.CreatedAt, s.ExpiresAt, s.LastSeenAt = fromMicros(created), fromMicros(expires), fromMicros(moved)
	return s, nil
}

// GetSession returns the session with the given id.
func (r *reader) GetSession(ctx context.Context, id int64) (identity.Session, error) {
	s, err := scanSession(r.queryRow(ctx, "SELECT "+sessionCols+" FROM sessions WHERE id = ?", id))
	if err != nil {
		return s, fmt.Errorf("get session: %w", rowErr(err, "session", id))
	}
	return s, nil
}

// GetSessionByHash returns the session with the given hash.
func (r *reader) GetSessionByHash(ctx context.Context, hash []byte) (identity.Session, error) {
	if len(hash) == 0 {
		return identity.Session{}, fmt.Errorf("get session by hash: %w", notFound("session", "with empty hash"))
	}
	s, err := scanSession(r.queryRow(ctx, "SELECT "+sessionCols+" FROM sessions WHERE hash = ?", hash))
	if err != nil {
		return s, fmt.Errorf("get session by hash: %w", rowErr(err, "session", "with this hash"))
	}
	return s, nil
}

// ListSessions lists the live sessions of a user by id.
func (r *reader) ListSessions(ctx context.Context, userID int64, at time.Time) ([]identity.Session, error) {
	out, err := queryAll(ctx, r, scanSession, "SELECT "+sessionCols+" FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY id",
		userID, at.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", userID, err)
	}
	return out, nil
}

// CreateSession inserts a session.
func (t *txn) CreateSession(ctx context.Context, s identity.Session) (identity.Session, error) {
	if len(s.Hash) == 0 || s.ExpiresAt.IsZero() {
		return s, fmt.Errorf("create session: %w", identity.Errorf(identity.ErrInvalid, "a session needs a hash and an expiry"))
	}
	s.CreatedAt = orNow(s.CreatedAt, now())
	s.ExpiresAt, s.LastSeenAt = normTime(s.ExpiresAt), normTime(s.LastSeenAt)
	var err error
	s.ID, err = t.insertID(ctx, "INSERT INTO sessions (user_id, hash, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
		s.UserID, s.Hash, micros(s.CreatedAt), micros(s.ExpiresAt), micros(s.LastSeenAt))
	if err != nil {
		return s, fmt.Errorf("create session of user %d: %w", s.UserID, err)
	}
	return s, nil
}

// DeleteSession deletes one session.
func (t *txn) DeleteSession(ctx context.Context, id int64) error {
	n, err := t.execAffected(ctx, "DELETE FROM sessions WHERE id = ?", id)
	if err := mustAffect(n, err, "session", id); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions deletes every session of a user.
func (t *txn) DeleteUserSessions(ctx context.Context, userID int64) (int, error) {
	n, err := t.execAffected(ctx, "DELETE FROM sessions WHERE user_id = ?", userID)
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %d: %w", userID, err)
	}
	return int(n), nil
}

// TouchSession records the last use of a session.
func (t *txn) TouchSession(ctx context.Context, id int64, at time.Time) error {
	n, err := t.execAffected(ctx, "UPDATE sessions SET last_seen_at = ? WHERE id = ?", micros(at), id)
	if err := mustAffect(n, err, "session", id); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions deletes the sessions expired at before.
func (t *txn) DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error) {
	n, err := t.execAffected(ctx, "DELETE FROM sessions WHERE expires_at <= ?", before.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return int(n), nil
}
