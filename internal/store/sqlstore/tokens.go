package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// tokenCols selects a token and the size of its explicit project list.
const tokenCols = `t.id, t.name, t.description, t.token_type, t.user_id, t.project_id, t.hash, t.prev_hash,
	t.prev_valid_until, t.created_by, t.created_at, t.updated_at, t.expires_at, t.last_used_at, t.revoked_at,
	t.permissions, t.scope_set, t.scope_patterns, t.scim_scopes,
	(SELECT COUNT(*) FROM token_projects tp WHERE tp.token_id = t.id)`

// tokenProjectChunk is how many rows one INSERT into token_projects carries:
// 2 parameters each stays far below SQLite's and PostgreSQL's limits.
const tokenProjectChunk = 500

func scanToken(sc scanner) (identity.Token, error) {
	var (
		t                                                       identity.Token
		typ, perms, set, patterns, scim                         string
		prevValid, created, updated, expires, lastUsed, revoked sql.NullInt64
	)
	if err := sc.Scan(&t.ID, &t.Name, &t.Description, &typ, &t.UserID, &t.ProjectID, &t.Hash, &t.PrevHash,
		&prevValid, &t.CreatedBy, &created, &updated, &expires, &lastUsed, &revoked,
		&perms, &set, &patterns, &scim, &t.Scope.ProjectCount); err != nil {
		return t, fmt.Errorf("scan token: %w", err)
	}
	t.Type, t.Scope.Set = identity.TokenType(typ), identity.ProjectSet(set)
	t.Hash, t.PrevHash = normBlob(t.Hash), normBlob(t.PrevHash)
	t.PrevValidUntil, t.CreatedAt, t.UpdatedAt = fromMicros(prevValid), fromMicros(created), fromMicros(updated)
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromMicros(expires), fromMicros(lastUsed), fromMicros(revoked)
	var err error
	if t.Permissions, err = decodeList[identity.Permission](perms); err != nil {
		return t, fmt.Errorf("token %d permissions: %w", t.ID, err)
	}
	if t.Scope.Patterns, err = decodeList[string](patterns); err != nil {
		return t, fmt.Errorf("token %d patterns: %w", t.ID, err)
	}
	if t.SCIMScopes, err = decodeList[string](scim); err != nil {
		return t, fmt.Errorf("token %d scim scopes: %w", t.ID, err)
	}
	return t, nil
}

// GetToken returns the token with the given id.
func (r *reader) GetToken(ctx context.Context, id int64) (identity.Token, error) {
	t, err := scanToken(r.queryRow(ctx, "SELECT "+tokenCols+" FROM tokens t WHERE t.id = ?", id))
	if err != nil {
		return t, fmt.Errorf("get token: %w", rowErr(err, "token", id))
	}
	return t, nil
}

// GetTokenByHash returns the token whose hash or previous hash is hash,
// whatever its state.
func (r *reader) GetTokenByHash(ctx context.Context, hash []byte) (identity.Token, error) {
	if len(hash) == 0 {
		return identity.Token{}, fmt.Errorf("get token by hash: %w", notFound("token", "with empty hash"))
	}
	// The current hash wins should a rotated-out hash ever equal another's.
	t, err := scanToken(r.queryRow(ctx, "SELECT "+tokenCols+` FROM tokens t WHERE t.hash = ? OR t.prev_hash = ?
		ORDER BY CASE WHEN t.hash = ? THEN 0 ELSE 1 END, t.id LIMIT 1`, hash, hash, hash))
	if err != nil {
		return t, fmt.Errorf("get token by hash: %w", rowErr(err, "token", "with this hash"))
	}
	return t, nil
}

