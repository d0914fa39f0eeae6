package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const groupCols = "id, name, description, source, external_id, created_at, updated_at"

const groupOrder = "LOWER(name), name, id"

func scanGroup(sc scanner) (identity.Group, error) {
	var (
		g                identity.Group
		source           string
		created, updated sql.NullInt64
	)
	if err := sc.Scan(&g.ID, &g.Name, &g.Description, &source, &g.ExternalID, &created, &updated); err != nil {
		return g, fmt.Errorf("scan group: %w", err)
	}
	g.Source = identity.Source(source)
	g.CreatedAt, g.UpdatedAt = fromMicros(created), fromMicros(updated)
	return g, nil
}

// GetGroup returns the group with the given id.
func (r *reader) GetGroup(ctx context.Context, id int64) (identity.Group, error) {
	g, err := scanGroup(r.queryRow(ctx, "SELECT "+groupCols+" FROM user_groups WHERE id = ?", id))
	if err != nil {
		return g, fmt.Errorf("get group: %w", rowErr(err, "group", id))
	}
	return g, nil
}

// GetGroupByName returns the group with exactly this name.
func (r *reader) GetGroupByName(ctx context.Context, name string) (identity.Group, error) {
	g, err := scanGroup(r.queryRow(ctx, "SELECT "+groupCols+" FROM user_groups WHERE name = ?", name))
	if err != nil {
		return g, fmt.Errorf("get group by name: %w", rowErr(err, "group", fmt.Sprintf("%q", name)))
	}
	return g, nil
}

