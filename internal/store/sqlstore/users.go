package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const userCols = `id, login, name, email, external_id, source, active, password_hash, scm_accounts,
	created_at, updated_at, last_login_at, last_token_at, external_provider`

// userColsNoPassword selects users for the snapshot, which must not carry
// password hashes.
const userColsNoPassword = `id, login, name, email, external_id, source, active, '', scm_accounts,
	created_at, updated_at, last_login_at, last_token_at, external_provider`

// userOrder sorts case-insensitively, with a byte-wise tie break so that the
// order is total.
const userOrder = "LOWER(login), login, id"

func scanUser(sc scanner) (identity.User, error) {
	var (
		u                                  identity.User
		source, scm                        string
		created, updated, login, tokenUsed sql.NullInt64
	)
	if err := sc.Scan(&u.ID, &u.Login, &u.Name, &u.Email, &u.ExternalID, &source, &u.Active,
		&u.PasswordHash, &scm, &created, &updated, &login, &tokenUsed, &u.Provider); err != nil {
		return u, fmt.Errorf("scan user: %w", err)
	}
	u.Source = identity.Source(source)
	var err error
	if u.SCMAccounts, err = decodeList[string](scm); err != nil {
		return u, fmt.Errorf("user %d scm accounts: %w", u.ID, err)
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	u.LastLoginAt, u.LastTokenAt = fromMicros(login), fromMicros(tokenUsed)
	return u, nil
}

// GetUser returns the user with the given id.
func (r *reader) GetUser(ctx context.Context, id int64) (identity.User, error) {
	u, err := scanUser(r.queryRow(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
	if err != nil {
		return u, fmt.Errorf("get user: %w", rowErr(err, "user", id))
	}
	return u, nil
}

// GetUserByLogin returns the user with the given login (case-sensitive).
func (r *reader) GetUserByLogin(ctx context.Context, login string) (identity.User, error) {
	u, err := scanUser(r.queryRow(ctx, "SELECT "+userCols+" FROM users WHERE login = ?", login))
	if err != nil {
		return u, fmt.Errorf("get user by login: %w", rowErr(err, "user", fmt.Sprintf("%q", login)))
	}
	return u, nil
}

// ExistingUsers returns which of ids name a user.
func (r *reader) ExistingUsers(ctx context.Context, ids []int64) (map[int64]bool, error) {
	found := make(map[int64]bool, len(ids))
	if len(ids) == 0 {
		return found, nil
	}
	cond, arg, err := r.f.anyOf("id", ids)
	if err != nil {
		return nil, fmt.Errorf("existing users: %w", err)
	}
	rows, err := r.query(ctx, "SELECT id FROM users WHERE "+cond, arg)
	if err != nil {
		return nil, fmt.Errorf("existing users: %w", err)
	}
	got, err := scanIDs(rows)
	err = r.f.wrap(err)
	if err != nil {
		return nil, fmt.Errorf("existing users: %w", err)
	}
	for _, id := range got {
		found[id] = true
	}
	return found, nil
}

// ListUsers lists users by login.
func (r *reader) ListUsers(ctx context.Context, f store.UserFilter) ([]identity.User, int, error) {
	var w filter
	if f.Query != "" {
		p := containsPattern(f.Query)
		if f.QueryWithoutEmail {
			w.add("("+likeCond("login")+" OR "+likeCond("name")+")", p, p)
		} else {
			w.add("("+likeCond("login")+" OR "+likeCond("name")+" OR "+likeCond("email")+")", p, p, p)
		}
	}
	if f.Active != nil {
		w.add("active = ?", *f.Active)
	}
	if f.Managed != nil {
		if *f.Managed {
			w.add("source NOT IN ('local', '')")
		} else {
			w.add("source IN ('local', '')")
		}
	}
	if f.Source != "" {
		w.add("source = ?", string(f.Source))
	}
	if f.ExternalID != "" {
		w.add("external_id = ?", f.ExternalID)
	}
	if f.IDs != nil {
		w.addAnyOf(r.f, "id", f.IDs)
	}
	w.addCond(r.f, f.Where, condUsers)
	users, total, err := list(ctx, r, &w, "SELECT "+userCols+" FROM users", "users", userOrder, f.Page, scanUser)
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	return users, total, nil
}

// CreateUser inserts u and returns it with its id and timestamps.
func (t *txn) CreateUser(ctx context.Context, u identity.User) (identity.User, error) {
	n := now()
	u.CreatedAt, u.UpdatedAt = orNow(u.CreatedAt, n), orNow(u.UpdatedAt, n)
	u.LastLoginAt, u.LastTokenAt = normTime(u.LastLoginAt), normTime(u.LastTokenAt)
	u.SCMAccounts = normList(u.SCMAccounts)
	scm, err := encodeList(u.SCMAccounts)
	if err != nil {
		return u, fmt.Errorf("create user %q: %w", u.Login, err)
	}
	u.ID, err = t.insertID(ctx, `INSERT INTO users (login, name, email, external_id, source, active, password_hash,
		scm_accounts, created_at, updated_at, last_login_at, last_token_at, external_provider)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		u.Login, u.Name, u.Email, u.ExternalID, string(u.Source), u.Active, u.PasswordHash, scm,
		micros(u.CreatedAt), micros(u.UpdatedAt), micros(u.LastLoginAt), micros(u.LastTokenAt), u.Provider)
	if err != nil {
		return u, fmt.Errorf("create user %q: %w", u.Login, err)
	}
	return u, nil
}

// UpdateUser rewrites every field of the user u.ID but CreatedAt; a zero
// UpdatedAt becomes the current time.
func (t *txn) UpdateUser(ctx context.Context, u identity.User) error {
	scm, err := encodeList(u.SCMAccounts)
	if err != nil {
		return fmt.Errorf("update user %d: %w", u.ID, err)
	}
	n, err := t.execAffected(ctx, `UPDATE users SET login = ?, name = ?, email = ?, external_id = ?, source = ?,
		active = ?, password_hash = ?, scm_accounts = ?, updated_at = ?, last_login_at = ?, last_token_at = ?,
		external_provider = ?
		WHERE id = ?`,
		u.Login, u.Name, u.Email, u.ExternalID, string(u.Source), u.Active, u.PasswordHash, scm,
		micros(orNow(u.UpdatedAt, now())), micros(u.LastLoginAt), micros(u.LastTokenAt), u.Provider, u.ID)
	if err := mustAffect(n, err, "user", u.ID); err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	return nil
}

// TouchUserLogin records the last interactive sign-in of a user.
func (t *txn) TouchUserLogin(ctx context.Context, userID int64, at time.Time) error {
	n, err := t.execAffected(ctx, "UPDATE users SET last_login_at = ? WHERE id = ?", micros(at), userID)
	if err := mustAffect(n, err, "user", userID); err != nil {
		return fmt.Errorf("touch user login: %w", err)
	}
	return nil
}

// TouchUserToken records the last token use of a user.
func (t *txn) TouchUserToken(ctx context.Context, userID int64, at time.Time) error {
	n, err := t.execAffected(ctx, "UPDATE users SET last_token_at = ? WHERE id = ?", micros(at), userID)
	if err := mustAffect(n, err, "user", userID); err != nil {
		return fmt.Errorf("touch user token: %w", err)
	}
	return nil
}
