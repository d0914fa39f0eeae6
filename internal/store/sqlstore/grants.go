package sqlstore

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const grantCols = "subject_kind, subject_id, project_id, permission"

const grantOrder = "project_id, subject_kind, subject_id, permission"

func scanGrant(sc scanner) (identity.Grant, error) {
	var (
		g          identity.Grant
		kind, perm string
	)
	if err := sc.Scan(&kind, &g.Subject.ID, &g.ProjectID, &perm); err != nil {
		return g, fmt.Errorf("scan grant: %w", err)
	}
	g.Subject.Kind, g.Permission = identity.SubjectKind(kind), identity.Permission(perm)
	return g, nil
}

// ListGrants lists grants by project, subject and permission.
func (r *reader) ListGrants(ctx context.Context, f store.GrantFilter) ([]identity.Grant, error) {
	var w filter
	if f.Subject != nil {
		w.add("subject_kind = ? AND subject_id = ?", string(f.Subject.Kind), f.Subject.ID)
	}
	if f.ProjectID != nil {
		w.add("project_id = ?", *f.ProjectID)
	}
	if f.Permission != "" {
		w.add("permission = ?", string(f.Permission))
	}
	gs, err := queryAll(ctx, r, scanGrant, "SELECT "+grantCols+" FROM grants"+w.where()+" ORDER BY "+grantOrder, w.args...)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return gs, nil
}

// AddGrant adds a grant and reports whether it is new.
func (t *txn) AddGrant(ctx context.Context, g identity.Grant) (bool, error) {
	n, err := t.execAffected(ctx, "INSERT INTO grants ("+grantCols+") VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
		string(g.Subject.Kind), g.Subject.ID, g.ProjectID, string(g.Permission))
	if err != nil {
		return false, fmt.Errorf("add grant %+v: %w", g, err)
	}
	return n > 0, nil
}

// grantRowsPerInsert keeps one INSERT's parameters (4 a row) below
// SQLite's limit of 32,766 and PostgreSQL's of 65,535.
const grantRowsPerInsert = 1000

// AddGrants inserts the grants not held yet, a thousand rows a statement,
// and returns those it inserted.
func (t *txn) AddGrants(ctx context.Context, gs []identity.Grant) ([]identity.Grant, error) {
	var added []identity.Grant
	for len(gs) > 0 {
		chunk := gs[:min(len(gs), grantRowsPerInsert)]
		gs = gs[len(chunk):]
		var (
			got []identity.Grant
			err error
		)
		if t.f.postgres {
			got, err = t.insertGrantsReturning(ctx, chunk)
		} else {
			got, err = t.insertNewGrants(ctx, chunk, added)
		}
		if err != nil {
			return nil, fmt.Errorf("add %d grants: %w", len(chunk), err)
		}
		added = append(added, got...)
	}
	return added, nil
}

func grantArgs(gs []identity.Grant) []any {
	args := make([]any, 0, 4*len(gs))
	for _, g := range gs {
		args = append(args, string(g.Subject.Kind), g.Subject.ID, g.ProjectID, string(g.Permission))
	}
	return args
}

func (t *txn) insertGrantsReturning(ctx context.Context, gs []identity.Grant) ([]identity.Grant, error) {
	return queryAll(ctx, &t.reader, scanGrant, "INSERT INTO grants ("+grantCols+") VALUES "+valueRows(len(gs), 4)+
		" ON CONFLICT DO NOTHING RETURNING "+grantCols, grantArgs(gs)...)
}

// insertNewGrants is SQLite's insert: its transaction holds the database's
// write lock, so the grants it finds held on the chunk's projects are
// exactly those an insert would skip, and reading them (a range of the
// project-first key) costs less than RETURNING every row. Whatever else
// the insert skips repeats a grant of the same call (earlier: those added
// before this chunk).
func (t *txn) insertNewGrants(ctx context.Context, gs, earlier []identity.Grant) ([]identity.Grant, error) {
	var projects []int64
	for _, g := range gs {
		if len(projects) == 0 || projects[len(projects)-1] != g.ProjectID {
			projects = append(projects, g.ProjectID)
		}
	}
	cond, arg, err := t.f.anyOf("project_id", projects)
	if err != nil {
		return nil, err
	}
	held, err := queryAll(ctx, &t.reader, scanGrant, "SELECT "+grantCols+" FROM grants WHERE "+cond, arg)
	if err != nil {
		return nil, err
	}
	fresh := gs
	if len(held) > 0 {
		skip := make(map[identity.Grant]bool, len(held))
		for _, g := range held {
			skip[g] = true
		}
		fresh = make([]identity.Grant, 0, len(gs))
		for _, g := range gs {
			if !skip[g] {
				fresh = append(fresh, g)
			}
		}
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	n, err := t.execAffected(ctx, "INSERT INTO grants ("+grantCols+") VALUES "+valueRows(len(fresh), 4)+" ON CONFLICT DO NOTHING", grantArgs(fresh)...)
	if err != nil {
		return nil, err
	}
	if n == int64(len(fresh)) {
		return fresh, nil
	}
	// Repeats: the first of each was inserted (by this chunk or before).
	seen := make(map[identity.Grant]bool, len(earlier)+len(fresh))
	for _, g := range earlier {
		seen[g] = true
	}
	var out []identity.Grant
	for _, g := range fresh {
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	if int64(len(out)) != n {
		return nil, fmt.Errorf("inserted %d of %d grants not held: the grants changed under the write lock", n, len(fresh))
	}
	return out, nil
}

// RemoveGrant removes a grant and reports whether it existed.
func (t *txn) RemoveGrant(ctx context.Context, g identity.Grant) (bool, error) {
	n, err := t.execAffected(ctx, `DELETE FROM grants
		WHERE subject_kind = ? AND subject_id = ? AND project_id = ? AND permission = ?`,
		string(g.Subject.Kind), g.Subject.ID, g.ProjectID, string(g.Permission))
	if err != nil {
		return false, fmt.Errorf("remove grant %+v: %w", g, err)
	}
	return n > 0, nil
}

// DeleteProjectGrants removes every grant on a project.
func (t *txn) DeleteProjectGrants(ctx context.Context, projectID int64) error {
	if projectID == 0 {
		// Project 0 holds the global grants, which this must never touch.
		return fmt.Errorf("delete project grants: %w", identity.Errorf(identity.ErrInvalid, "project id 0 is not a project"))
	}
	if _, err := t.exec(ctx, "DELETE FROM grants WHERE project_id = ?", projectID); err != nil {
		return fmt.Errorf("delete grants of project %d: %w", projectID, err)
	}
	return nil
}