// ListTokens lists tokens by id.
func (r *reader) ListTokens(ctx context.Context, f store.TokenFilter) ([]identity.Token, int, error) {
	var w filter
	if f.UserID != nil {
		w.add("t.user_id = ?", *f.UserID)
	}
	if f.Types != nil {
		types := make([]string, len(f.Types))
		for i, typ := range f.Types {
			types[i] = string(typ)
		}
		w.addAnyOf(r.f, "t.token_type", types)
	}
	if f.Query != "" {
		w.add(likeCond("t.name"), containsPattern(f.Query))
	}
	if !f.IncludeRevoked {
		w.add("t.revoked_at IS NULL")
	}
	ts, total, err := list(ctx, r, &w, "SELECT "+tokenCols+" FROM tokens t", "tokens t", "t.id", f.Page, scanToken)
	if err != nil {
		return nil, 0, fmt.Errorf("list tokens: %w", err)
	}
	return ts, total, nil
}

// ListTokenProjects lists the explicit project ids of a token, ascending.
func (r *reader) ListTokenProjects(ctx context.Context, tokenID int64, p store.Page) ([]int64, int, error) {
	w := filter{conds: []string{"token_id = ?"}, args: []any{tokenID}}
	ids, total, err := list(ctx, r, &w, "SELECT project_id FROM token_projects", "token_projects", "project_id", p,
		func(sc scanner) (int64, error) {
			var id int64
			err := sc.Scan(&id)
			return id, err
		})
	if err != nil {
		return nil, 0, fmt.Errorf("list projects of token %d: %w", tokenID, err)
	}
	return ids, total, nil
}

// tokenArgs returns the stored form of every field of t but id and
// created_at, in the column order of tokenWriteCols.
func tokenArgs(t identity.Token) ([]any, error) {
	perms, err := encodeList(t.Permissions)
	if err != nil {
		return nil, fmt.Errorf("permissions: %w", err)
	}
	patterns, err := encodeList(t.Scope.Patterns)
	if err != nil {
		return nil, fmt.Errorf("patterns: %w", err)
	}
	scim, err := encodeList(t.SCIMScopes)
	if err != nil {
		return nil, fmt.Errorf("scim scopes: %w", err)
	}
	return []any{t.Name, t.Description, string(t.Type), t.UserID, t.ProjectID, blob(t.Hash), blob(t.PrevHash),
		micros(t.PrevValidUntil), t.CreatedBy, micros(t.UpdatedAt), micros(t.ExpiresAt),
		micros(t.LastUsedAt), micros(t.RevokedAt), perms, string(t.Scope.Set), patterns, scim}, nil
}

const tokenWriteCols = `name, description, token_type, user_id, project_id, hash, prev_hash, prev_valid_until,
	created_by, updated_at, expires_at, last_used_at, revoked_at, permissions, scope_set, scope_patterns, scim_scopes`

// CreateToken inserts t and returns it with its id and timestamps. Its
// explicit project list starts empty.
func (t *txn) CreateToken(ctx context.Context, tok identity.Token) (identity.Token, error) {
	n := now()
	tok.CreatedAt, tok.UpdatedAt = orNow(tok.CreatedAt, n), orNow(tok.UpdatedAt, n)
	tok.PrevValidUntil, tok.ExpiresAt = normTime(tok.PrevValidUntil), normTime(tok.ExpiresAt)
	tok.LastUsedAt, tok.RevokedAt = normTime(tok.LastUsedAt), normTime(tok.RevokedAt)
	tok.Hash, tok.PrevHash = normBlob(tok.Hash), normBlob(tok.PrevHash)
	tok.Permissions, tok.Scope.Patterns, tok.SCIMScopes = normList(tok.Permissions), normList(tok.Scope.Patterns), normList(tok.SCIMScopes)
	tok.Scope.ProjectCount = 0
	args, err := tokenArgs(tok)
	if err != nil {
		return tok, fmt.Errorf("create token %q: %w", tok.Name, err)
	}
	tok.ID, err = t.insertID(ctx, "INSERT INTO tokens ("+tokenWriteCols+", created_at) VALUES (?"+
		strings.Repeat(", ?", 17)+") RETURNING id", append(args, micros(tok.CreatedAt))...)
	if err != nil {
		return tok, fmt.Errorf("create token %q: %w", tok.Name, err)
	}
	return tok, nil
}

