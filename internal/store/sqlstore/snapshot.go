package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Snapshot reads everything the authorization index needs in one read
// transaction: REPEATABLE READ on PostgreSQL, a WAL read snapshot on SQLite.
// Tokens are those neither revoked nor expired now.
func (s *Store) Snapshot(ctx context.Context) (snap store.Snapshot, err error) {
	defer s.lat[opSnapshot].since(time.Now())
	opts := &sql.TxOptions{ReadOnly: true}
	if s.f.postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.rdb.BeginTx(ctx, opts)
	if err != nil {
		return snap, fmt.Errorf("snapshot: begin: %w", s.f.wrap(err))
	}
	defer func() {
		// A read-only transaction has nothing to commit; rolling back ends it.
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			err = errors.Join(err, fmt.Errorf("snapshot: end transaction: %w", rerr))
		}
	}()
	r := &reader{q: tx, f: s.f}

	if snap.Users, err = queryAll(ctx, r, scanUser, "SELECT "+userColsNoPassword+" FROM users ORDER BY id"); err != nil {
		return snap, fmt.Errorf("snapshot users: %w", err)
	}
	if snap.Groups, err = queryAll(ctx, r, scanGroup, "SELECT "+groupCols+" FROM user_groups ORDER BY id"); err != nil {
		return snap, fmt.Errorf("snapshot groups: %w", err)
	}
	if snap.Memberships, err = queryAll(ctx, r, scanMembership, "SELECT user_id, group_id FROM group_members ORDER BY user_id, group_id"); err != nil {
		return snap, fmt.Errorf("snapshot memberships: %w", err)
	}
	if snap.Projects, err = queryAll(ctx, r, scanProject, "SELECT "+projectCols+" FROM projects ORDER BY id"); err != nil {
		return snap, fmt.Errorf("snapshot projects: %w", err)
	}
	if snap.Grants, err = queryAll(ctx, r, scanGrant, "SELECT "+grantCols+" FROM grants ORDER BY "+grantOrder); err != nil {
		return snap, fmt.Errorf("snapshot grants: %w", err)
	}

	const live = "t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at = 0 OR t.expires_at > ?)"
	at := now().UnixMicro()
	if snap.Tokens, err = queryAll(ctx, r, scanToken, "SELECT "+tokenCols+" FROM tokens t WHERE "+live+" ORDER BY t.id", at); err != nil {
		return snap, fmt.Errorf("snapshot tokens: %w", err)
	}
	snap.TokenProjects = make(map[int64][]int64)
	rows, err := r.query(ctx, `SELECT tp.token_id, tp.project_id FROM token_projects tp
		JOIN tokens t ON t.id = tp.token_id WHERE `+live+` ORDER BY tp.token_id, tp.project_id`, at)
	if err != nil {
		return snap, fmt.Errorf("snapshot token projects: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tokenID, projectID int64
		if err := rows.Scan(&tokenID, &projectID); err != nil {
			return snap, fmt.Errorf("snapshot token projects: %w", err)
		}
		snap.TokenProjects[tokenID] = append(snap.TokenProjects[tokenID], projectID)
	}
	if err := rows.Err(); err != nil {
		return snap, fmt.Errorf("snapshot token projects: %w", s.f.wrap(err))
	}
	if snap.Sessions, err = queryAll(ctx, r, scanSession, "SELECT "+sessionCols+" FROM sessions WHERE expires_at > ? ORDER BY id", at); err != nil {
		return snap, fmt.Errorf("snapshot sessions: %w", err)
	}
	return snap, nil
}