// ListGroups lists groups by name.
func (r *reader) ListGroups(ctx context.Context, f store.GroupFilter) ([]identity.Group, int, error) {
	var w filter
	if f.Query != "" {
		w.add(likeCond("name"), containsPattern(f.Query))
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
	w.addCond(r.f, f.Where, condGroups)
	groups, total, err := list(ctx, r, &w, "SELECT "+groupCols+" FROM user_groups", "user_groups", groupOrder, f.Page, scanGroup)
	if err != nil {
		return nil, 0, fmt.Errorf("list groups: %w", err)
	}
	return groups, total, nil
}

// CountMembers returns the number of explicit members of each group id;
// every requested id is in the map.
func (r *reader) CountMembers(ctx context.Context, groupIDs []int64) (map[int64]int, error) {
	counts := make(map[int64]int, len(groupIDs))
	if len(groupIDs) == 0 {
		return counts, nil
	}
	for _, id := range groupIDs {
		counts[id] = 0
	}
	cond, arg, err := r.f.anyOf("group_id", groupIDs)
	if err != nil {
		return nil, fmt.Errorf("count members: %w", err)
	}
	rows, err := r.query(ctx, "SELECT group_id, COUNT(*) FROM group_members WHERE "+cond+" GROUP BY group_id", arg)
	if err != nil {
		return nil, fmt.Errorf("count members: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count members: %w", err)
		}
		counts[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count members: %w", r.f.wrap(err))
	}
	return counts, nil
}

func scanMembership(sc scanner) (identity.Membership, error) {
	var m identity.Membership
	if err := sc.Scan(&m.UserID, &m.GroupID); err != nil {
		return m, fmt.Errorf("scan membership: %w", err)
	}
	return m, nil
}

// ListMemberships lists memberships by user then group; zero ids do not
// filter.
func (r *reader) ListMemberships(ctx context.Context, userID, groupID int64) ([]identity.Membership, error) {
	var w filter
	if userID != 0 {
		w.add("user_id = ?", userID)
	}
	if groupID != 0 {
		w.add("group_id = ?", groupID)
	}
	ms, err := queryAll(ctx, r, scanMembership, "SELECT user_id, group_id FROM group_members"+w.where()+" ORDER BY user_id, group_id", w.args...)
	if err != nil {
		return nil, fmt.Errorf("list memberships: %w", err)
	}
	return ms, nil
}

// CreateGroup inserts g and returns it with its id and timestamps.
func (t *txn) CreateGroup(ctx context.Context, g identity.Group) (identity.Group, error) {
	n := now()
	g.CreatedAt, g.UpdatedAt = orNow(g.CreatedAt, n), orNow(g.UpdatedAt, n)
	var err error
	g.ID, err = t.insertID(ctx, `INSERT INTO user_groups (name, description, source, external_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		g.Name, g.Description, string(g.Source), g.ExternalID, micros(g.CreatedAt), micros(g.UpdatedAt))
	if err != nil {
		return g, fmt.Errorf("create group %q: %w", g.Name, err)
	}
	return g, nil
}

// UpdateGroup rewrites every field of group g.ID but CreatedAt; a zero
// UpdatedAt becomes the current time.
func (t *txn) UpdateGroup(ctx context.Context, g identity.Group) error {
	n, err := t.execAffected(ctx, `UPDATE user_groups SET name = ?, description = ?, source = ?, external_id = ?,
		updated_at = ? WHERE id = ?`,
		g.Name, g.Description, string(g.Source), g.ExternalID, micros(orNow(g.UpdatedAt, now())), g.ID)
	if err := mustAffect(n, err, "group", g.ID); err != nil {
		return fmt.Errorf("update group: %w", err)
	}
	return nil
}

// DeleteGroup removes the group, its memberships, its grants and its place
// in permission templates.
func (t *txn) DeleteGroup(ctx context.Context, id int64) error {
	n, err := t.execAffected(ctx, "DELETE FROM user_groups WHERE id = ?", id)
	if err := mustAffect(n, err, "group", id); err != nil {
		return fmt.Errorf("delete group: %w", err)
	}
	for _, q := range []string{
		"DELETE FROM group_members WHERE group_id = ?",
		"DELETE FROM grants WHERE subject_kind = 'group' AND subject_id = ?",
		"DELETE FROM template_grants WHERE subject_kind = 'group' AND subject_id = ?",
	} {
		if _, err := t.exec(ctx, q, id); err != nil {
			return fmt.Errorf("delete group %d: %w", id, err)
		}
	}
	return nil
}

// AddMember adds a membership and reports whether it is new.
func (t *txn) AddMember(ctx context.Context, userID, groupID int64) (bool, error) {
	n, err := t.execAffected(ctx, "INSERT INTO group_members (user_id, group_id) VALUES (?, ?) ON CONFLICT DO NOTHING", userID, groupID)
	if err != nil {
		return false, fmt.Errorf("add user %d to group %d: %w", userID, groupID, err)
	}
	return n > 0, nil
}

// AddMembers adds the users that exist and are not members yet to the group
// in one INSERT … SELECT (the WHERE clause also keeps SQLite from reading
// ON CONFLICT as a join).
func (t *txn) AddMembers(ctx context.Context, groupID int64, userIDs []int64) ([]int64, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	cond, arg, err := t.f.anyOf("id", userIDs)
	if err != nil {
		return nil, fmt.Errorf("add users to group %d: %w", groupID, err)
	}
	rows, err := t.query(ctx, "INSERT INTO group_members (user_id, group_id) SELECT id, ? FROM users WHERE "+cond+" ON CONFLICT DO NOTHING RETURNING user_id", groupID, arg)
	if err != nil {
		return nil, fmt.Errorf("add users to group %d: %w", groupID, err)
	}
	added, err := scanIDs(rows)
	err = t.f.wrap(err)
	if err != nil {
		return nil, fmt.Errorf("add users to group %d: %w", groupID, err)
	}
	return added, nil
}

// scanIDs reads a one-column result of ids and closes it.
func scanIDs(rs *rows) ([]int64, error) {
	defer rs.Close()
	var ids []int64
	for rs.Next() {
		var id int64
		if err := rs.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rs.Err()
}

// RemoveMember removes a membership and reports whether it existed.
func (t *txn) RemoveMember(ctx context.Context, userID, groupID int64) (bool, error) {
	n, err := t.execAffected(ctx, "DELETE FROM group_members WHERE user_id = ? AND group_id = ?", userID, groupID)
	if err != nil {
		return false, fmt.Errorf("remove user %d from group %d: %w", userID, groupID, err)
	}
	return n > 0, nil
}
