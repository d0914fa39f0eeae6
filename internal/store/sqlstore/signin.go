package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// SignInFailures reads the records of keys in one query.
func (r *reader) SignInFailures(ctx context.Context, keys []string) (map[string]store.SignInFailure, error) {
	out := make(map[string]store.SignInFailure, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	cond, arg, err := r.f.anyOf("throttle_key", keys)
	if err != nil {
		return nil, fmt.Errorf("read sign-in failures: %w", err)
	}
	rows, err := r.query(ctx, "SELECT throttle_key, failures, last_at FROM signin_failures WHERE "+cond, arg)
	if err != nil {
		return nil, fmt.Errorf("read sign-in failures: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			key  string
			rec  store.SignInFailure
			last int64
		)
		if err := rows.Scan(&key, &rec.Count, &last); err != nil {
			return nil, fmt.Errorf("read sign-in failures: %w", err)
		}
		rec.Last = time.UnixMicro(last).UTC()
		out[key] = rec
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read sign-in failures: %w", r.f.wrap(err))
	}
	return out, nil
}

// AddSignInFailure is one upsert: the row lock (PostgreSQL) or the write
// lock (SQLite) makes concurrent increments queue, none lost.
func (t *txn) AddSignInFailure(ctx context.Context, key string, at, forgetBefore time.Time) (store.SignInFailure, error) {
	var (
		rec  store.SignInFailure
		last int64
	)
	err := t.queryRow(ctx, `INSERT INTO signin_failures (throttle_key, failures, last_at) VALUES (?, 1, ?)
		ON CONFLICT (throttle_key) DO UPDATE SET
			failures = CASE WHEN signin_failures.last_at < ? THEN 1 ELSE signin_failures.failures + 1 END,
			last_at = excluded.last_at
		RETURNING failures, last_at`, key, normTime(at).UnixMicro(), normTime(forgetBefore).UnixMicro()).Scan(&rec.Count, &last)
	if err != nil {
		return rec, fmt.Errorf("count sign-in failure: %w", t.f.wrap(err))
	}
	rec.Last = time.UnixMicro(last).UTC()
	return rec, nil
}

// ClearSignInFailures deletes key's record.
func (t *txn) ClearSignInFailures(ctx context.Context, key string) (bool, error) {
	n, err := t.execAffected(ctx, "DELETE FROM signin_failures WHERE throttle_key = ?", key)
	if err != nil {
		return false, fmt.Errorf("clear sign-in failures: %w", err)
	}
	return n > 0, nil
}

// PruneSignInFailures deletes the records last failed before before.
func (t *txn) PruneSignInFailures(ctx context.Context, before time.Time) (int, error) {
	n, err := t.execAffected(ctx, "DELETE FROM signin_failures WHERE last_at < ?", normTime(before).UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("prune sign-in failures: %w", err)
	}
	return int(n), nil
}