// UpdateToken rewrites every field of token tok.ID but the explicit project
// list; a zero CreatedAt is left alone and a zero UpdatedAt becomes the
// current time.
func (t *txn) UpdateToken(ctx context.Context, tok identity.Token) error {
	tok.UpdatedAt = orNow(tok.UpdatedAt, now())
	args, err := tokenArgs(tok)
	if err != nil {
		return fmt.Errorf("update token %d: %w", tok.ID, err)
	}
	cols := strings.Split(tokenWriteCols, ",")
	for i, c := range cols {
		cols[i] = strings.TrimSpace(c) + " = ?"
	}
	// A zero CreatedAt keeps the stored one rather than erasing it.
	n, err := t.execAffected(ctx, "UPDATE tokens SET "+strings.Join(cols, ", ")+", created_at = COALESCE(?, created_at) WHERE id = ?",
		append(args, micros(tok.CreatedAt), tok.ID)...)
	if err := mustAffect(n, err, "token", tok.ID); err != nil {
		return fmt.Errorf("update token: %w", err)
	}
	return nil
}

// DeleteToken removes a token and its explicit project list.
func (t *txn) DeleteToken(ctx context.Context, id int64) error {
	if _, err := t.exec(ctx, "DELETE FROM token_projects WHERE token_id = ?", id); err != nil {
		return fmt.Errorf("delete token %d: %w", id, err)
	}
	n, err := t.execAffected(ctx, "DELETE FROM tokens WHERE id = ?", id)
	if err := mustAffect(n, err, "token", id); err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	return nil
}

// AddTokenProjects adds project ids to the explicit list of a token; ids
// already there are skipped.
func (t *txn) AddTokenProjects(ctx context.Context, tokenID int64, projectIDs []int64) error {
	ids := slices.Clone(projectIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil
	}
	if err := t.tokenExists(ctx, tokenID); err != nil {
		return fmt.Errorf("add projects to token: %w", err)
	}
	for chunk := range slices.Chunk(ids, tokenProjectChunk) {
		args := make([]any, 0, 2*len(chunk))
		for _, id := range chunk {
			args = append(args, tokenID, id)
		}
		q := "INSERT INTO token_projects (token_id, project_id) VALUES " + valueRows(len(chunk), 2) + " ON CONFLICT DO NOTHING"
		if _, err := t.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("add projects to token %d: %w", tokenID, err)
		}
	}
	return nil
}

// RemoveTokenProjects removes project ids from the explicit list of a token;
// ids not there are ignored.
func (t *txn) RemoveTokenProjects(ctx context.Context, tokenID int64, projectIDs []int64) error {
	if len(projectIDs) == 0 {
		return nil
	}
	if err := t.tokenExists(ctx, tokenID); err != nil {
		return fmt.Errorf("remove projects from token: %w", err)
	}
	for chunk := range slices.Chunk(projectIDs, tokenProjectChunk) {
		q := "DELETE FROM token_projects WHERE token_id = ? AND project_id IN (?" + strings.Repeat(", ?", len(chunk)-1) + ")"
		args := make([]any, 0, 1+len(chunk))
		args = append(args, tokenID)
		for _, id := range chunk {
			args = append(args, id)
		}
		if _, err := t.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("remove projects from token %d: %w", tokenID, err)
		}
	}
	return nil
}

// tokenExists returns a not-found error unless token id exists.
func (t *txn) tokenExists(ctx context.Context, id int64) error {
	var one int
	if err := t.queryRow(ctx, "SELECT 1 FROM tokens WHERE id = ?", id).Scan(&one); err != nil {
		return rowErr(err, "token", id)
	}
	return nil
}

// TouchToken records the last use of a token.
func (t *txn) TouchToken(ctx context.Context, tokenID int64, at time.Time) error {
	n, err := t.execAffected(ctx, "UPDATE tokens SET last_used_at = ? WHERE id = ?", micros(at), tokenID)
	if err := mustAffect(n, err, "token", tokenID); err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	return nil
}
